//! The controllers: FrameworkConnection, ListenerRegistration and GatekeepingRule, with
//! the Secret and cross-resource watches that trigger them and the drift loop.

pub mod context;
pub mod drift;
pub mod error;
pub mod finalizer;
pub mod framework_connection;
pub mod framework_object;
pub mod gatekeeping_rule;
pub mod leader;
pub mod listener_registration;
pub mod outcome;
pub mod secrets;
pub mod state;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Predicate, WatchStreamExt, predicates, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::warn;

pub use context::{Context, FIELD_MANAGER, FINALIZER, Stores, Triggers};
pub use error::Error;
pub use framework_object::FrameworkObject;

use crate::metrics::Metrics;
use crate::resources::secret_ref::SecretKeyRef;
use crate::resources::{FrameworkConnection, GatekeepingRule, ListenerRegistration};

/// What the controllers watch and how often they check for drift.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Namespaces to watch; empty: all.
    pub namespaces: Vec<String>,
    /// Drift-check interval of connections that set none.
    pub drift_interval: Duration,
}

/// Runs the controllers until they stop (they do not, short of a fatal watch error).
pub async fn run(client: Client, settings: Settings, metrics: Arc<Metrics>) {
    let scopes: Vec<Option<String>> = if settings.namespaces.is_empty() {
        vec![None]
    } else {
        settings.namespaces.iter().cloned().map(Some).collect()
    };
    let runs = scopes.into_iter().map(|namespace| {
        run_scope(
            client.clone(),
            namespace,
            settings.drift_interval,
            Arc::clone(&metrics),
        )
    });
    futures::future::join_all(runs).await;
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

/// The resources of `store` reading a Secret named `secret` in its namespace.
fn readers<K>(
    store: &kube::runtime::reflector::Store<K>,
    secret: &kube::core::ObjectMeta,
    refs: impl Fn(&K) -> Vec<&SecretKeyRef>,
) -> Vec<ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let (Some(namespace), Some(name)) = (secret.namespace.as_deref(), secret.name.as_deref())
    else {
        return Vec::new();
    };
    store
        .state()
        .iter()
        .filter(|obj| {
            obj.meta().namespace.as_deref() == Some(namespace)
                && refs(obj).iter().any(|r| r.name == name)
        })
        .map(|obj| ObjectRef::from_obj(obj.as_ref()))
        .collect()
}

/// The resources of `store` using connection `c`, to reconcile.
fn users_of<K: FrameworkObject>(store: &Store<K>, c: &FrameworkConnection) -> Vec<ObjectRef<K>> {
    framework_object::users(store, &ObjectRef::from_obj(c))
        .iter()
        .map(|r| ObjectRef::from_obj(r.as_ref()))
        .collect()
}

/// The controllers of one namespace (or of all).
async fn run_scope(
    client: Client,
    namespace: Option<String>,
    drift_interval: Duration,
    metrics: Arc<Metrics>,
) {
    let ns = namespace.as_deref();
    let config = watcher::Config::default().any_semantic();
    let connections = Controller::new(api::<FrameworkConnection>(&client, ns), config.clone());
    let (registrations_store, registrations_changed) =
        spec_changes(api::<ListenerRegistration>(&client, ns), config.clone());
    let registrations = Controller::for_stream(registrations_changed, registrations_store);
    let (rules_store, rules_changed) =
        spec_changes(api::<GatekeepingRule>(&client, ns), config.clone());
    let rules = Controller::for_stream(rules_changed, rules_store);
    let stores = Stores {
        connections: connections.store(),
        registrations: registrations.store(),
        rules: rules.store(),
    };
    let (registration_tx, registration_rx) = futures::channel::mpsc::unbounded();
    let (rule_tx, rule_rx) = futures::channel::mpsc::unbounded();
    let (connection_tx, connection_rx) = futures::channel::mpsc::unbounded();
    let triggers = Triggers {
        registrations: registration_tx,
        rules: rule_tx,
        connections: connection_tx,
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        metrics,
        stores.clone(),
        drift_interval,
        triggers,
    ));

    let store = stores.connections.clone();
    let connections = connections
        .watches(
            api::<PartialObjectMeta<Secret>>(&client, ns),
            config.clone(),
            move |s| readers(&store, &s.metadata, FrameworkConnection::secret_refs),
        )
        .reconcile_on(connection_rx);

    let store = stores.registrations.clone();
    let by_connection = stores.registrations.clone();
    let registrations = registrations
        .watches(
            api::<PartialObjectMeta<Secret>>(&client, ns),
            config.clone(),
            move |s| readers(&store, &s.metadata, ListenerRegistration::secret_refs),
        )
        .watches(
            api::<FrameworkConnection>(&client, ns),
            config.clone(),
            move |c| users_of(&by_connection, &c),
        )
        .reconcile_on(registration_rx);

    let by_listener = stores.rules.clone();
    let by_connection = stores.rules.clone();
    let claims = stores.rules.clone();
    let rules = rules
        .watches(
            api::<GatekeepingRule>(&client, ns),
            config.clone(),
            move |changed| {
                // A claim that changed or went away may free a rule another resource waits for.
                claims
                    .state_filter(|r| {
                        r.namespace() == changed.namespace()
                            && r.name_any() != changed.name_any()
                            && r.status.as_ref().is_some_and(|s| {
                                s.conditions.iter().any(|c| {
                                    c.reason == crate::resources::conditions::REASON_CONFLICT
                                })
                            })
                    })
                    .iter()
                    .map(|r| ObjectRef::from_obj(r.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            api::<ListenerRegistration>(&client, ns),
            config.clone(),
            move |l| {
                by_listener
                    .state_filter(|r| {
                        r.namespace() == l.namespace()
                            && r.listener_names().any(|n| n == l.name_any())
                    })
                    .iter()
                    .map(|r| ObjectRef::from_obj(r.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            api::<FrameworkConnection>(&client, ns),
            config.clone(),
            move |c| users_of(&by_connection, &c),
        )
        .reconcile_on(rule_rx);

    tokio::join!(
        drive(
            connections,
            framework_connection::reconcile,
            framework_connection::CONTROLLER,
            Arc::clone(&ctx)
        ),
        drive(
            registrations,
            framework_object::reconcile::<ListenerRegistration>,
            listener_registration::CONTROLLER,
            Arc::clone(&ctx)
        ),
        drive(
            rules,
            framework_object::reconcile::<GatekeepingRule>,
            gatekeeping_rule::CONTROLLER,
            Arc::clone(&ctx)
        ),
        drift::run(Arc::clone(&ctx)),
    );
}

/// Runs `controller` with `reconcile` until it stops.
async fn drive<K, R, F>(
    controller: Controller<K>,
    reconcile: R,
    name: &'static str,
    ctx: Arc<Context>,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    R: FnMut(Arc<K>, Arc<Context>) -> F,
    F: futures::TryFuture<Ok = Action, Error = Error> + Send + 'static,
{
    controller
        .run(reconcile, error_policy(name), ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "controller event");
            }
        })
        .await;
}

/// The objects of `api` in a reflector store, and the stream of those whose spec,
/// annotations or deletion changed: a status write (the operator's own, after a failure
/// too) does not trigger a reconcile, so the backoff holds.
fn spec_changes<K>(
    api: Api<K>,
    config: watcher::Config,
) -> (
    Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let changes = watcher(api, config)
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            predicates::generation.combine(predicates::annotations),
            Default::default(),
        );
    (store, changes)
}

/// A failure that escaped the outcome report (its own status write failed): retried
/// with the object's backoff.
fn error_policy<K>(controller: &'static str) -> impl Fn(Arc<K>, &Error, Arc<Context>) -> Action
where
    K: Resource<DynamicType = ()>,
{
    move |object, error, ctx| {
        ctx.metrics.reconcile.failed(controller, error.category());
        let delay = ctx.backoff(object.as_ref(), error.retry_after());
        warn!(controller, name = %object.name_any(), namespace = ?object.namespace(), category = error.category(), %error, ?delay, "reconcile failed");
        Action::requeue(delay)
    }
}

/// Whether the CRDs are installed: each kind answers a list call, in `namespace` (the
/// first watched one, for a namespaced install's RBAC) or cluster-wide.
pub async fn crds_installed(client: &Client, namespace: Option<&str>) -> Result<(), String> {
    check::<FrameworkConnection>(client, namespace).await?;
    check::<ListenerRegistration>(client, namespace).await?;
    check::<GatekeepingRule>(client, namespace).await
}

async fn check<K>(client: &Client, namespace: Option<&str>) -> Result<(), String>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    api::<K>(client, namespace)
        .list_metadata(&kube::api::ListParams::default().limit(1))
        .await
        .map(drop)
        .map_err(|e| format!("{}: {e}", K::plural(&())))
}

#[cfg(test)]
mod tests;
