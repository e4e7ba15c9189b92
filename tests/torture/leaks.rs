//! The leak check every torture test ends with finds a secret value wherever it is.

use futures::FutureExt;

use crate::serial;
use crate::world::{Connection, World, seed};

#[tokio::test]
async fn the_leak_check_finds_a_secret_value_in_a_log() {
    let _serial = serial().await;
    let world = World::start("leak-check", None, seed(), Connection::default()).await;
    let _operator = world.operator("torture", true);
    world.create_listeners(0..1).await;
    world
        .wait_all_ready(1, std::time::Duration::from_secs(60))
        .await;
    world.assert_no_secret_leaks().await;

    let planted = world.dir.path().join("operator-planted.log");
    let secret = world.secrets()[1].clone();
    std::fs::write(&planted, format!("{{\"message\":\"oops {secret}\"}}\n")).unwrap();
    let caught = std::panic::AssertUnwindSafe(world.assert_no_secret_leaks())
        .catch_unwind()
        .await;
    let message = caught.expect_err("the planted secret is found");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("operator-planted.log"), "{message}");
}
