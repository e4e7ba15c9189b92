//! The state every handler shares ([`Sim`]) and the workspace and id of an admin
//! request ([`Target`]). This module imports no handler: the handlers import it, and
//! [`super::server`] builds the router from both.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use super::api_error::ApiError;
use super::auth::Auth;
use super::delivery::Delivery;
use super::faults::Faults;
use super::persistence::{self, Persister};
use super::request_log::RequestLog;
use super::state::Store;
use crate::framework::routing::CriteriaCache;

/// The shared state of the handlers (no `Debug`: it holds tokens).
pub struct Sim {
    pub(crate) store: Mutex<Store>,
    pub(crate) auth: Arc<Auth>,
    pub(crate) faults: Arc<Faults>,
    pub(crate) requests: Arc<RequestLog>,
    pub(crate) delivery: Arc<Delivery>,
    pub(crate) criteria: CriteriaCache,
    pub(crate) persister: Option<Persister>,
}

impl Sim {
    /// Called after each change: writes the state file, if there is one.
    pub(crate) async fn persist(&self) -> Result<(), ApiError> {
        let Some(persister) = &self.persister else {
            return Ok(());
        };
        let revision = self.store.lock().expect("store lock").changed();
        let snapshot = || {
            let store = self.store.lock().expect("store lock");
            (store.revision(), persistence::encode(store.workspaces()))
        };
        persister.save(revision, snapshot).await.map_err(|err| {
            let path = persister.path().display();
            tracing::error!(%path, error = %err, "writing the state file failed");
            ApiError::internal(format!(
                "the change was made but saving the state to {path} failed: {err}"
            ))
        })
    }
}

/// The workspace (empty for the gateway form) and object id of an admin request.
#[derive(Clone, Debug)]
pub struct Target {
    /// Workspace key.
    pub workspace: String,
    id: Option<String>,
}

impl Target {
    /// The object id in the path (empty on collection routes).
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Target {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let params = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Path(params)| params)
            .unwrap_or_default();
        Ok(Self {
            workspace: params.get("ws").cloned().unwrap_or_default(),
            id: params.get("id").cloned(),
        })
    }
}
