//! The validating admission webhook: `POST /validate` over TLS, answering
//! AdmissionReview v1 for the `cxf.dev` kinds with the [`crate::validation`] library.
//!
//! - [`admission`]: the handler (errors refuse, warnings are admission warnings);
//! - [`tls`]: a rustls certificate resolver that swaps certificates without a restart;
//! - [`certs`]: CA and serving certificates made with rcgen;
//! - [`cert_secret`]: the self-managed certificate in a Secret shared by the replicas,
//!   renewed before expiry, and the `caBundle` of the ValidatingWebhookConfiguration;
//! - [`secret_access`]: the author of a resource must be allowed to read the Secrets it
//!   references (SubjectAccessReview);
//! - [`args`]: the `cxf-operator run` flags.
//!
//! With cert-manager, the operator only reads the mounted `tls.crt`/`tls.key` (and
//! re-reads them when cert-manager renews them); cainjector writes the `caBundle`.

pub mod admission;
pub mod args;
pub mod cert_secret;
pub mod certs;
pub mod secret_access;
pub mod tls;

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use kube::Client;

pub use admission::Validator;
pub use args::WebhookArgs;
pub use cert_secret::CertPolicy;
pub use tls::CertResolver;

/// How long requests in flight may take to finish at shutdown: the API server gives
/// up after `timeoutSeconds` (5 in the chart) anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long to wait before trying again after the certificate could not be kept.
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// Where the serving certificate comes from.
#[derive(Clone, Debug)]
pub enum CertSource {
    /// The operator makes and renews it in a Secret and writes the caBundle of the
    /// named ValidatingWebhookConfiguration (if any).
    SelfManaged {
        /// What the certificate is and where it is kept.
        policy: CertPolicy,
        /// The ValidatingWebhookConfiguration whose `caBundle` to keep current.
        config_name: Option<String>,
    },
    /// `tls.crt` and `tls.key` in this directory (cert-manager's Secret, mounted),
    /// re-read every refresh interval.
    Directory(PathBuf),
}

/// Serving the webhook failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The listening socket failed.
    #[error("serving the webhook: {0}")]
    Serve(#[from] std::io::Error),
}

/// The webhook's routes: `POST /validate`.
pub fn router(validator: Validator) -> Router {
    Router::new()
        .route("/validate", post(admission::handle))
        .layer(DefaultBodyLimit::max(admission::MAX_REVIEW_BYTES))
        .with_state(validator)
}

/// Serves [`router`] over TLS on `listener` with the certificate of `resolver`, until
/// `shutdown` completes (then finishes the requests in flight).
///
/// # Errors
///
/// [`WebhookError`] if TLS cannot be configured or the socket fails.
pub async fn serve(
    listener: TcpListener,
    resolver: Arc<CertResolver>,
    validator: Validator,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebhookError> {
    let config = axum_server::tls_rustls::RustlsConfig::from_config(resolver.server_config()?);
    listener.set_nonblocking(true)?;
    let handle = axum_server::Handle::new();
    let stopping = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopping.graceful_shutdown(Some(SHUTDOWN_GRACE));
    });
    axum_server::from_tcp_rustls(listener, config)
        .handle(handle)
        .serve(router(validator).into_make_service())
        .await?;
    Ok(())
}

/// Keeps `resolver`'s certificate current from `source`, forever: checks every
/// `refresh` (and when the certificate falls due), retrying after errors.
pub async fn keep_certificate(
    client: Client,
    source: CertSource,
    resolver: Arc<CertResolver>,
    refresh: Duration,
) {
    let mut served: Option<(String, String)> = None;
    loop {
        let wait = match refresh_once(&client, &source, &resolver, &mut served).await {
            Ok(due_in) => due_in.map_or(refresh, |due_in| {
                due_in.clamp(Duration::from_secs(1), refresh)
            }),
            Err(e) => {
                tracing::error!(error = %e, "webhook: keeping the serving certificate failed");
                RETRY_AFTER.min(refresh)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// One round of [`keep_certificate`]; returns how long until the certificate is due,
/// when known.
async fn refresh_once(
    client: &Client,
    source: &CertSource,
    resolver: &CertResolver,
    served: &mut Option<(String, String)>,
) -> Result<Option<Duration>, Box<dyn std::error::Error + Send + Sync>> {
    let (pair, due_in) = match source {
        CertSource::SelfManaged {
            policy,
            config_name,
        } => {
            let cert = cert_secret::ensure(client, policy).await?;
            if let Some(name) = config_name {
                cert_secret::write_ca_bundle(client, name, &cert.ca_pem).await?;
            }
            let due_in = cert.due_in(SystemTime::now(), policy.renew_before);
            ((cert.cert_pem, cert.key_pem), Some(due_in))
        }
        CertSource::Directory(dir) => {
            let read = |file: &str| {
                let path = dir.join(file);
                std::fs::read_to_string(&path)
                    .map_err(|e| format!("reading {}: {e}", path.display()))
            };
            ((read("tls.crt")?, read("tls.key")?), None)
        }
    };
    if served.as_ref() != Some(&pair) {
        resolver.set(&pair.0, &pair.1)?;
        tracing::info!("webhook: serving a new certificate");
        *served = Some(pair);
    }
    Ok(due_in)
}

/// The webhook as `cxf-operator run` serves it: bound to its address, ready to
/// [`serve`](Webhook::serve). Every replica serves it, leader or not.
#[derive(Debug)]
pub struct Webhook {
    listener: TcpListener,
    source: CertSource,
    refresh: Duration,
}

impl Webhook {
    /// Binds `args`' address; `Ok(None)` when `args` enables no webhook.
    ///
    /// # Errors
    ///
    /// [`WebhookError::Serve`] if the address cannot be bound.
    pub fn bind(args: &WebhookArgs) -> Result<Option<Self>, WebhookError> {
        let Some((addr, source)) = args.settings() else {
            return Ok(None);
        };
        let listener = TcpListener::bind(addr)?;
        // The bound address: with port 0 (tests, the playground) the port is read from here.
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "webhook: listening");
        Ok(Some(Self {
            listener,
            source,
            refresh: args.cert_refresh,
        }))
    }

    /// The address it is bound to (with the actual port when `:0` was asked).
    ///
    /// # Errors
    ///
    /// The socket's error, if it has no address.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Keeps the certificate current and serves `/validate` until `shutdown`.
    ///
    /// # Errors
    ///
    /// [`WebhookError`] if TLS cannot be configured or the socket fails.
    pub async fn serve(
        self,
        client: Client,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), WebhookError> {
        let resolver = Arc::new(CertResolver::default());
        let keeper = tokio::spawn(keep_certificate(
            client.clone(),
            self.source,
            resolver.clone(),
            self.refresh,
        ));
        let served = serve(
            self.listener,
            resolver,
            Validator::new(Some(client)),
            shutdown,
        )
        .await;
        keeper.abort();
        served
    }
}
