//! The framework unreachable (the simulator killed) while resources converge and drift
//! checks run, then started again with its state file on the same port: the conditions
//! say so meanwhile, the retries back off, and everything converges as soon as it is
//! back, not at the end of each resource's backoff. The FrameworkConnection's Events
//! and the `framework_connections` metric tell when the outage began and ended.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cxf_operator::resources::FrameworkConnection;
use k8s_openapi::api::events::v1::Event;

use crate::kills::settle;
use crate::world::{Connection, World, metric_sum, metrics_text, seed};
use crate::{figure, serial, size, support};

/// The operator's first retry delay, doubled per failure (src/controller/context.rs).
const BACKOFF_BASE: Duration = Duration::from_secs(2);

/// The attempts one object makes in `outage` when each failure is retried after
/// `BACKOFF_BASE`, doubled each time: the first, then one at 2, 2+4, 2+4+8, ... seconds.
fn attempts_within(outage: Duration) -> u64 {
    let mut attempts = 1;
    let mut at = BACKOFF_BASE;
    let mut delay = BACKOFF_BASE;
    while at <= outage {
        attempts += 1;
        delay *= 2;
        at += delay;
    }
    attempts
}

/// When the first attempt after `outage` comes, by the same schedule.
fn next_attempt_after(outage: Duration) -> Duration {
    let (mut at, mut delay) = (BACKOFF_BASE, BACKOFF_BASE);
    while at <= outage {
        delay *= 2;
        at += delay;
    }
    at
}

#[test]
fn attempts_follow_the_backoff_policy() {
    assert_eq!(
        next_attempt_after(Duration::from_secs(15)),
        Duration::from_secs(30)
    );
    assert_eq!(
        next_attempt_after(Duration::from_secs(35)),
        Duration::from_secs(62)
    );
    assert_eq!(attempts_within(Duration::from_secs(1)), 1);
    assert_eq!(attempts_within(Duration::from_secs(2)), 2);
    assert_eq!(attempts_within(Duration::from_secs(15)), 4);
    assert_eq!(attempts_within(Duration::from_secs(60)), 5);
}

async fn admin_calls(base: &str) -> f64 {
    let text = metrics_text(base)
        .await
        .expect("the operator serves /metrics");
    metric_sum(&text, "cxf_operator_admin_requests_total")
}

#[tokio::test]
async fn a_framework_outage_is_reported_backs_off_and_converges_after() {
    let _serial = serial().await;
    let n = size("CXF_TORTURE_PARTITION_RESOURCES", 10) as usize;
    // 35 s: the converging resources' last retry in the outage comes at 30 s, the next
    // at 62 s, so one that waited out its backoff would converge about 27 s after the
    // framework is back.
    let outage = Duration::from_secs(size("CXF_TORTURE_OUTAGE_SECONDS", 35));
    let backoff_only = next_attempt_after(outage).saturating_sub(outage + Duration::from_secs(1));
    assert!(
        backoff_only >= Duration::from_secs(10),
        "an outage of {outage:?} ends {backoff_only:?} before the next backoff attempt: too close to tell a recovery from a retry; choose another (35 s, 90 s)"
    );
    let drift = Duration::from_secs(2);
    let connection = Connection {
        requests_per_second: 200,
        drift_interval: "2s",
        persist: true,
    };
    let mut world =
        World::start("partition", Some("kind=latency,ms=200"), seed(), connection).await;
    let operator = world.operator("torture", true);

    // Half converged (drift-checked during the outage), half converging when it starts.
    let half = n / 2;
    world.create_listeners(0..half).await;
    world.wait_all_ready(half, settle(n)).await;
    world.create_listeners(half..n).await;
    let before = admin_calls(&operator.metrics).await;
    world.sim.kill();
    let down = Instant::now();

    let mut said: BTreeMap<String, usize> = BTreeMap::new();
    let mut connection_said = BTreeMap::new();
    let mut unreachable_connections = 0.0_f64;
    while down.elapsed() < outage {
        if let Some(text) = metrics_text(&operator.metrics).await {
            unreachable_connections = unreachable_connections.max(metric_sum(
                &text,
                "cxf_operator_framework_connections{reachable=\"false\"}",
            ));
        }
        let (_, others) = world.readiness().await;
        for (statement, count) in others {
            let seen = said.entry(statement).or_insert(0);
            *seen = (*seen).max(count);
        }
        let connection = world
            .api::<FrameworkConnection>()
            .get("default")
            .await
            .expect("reading the connection");
        for c in connection.status.iter().flat_map(|s| &s.conditions) {
            connection_said.insert(
                format!("{}={} {}: {}", c.type_, c.status, c.reason, c.message),
                (),
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let calls = admin_calls(&operator.metrics).await - before;
    world.sim.restart();
    let back = Instant::now();
    world.wait_all_ready(n, settle(n)).await;
    let recovered = back.elapsed();
    world.assert_one_registration_per_listener(n).await;

    // Each converging resource retries with its backoff; the drift loop lists once per
    // interval; one call per resource may have been in flight when the outage began.
    let converging = (n - half) as u64;
    let bound = converging * (attempts_within(outage) + 1) + outage.as_secs() / drift.as_secs() + 2;
    figure(format_args!(
        "framework outage of {} s: {calls} admin calls meanwhile (bound {bound}: {converging} converging resources, backoff from {} s, drift every {} s); all Ready {:.1} s after it came back",
        outage.as_secs(),
        BACKOFF_BASE.as_secs(),
        drift.as_secs(),
        recovered.as_secs_f64()
    ));
    for (statement, count) in &said {
        figure(format_args!(
            "during the outage, {count} ListenerRegistrations said: Ready=False {statement}"
        ));
    }
    for statement in connection_said.keys() {
        figure(format_args!(
            "during the outage, the FrameworkConnection said: {statement}"
        ));
    }
    // Ready speaks for the credentials and settings; Reachable for the framework.
    assert!(
        connection_said
            .keys()
            .any(|s| s.starts_with("Reachable=False Unreachable: the admin API does not answer")),
        "the connection never said its framework was unreachable: {connection_said:#?}"
    );
    assert!(
        !connection_said.keys().any(|s| s.starts_with("Ready=False")),
        "the connection stopped being Ready: {connection_said:#?}"
    );
    assert!(
        said.keys().any(|s| s.starts_with("Unavailable: ")),
        "no converging resource said the framework was Unavailable: {said:#?}"
    );
    assert!(
        calls <= bound as f64,
        "{calls} admin calls during a {outage:?} outage, more than the backoff allows ({bound})"
    );
    // The first list after the framework is back (within a drift interval) retries every
    // resource waiting for it; waiting out each backoff would take until the next attempt.
    assert!(
        recovered < backoff_only / 2,
        "all Ready {recovered:?} after the framework came back: the resources waited out their backoff (next attempt {backoff_only:?} after)"
    );

    // The connection tells the outage: its gauge while it lasted, one Event when it
    // began and one when it ended.
    assert_eq!(
        unreachable_connections, 1.0,
        "framework_connections{{reachable=\"false\"}} during the outage"
    );
    let events = support::eventually("the connection's Events of the outage's end", || async {
        let mut events: Vec<Event> = world
            .api::<Event>()
            .list(&Default::default())
            .await
            .expect("listing Events")
            .items
            .into_iter()
            .filter(|e| {
                e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("FrameworkConnection")
            })
            .collect();
        events.sort_by_key(|e| e.metadata.creation_timestamp.clone());
        let events: Vec<(String, String, String)> = events
            .into_iter()
            .map(|e| {
                (
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.note.unwrap_or_default(),
                )
            })
            .collect();
        events
            .iter()
            .any(|(_, reason, _)| reason == "FrameworkReachable")
            .then_some(events)
    })
    .await;
    for (kind, reason, note) in &events {
        figure(format_args!(
            "FrameworkConnection Event: {kind} {reason}: {note}"
        ));
    }
    let reasons: Vec<(&str, &str)> = events
        .iter()
        .filter(|(_, reason, _)| reason.starts_with("Framework"))
        .map(|(kind, reason, _)| (kind.as_str(), reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("Warning", "FrameworkUnreachable"),
            ("Normal", "FrameworkReachable")
        ],
        "{events:#?}"
    );
    support::eventually("the connection to say Reachable=True again", || async {
        let connection = world
            .api::<FrameworkConnection>()
            .get("default")
            .await
            .expect("reading the connection");
        connection
            .status
            .iter()
            .flat_map(|s| &s.conditions)
            .any(|c| c.type_ == "Reachable" && c.status == "True")
            .then_some(())
    })
    .await;
    let text = metrics_text(&operator.metrics)
        .await
        .expect("the operator serves /metrics");
    assert_eq!(
        metric_sum(
            &text,
            "cxf_operator_framework_connections{reachable=\"false\"}"
        ),
        0.0,
        "the gauge once the framework is back"
    );
    world.rotate_listener_secret().await;
    world.save_metrics(&operator.metrics).await;
    world.assert_no_secret_leaks().await;
}
