//! The simulator's router and server: routes, middleware order (request log, faults,
//! authentication), trailing-slash tolerance (the seeds' curl calls end some paths
//! with `/`), TLS, and the connection drop of the "commit then drop" fault. The state
//! the handlers share is in [`super::sim`], which imports no handler.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::{Request, Response};
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};
use axum_server::tls_rustls::RustlsConfig;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

use super::api_error::ApiError;
use super::auth::{ApiClient, Auth};
use super::delivery::Delivery;
use super::faults::{DropResponse, FaultRule, Faults};
use super::persistence::{self, Persister};
use super::request_log::{self, RequestLog};
use super::sim::Sim;
use super::state::{Store, Workspace};
use super::{
    RetryPolicy, SimulatorError, auth, control, delivery, events, faults, gatekeeping_rules, hub,
    listener_registrations,
};
use crate::framework::model::GatekeepingRule;
use crate::framework::routing::CriteriaCache;

/// Everything the simulator is started with.
#[derive(Clone, Debug)]
pub struct Config {
    /// Rules each new workspace starts with (each with an `id`).
    pub rules: Vec<GatekeepingRule>,
    /// Clients that may get tokens and call the API.
    pub clients: Vec<ApiClient>,
    /// Whether admin requests need credentials.
    pub auth_enabled: bool,
    /// Lifetime of issued bearer tokens.
    pub token_ttl: Duration,
    /// Fault rules active from the start.
    pub faults: Vec<FaultRule>,
    /// Seed of the generators of ids and fault draws; random when absent.
    pub seed: Option<u64>,
    /// State file to load at start and write after each change.
    pub state_file: Option<PathBuf>,
    /// How deliveries to listeners are retried.
    pub retry: RetryPolicy,
    /// PEM certificate and key files, to serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// A simulator ready to serve.
pub struct Simulator {
    sim: Arc<Sim>,
    tls: Option<RustlsConfig>,
}

impl Simulator {
    /// Loads the state file and the TLS files of `config`.
    pub async fn new(config: Config) -> Result<Self, SimulatorError> {
        if config.auth_enabled && config.clients.is_empty() {
            return Err(SimulatorError::NoClients);
        }
        let loaded: BTreeMap<String, Workspace> = match &config.state_file {
            Some(path) => persistence::load(path)?,
            None => BTreeMap::new(),
        };
        let rng = |stream: u64| match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed.wrapping_add(stream)),
            None => StdRng::from_os_rng(),
        };
        let tls = match &config.tls {
            Some((cert, key)) => {
                // Several crates may install one; the first install wins, which is fine.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let tls = RustlsConfig::from_pem_file(cert, key)
                    .await
                    .map_err(|source| SimulatorError::Tls {
                        cert: cert.clone(),
                        key: key.clone(),
                        source,
                    })?;
                Some(tls)
            }
            None => None,
        };
        let sim = Sim {
            store: Mutex::new(Store::new(config.rules, loaded, rng(0))),
            auth: Arc::new(Auth::new(
                config.auth_enabled,
                config.clients,
                config.token_ttl,
            )),
            faults: Arc::new(Faults::new(config.faults, rng(1))),
            requests: Arc::new(RequestLog::default()),
            delivery: Arc::new(Delivery::new(config.retry)),
            criteria: CriteriaCache::default(),
            persister: config.state_file.map(Persister::new),
        };
        Ok(Self {
            sim: Arc::new(sim),
            tls,
        })
    }

    /// `https` when serving TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Serves on `listener` until `shutdown` completes, then lets running requests
    /// finish (up to 5 s).
    pub async fn serve(
        self,
        listener: std::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), SimulatorError> {
        listener
            .set_nonblocking(true)
            .map_err(SimulatorError::Serve)?;
        let app = DropFaulted(NormalizePathLayer::trim_trailing_slash().layer(router(self.sim)));
        let make_service = axum::ServiceExt::<Request<axum::body::Body>>::into_make_service(app);
        let handle = axum_server::Handle::new();
        let stopper = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            stopper.graceful_shutdown(Some(Duration::from_secs(5)));
        });
        match self.tls {
            Some(tls) => {
                axum_server::from_tcp_rustls(listener, tls)
                    .handle(handle)
                    .serve(make_service)
                    .await
            }
            None => {
                axum_server::from_tcp(listener)
                    .handle(handle)
                    .serve(make_service)
                    .await
            }
        }
        .map_err(SimulatorError::Serve)
    }
}

/// The admin resources, mounted under `/admin/{ws}` and `/admin`.
fn admin_routes() -> Router<Arc<Sim>> {
    use gatekeeping_rules as rules;
    use listener_registrations as listeners;
    Router::new()
        .route(
            "/listenerRegistrations",
            get(listeners::list).post(listeners::create),
        )
        .route(
            "/listenerRegistrations/{id}",
            get(listeners::get_one)
                .put(listeners::replace)
                .patch(listeners::patch)
                .post(listeners::patch)
                .delete(listeners::delete),
        )
        .route(
            "/gatekeepingRules",
            get(rules::list).fallback(rules::not_allowed),
        )
        .route(
            "/gatekeepingRules/{id}",
            get(rules::get_one)
                .patch(rules::patch)
                .put(rules::replace)
                .fallback(rules::not_allowed),
        )
}

fn router(sim: Arc<Sim>) -> Router {
    let framework = Router::new()
        .nest("/admin/{ws}", admin_routes())
        .nest("/admin", admin_routes())
        .route(
            "/api/{ws}/{api_name}/{api_version}/hub",
            post(hub::subscribe),
        )
        .route(
            "/api/{ws}/{api_name}/{api_version}/hub/{id}",
            delete(hub::unsubscribe),
        )
        .route_layer(from_fn_with_state(
            Arc::clone(&sim.auth),
            auth::require_auth,
        ))
        .merge(
            Router::new()
                .route("/oauth2/token", post(auth::token))
                .with_state(Arc::clone(&sim.auth)),
        )
        .layer(from_fn_with_state(Arc::clone(&sim.faults), faults::inject))
        .layer(from_fn_with_state(
            Arc::clone(&sim.requests),
            request_log::record,
        ));
    let control = Router::new()
        .route("/sim/requests", get(control::requests))
        .route("/sim/state", get(control::state))
        .route("/sim/reset", post(control::reset))
        .route(
            "/sim/faults",
            get(control::faults)
                .post(control::set_faults)
                .delete(control::clear_faults),
        )
        .route("/sim/events", post(events::publish))
        .route("/sim/{ws}/events", post(events::publish))
        .merge(
            Router::new()
                .route("/sim/deliveries", get(delivery::list))
                .route("/sim/{ws}/deliveries", get(delivery::list))
                .with_state(Arc::clone(&sim.delivery)),
        );
    framework.merge(control).fallback(no_route).with_state(sim)
}

/// A TMF 404 for a path the simulator does not serve.
async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        format!(
            "the simulator serves no {}: see docs/simulator.md for its endpoints",
            uri.path()
        ),
    )
}

/// Closes the connection, without an answer, of a request that a "drop" fault marked.
#[derive(Clone)]
struct DropFaulted<S>(S);

/// The error that makes the server close the connection.
#[derive(Debug, thiserror::Error)]
#[error("the answer was dropped by an injected fault")]
struct DroppedByFault;

impl<S, B> tower::Service<Request<B>> for DropFaulted<S>
where
    S: tower::Service<Request<B>, Response = Response<axum::body::Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<axum::body::Body>;
    type Error = DroppedByFault;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, DroppedByFault>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), DroppedByFault>> {
        self.0.poll_ready(cx).map_err(|never| match never {})
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let answer = self.0.call(request);
        Box::pin(async move {
            let response = answer.await.unwrap_or_else(|never| match never {});
            if response.extensions().get::<DropResponse>().is_some() {
                Err(DroppedByFault)
            } else {
                Ok(response)
            }
        })
    }
}
