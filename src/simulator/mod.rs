//! A local, faithful simulator of the CX Industries Framework's admin API.
//!
//! It serves `listenerRegistrations`, `gatekeepingRules` and the TMF hub under
//! `/admin/{workspace}/...` (and the FA API Gateway form `/admin/...`, its own state),
//! an OAuth 2.0 client-credentials token endpoint, and a `/sim/...` control API for
//! tests: publishing events (routed through the gatekeeping rules and the listeners'
//! queries, then delivered over HTTP), the request log, state, reset and fault
//! injection. `docs/simulator.md` describes every endpoint.
//!
//! Layout: [`server`] builds the router and serves it; [`sim`] is the state the
//! handlers share (it imports no handler); [`state`] holds the workspaces;
//! [`auth`] the clients and bearer tokens; [`listener_registrations`], [`hub`] and
//! [`gatekeeping_rules`] the admin resources, refusing what
//! [`crate::framework::rule_checks`] refuses (the same pure checks the operator runs);
//! [`events`] publishes events, routed by [`crate::framework::routing`] (the same
//! pure rules `cxf-operator route` explains), and [`delivery`] delivers them;
//! [`faults`] the fault injection; [`request_log`] the request log; [`persistence`]
//! the state file.

pub mod api_error;
pub mod auth;
pub mod control;
pub mod delivery;
pub mod events;
pub mod faults;
pub mod gatekeeping_rules;
pub mod hub;
pub mod listener_registrations;
pub mod persistence;
pub mod request_log;
pub mod server;
pub mod sim;
pub mod state;

use std::path::PathBuf;
use std::time::Duration;

pub use server::{Config, Simulator};

/// What can go wrong while starting the simulator. Each variant names the step.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// The `--rules` file could not be read.
    #[error("reading the gatekeeping rules file {path}: {source}")]
    ReadRules {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The rules file (or the embedded default) is not a list of gatekeeping rules.
    #[error("parsing the gatekeeping rules from {origin}: {message}")]
    ParseRules {
        /// The file, or `embedded default rules`.
        origin: String,
        /// What is wrong, with the field path.
        message: String,
    },
    /// The `--clients` file could not be read.
    #[error("reading the clients file {path}: {source}")]
    ReadClients {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The `--clients` file is not a list of clients.
    #[error("parsing the clients file {path}: {message}")]
    ParseClients {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the field path.
        message: String,
    },
    /// Authentication is on but no client can get a token.
    #[error(
        "no API clients: pass --clients FILE or --client-id/--client-secret, or --no-auth to accept every request"
    )]
    NoClients,
    /// The `--faults` specification does not parse.
    #[error("parsing the fault specification: {0}")]
    Faults(String),
    /// The `--state` file exists but cannot be read or parsed.
    #[error("loading the state file {path}: {message}")]
    LoadState {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("loading the TLS certificate {cert} and key {key}: {source}")]
    Tls {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Serving failed (accepting connections).
    #[error("serving the simulator: {0}")]
    Serve(std::io::Error),
}

/// How deliveries of events to listeners are retried.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, at least 1.
    pub attempts: u32,
    /// Delay before the second attempt; doubled before each further one.
    pub first_backoff: Duration,
}
