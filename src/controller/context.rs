//! What every reconcile shares: the Kubernetes client, the Event recorder, metrics, the
//! reflector stores, the admin API clients and the framework state observed through them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Resource};
use serde::Serialize;
use tokio::time::Instant;
use tracing::warn;

use super::error::Error;
use super::observed::Observed;
use crate::admin::AdminClient;
use crate::metrics::Metrics;
use crate::resources::{FrameworkConnection, GatekeepingRule, ListenerRegistration};

/// Field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "cxf-operator";
/// Finalizer the operator puts on ListenerRegistrations and GatekeepingRules.
pub const FINALIZER: &str = "cxf.dev/finalizer";

/// First retry delay after a transient error; doubles per failure.
const BACKOFF_BASE: Duration = Duration::from_secs(2);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The reflector stores of the three resources.
#[derive(Clone)]
pub struct Stores {
    /// FrameworkConnections.
    pub connections: Store<FrameworkConnection>,
    /// ListenerRegistrations.
    pub registrations: Store<ListenerRegistration>,
    /// GatekeepingRules.
    pub rules: Store<GatekeepingRule>,
    /// The Secrets that opted in to being read (`secrets::CREDENTIALS_SELECTOR`).
    pub secrets: Store<k8s_openapi::api::core::v1::Secret>,
}

/// The admin client of one connection and what was last observed through it.
pub struct Connection {
    /// The client.
    pub admin: Arc<AdminClient>,
    /// Drift-check interval.
    pub drift_interval: Duration,
    /// When the next drift list is due.
    pub next_drift: Instant,
    /// The framework's objects, as last listed or written.
    pub observed: Observed,
}

/// Shared by every reconcile.
pub struct Context {
    /// Kubernetes client.
    pub client: kube::Client,
    /// Event recorder.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Reflector stores.
    pub stores: Stores,
    /// Drift-check interval of connections that set none.
    pub default_drift_interval: Duration,
    /// Connections by `namespace/name`.
    pub connections: Mutex<HashMap<String, Connection>>,
    failures: Mutex<HashMap<String, u32>>,
    /// The status last written per object UID: the watch may not have delivered it yet
    /// when the next reconcile runs, and acting on an older status would repeat a write.
    statuses: Mutex<HashMap<String, serde_json::Value>>,
}

/// `namespace/name`.
pub fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

impl Context {
    /// A context over `stores`.
    pub fn new(
        client: kube::Client,
        metrics: Arc<Metrics>,
        stores: Stores,
        default_drift_interval: Duration,
    ) -> Self {
        let recorder = Recorder::new(client.clone(), FIELD_MANAGER.into());
        Self {
            client,
            recorder,
            metrics,
            stores,
            default_drift_interval,
            connections: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            statuses: Mutex::new(HashMap::new()),
        }
    }

    /// The admin client of connection `name` in `namespace`, if that connection is Ready.
    pub fn admin(&self, namespace: &str, name: &str) -> Result<Arc<AdminClient>, Error> {
        let connection = self
            .stores
            .connections
            .get(&ObjectRef::new(name).within(namespace))
            .ok_or_else(|| {
                Error::ConnectionNotReady(format!(
                    "FrameworkConnection {namespace}/{name} does not exist"
                ))
            })?;
        if !connection.is_ready() {
            return Err(Error::ConnectionNotReady(format!(
                "FrameworkConnection {namespace}/{name} is not Ready"
            )));
        }
        self.connections
            .lock()
            .expect("connections lock")
            .get(&key(namespace, name))
            .map(|c| Arc::clone(&c.admin))
            .ok_or_else(|| {
                Error::ConnectionNotReady(format!(
                    "FrameworkConnection {namespace}/{name} has not been reconciled yet"
                ))
            })
    }

    /// Runs `f` on the observed state of connection `namespace/name`, if it is known.
    pub fn with_observed<T>(
        &self,
        namespace: &str,
        name: &str,
        f: impl FnOnce(&mut Observed) -> T,
    ) -> Option<T> {
        self.connections
            .lock()
            .expect("connections lock")
            .get_mut(&key(namespace, name))
            .map(|c| f(&mut c.observed))
    }

    /// The delay before retrying `object` after its `failures`-th transient error.
    pub fn backoff(&self, object: &str, error: &Error) -> Duration {
        let mut failures = self.failures.lock().expect("failures lock");
        let n = failures.entry(object.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        let delay = BACKOFF_BASE
            .saturating_mul(1 << (*n - 1).min(8))
            .min(BACKOFF_MAX);
        match error {
            Error::Admin(e) => e.retry_after().map_or(delay, |wait| wait.max(delay)),
            _ => delay,
        }
    }

    /// Forgets the failures of `object` after a success.
    pub fn reset_backoff(&self, object: &str) {
        self.failures.lock().expect("failures lock").remove(object);
    }

    /// The newest status of `object`: the one last written by this process, else the
    /// object's own.
    pub fn latest_status<K, S>(&self, object: &K, own: Option<&S>) -> Option<S>
    where
        K: Resource,
        S: Clone + serde::de::DeserializeOwned,
    {
        let uid = object.meta().uid.as_deref().unwrap_or_default();
        let remembered = self
            .statuses
            .lock()
            .expect("statuses lock")
            .get(uid)
            .cloned();
        remembered
            .and_then(|v| serde_json::from_value(v).ok())
            .or_else(|| own.cloned())
    }

    /// Writes the status of `object` (server-side apply) and remembers it.
    pub async fn write_status<K, S>(
        &self,
        api: &Api<K>,
        object: &K,
        status: &S,
    ) -> Result<(), Error>
    where
        K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
        S: Serialize,
    {
        let name = object.meta().name.as_deref().unwrap_or_default();
        apply_status(api, name, status).await?;
        if let (Some(uid), Ok(value)) = (object.meta().uid.clone(), serde_json::to_value(status)) {
            self.statuses
                .lock()
                .expect("statuses lock")
                .insert(uid, value);
        }
        Ok(())
    }

    /// Forgets what was remembered of a deleted object.
    pub fn forget<K: Resource>(&self, object: &K) {
        if let Some(uid) = object.meta().uid.as_deref() {
            self.statuses.lock().expect("statuses lock").remove(uid);
        }
    }

    /// Publishes an Event on `reference`; a failure to publish is only logged.
    pub async fn event(
        &self,
        reference: &ObjectReference,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_owned(),
            note: Some(note),
            action: action.to_owned(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, reference).await {
            warn!(%error, reason, "publishing an Event failed");
        }
    }
}

/// Writes `status` of `name` to the /status subresource by server-side apply.
pub async fn apply_status<K>(api: &Api<K>, name: &str, status: &impl Serialize) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map(drop)
    .map_err(Error::kube("writing the status"))
}

/// Sets annotation `cxf.dev/external-id` by server-side apply (metadata only).
pub async fn apply_external_id<K>(api: &Api<K>, name: &str, id: &str) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": {"name": name, "annotations": {crate::resources::EXTERNAL_ID_ANNOTATION: id}},
    });
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map(drop)
    .map_err(Error::kube("writing the external-id annotation"))
}
