//! The TMF hub (seed 000): `POST /api/{ws}/{apiName}/{apiVersion}/hub` subscribes a
//! callback, `DELETE .../hub/{id}` unsubscribes. A subscription is a listener
//! registration (same ids): its affiliated API is `apiName`/`apiVersion`, its listener
//! URL the callback, and its credentials are set afterwards with the JSON Patch call on
//! `listenerRegistrations/{id}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::api_error::{ApiError, parse_body};
use super::listener_registrations::{check_query, check_url};
use super::sim::Sim;
use crate::framework::model::{
    AffiliatedApi, ExternalListener, HubSubscription, ListenerLocality, ListenerRegistration,
    ListenerType,
};

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> &'a str {
    params.get(name).map(String::as_str).unwrap_or_default()
}

/// `POST /api/{ws}/{apiName}/{apiVersion}/hub`: 201 with `{id, callback, query}`.
pub async fn subscribe(
    State(sim): State<Arc<Sim>>,
    Path(params): Path<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let subscription: HubSubscription = parse_body(&body)?;
    check_url("callback", &subscription.callback)?;
    if let Some(query) = &subscription.query {
        check_query("query", query)?;
    }
    let workspace = param(&params, "ws");
    let registration = ListenerRegistration {
        id: None,
        affiliated_apis: vec![AffiliatedApi {
            api_name: param(&params, "api_name").to_owned(),
            api_number: None,
            api_version: param(&params, "api_version").to_owned(),
            query: subscription.query.clone(),
        }],
        listener_locality: ListenerLocality {
            external_listener: ExternalListener {
                listener_url: subscription.callback.clone(),
                listener_auth: None,
            },
        },
        listener_type: ListenerType::External,
    };
    let id = {
        let mut store = sim.store.lock().expect("store lock");
        let id = store.new_listener_id(workspace);
        let mut registration = registration;
        registration.id = Some(id.clone());
        store
            .workspace(workspace)
            .listener_registrations
            .insert(id.clone(), registration);
        id
    };
    sim.persist().await?;
    tracing::info!(%workspace, %id, "hub subscription created");
    let answer = HubSubscription {
        id: Some(id),
        ..subscription
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `DELETE /api/{ws}/{apiName}/{apiVersion}/hub/{id}`: 204; 404 if no registration
/// with that id listens to that API.
pub async fn unsubscribe(
    State(sim): State<Arc<Sim>>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let (workspace, id) = (param(&params, "ws"), param(&params, "id"));
    let (name, version) = (param(&params, "api_name"), param(&params, "api_version"));
    {
        let mut store = sim.store.lock().expect("store lock");
        let registrations = &mut store.workspace(workspace).listener_registrations;
        let listens = registrations.get(id).is_some_and(|reg| {
            reg.affiliated_apis
                .iter()
                .any(|api| api.api_name == name && api.api_version == version)
        });
        if !listens {
            return Err(ApiError::not_found(
                &format!("hub subscription of {name} {version}"),
                id,
            ));
        }
        registrations.remove(id);
    }
    sim.persist().await?;
    tracing::info!(%workspace, %id, "hub subscription deleted");
    Ok(StatusCode::NO_CONTENT)
}
