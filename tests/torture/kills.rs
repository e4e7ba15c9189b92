//! SIGKILL at random moments while ListenerRegistrations converge under framework faults,
//! then while they are deleted: nothing lost, nothing created twice, nothing left.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::world::{Connection, FAULTS, Supervisor, World, seed};
use crate::{figure, serial, size};

/// Kills the operator with SIGKILL at random intervals of 0.3 to 4 s for `duration` (a
/// new process starts at once each time); returns the number of kills.
pub async fn kill_at_random(
    world: &World,
    operator: &Supervisor,
    rng: &mut StdRng,
    duration: Duration,
) -> usize {
    let deadline = Instant::now() + duration;
    let mut kills = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..=4000))).await;
        world.save_metrics(&operator.metrics_base()).await;
        operator.kill9();
        kills += 1;
    }
    kills
}

/// How long `n` resources may take to settle once the kills stop: longer than the
/// longest retry delay (300 s, `controller::context`), which a resource that met several
/// injected faults in a row may be waiting out; the wait ends as soon as all are Ready.
pub fn settle(n: usize) -> Duration {
    Duration::from_secs(330 + n as u64 / 2)
}

#[tokio::test]
async fn sigkill_at_random_moments_loses_nothing_and_creates_nothing_twice() {
    let _serial = serial().await;
    let n = size("CXF_TORTURE_RESOURCES", 30) as usize;
    let kill_for = Duration::from_secs(size("CXF_TORTURE_KILL_SECONDS", 15));
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    // A low request rate keeps the resources converging while the kills happen.
    let connection = Connection {
        requests_per_second: size("CXF_TORTURE_KILL_RPS", 3) as u32,
        ..Connection::default()
    };
    let world = World::start("kill9", Some(FAULTS), seed, connection).await;
    // One identity across restarts (a StatefulSet pod): each new process takes its own
    // Lease back at once.
    let operator = world.supervised("torture");

    world.create_listeners(0..n).await;
    let kills = kill_at_random(&world, &operator, &mut rng, kill_for).await;
    let last_start = Instant::now();
    let (ready_at_last_kill, _) = world.readiness().await;
    world.wait_all_ready(n, settle(n)).await;
    figure(format_args!(
        "kill -9 while creating: {n} resources, {kills} kills in {} s (seed {seed}), {ready_at_last_kill} Ready at the last kill; all Ready {:.1} s after the last start",
        kill_for.as_secs(),
        last_start.elapsed().as_secs_f64()
    ));
    world.assert_one_registration_per_listener(n).await;

    world.delete_all_listeners().await;
    let kills = kill_at_random(&world, &operator, &mut rng, kill_for / 2).await;
    let last_start = Instant::now();
    let left_at_last_kill = world.listeners().await.len();
    world.wait_no_listeners(settle(n)).await;
    let left = world.sim.registrations().await;
    assert!(
        left.is_empty(),
        "registrations left on the framework after every resource was deleted: {:?}",
        left.keys().collect::<Vec<_>>()
    );
    figure(format_args!(
        "kill -9 while deleting: {n} resources, {kills} kills in {} s, {left_at_last_kill} left at the last kill; all gone {:.1} s after the last start; {} unplanned exits",
        (kill_for / 2).as_secs(),
        last_start.elapsed().as_secs_f64(),
        operator.exits()
    ));
    world.save_metrics(&operator.metrics_base()).await;
    world.assert_no_secret_leaks().await;
}
