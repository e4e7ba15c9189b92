//! Prometheus metrics, served on `/metrics`. Labels are low-cardinality: a controller, a
//! kind, a Ready state, an error category, a route template, a method, a status. Never an
//! object name.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::TypedMetric;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Every metric of the operator, with the registry that encodes them.
pub struct Metrics {
    /// The registry `/metrics` encodes.
    pub registry: Registry,
    /// Reconcile counters.
    pub reconcile: ReconcileMetrics,
    /// Admin API request counters and latencies.
    pub admin: AdminMetrics,
    /// The resources: time to first Ready, counts by Ready state, drift corrections,
    /// queue depth.
    pub resources: ResourceMetrics,
    /// Events written, failed and dropped.
    pub events: EventMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("cxf_operator");
        let reconcile = ReconcileMetrics::register(&mut registry);
        let admin = AdminMetrics::register(&mut registry);
        let resources = ResourceMetrics::register(&mut registry);
        let events = EventMetrics::register(&mut registry);
        Self {
            registry,
            reconcile,
            admin,
            resources,
            events,
        }
    }
}

impl Metrics {
    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("encoding into a String cannot fail");
        out
    }
}

/// Labels of a reconcile counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// `framework_connection`, `listener_registration` or `gatekeeping_rule`.
    pub controller: &'static str,
}

/// Labels of a reconcile error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The controller.
    pub controller: &'static str,
    /// The error's category.
    pub category: &'static str,
}

/// Reconciles and their errors, per controller.
#[derive(Clone, Default)]
pub struct ReconcileMetrics {
    reconciles: Family<ControllerLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
}

impl ReconcileMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "reconciles",
            "Reconciles run, per controller",
            metrics.reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, per controller and error category",
            metrics.errors.clone(),
        );
        metrics
    }

    /// Counts one reconcile of `controller`.
    pub fn reconciled(&self, controller: &'static str) {
        self.reconciles
            .get_or_create(&ControllerLabels { controller })
            .inc();
    }

    /// Counts one failed reconcile of `controller`.
    pub fn failed(&self, controller: &'static str, category: &'static str) {
        self.errors
            .get_or_create(&ErrorLabels {
                controller,
                category,
            })
            .inc();
    }
}

/// Labels of an admin API request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route template, such as `/admin/{ws}/listenerRegistrations/{id}`.
    pub route: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// HTTP status code, or `error` when no answer came.
    pub status: String,
}

/// Labels of the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Route template.
    pub route: &'static str,
    /// HTTP method.
    pub method: &'static str,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// Admin API requests by route template, method and status, with their latency.
#[derive(Clone)]
pub struct AdminMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
}

impl Default for AdminMetrics {
    fn default() -> Self {
        fn histogram() -> Histogram {
            Histogram::new(exponential_buckets(0.005, 2.0, 12))
        }
        Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(histogram),
        }
    }
}

impl AdminMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "admin_requests",
            "Admin API requests, by route template, method and status",
            metrics.requests.clone(),
        );
        registry.register(
            "admin_request_duration_seconds",
            "Admin API request latency, by route template and method",
            metrics.latency.clone(),
        );
        metrics
    }

    /// Records one request and how long it took.
    pub fn observe(
        &self,
        route: &'static str,
        method: &'static str,
        status: Option<u16>,
        elapsed: Duration,
    ) {
        let status = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route, method })
            .observe(elapsed.as_secs_f64());
    }
}

/// Labels of a per-kind metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `FrameworkConnection`, `ListenerRegistration` or `GatekeepingRule`.
    pub kind: &'static str,
}

/// Label of the connection count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReachableLabels {
    /// `false` while the connection's drift lists find the framework unreachable.
    pub reachable: &'static str,
}

/// Labels of the resource count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadyLabels {
    /// The kind.
    pub kind: &'static str,
    /// The `Ready` condition's status: `True`, `False` or `Unknown` (also: no condition yet).
    pub ready: &'static str,
}

/// Adds the resources of one store to the count, by kind and Ready state.
pub type CountSource = Box<dyn Fn(&Family<ReadyLabels, Gauge>) + Send + Sync>;

/// The resources the operator holds, by kind and Ready state: counted from the
/// controllers' stores at each scrape, so the figure is never stale.
#[derive(Clone, Default)]
pub struct ResourceCounts(Arc<Mutex<Vec<CountSource>>>);

impl std::fmt::Debug for ResourceCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResourceCounts")
    }
}

impl Collector for ResourceCounts {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let family = Family::<ReadyLabels, Gauge>::default();
        for source in self.0.lock().expect("resource counts lock").iter() {
            source(&family);
        }
        let metric = encoder.encode_descriptor(
            "resources",
            "Resources the operator watches, by kind and Ready condition status",
            None,
            <Family<ReadyLabels, Gauge> as TypedMetric>::TYPE,
        )?;
        family.encode(metric)
    }
}

/// Label of the Event counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `published`, `failed` (the apiserver refused or did not answer) or `dropped`
    /// (the queue was full).
    pub outcome: &'static str,
}

/// What became of the Events the controllers published (`controller::events`).
#[derive(Clone, Default)]
pub struct EventMetrics(Family<OutcomeLabels, Counter>);

impl EventMetrics {
    /// Creates the counter and registers it in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "events",
            "Kubernetes Events the operator published, by outcome",
            metrics.0.clone(),
        );
        metrics
    }

    fn inc(&self, outcome: &'static str) {
        self.0.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// An Event was written.
    pub fn published(&self) {
        self.inc("published");
    }

    /// Writing an Event failed.
    pub fn failed(&self) {
        self.inc("failed");
    }

    /// An Event was dropped: the queue was full.
    pub fn dropped(&self) {
        self.inc("dropped");
    }
}

type KindHistograms = Family<KindLabels, Histogram, fn() -> Histogram>;

/// Per-kind figures of the resources and the controllers' queues.
#[derive(Clone)]
pub struct ResourceMetrics {
    ready_seconds: KindHistograms,
    drift_corrections: Family<KindLabels, Counter>,
    queue_depth: Family<ControllerLabels, Gauge>,
    counts: ResourceCounts,
    connections: Family<ReachableLabels, Gauge>,
}

impl Default for ResourceMetrics {
    fn default() -> Self {
        fn histogram() -> Histogram {
            // 0.25 s to about 17 minutes.
            Histogram::new(exponential_buckets(0.25, 2.0, 13))
        }
        Self {
            ready_seconds: Family::new_with_constructor(histogram),
            drift_corrections: Family::default(),
            queue_depth: Family::default(),
            counts: ResourceCounts::default(),
            connections: Family::default(),
        }
    }
}

impl ResourceMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "time_to_first_ready_seconds",
            "Time from a resource's creation to the first Ready=True this process saw it reach, by kind",
            metrics.ready_seconds.clone(),
        );
        registry.register(
            "drift_corrections",
            "Framework objects put back after they drifted (changed or deleted on the framework), by kind",
            metrics.drift_corrections.clone(),
        );
        registry.register(
            "queue_depth",
            "Resources whose change a controller has seen and not yet started to reconcile",
            metrics.queue_depth.clone(),
        );
        registry.register_collector(Box::new(metrics.counts.clone()));
        registry.register(
            "framework_connections",
            "FrameworkConnections the operator has connected, by whether their framework answers (false: the last drift list found it unreachable; a connection no resource uses is never listed)",
            metrics.connections.clone(),
        );
        metrics
    }

    /// The connections the operator has connected: `reachable` of them answer (or were
    /// not listed), `down` do not.
    pub fn framework_connections(&self, reachable: usize, down: usize) {
        for (label, count) in [("true", reachable), ("false", down)] {
            self.connections
                .get_or_create(&ReachableLabels { reachable: label })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// A resource of `kind` reached Ready for the first time, `seconds` after its creation.
    pub fn first_ready(&self, kind: &'static str, seconds: f64) {
        self.ready_seconds
            .get_or_create(&KindLabels { kind })
            .observe(seconds.max(0.0));
    }

    /// A drifted framework object of `kind` was put back.
    pub fn drift_corrected(&self, kind: &'static str) {
        self.drift_corrections
            .get_or_create(&KindLabels { kind })
            .inc();
    }

    /// Counts the resources of one store at each scrape.
    pub fn count(&self, source: CountSource) {
        self.counts
            .0
            .lock()
            .expect("resource counts lock")
            .push(source);
    }

    /// The queue of `controller`: resources waiting for a reconcile.
    pub fn queue<K: std::hash::Hash + Eq>(&self, controller: &'static str) -> Queue<K> {
        Queue {
            pending: Arc::new(Mutex::new(HashSet::new())),
            depth: self
                .queue_depth
                .get_or_create(&ControllerLabels { controller })
                .clone(),
        }
    }
}

/// The resources a controller has been asked to reconcile and has not started yet (each
/// once, however many times it was asked: the controller's scheduler merges them too).
#[derive(Clone)]
pub struct Queue<K> {
    pending: Arc<Mutex<HashSet<K>>>,
    depth: Gauge,
}

impl<K: std::hash::Hash + Eq> Queue<K> {
    /// `key` was asked for.
    pub fn requested(&self, key: K) {
        let mut pending = self.pending.lock().expect("queue lock");
        pending.insert(key);
        self.depth.set(pending.len() as i64);
    }

    /// The reconcile of `key` started, or `key` is gone.
    pub fn done(&self, key: &K) {
        let mut pending = self.pending.lock().expect("queue lock");
        pending.remove(key);
        self.depth.set(pending.len() as i64);
    }
}

/// Whether the operator is ready: the CRDs are installed and it serves (metrics and the
/// webhook). Leadership plays no part: a standby replica is ready too.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the operator ready.
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Marks the operator not ready (it is stopping).
    pub fn set_not_ready(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    /// Whether the operator is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// `/metrics`, `/healthz` and `/readyz`, to merge with other routers and serve.
pub fn router(metrics: Arc<Metrics>, readiness: Readiness) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.encode(),
                )
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || async move {
                if readiness.is_ready() {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "not ready")
                }
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_requests_by_route_and_never_by_name() {
        let metrics = Metrics::default();
        metrics.admin.observe(
            "/admin/{ws}/listenerRegistrations/{id}",
            "PATCH",
            Some(200),
            Duration::from_millis(12),
        );
        metrics.reconcile.reconciled("listener_registration");
        metrics
            .reconcile
            .failed("listener_registration", "transient");
        let text = metrics.encode();
        assert!(text.contains(r#"cxf_operator_admin_requests_total{route="/admin/{ws}/listenerRegistrations/{id}",method="PATCH",status="200"} 1"#), "{text}");
        assert!(
            text.contains(r#"cxf_operator_reconciles_total{controller="listener_registration"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"cxf_operator_reconcile_errors_total{controller="listener_registration",category="transient"} 1"#), "{text}");
        assert!(text.contains("cxf_operator_admin_request_duration_seconds_bucket"));
    }

    #[test]
    fn encodes_resource_figures_by_kind_and_never_by_name() {
        let metrics = Metrics::default();
        metrics.resources.first_ready("ListenerRegistration", 1.2);
        metrics.resources.drift_corrected("GatekeepingRule");
        metrics.resources.count(Box::new(|family| {
            family
                .get_or_create(&ReadyLabels {
                    kind: "ListenerRegistration",
                    ready: "True",
                })
                .inc_by(3);
        }));
        let queue = metrics.resources.queue::<String>("listener_registration");
        queue.requested("ns/a".into());
        queue.requested("ns/a".into());
        queue.requested("ns/b".into());
        queue.done(&"ns/b".to_owned());
        let text = metrics.encode();
        for expected in [
            r#"cxf_operator_time_to_first_ready_seconds_bucket{le="2.0",kind="ListenerRegistration"} 1"#,
            r#"cxf_operator_time_to_first_ready_seconds_bucket{le="1.0",kind="ListenerRegistration"} 0"#,
            r#"cxf_operator_drift_corrections_total{kind="GatekeepingRule"} 1"#,
            r#"cxf_operator_resources{kind="ListenerRegistration",ready="True"} 3"#,
            r#"cxf_operator_queue_depth{controller="listener_registration"} 1"#,
        ] {
            assert!(text.contains(expected), "{expected} not in {text}");
        }
        assert!(!text.contains("ns/a"));
    }

    #[tokio::test]
    async fn readyz_follows_readiness_and_metrics_are_served() {
        let readiness = Readiness::default();
        let metrics = Arc::new(Metrics::default());
        metrics.reconcile.reconciled("gatekeeping_rule");
        let app = router(Arc::clone(&metrics), readiness.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let http = reqwest::Client::new();
        assert_eq!(
            http.get(format!("{base}/readyz"))
                .send()
                .await
                .unwrap()
                .status(),
            503
        );
        readiness.set_ready();
        assert_eq!(
            http.get(format!("{base}/readyz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            http.get(format!("{base}/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let text = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("cxf_operator_reconciles"), "{text}");
        server.abort();
    }
}
