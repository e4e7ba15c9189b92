//! Torture tests: what the operator does when things break at the worst moment. The
//! operator (`cxf-operator run`) and the simulator (`cxf-operator simulator`) run as
//! processes against the real control plane of tests/support, so that they can be
//! killed with SIGKILL, stopped and started again.
//!
//! | test | scenario |
//! |---|---|
//! | `leader::*` | two replicas: SIGTERM hands the Lease over, kill -9 is replaced within the lease duration, nothing created twice |
//! | `kills::*` | SIGKILL at random moments under framework faults, while creating and while deleting |
//! | `control_plane::*` | kube-apiserver and etcd restarted mid-convergence |
//! | `partition::*` | the framework down for a while, then back with its state |
//! | `rotation::*` | one Secret read by many resources rotated: every registration PATCHed |
//! | `leaks::*` | the leak check below finds a planted secret value |
//!
//! Every test ends by looking for every secret value it used in the operator's logs and
//! metrics, the namespace's Events, the resources' statuses and the simulator's log and
//! request log ([`world::World::assert_no_secret_leaks`]).
//!
//! The tests run one at a time ([`serial`]): they restart shared processes and they are
//! heavy. Sizes come from the environment (small by default, full size from
//! `scripts/torture.sh`); figures are printed as `figure: ...` lines, never asserted.

#[path = "../support/mod.rs"]
mod support;

mod control_plane;
mod kills;
mod leader;
mod leaks;
mod partition;
mod rotation;
mod world;

/// Held by each test for its whole run: one torture test at a time in this binary.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

/// A size from environment variable `name`, else `default`.
pub fn size(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|e| panic!("{name}={value}: not a whole number: {e}")),
        Err(_) => default,
    }
}

/// Prints a measured figure (collected by scripts/torture.sh).
pub fn figure(text: std::fmt::Arguments<'_>) {
    println!("figure: {text}");
}
