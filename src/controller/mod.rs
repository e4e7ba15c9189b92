//! The controllers: FrameworkConnection, ListenerRegistration and GatekeepingRule, with
//! the Secret and cross-resource watches that trigger them and the drift loop.

pub mod context;
pub mod drift;
pub mod error;
pub mod events;
pub mod finalizer;
pub mod framework_connection;
pub mod framework_object;
pub mod gatekeeping_rule;
pub mod hash_key;
pub mod leader;
pub mod listener_registration;
pub mod outcome;
pub mod secrets;
pub mod state;
pub mod watch;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::warn;

pub use context::{Context, FIELD_MANAGER, FINALIZER, Stores, Triggers};
pub use error::Error;
pub use framework_object::FrameworkObject;

use crate::metrics::Metrics;
use crate::resources::{FrameworkConnection, GatekeepingRule, ListenerRegistration};

/// What the controllers watch and how often they check for drift.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Namespaces to watch; empty: all.
    pub namespaces: Vec<String>,
    /// Drift-check interval of connections that set none.
    pub drift_interval: Duration,
    /// Key of `status.credentialsHash`, from [`hash_key::ensure`].
    pub credentials_key: crate::desired::credentials::HashKey,
    /// Reconciles each controller runs at once, at most (`--concurrency`).
    pub concurrency: u16,
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
            settings.credentials_key.clone(),
            settings.concurrency,
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

/// Requests a reconcile of each of `objects`; a closed channel means the controller
/// stopped: nothing left to trigger.
fn send<K: Resource<DynamicType = ()>>(
    to: &futures::channel::mpsc::UnboundedSender<ObjectRef<K>>,
    objects: Vec<ObjectRef<K>>,
) {
    for object in objects {
        let _ = to.unbounded_send(object);
    }
}

/// References to `objects`, to reconcile.
fn refs<K: Resource<DynamicType = ()>>(objects: &[Arc<K>]) -> Vec<ObjectRef<K>> {
    objects
        .iter()
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

/// The other rules of `changed`'s namespace waiting in a claim conflict: a claim that
/// changed or went away may free the rule they wait for.
fn waiting_for_claim(
    rules: &Store<GatekeepingRule>,
    changed: &GatekeepingRule,
) -> Vec<ObjectRef<GatekeepingRule>> {
    refs(&rules.state_filter(|r| {
        r.namespace() == changed.namespace()
            && r.name_any() != changed.name_any()
            && r.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.reason == crate::resources::conditions::REASON_CONFLICT)
            })
    }))
}

/// What the resources using a FrameworkConnection depend on: its spec (generation),
/// whether it is being deleted, and its Ready condition. Its other status (the
/// `Reachable` condition) concerns them not: a change of it triggers none of them, so an
/// outage does not cut their backoff short.
#[derive(Debug, PartialEq, Eq)]
struct UsersSee {
    generation: Option<i64>,
    deleting: bool,
    ready: Option<(String, String)>,
}

impl UsersSee {
    fn of(connection: &FrameworkConnection) -> Self {
        Self {
            generation: connection.metadata.generation,
            deleting: connection.metadata.deletion_timestamp.is_some(),
            ready: watch::Watched::ready_condition(connection)
                .map(|c| (c.status.clone(), c.reason.clone())),
        }
    }
}

/// The connection whose `event` concerns the resources using it, given the version
/// the watch held before (`previous`).
fn concerns_users(
    previous: Option<&FrameworkConnection>,
    event: &watcher::Event<FrameworkConnection>,
) -> Option<ObjectRef<FrameworkConnection>> {
    match event {
        watcher::Event::Apply(connection) | watcher::Event::InitApply(connection) => {
            (previous.map(UsersSee::of) != Some(UsersSee::of(connection)))
                .then(|| ObjectRef::from_obj(connection))
        }
        watcher::Event::Delete(connection) => Some(ObjectRef::from_obj(connection)),
        watcher::Event::Init | watcher::Event::InitDone => None,
    }
}

/// The rules of `listener`'s namespace that route events to it.
fn routing_to(
    rules: &Store<GatekeepingRule>,
    listener: &ListenerRegistration,
) -> Vec<ObjectRef<GatekeepingRule>> {
    refs(&rules.state_filter(|r| {
        r.namespace() == listener.namespace()
            && r.listener_names().any(|n| n == listener.name_any())
    }))
}

/// The controllers of one namespace (or of all).
async fn run_scope(
    client: Client,
    namespace: Option<String>,
    drift_interval: Duration,
    credentials_key: crate::desired::credentials::HashKey,
    concurrency: u16,
    metrics: Arc<Metrics>,
) {
    let ns = namespace.as_deref();
    let config = watcher::Config::default().any_semantic();
    let mut secret_cache = watch::SecretCache::new(api::<Secret>(&client, ns), config.clone());
    let connection_readers = Arc::new(secrets::Readers::new(FrameworkConnection::secret_refs));
    let registration_readers = Arc::new(secrets::Readers::new(ListenerRegistration::secret_refs));
    let (registration_tx, registration_rx) = futures::channel::mpsc::unbounded();
    let (rule_tx, rule_rx) = futures::channel::mpsc::unbounded();
    let (connection_tx, connection_rx) = futures::channel::mpsc::unbounded();
    let triggers = Triggers {
        registrations: registration_tx,
        rules: rule_tx,
        connections: connection_tx,
    };
    // One watch per kind: what a change concerns beyond its own object is triggered from
    // that watch (`watch::controller`'s `observe`), never from a second watch.
    let (rules, rule_queue) = {
        let triggers = triggers.clone();
        watch::controller(
            api::<GatekeepingRule>(&client, ns),
            config.clone(),
            concurrency,
            &metrics.resources,
            gatekeeping_rule::CONTROLLER,
            true,
            move |rules, event, _| {
                if let Some(changed) = watch::touched(event) {
                    send(&triggers.rules, waiting_for_claim(rules, changed));
                }
            },
        )
    };
    let (registrations, registration_queue) = {
        let (readers, triggers) = (Arc::clone(&registration_readers), triggers.clone());
        let rules = rules.store();
        watch::controller(
            api::<ListenerRegistration>(&client, ns),
            config.clone(),
            concurrency,
            &metrics.resources,
            listener_registration::CONTROLLER,
            true,
            move |_, event, _| {
                readers.observe(event);
                if let Some(listener) = watch::touched(event) {
                    send(&triggers.rules, routing_to(&rules, listener));
                }
            },
        )
    };
    let (connections, connection_queue) = {
        let (readers, triggers) = (Arc::clone(&connection_readers), triggers.clone());
        let (registrations, rules) = (registrations.store(), rules.store());
        watch::controller(
            api::<FrameworkConnection>(&client, ns),
            config.clone(),
            concurrency,
            &metrics.resources,
            framework_connection::CONTROLLER,
            false,
            move |_, event, previous| {
                readers.observe(event);
                if let Some(connection) = concerns_users(previous, event) {
                    triggers.dependents(&registrations, &rules, &connection);
                }
            },
        )
    };
    let stores = Stores {
        connections: connections.store(),
        registrations: registrations.store(),
        rules: rules.store(),
        secrets: secret_cache.store.clone(),
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        metrics,
        stores.clone(),
        drift_interval,
        triggers,
        credentials_key,
    ));

    let (connection_secret_tx, connection_secret_rx) = futures::channel::mpsc::unbounded();
    let (registration_secret_tx, registration_secret_rx) = futures::channel::mpsc::unbounded();
    secret_cache.on_change(watch::trigger(connection_readers, connection_secret_tx));
    secret_cache.on_change(watch::trigger(registration_readers, registration_secret_tx));
    let connections = connections
        .reconcile_on(connection_secret_rx)
        .reconcile_on(connection_rx);
    let registrations = registrations
        .reconcile_on(registration_secret_rx)
        .reconcile_on(registration_rx);
    let rules = rules.reconcile_on(rule_rx);

    // The Secret cache fills before any reconcile reads it.
    let secrets_cache = secret_cache.store.clone();
    let secret_watch = secret_cache.run();
    let controllers = async move {
        if secrets_cache.wait_until_ready().await.is_err() {
            return;
        }
        tokio::join!(
            drive(
                connections,
                watch::started(connection_queue, framework_connection::reconcile),
                framework_connection::CONTROLLER,
                Arc::clone(&ctx)
            ),
            drive(
                registrations,
                watch::started(
                    registration_queue,
                    framework_object::reconcile::<ListenerRegistration>
                ),
                listener_registration::CONTROLLER,
                Arc::clone(&ctx)
            ),
            drive(
                rules,
                watch::started(rule_queue, framework_object::reconcile::<GatekeepingRule>),
                gatekeeping_rule::CONTROLLER,
                Arc::clone(&ctx)
            ),
            drift::run(Arc::clone(&ctx)),
        );
    };
    tokio::join!(secret_watch, controllers);
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

/// Why the CRD check failed.
#[derive(Debug, thiserror::Error)]
pub enum CrdCheckError {
    /// The apiserver does not serve the kind: its CRD is not installed.
    #[error("the CRD of {plural} is not installed: {source}")]
    Missing {
        /// The kind's plural.
        plural: String,
        /// The apiserver's 404.
        #[source]
        source: kube::Error,
    },
    /// The list call failed otherwise (the apiserver unreachable or failing, RBAC): the
    /// CRDs may well be there.
    #[error("listing {plural} failed: {source}")]
    Failed {
        /// The kind's plural.
        plural: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

/// Whether the CRDs are installed: each kind answers a list call, in `namespace` (the
/// first watched one, for a namespaced install's RBAC) or cluster-wide. Only a 404 means
/// a CRD is missing.
pub async fn crds_installed(client: &Client, namespace: Option<&str>) -> Result<(), CrdCheckError> {
    check::<FrameworkConnection>(client, namespace).await?;
    check::<ListenerRegistration>(client, namespace).await?;
    check::<GatekeepingRule>(client, namespace).await
}

async fn check<K>(client: &Client, namespace: Option<&str>) -> Result<(), CrdCheckError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let plural = K::plural(&()).into_owned();
    match api::<K>(client, namespace)
        .list_metadata(&kube::api::ListParams::default().limit(1))
        .await
    {
        Ok(_) => Ok(()),
        Err(source) if matches!(&source, kube::Error::Api(status) if status.code == 404) => {
            Err(CrdCheckError::Missing { plural, source })
        }
        Err(source) => Err(CrdCheckError::Failed { plural, source }),
    }
}

#[cfg(test)]
mod tests;
