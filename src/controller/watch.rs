//! The watches the controllers run on, and what they keep.
//!
//! - Lean stores: before an object is stored, [`lean`] drops what no reconcile reads:
//!   `metadata.managedFields` (often the larger part of a small object) and kubectl's
//!   last-applied annotation (a second copy of the spec).
//! - Bounded work: each controller runs at most `concurrency` reconciles at once
//!   (kube-runtime's `controller::Config::concurrency`); the others wait in its queue.
//! - Observations for the metrics, from the same watch events, without another watch:
//!   the time from creation to the first Ready, the queue depth, and the resources by
//!   kind and Ready state (counted from the store at each scrape).
//! - The Secret cache: one reflector on the Secrets that opted in
//!   ([`CREDENTIALS_SELECTOR`](crate::resources::secret_access::CREDENTIALS_SELECTOR)): the
//!   reconciles read it, and each listed, changed or deleted Secret triggers the resources
//!   reading it (found through `secrets::Readers`, not a scan).

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Predicate, WatchStreamExt, predicates, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use crate::metrics::{Queue, ReadyLabels, ResourceMetrics};
use crate::resources::{FrameworkConnection, GatekeepingRule, ListenerRegistration, conditions};

/// Default number of reconciles one controller runs at once.
pub const DEFAULT_CONCURRENCY: u16 = 16;
/// kubectl's client-side apply annotation.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what no reconcile reads before `object` is stored.
pub fn lean<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = &mut meta.annotations {
        annotations.remove(LAST_APPLIED);
    }
}

/// A kind a controller reconciles, as the watch observes it.
pub trait Watched:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    /// The `Ready` condition, if there is one.
    fn ready_condition(&self) -> Option<&Condition>;

    /// Whether this version shows the resource was Ready before: a Ready after it is
    /// not a first one.
    fn was_ready(&self) -> bool;

    /// The status of the `Ready` condition, if there is one.
    fn ready(&self) -> Option<&str> {
        self.ready_condition().map(|c| c.status.as_str())
    }

    /// Whether its last reconcile failed for want of the framework (`Ready=False`,
    /// reason `Unavailable`): it waits out a retry.
    fn waiting_for_framework(&self) -> bool {
        self.ready_condition()
            .is_some_and(|c| c.status == "False" && c.reason == conditions::REASON_UNAVAILABLE)
    }
}

fn ready_of(conditions: &[Condition]) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == conditions::READY)
}

impl Watched for FrameworkConnection {
    fn ready_condition(&self) -> Option<&Condition> {
        self.status.as_ref().and_then(|s| ready_of(&s.conditions))
    }
    fn was_ready(&self) -> bool {
        self.ready() == Some("True")
    }
}

/// `Watched` for a kind whose status has `conditions` and `externalId`.
macro_rules! framework_object_watched {
    ($($kind:ty),*) => {$(
        impl Watched for $kind {
            fn ready_condition(&self) -> Option<&Condition> {
                self.status.as_ref().and_then(|s| ready_of(&s.conditions))
            }
            /// A resource that has a framework id was Ready once (it is set with Ready).
            fn was_ready(&self) -> bool {
                self.ready() == Some("True")
                    || self
                        .status
                        .as_ref()
                        .is_some_and(|s| s.external_id.is_some())
            }
        }
    )*};
}
framework_object_watched!(ListenerRegistration, GatekeepingRule);

/// Seconds from creation to `now`, if `current` is a first Ready after `previous` (the
/// version in the store, if any).
pub fn first_ready<K: Watched>(previous: Option<&K>, current: &K, now: SystemTime) -> Option<f64> {
    let first = current.ready() == Some("True") && !previous.is_some_and(Watched::was_ready);
    let created = SystemTime::from(current.meta().creation_timestamp.as_ref()?.0);
    first.then(|| now.duration_since(created).map_or(0.0, |d| d.as_secs_f64()))
}

/// A controller of `K` on a lean store, running at most `concurrency` reconciles at once,
/// with its queue (to wrap the reconcile in [`Queue`]-aware [`started`]). `observe` sees
/// every watch event of `K` once the store holds it, with the store and the version of
/// the event's object the store held before (none for a new object; during a relist,
/// the version before the relist): it keeps indexes such as `secrets::Readers` and
/// triggers the resources an object's change concerns, so that no other watch of `K` is
/// needed.
///
/// With `spec_only`, only objects whose generation (spec, deletion) or annotations
/// changed are reconciled: a status write (the operator's own, after a failure too)
/// does not trigger a reconcile, so the backoff holds.
pub fn controller<K: Watched>(
    api: Api<K>,
    config: watcher::Config,
    concurrency: u16,
    metrics: &ResourceMetrics,
    name: &'static str,
    spec_only: bool,
    observe: impl Fn(&Store<K>, &watcher::Event<K>, Option<&K>) + Send + 'static,
) -> (Controller<K>, Queue<ObjectRef<K>>) {
    let (store, writer) = reflector::store();
    let queue = metrics.queue(name);
    let (previous, waiting, observed) = (store.clone(), queue.clone(), metrics.clone());
    let current = store.clone();
    // The version the store held before the event, from the step before the reflector
    // to the one after it (the stream handles one event at a time).
    let before = Arc::new(std::sync::Mutex::new(None));
    let held = Arc::clone(&before);
    let objects = watcher(api, config)
        .default_backoff()
        .modify(lean)
        .inspect_ok(move |event| {
            let version = touched(event).and_then(|o| previous.get(&ObjectRef::from_obj(o)));
            follow(version.as_deref(), &waiting, &observed, event);
            *held.lock().expect("previous version lock") = version;
        })
        .reflect(writer)
        .inspect_ok(move |event| {
            let version = before.lock().expect("previous version lock").take();
            observe(&current, event, version.as_deref());
        })
        .applied_objects();
    let stream = if spec_only {
        objects
            .predicate_filter(
                predicates::generation.combine(predicates::annotations),
                Default::default(),
            )
            .boxed()
    } else {
        objects.boxed()
    };
    count(metrics, store.clone());
    let controller = Controller::for_stream(stream, store)
        .with_config(controller::Config::default().concurrency(concurrency));
    (controller, queue)
}

/// Updates the queue and the first-Ready histogram from one event, before the store
/// takes it (`previous` is the version it still holds).
fn follow<K: Watched>(
    previous: Option<&K>,
    queue: &Queue<ObjectRef<K>>,
    metrics: &ResourceMetrics,
    event: &watcher::Event<K>,
) {
    match event {
        watcher::Event::Apply(object) | watcher::Event::InitApply(object) => {
            if let Some(seconds) = first_ready(previous, object, SystemTime::now()) {
                metrics.first_ready(kind::<K>(), seconds);
            }
            queue.requested(ObjectRef::from_obj(object));
        }
        watcher::Event::Delete(object) => queue.done(&ObjectRef::from_obj(object)),
        watcher::Event::Init | watcher::Event::InitDone => {}
    }
}

/// The object `event` applies or deletes, if any.
pub fn touched<K>(event: &watcher::Event<K>) -> Option<&K> {
    match event {
        watcher::Event::Apply(object)
        | watcher::Event::InitApply(object)
        | watcher::Event::Delete(object) => Some(object),
        watcher::Event::Init | watcher::Event::InitDone => None,
    }
}

/// The kind as a `'static` label.
fn kind<K: Watched>() -> &'static str {
    match K::kind(&()).as_ref() {
        "FrameworkConnection" => "FrameworkConnection",
        "ListenerRegistration" => "ListenerRegistration",
        "GatekeepingRule" => "GatekeepingRule",
        _ => "other",
    }
}

/// Counts the resources of `store` by Ready state at each scrape.
fn count<K: Watched>(metrics: &ResourceMetrics, store: Store<K>) {
    metrics.count(Box::new(move |family| {
        for object in store.state() {
            let ready = match object.ready() {
                Some("True") => "True",
                Some("False") => "False",
                _ => "Unknown",
            };
            family
                .get_or_create(&ReadyLabels {
                    kind: kind::<K>(),
                    ready,
                })
                .inc();
        }
    }));
}

/// `reconcile`, marking the object's queue entry done as it starts.
pub fn started<K, Ctx, F, Fut>(
    queue: Queue<ObjectRef<K>>,
    mut reconcile: F,
) -> impl FnMut(Arc<K>, Arc<Ctx>) -> Fut
where
    K: Watched,
    F: FnMut(Arc<K>, Arc<Ctx>) -> Fut,
    Fut: Future,
{
    move |object, ctx| {
        queue.done(&ObjectRef::from_obj(object.as_ref()));
        reconcile(object, ctx)
    }
}

/// What a Secret event triggers: the reconciles of the resources reading it.
type OnSecret = Box<dyn Fn(&Secret) + Send + Sync>;

/// The Secret cache of one scope: its store, filled by one watch of the Secrets that
/// opted in, which also tells the controllers which Secret changed or went away.
pub struct SecretCache {
    /// The Secrets that opted in.
    pub store: Store<Secret>,
    writer: Option<reflector::store::Writer<Secret>>,
    api: Api<Secret>,
    config: watcher::Config,
    on_change: Vec<OnSecret>,
}

impl SecretCache {
    /// A cache of the Secrets of `api` that carry the opt-in label.
    pub fn new(api: Api<Secret>, config: watcher::Config) -> Self {
        let (store, writer) = reflector::store();
        Self {
            store,
            writer: Some(writer),
            api,
            config: config.labels(crate::resources::secret_access::CREDENTIALS_SELECTOR),
            on_change: Vec::new(),
        }
    }

    /// Calls `f` with every Secret that is listed, changes or is deleted.
    pub fn on_change(&mut self, f: impl Fn(&Secret) + Send + Sync + 'static) {
        self.on_change.push(Box::new(f));
    }

    /// Runs the watch that fills the store and calls the `on_change` hooks; call once.
    pub fn run(&mut self) -> impl Future<Output = ()> + Send + 'static {
        let writer = self.writer.take().expect("SecretCache::run is called once");
        let hooks = std::mem::take(&mut self.on_change);
        watcher(self.api.clone(), self.config.clone())
            .default_backoff()
            .modify(lean)
            .reflect(writer)
            .touched_objects()
            .for_each(move |secret| {
                match secret {
                    Ok(secret) => hooks.iter().for_each(|hook| hook(&secret)),
                    Err(error) => tracing::warn!(%error, "watching Secrets failed; retrying"),
                }
                std::future::ready(())
            })
    }
}

/// A hook sending the readers `readers` finds for a Secret to a controller's
/// `reconcile_on` channel.
pub fn trigger<K>(
    readers: Arc<super::secrets::Readers<K>>,
    to: futures::channel::mpsc::UnboundedSender<ObjectRef<K>>,
) -> impl Fn(&Secret) + Send + Sync + 'static
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    move |secret| {
        for reader in readers.of(&secret.metadata) {
            // A closed channel: the controller stopped, nothing left to trigger.
            let _ = to.unbounded_send(reader);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn registration(ready: Option<&str>, external_id: Option<&str>) -> ListenerRegistration {
        let mut status = serde_json::json!({"externalId": external_id});
        if let Some(ready) = ready {
            status["conditions"] = serde_json::json!([{"type": "Ready", "status": ready, "reason": "R",
                "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]);
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "cxf.dev/v1alpha1", "kind": "ListenerRegistration",
            "metadata": {"name": "lr", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z",
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
                "annotations": {LAST_APPLIED: "{}", "cxf.dev/external-id": "7"}},
            "spec": {"affiliatedApis": [{"apiName": "a", "apiVersion": "v1"}], "listenerUrl": "http://l"},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn a_secret_event_triggers_only_the_resources_reading_it() {
        let readers = Arc::new(crate::controller::secrets::Readers::new(
            ListenerRegistration::secret_refs,
        ));
        let mut reader = registration(None, None);
        reader.spec.auth = Some(
            serde_json::from_value(serde_json::json!({"basic": {
                "username": {"value": "u"}, "password": {"name": "creds", "key": "password"}}}))
            .unwrap(),
        );
        let mut other = registration(None, None);
        other.metadata.name = Some("other".into());
        readers.observe(&watcher::Event::Apply(reader));
        readers.observe(&watcher::Event::Apply(other));
        let (tx, mut rx) = futures::channel::mpsc::unbounded();
        let hook = trigger(readers, tx);
        let secret = |name: &str| -> Secret {
            serde_json::from_value(
                serde_json::json!({"metadata": {"name": name, "namespace": "ns"}}),
            )
            .unwrap()
        };
        hook(&secret("creds"));
        hook(&secret("unrelated"));
        assert_eq!(rx.try_recv().ok().map(|r| r.name), Some("lr".to_owned()));
        assert!(rx.try_recv().is_err(), "nothing else triggered");
    }

    #[test]
    fn lean_drops_managed_fields_and_the_last_applied_copy_only() {
        let mut object = registration(None, None);
        lean(&mut object);
        assert!(object.metadata.managed_fields.is_none());
        let annotations = object.metadata.annotations.unwrap();
        assert!(!annotations.contains_key(LAST_APPLIED));
        assert_eq!(
            annotations["cxf.dev/external-id"], "7",
            "the operator's own kept"
        );
    }

    #[test]
    fn only_a_resource_the_framework_failed_waits_for_the_framework() {
        let with = |status: &str, reason: &str| {
            let mut r = registration(Some(status), None);
            r.status.as_mut().unwrap().conditions[0].reason = reason.into();
            r
        };
        // (resource, waits for the framework?)
        let cases = [
            (with("False", conditions::REASON_UNAVAILABLE), true),
            (with("False", conditions::REASON_REJECTED), false),
            (with("False", conditions::REASON_SECRET_NOT_FOUND), false),
            (with("True", conditions::REASON_UNAVAILABLE), false),
            (registration(None, None), false),
        ];
        for (i, (resource, waits)) in cases.iter().enumerate() {
            assert_eq!(resource.waiting_for_framework(), *waits, "case {i}");
        }
    }

    #[test]
    fn a_first_ready_is_one_the_resource_never_had() {
        let created = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01
        let now = created + Duration::from_millis(1500);
        let ready = registration(Some("True"), Some("id-1"));
        // (previous version, current version) → observed?
        let cases = [
            (None, &ready, Some(1.5)),
            (Some(registration(None, None)), &ready, Some(1.5)),
            (Some(registration(Some("False"), None)), &ready, Some(1.5)),
            // Ready again after a failure: it had an id, so it was Ready before.
            (
                Some(registration(Some("False"), Some("id-1"))),
                &ready,
                None,
            ),
            (Some(ready.clone()), &ready, None),
            (None, &registration(Some("False"), None), None),
        ];
        for (i, (previous, current, expected)) in cases.into_iter().enumerate() {
            assert_eq!(
                first_ready(previous.as_ref(), current, now),
                expected,
                "case {i}"
            );
        }
    }
}
