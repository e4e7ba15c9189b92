//! kube-apiserver and etcd restarted while ListenerRegistrations converge: the watches
//! reconnect, nothing is lost, nothing is created twice.

use std::time::Duration;

use cxf_operator::resources::ListenerRegistration;
use kube::api::DeleteParams;

use crate::kills::settle;
use crate::support::{control_plane, eventually_within};
use crate::world::{Connection, World, listener_url, seed};
use crate::{figure, serial, size};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn apiserver_and_etcd_restarts_mid_convergence_lose_and_duplicate_nothing() {
    let _serial = serial().await;
    let n = size("CXF_TORTURE_RESTART_RESOURCES", 20) as usize;
    // Slow enough that each restart lands mid-convergence.
    let connection = Connection {
        requests_per_second: 10,
        ..Connection::default()
    };
    let world = World::start(
        "cp-restart",
        Some("kind=latency,ms=150,rate=0.5"),
        seed(),
        connection,
    )
    .await;
    // A leader that cannot renew its Lease while the apiserver is down exits: the
    // supervisor starts it again, as a Deployment would.
    let operator = world.supervised("torture");

    world.create_listeners(0..n).await;
    for (component, at) in [("kube-apiserver", n / 3), ("etcd", 2 * n / 3)] {
        world.wait_ready(at, n, settle(n)).await;
        let (ready, _) = world.readiness().await;
        control_plane()
            .restart(component, Duration::from_secs(2))
            .await;
        figure(format_args!(
            "restarted {component} (down 2 s) with {ready} of {n} Ready"
        ));
    }
    world.wait_all_ready(n, settle(n)).await;
    world.assert_one_registration_per_listener(n).await;

    // The watches work after the restarts: a new resource and a deletion are seen.
    world.create_listeners(n..n + 1).await;
    world.wait_all_ready(n + 1, MINUTE).await;
    world
        .api::<ListenerRegistration>()
        .delete("l-0", &DeleteParams::default())
        .await
        .expect("deleting l-0");
    eventually_within("l-0's registration to be deleted", MINUTE, || async {
        let by_url = world.registrations_by_url().await;
        (!by_url.contains_key(&listener_url(0))).then_some(())
    })
    .await;
    figure(format_args!(
        "apiserver and etcd restarts: {} unplanned operator exits (a leader that cannot renew stops)",
        operator.exits()
    ));
    world.save_metrics(&operator.metrics_base()).await;
    world.assert_no_secret_leaks().await;
}
