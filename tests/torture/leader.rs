//! Two `cxf-operator run` replicas with leader election: a SIGTERM hands the Lease over,
//! a kill -9 is replaced within the lease duration, a leader whose renewals hang stops
//! before the standby starts, and nothing is created twice.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cxf_operator::controller::leader::TIMING;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{control_plane, eventually_within};
use crate::world::{Connection, World, seed};
use crate::{figure, serial};

const MINUTE: Duration = Duration::from_secs(60);

async fn wait_holder(world: &World, identity: &str, timeout: Duration) {
    eventually_within(
        &format!("{identity} to hold the Lease"),
        timeout,
        || async { (world.lease_holder().await.as_deref() == Some(identity)).then_some(()) },
    )
    .await;
}

/// Waits until the log of replica `identity` has a line containing `text`; returns it.
async fn wait_log(world: &World, identity: &str, text: &str) -> serde_json::Value {
    let path = world.dir.path().join(format!("operator-{identity}.log"));
    eventually_within(&format!("{identity} to log {text:?}"), MINUTE, || {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        let line = log
            .lines()
            .find(|line| line.contains(text))
            .and_then(|line| serde_json::from_str(line).ok());
        async move { line }
    })
    .await
}

/// Successful creates of registrations in the simulator's request log.
async fn creates(world: &World) -> usize {
    world
        .sim
        .requests()
        .await
        .iter()
        .filter(|r| {
            r["method"] == "POST"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/listenerRegistrations"))
                && r["status"] == 201
        })
        .count()
}

#[tokio::test]
async fn sigterm_hands_the_lease_to_the_standby_at_once() {
    let _serial = serial().await;
    let world = World::start("leader-sigterm", None, seed(), Connection::default()).await;
    let mut a = world.operator("replica-a", true);
    wait_holder(&world, "replica-a", MINUTE).await;
    let b = world.operator("replica-b", true);
    wait_log(&world, "replica-b", "standing by").await;
    world.create_listeners(0..3).await;
    world.wait_all_ready(3, MINUTE).await;
    world.save_metrics(&a.metrics).await;

    let stopping = Instant::now();
    let status = a.terminate().await;
    assert!(status.success(), "SIGTERM is a clean stop: {status}");
    // Without a release the Lease would still name replica-a here, and for at least
    // lease_duration - retry_period more.
    assert_ne!(
        world.lease_holder().await.as_deref(),
        Some("replica-a"),
        "the stopped leader left its Lease held"
    );
    wait_holder(&world, "replica-b", MINUTE).await;
    figure(format_args!(
        "leader takeover after SIGTERM: {:.1} s (lease duration {} s)",
        stopping.elapsed().as_secs_f64(),
        TIMING.lease_duration.as_secs()
    ));

    // The new leader does the work.
    world.create_listeners(3..6).await;
    world.wait_all_ready(6, MINUTE).await;
    world.assert_one_registration_per_listener(6).await;
    world.save_metrics(&b.metrics).await;
    world.assert_no_secret_leaks().await;
}

#[tokio::test]
async fn a_killed_leader_is_replaced_within_the_lease_duration_and_nothing_is_created_twice() {
    let _serial = serial().await;
    let n = crate::size("CXF_TORTURE_FAILOVER_RESOURCES", 20) as usize;
    // Slow enough that the kill lands mid-convergence.
    let connection = Connection {
        requests_per_second: 10,
        ..Connection::default()
    };
    let faults = "kind=latency,ms=150,rate=0.5";
    let world = World::start("leader-kill", Some(faults), seed(), connection).await;
    let mut a = world.operator("replica-a", true);
    wait_holder(&world, "replica-a", MINUTE).await;
    let b = world.operator("replica-b", true);
    wait_log(&world, "replica-b", "standing by").await;

    world.create_listeners(0..n).await;
    world.wait_ready(n / 4, n, 2 * MINUTE).await;
    world.save_metrics(&a.metrics).await;
    let (ready_at_kill, _) = world.readiness().await;
    let killed = Instant::now();
    a.kill9();
    wait_holder(&world, "replica-b", 2 * MINUTE).await;
    let takeover = killed.elapsed();
    figure(format_args!(
        "leader takeover after kill -9: {:.1} s ({ready_at_kill} of {n} Ready at the kill; lease duration {} s, retry period {} s)",
        takeover.as_secs_f64(),
        TIMING.lease_duration.as_secs(),
        TIMING.retry_period.as_secs()
    ));
    // The standby saw the last renewal at most one retry period after it was made, and
    // notices the expiry at most one retry period late.
    let bound = TIMING.lease_duration + 2 * TIMING.retry_period + Duration::from_secs(1);
    assert!(
        takeover <= bound,
        "the standby took {takeover:?} to take over, more than {bound:?}"
    );

    world.wait_all_ready(n, 2 * MINUTE).await;
    world.assert_one_registration_per_listener(n).await;
    assert_eq!(
        creates(&world).await,
        n,
        "successful POSTs, one per resource"
    );
    world.save_metrics(&b.metrics).await;
    world.assert_no_secret_leaks().await;
}

/// A TCP proxy to the apiserver that can stop forwarding without closing anything: the
/// requests going through it hang.
struct HangingProxy {
    hung: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    /// A kubeconfig whose server is the proxy.
    kubeconfig: PathBuf,
}

impl HangingProxy {
    async fn start(dir: &std::path::Path) -> Self {
        let kubeconfig = std::fs::read_to_string(control_plane().kubeconfig()).unwrap();
        let server = kubeconfig
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: https://"))
            .expect("a server in the kubeconfig")
            .to_owned();
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = socket.local_addr().unwrap().to_string();
        let path = dir.join("proxied-kubeconfig");
        std::fs::write(&path, kubeconfig.replace(&server, &proxy)).unwrap();
        let hung = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&hung);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = socket.accept().await {
                let Ok(upstream) = tokio::net::TcpStream::connect(&server).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (upstream_read, upstream_write) = upstream.into_split();
                tokio::spawn(forward(client_read, upstream_write, Arc::clone(&flag)));
                tokio::spawn(forward(upstream_read, client_write, Arc::clone(&flag)));
            }
        });
        Self {
            hung,
            task,
            kubeconfig: path,
        }
    }

    fn hang(&self) {
        self.hung.store(true, Ordering::SeqCst);
    }
}

impl Drop for HangingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    hung: Arc<AtomicBool>,
) {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let Ok(n) = from.read(&mut buffer).await else {
            return;
        };
        if n == 0 {
            return;
        }
        while hung.load(Ordering::SeqCst) {
            // Hold the connection open and the bytes back: the request hangs.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// Timestamp of a JSON log line.
fn logged_at(line: &serde_json::Value) -> time::OffsetDateTime {
    let text = line["timestamp"].as_str().expect("a timestamp");
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("timestamp {text}: {e}"))
}

#[tokio::test]
async fn a_leader_whose_renewals_hang_stops_before_the_standby_leads() {
    let _serial = serial().await;
    let world = World::start("leader-hang", None, seed(), Connection::default()).await;
    let proxy = HangingProxy::start(world.dir.path()).await;
    let mut a = world.operator_with("replica-a", &proxy.kubeconfig);
    wait_holder(&world, "replica-a", MINUTE).await;
    let _b = world.operator("replica-b", true);
    wait_log(&world, "replica-b", "standing by").await;
    world.create_listeners(0..2).await;
    world.wait_all_ready(2, MINUTE).await;

    proxy.hang();
    let hung = Instant::now();
    let lost = wait_log(&world, "replica-a", "lost the leader Lease").await;
    let lost_after = hung.elapsed();
    let led = wait_log(&world, "replica-b", "became the leader").await;
    figure(format_args!(
        "hung renewals: the leader stopped leading {:.1} s after the apiserver stopped answering it ({}); the standby led {:.1} s after",
        lost_after.as_secs_f64(),
        lost["reason"],
        hung.elapsed().as_secs_f64()
    ));
    assert!(
        logged_at(&lost) < logged_at(&led),
        "two leaders: the standby led at {} while the old leader led until {}",
        logged_at(&led),
        logged_at(&lost)
    );
    eventually_within("the old leader to exit", MINUTE, || {
        let exited = a.exited();
        async move { exited }
    })
    .await;

    world.create_listeners(2..4).await;
    world.wait_all_ready(4, MINUTE).await;
    world.assert_one_registration_per_listener(4).await;
    world.assert_no_secret_leaks().await;
}
