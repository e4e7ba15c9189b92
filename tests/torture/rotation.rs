//! One Secret read by many ListenerRegistrations, rotated: every framework registration
//! gets the new credentials (a PATCH), and how long it took.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::kills::settle;
use crate::world::{Connection, World, seed};
use crate::{figure, serial, size};

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

/// The value below which `q` of `sorted` lie (nearest rank).
fn percentile(sorted: &[u64], q: f64) -> u64 {
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[test]
fn percentiles_by_nearest_rank() {
    let values: Vec<u64> = (1..=100).collect();
    assert_eq!(percentile(&values, 0.5), 50);
    assert_eq!(percentile(&values, 0.99), 99);
    assert_eq!(percentile(&[7], 0.99), 7);
}

#[tokio::test]
async fn a_rotated_secret_reaches_every_registration() {
    let _serial = serial().await;
    let n = size("CXF_TORTURE_ROTATION_RESOURCES", 20) as usize;
    let rps = size("CXF_TORTURE_ROTATION_RPS", 200) as u32;
    let connection = Connection {
        requests_per_second: rps,
        drift_interval: "1m",
        ..Connection::default()
    };
    let mut world = World::start("rotation", None, seed(), connection).await;
    // Kept running: under a large load a leader that cannot renew in time steps down.
    let operator = world.supervised("torture");
    world.create_listeners(0..n).await;
    world.wait_all_ready(n, settle(n)).await;
    let ids: BTreeSet<String> = world
        .listeners()
        .await
        .iter()
        .filter_map(|l| l["status"]["externalId"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), n, "every resource has its registration");

    let rotated = unix_ms();
    world.rotate_listener_secret().await;
    let patched: BTreeMap<String, u64> = crate::support::eventually_within(
        "every registration to be PATCHed",
        settle(n),
        || async {
            let mut first: BTreeMap<String, u64> = BTreeMap::new();
            for request in world.sim.requests().await {
                let time = request["time-ms"].as_u64().unwrap_or_default();
                let id = request["path"].as_str().and_then(|p| p.rsplit('/').next());
                if request["method"] == "PATCH"
                    && request["status"] == 200
                    && time >= rotated
                    && let Some(id) = id.filter(|id| ids.contains(*id))
                {
                    first.entry(id.to_owned()).or_insert(time);
                }
            }
            (first.len() == n).then_some(first)
        },
    )
    .await;
    let mut latencies: Vec<u64> = patched.values().map(|t| t - rotated).collect();
    latencies.sort_unstable();
    figure(format_args!(
        "secret rotation, {n} resources reading one Secret, requestsPerSecond {rps}: Secret update to framework PATCH p50 {} ms, p99 {} ms, max {} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    ));
    let creates_after = world
        .sim
        .requests()
        .await
        .iter()
        .filter(|r| r["method"] == "POST" && r["time-ms"].as_u64() >= Some(rotated))
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/listenerRegistrations"))
        })
        .count();
    assert_eq!(creates_after, 0, "a rotation patches, it never creates");
    world.wait_all_ready(n, Duration::from_secs(60)).await;
    figure(format_args!(
        "secret rotation, {n} resources: {} unplanned operator exits",
        operator.exits()
    ));
    world.save_metrics(&operator.metrics_base()).await;
    world.assert_no_secret_leaks().await;
}
