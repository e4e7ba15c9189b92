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
        if let Err(e) =
            controller::crds_installed(&client, namespaces.first().map(String::as_str)).await
        {
            error!(error = %e, "the CRDs are not installed: run `cxf-operator crds | kubectl apply -f -` (or install the Helm chart) and start again");
            return ExitCode::from(2);
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
        let election = (!no_leader_election).then(|| {
            let identity =
                identity.unwrap_or_else(|| format!("cxf-operator-{}", std::process::id()));
            LeaderElection::new(client.clone(), &lease_namespace, &lease_name, &identity)
        });
        if let Some(election) = &election
            && let Err(e) = election.acquire().await
        {
            error!(error = %e, "leader election failed");
            return ExitCode::FAILURE;
        }
        let settings = Settings {
            namespaces,
            drift_interval,
            concurrency,
        };
        let controllers = controller::run(client, settings, metrics);
        let code = match &election {
            Some(election) => tokio::select! {
                () = controllers => ExitCode::FAILURE,
                lost = election.hold() => {
                    match lost {
                        Ok(()) => error!("lost the leader Lease: stopping"),
                        Err(e) => error!(error = %e, "renewing the leader Lease failed: stopping"),
                    }
                    ExitCode::FAILURE
                }
                () = shutdown_signal() => ExitCode::SUCCESS,
            },
            None => tokio::select! {
                () = controllers => ExitCode::FAILURE,
                () = shutdown_signal() => ExitCode::SUCCESS,
            },
        };
        server.abort();
        if let Some(webhook) = webhook {
            webhook.abort();
        }
        code
    }
}

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
