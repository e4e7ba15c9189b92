//! The simulator's admin API under concurrent creates, without and with `--state`:
//! N listener registrations POSTed 16 at a time, the time they took and the
//! simulator's CPU seconds; with a state file, its size and the restart that loads it.
//!
//! `cargo bench --bench simulator -- N` (N defaults to 10,000; release build). Under
//! `cargo test --all-targets` (test mode) it runs with N = 200 and checks that the
//! restarted simulator holds every registration.

use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

#[path = "support/proc.rs"]
mod proc;
#[path = "../tests/support/simulator.rs"]
mod simulator;

const WAYS: usize = 16;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Result<()> {
    let bench = std::env::args().any(|a| a == "--bench");
    let n: usize = match std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        Some(n) => n.parse()?,
        None if bench => 10_000,
        None => 200,
    };
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().ok_or("a UTF-8 temporary path")?;
    creates(n, &["--no-auth"], "no state file").await?;
    creates(n, &["--no-auth", "--state", state_arg], "--state").await?;
    let size = std::fs::metadata(&state)?.len();
    let started = Instant::now();
    let (mut child, base) = simulator::spawn(&["--no-auth", "--state", state_arg]);
    let loaded = Instant::now() - started;
    let listed: Vec<Value> = reqwest::get(format!("{base}/admin/01/listenerRegistrations"))
        .await?
        .error_for_status()?
        .json()
        .await?;
    child.kill()?;
    child.wait()?;
    println!(
        "simulator: a restart loads the {:.1} MiB state file of {} registrations in {:.2} s",
        size as f64 / (1024.0 * 1024.0),
        listed.len(),
        loaded.as_secs_f64()
    );
    if listed.len() != n {
        return Err(format!("the restart holds {} of {n} registrations", listed.len()).into());
    }
    Ok(())
}

/// POSTs `n` registrations to a simulator started with `args`, `WAYS` at a time.
async fn creates(n: usize, args: &[&str], label: &str) -> Result<()> {
    let (mut child, base) = simulator::spawn(args);
    let http = reqwest::Client::new();
    let url = format!("{base}/admin/01/listenerRegistrations");
    let started = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let request = http.post(&url).json(&json!({
                "affiliated-apis": [{"api-name": "Party", "api-version": "v4", "query": "ID pr"}],
                "listener-locality": {"external-listener": {"listener-url": format!("http://127.0.0.1:9/l{i}")}},
                "type": "external"
            }));
            async move { request.send().await?.error_for_status().map(drop) }
        })
        .buffer_unordered(WAYS)
        .try_collect::<()>()
        .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = proc::cpu_seconds(child.id());
    child.kill()?;
    child.wait()?;
    println!(
        "simulator, {label}: {n} creates ({WAYS} at a time) in {elapsed:.1} s = {:.0}/s, simulator CPU {cpu:.1} s",
        n as f64 / elapsed
    );
    Ok(())
}
