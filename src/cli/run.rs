//! `cxf-operator run`: the controllers, with `/metrics`, `/healthz` and `/readyz`, behind
//! leader election.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use cxf_operator::controller::{self, Settings, leader::LeaderElection};
use cxf_operator::metrics::{self, Metrics, Readiness};
use cxf_operator::telemetry::{self, LogFormat};
use tracing::{error, info};

/// Run the controllers.
#[derive(clap::Args)]
pub struct Args {
    /// Address serving `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Log line format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Watch only this namespace (repeatable). Default: all namespaces.
    #[arg(long = "namespace", value_name = "NAMESPACE")]
    namespaces: Vec<String>,
    /// Drift-check interval of FrameworkConnections that set none, such as `5m`.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    drift_interval: Duration,
    /// Reconciles each controller runs at once, at most; the other resources wait in its
    /// queue (metric `cxf_operator_queue_depth`). More is not faster: every reconcile
    /// shares the connection's rate limit and the apiserver.
    #[arg(long, default_value_t = controller::watch::DEFAULT_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Run without leader election (a single replica).
    #[arg(long)]
    no_leader_election: bool,
    /// Namespace of the leader election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Name of the leader election Lease.
    #[arg(long, default_value = "cxf-operator")]
    lease_name: String,
    /// This replica's identity in the Lease (the pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Secret (in the Lease's namespace) holding the key of `status.credentialsHash`;
    /// created with a random key if absent.
    #[arg(long, default_value = controller::hash_key::DEFAULT_SECRET_NAME)]
    credentials_hash_secret: String,
    /// The validating admission webhook (served by every replica).
    #[command(flatten)]
    webhook: cxf_operator::webhook::WebhookArgs,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration: kube::core::Duration = text.parse().map_err(|e| format!("{text}: {e}"))?;
    Ok(duration.into())
}

impl Args {
    pub fn run(self) -> ExitCode {
        let runtime = match tokio::runtime::Runtime::new() {
            Ok(runtime) => runtime,
            Err(e) => {
                eprintln!("error: starting the async runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        runtime.block_on(self.serve())
    }

    async fn serve(self) -> ExitCode {
        let Self {
            metrics_addr,
            log_format,
            namespaces,
            drift_interval,
            concurrency,
            no_leader_election,
            lease_namespace,
            lease_name,
            identity,
            credentials_hash_secret,
            webhook,
        } = self;
        telemetry::init(log_format);
        let client = match kube::Client::try_default().await {
            Ok(client) => client,
            Err(e) => {
                error!(error = %e, "connecting to Kubernetes failed");
                return ExitCode::FAILURE;
            }
        };
        match controller::crds_installed(&client, namespaces.first().map(String::as_str)).await {
            Ok(()) => {}
            Err(e @ controller::CrdCheckError::Missing { .. }) => {
                error!(error = %e, "the CRDs are not installed: run `cxf-operator crds | kubectl apply -f -` (or install the Helm chart) and start again");
                return ExitCode::from(2);
            }
            Err(e) => {
                error!(error = %e, "checking that the CRDs are installed failed");
                return ExitCode::FAILURE;
            }
        }
        let metrics = Arc::new(Metrics::default());
        let readiness = Readiness::default();
        let app = metrics::router(Arc::clone(&metrics), readiness.clone());
        let listener = match tokio::net::TcpListener::bind(metrics_addr).await {
            Ok(listener) => listener,
            Err(e) => {
                error!(error = %e, %metrics_addr, "binding the metrics address failed");
                return ExitCode::FAILURE;
            }
        };
        info!(addr = %listener.local_addr().map_or(metrics_addr, |a| a), "serving /metrics, /healthz and /readyz");
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let webhook = match cxf_operator::webhook::Webhook::bind(&webhook) {
            Ok(webhook) => webhook.map(|w| {
                let client = client.clone();
                tokio::spawn(async move {
                    if let Err(e) = w.serve(client, std::future::pending()).await {
                        error!(error = %e, "the admission webhook stopped");
                    }
                })
            }),
            Err(e) => {
                error!(error = %e, "starting the admission webhook failed");
                return ExitCode::FAILURE;
            }
        };

        // Every replica serves the webhook, so every replica is ready once it serves,
        // leader or not: readiness must not wait for the Lease, or a standby would take
        // no webhook traffic and block drains and rolling updates.
        readiness.set_ready();
        let credentials_key =
            match controller::hash_key::ensure(&client, &lease_namespace, &credentials_hash_secret)
                .await
            {
                Ok(key) => key,
                Err(e) => {
                    error!(error = %e, "keeping the credentials-hash key failed");
                    return ExitCode::FAILURE;
                }
            };
        let election = if no_leader_election {
            None
        } else {
            // Its own client and connections (as kube-controller-manager does): renewals
            // do not queue behind the controllers' requests.
            let lease_client = match kube::Client::try_default().await {
                Ok(client) => client,
                Err(e) => {
                    error!(error = %e, "connecting to Kubernetes for leader election failed");
                    return ExitCode::FAILURE;
                }
            };
            let identity =
                identity.unwrap_or_else(|| format!("cxf-operator-{}", std::process::id()));
            Some(LeaderElection::new(
                lease_client,
                &lease_namespace,
                &lease_name,
                &identity,
            ))
        };
        // One signal listener for the whole life: a SIGTERM while standing by stops too.
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        let term = match &election {
            Some(election) => tokio::select! {
                started = election.acquire() => Some(started),
                () = &mut shutdown => None,
            },
            None => None,
        };
        let settings = Settings {
            namespaces,
            drift_interval,
            credentials_key,
            concurrency,
        };
        let controllers = controller::run(client, settings, metrics);
        let code = match (&election, term) {
            (Some(_), None) => ExitCode::SUCCESS,
            (Some(election), Some(started)) => {
                // select! drops the branches it did not take: when it returns, the
                // controllers have stopped, and only then is the Lease handed over.
                let code = tokio::select! {
                    () = controllers => ExitCode::FAILURE,
                    lost = election.hold(started) => {
                        error!(reason = %lost, "lost the leader Lease: stopping");
                        ExitCode::FAILURE
                    }
                    () = &mut shutdown => ExitCode::SUCCESS,
                };
                match tokio::time::timeout(RELEASE_TIMEOUT, election.release()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => error!(error = %e, "releasing the leader Lease failed"),
                    Err(_) => error!("releasing the leader Lease timed out"),
                }
                code
            }
            (None, _) => tokio::select! {
                () = controllers => ExitCode::FAILURE,
                () = &mut shutdown => ExitCode::SUCCESS,
            },
        };
        if let Some(webhook) = webhook {
            if code == ExitCode::SUCCESS {
                // Stopping on a signal: not ready at once, but keep answering admissions
                // until the endpoint removal reaches the apiserver, or a rolling update
                // refuses requests sent to this replica meanwhile.
                readiness.set_not_ready();
                info!(drain = ?WEBHOOK_DRAIN, "stopping: not ready; the webhook answers while the endpoint goes away");
                tokio::time::sleep(WEBHOOK_DRAIN).await;
            }
            webhook.abort();
        }
        server.abort();
        code
    }
}

/// How long a replica stopping on SIGTERM keeps serving the webhook after it turned not
/// ready (the pod's termination grace period is 30 s by default).
const WEBHOOK_DRAIN: Duration = Duration::from_secs(5);

/// How long a stopping leader tries to release its Lease.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// SIGTERM (what Kubernetes sends a pod it stops) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            error!(error = %e, "listening for SIGTERM failed; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
