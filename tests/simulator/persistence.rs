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

#[tokio::test]
async fn every_create_answered_before_a_kill_is_there_after_the_restart() {
    // Sixteen clients at a time, so that changes share the state file's writes (group
    // commit), and a kill -9 while writes are under way: a create is answered only once
    // a write holding it is on disk.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let args = ["--no-auth", "--state", state.to_str().unwrap()];
    let mut sim = Simulator::start(&args);
    let url = format!("{}/admin/01/listenerRegistrations", sim.base);
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (http, url, answered) = (sim.http.clone(), url.clone(), answered.clone());
            tokio::spawn(async move {
                let body = tax_engine("http://tax.example", "https://idp.example/token");
                // Until the connection fails: the kill.
                while let Ok(response) = http.post(&url).json(&body).send().await {
                    let Ok(created) = response.json::<Value>().await else {
                        break;
                    };
                    let id = created["id"].as_str().expect("a created registration's id");
                    answered.lock().unwrap().push(id.to_owned());
                }
            })
        })
        .collect();
    while answered.lock().unwrap().len() < 300 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    sim.kill();
    for client in clients {
        client.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();

    let sim = Simulator::start(&args);
    let (status, list) = sim
        .call(Method::GET, "/admin/01/listenerRegistrations", Value::Null)
        .await;
    assert_eq!(status, 200);
    let kept: std::collections::HashSet<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    let lost: Vec<&String> = answered
        .iter()
        .filter(|id| !kept.contains(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered creates lost by the kill: {lost:?}",
        lost.len(),
        answered.len()
    );
}
