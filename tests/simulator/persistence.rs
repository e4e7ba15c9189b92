//! `--state`: a restart (even after a kill) loses nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Simulator, tax_engine};

#[tokio::test]
async fn a_killed_simulator_restarts_with_its_objects() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let args = ["--state", state.to_str().unwrap()];
    let mut sim = Simulator::with_client(&args).await;
    let (_, created) = sim
        .call(
            Method::POST,
            "/admin/01/listenerRegistrations",
            tax_engine("http://tax.example", "https://idp.example/token"),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let (_, mut rule) = sim
        .call(
            Method::GET,
            "/admin/gatekeepingRules/gkr-tmf632",
            Value::Null,
        )
        .await;
    rule["gatekeeping-apis"][0]["api-resources"][1]["gatekeeping-criteria"]["rank"] = json!(5);
    let (status, _) = sim
        .call(Method::PATCH, "/admin/gatekeepingRules/gkr-tmf632", rule)
        .await;
    assert_eq!(status, 202);
    sim.kill();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the state file holds credentials");
    }

    let sim = Simulator::with_client(&args).await;
    let (status, read) = sim
        .call(
            Method::GET,
            &format!("/admin/01/listenerRegistrations/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(read, created);
    let (_, rule) = sim
        .call(
            Method::GET,
            "/admin/gatekeepingRules/gkr-tmf632",
            Value::Null,
        )
        .await;
    assert_eq!(
        rule["gatekeeping-apis"][0]["api-resources"][1]["gatekeeping-criteria"]["rank"],
        5
    );
    // The secret survived too (it is delivered with, so it must): the file has it.
    assert!(
        std::fs::read_to_string(&state)
            .unwrap()
            .contains("OIDC_CLIENT_SECRET")
    );

    let (status, _) = sim.call(Method::POST, "/sim/reset", Value::Null).await;
    assert_eq!(status, 204);
    let (_, list) = sim
        .call(Method::GET, "/admin/01/listenerRegistrations", Value::Null)
        .await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn a_corrupt_state_file_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(&state, "{not json").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cxf-operator"))
        .args([
            "simulator",
            "--no-auth",
            "--listen",
            "127.0.0.1:0",
            "--state",
            state.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("loading the state file") && stderr.contains("state.json"),
        "{stderr}"
    );
}
