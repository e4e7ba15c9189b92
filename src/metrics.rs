//! Prometheus metrics, served on `/metrics`. Labels are low-cardinality: a controller, an
//! error category, a route template, a method, a status. Never an object name.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("cxf_operator");
        let reconcile = ReconcileMetrics::register(&mut registry);
        let admin = AdminMetrics::register(&mut registry);
        Self {
            registry,
            reconcile,
            admin,
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

/// Whether the operator is ready: the CRDs are installed and it serves (metrics and the
/// webhook). Leadership plays no part: a standby replica is ready too.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the operator ready.
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::SeqCst);
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
