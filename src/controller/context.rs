//! What every reconcile shares: the Kubernetes client, the Event recorder, metrics, the
//! reflector stores, the framework state (admin clients and what they observed), the
//! triggers, the backoff and the statuses last written.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Resource};
use serde::Serialize;
use tokio::time::Instant;

use super::error::Error;
use super::events::Events;
use super::framework_object::users;
use super::state::{ConnectionState, FrameworkState};
use super::{refs, send};
use crate::desired::credentials::HashKey;
use crate::metrics::Metrics;
use crate::resources::{FrameworkConnection, GatekeepingRule, ListenerRegistration};

/// Field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "cxf-operator";
/// Finalizer the operator puts on ListenerRegistrations and GatekeepingRules (held until
/// the framework side is cleaned up), and on FrameworkConnections (held while a
/// resource with this finalizer uses the connection).
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

/// Where reconciles are requested from outside the watches: the drift loop, a
/// connection whose client was just built, a resource that let go of its connection.
#[derive(Clone)]
pub struct Triggers {
    /// ListenerRegistrations.
    pub registrations: UnboundedSender<ObjectRef<ListenerRegistration>>,
    /// GatekeepingRules.
    pub rules: UnboundedSender<ObjectRef<GatekeepingRule>>,
    /// FrameworkConnections.
    pub connections: UnboundedSender<ObjectRef<FrameworkConnection>>,
}

impl Triggers {
    /// Requests a reconcile of every resource of `registrations` and `rules` using
    /// `connection`. A closed channel means its controller stopped: nothing to trigger.
    pub fn dependents(
        &self,
        registrations: &Store<ListenerRegistration>,
        rules: &Store<GatekeepingRule>,
        connection: &ObjectRef<FrameworkConnection>,
    ) {
        send(&self.registrations, refs(&users(registrations, connection)));
        send(&self.rules, refs(&users(rules, connection)));
    }
}

/// Shared by every reconcile.
pub struct Context {
    /// Kubernetes client.
    pub client: kube::Client,
    /// Where Events go (written in the background).
    pub events: Events,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Reflector stores.
    pub stores: Stores,
    /// Drift-check interval of connections that set none.
    pub default_drift_interval: Duration,
    /// Key of `status.credentialsHash` (see [`super::hash_key`]).
    pub credentials_key: HashKey,
    /// What the operator holds of each framework.
    pub state: FrameworkState,
    /// Requests reconciles.
    pub triggers: Triggers,
    failures: Mutex<HashMap<ObjectRef<DynamicObject>, u32>>,
    /// The status last written per object UID: the watch may not have delivered it yet
    /// when the next reconcile runs, and acting on an older status would repeat a write.
    statuses: Mutex<HashMap<String, serde_json::Value>>,
}

impl Context {
    /// A context over `stores`. Spawns the task writing its Events, which ends when the
    /// context is dropped.
    pub fn new(
        client: kube::Client,
        metrics: Arc<Metrics>,
        stores: Stores,
        default_drift_interval: Duration,
        triggers: Triggers,
        credentials_key: HashKey,
    ) -> Self {
        let recorder = Recorder::new(client.clone(), FIELD_MANAGER.into());
        let (events, writer) = Events::new(recorder, metrics.events.clone());
        tokio::spawn(writer);
        Self {
            client,
            events,
            metrics,
            stores,
            default_drift_interval,
            state: FrameworkState::default(),
            triggers,
            credentials_key,
            failures: Mutex::new(HashMap::new()),
            statuses: Mutex::new(HashMap::new()),
        }
    }

    /// The state of connection `name` in `namespace`, if that connection is Ready and its
    /// client built. Every refusal is retried with backoff (a connection becoming ready
    /// also triggers its dependents).
    pub fn connection(&self, namespace: &str, name: &str) -> Result<Arc<ConnectionState>, Error> {
        let reference = ObjectRef::new(name).within(namespace);
        let connection = self.stores.connections.get(&reference).ok_or_else(|| {
            Error::ConnectionNotReady(format!(
                "FrameworkConnection {namespace}/{name} does not exist"
            ))
        })?;
        if !connection.is_ready() {
            return Err(Error::ConnectionNotReady(format!(
                "FrameworkConnection {namespace}/{name} is not Ready"
            )));
        }
        let state = self.state.get(&reference).ok_or_else(|| {
            Error::ConnectionNotReady(format!(
                "FrameworkConnection {namespace}/{name} has not been reconciled yet"
            ))
        })?;
        match state.slowed_for(Instant::now()) {
            Some(wait) => Err(Error::SlowedDown(wait)),
            None => Ok(state),
        }
    }

    /// The state of connection `name` in `namespace` for a cleanup: its client as last
    /// built, even if the connection is no longer Ready (a namespace being deleted
    /// deletes its Secrets too); else the refusal of [`Context::connection`].
    pub fn cleanup_connection(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<ConnectionState>, Error> {
        let reference = ObjectRef::new(name).within(namespace);
        match self.state.get(&reference) {
            Some(state) if self.stores.connections.get(&reference).is_some() => {
                match state.slowed_for(Instant::now()) {
                    Some(wait) => Err(Error::SlowedDown(wait)),
                    None => Ok(state),
                }
            }
            _ => self.connection(namespace, name),
        }
    }

    /// Requests a reconcile of every resource using `connection`.
    pub fn trigger_dependents(&self, connection: &ObjectRef<FrameworkConnection>) {
        self.triggers
            .dependents(&self.stores.registrations, &self.stores.rules, connection);
    }

    /// The delay before retrying `object` after one more failure: exponential backoff,
    /// at least `at_least` (the framework's Retry-After, a connection slowed down).
    pub fn backoff<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        at_least: Option<Duration>,
    ) -> Duration {
        let mut failures = self.failures.lock().expect("failures lock");
        let n = failures
            .entry(ObjectRef::from_obj(object).erase())
            .or_insert(0);
        *n = n.saturating_add(1);
        let delay = BACKOFF_BASE
            .saturating_mul(1 << (*n - 1).min(8))
            .min(BACKOFF_MAX);
        at_least.map_or(delay, |wait| wait.max(delay))
    }

    /// Forgets the failures of `object` after a success.
    pub fn reset_backoff<K: Resource<DynamicType = ()>>(&self, object: &K) {
        self.failures
            .lock()
            .expect("failures lock")
            .remove(&ObjectRef::from_obj(object).erase());
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
    pub fn forget<K: Resource<DynamicType = ()>>(&self, object: &K) {
        if let Some(uid) = object.meta().uid.as_deref() {
            self.statuses.lock().expect("statuses lock").remove(uid);
        }
        self.reset_backoff(object);
    }

    /// Publishes an Event on `object`, in the background (see [`super::events`]).
    pub fn event<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
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
        self.events.publish(event, object.object_ref(&()));
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
