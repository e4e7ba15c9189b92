//! `cxf-operator simulator`: a local simulator of the framework's admin API.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args as ClapArgs;
use cxf_operator::framework::model::SecretValue;
use cxf_operator::simulator::auth::{ApiClient, load_clients};
use cxf_operator::simulator::faults::parse_spec;
use cxf_operator::simulator::gatekeeping_rules::load_rules;
use cxf_operator::simulator::{Config, RetryPolicy, Simulator, SimulatorError};

/// Run a local simulator of the CX Industries Framework's admin API
/// (listenerRegistrations, gatekeepingRules, TMF hub, OAuth token endpoint, event
/// delivery, fault injection). The first line on stdout is
/// `listening on http://ADDR` (`https` with TLS).
#[derive(ClapArgs, Debug)]
#[command(
    after_help = "Example:\n  cxf-operator simulator --listen 127.0.0.1:0 --client-id ops --client-secret s3cret \\\n      --faults 'kind=error,status=503,route=listenerRegistrations,rate=0.1' --seed 42 --state /tmp/sim.json\n\nSee docs/simulator.md for every endpoint."
)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// PEM certificate file, to serve HTTPS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key file, to serve HTTPS (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Gatekeeping rules every new workspace starts with (YAML or JSON list); default:
    /// the embedded rules (the seed's tmf632 rule and two more).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// API clients file: a YAML list of {id, secret, workspaces}.
    #[arg(long)]
    clients: Option<PathBuf>,
    /// One API client's id (with --client-secret), allowed in every workspace.
    #[arg(long, requires = "client_secret")]
    client_id: Option<String>,
    /// That client's secret.
    #[arg(
        long,
        env = "CXF_SIM_CLIENT_SECRET",
        hide_env_values = true,
        requires = "client_id"
    )]
    client_secret: Option<String>,
    /// Accept every admin request without credentials.
    #[arg(long, conflicts_with_all = ["clients", "client_id"])]
    no_auth: bool,
    /// Lifetime of issued bearer tokens, in seconds.
    #[arg(long, default_value_t = 3600)]
    token_ttl: u64,
    /// Fault rules: `kind=error|throttle|latency|drop,route=..,method=..,rate=..,times=..,
    /// status=..,retry-after=..,ms=..`, rules separated by `;`.
    #[arg(long)]
    faults: Option<String>,
    /// Seed for generated ids and fault draws (deterministic runs).
    #[arg(long)]
    seed: Option<u64>,
    /// Persist the state to this file (atomically; a change is answered once it is on disk) and load it at start.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Delivery attempts per event and listener.
    #[arg(long, default_value_t = 4)]
    delivery_attempts: u32,
    /// Delay before the second delivery attempt, in milliseconds; doubled each time.
    #[arg(long, default_value_t = 200)]
    delivery_backoff_ms: u64,
}

impl Args {
    /// Starts the simulator and serves until Ctrl-C or SIGTERM.
    pub fn run(self) -> ExitCode {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info".into()),
            )
            .try_init();
        let runtime = match tokio::runtime::Runtime::new() {
            Ok(runtime) => runtime,
            Err(err) => {
                eprintln!("error: starting the async runtime: {err}");
                return ExitCode::FAILURE;
            }
        };
        match runtime.block_on(self.serve()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        }
    }

    async fn serve(self) -> anyhow::Result<()> {
        let Self {
            listen,
            tls_cert,
            tls_key,
            rules,
            clients,
            client_id,
            client_secret,
            no_auth,
            token_ttl,
            faults,
            seed,
            state,
            delivery_attempts,
            delivery_backoff_ms,
        } = self;
        let mut api_clients = match &clients {
            Some(path) => load_clients(path)?,
            None => Vec::new(),
        };
        if let (Some(id), Some(secret)) = (client_id, client_secret) {
            api_clients.push(ApiClient {
                id,
                secret: SecretValue::new(secret),
                workspaces: None,
            });
        }
        let faults = match faults {
            Some(spec) => parse_spec(&spec).map_err(SimulatorError::Faults)?,
            None => Vec::new(),
        };
        let config = Config {
            rules: load_rules(rules.as_deref())?,
            clients: api_clients,
            auth_enabled: !no_auth,
            token_ttl: Duration::from_secs(token_ttl),
            faults,
            seed,
            state_file: state,
            retry: RetryPolicy {
                attempts: delivery_attempts.max(1),
                first_backoff: Duration::from_millis(delivery_backoff_ms),
            },
            tls: tls_cert.zip(tls_key),
        };
        let simulator = Simulator::new(config).await?;
        let listener =
            std::net::TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
        let address = listener.local_addr().context("reading the bound address")?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on {}://{address}", simulator.scheme())
            .and_then(|()| stdout.flush())
            .context("printing the bound address")?;
        tracing::info!(%address, "simulator started");
        simulator.serve(listener, shutdown_signal()).await?;
        tracing::info!("simulator stopped");
        Ok(())
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => return interrupt.await.unwrap_or_default(),
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or_default();
}
