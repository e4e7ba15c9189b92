//! Fault injection: each kind, from the command line and at run time, deterministic
//! with a seed.

use std::time::Instant;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Simulator, tax_engine};

const PATH: &str = "/admin/01/listenerRegistrations";

fn body() -> Value {
    tax_engine("http://tax.example", "https://idp.example/token")
}

#[tokio::test]
async fn an_error_fault_answers_503_the_given_number_of_times() {
    let sim = Simulator::with_client(&[
        "--faults",
        "kind=error,status=503,route=listenerRegistrations,method=POST,times=2",
    ])
    .await;
    for _ in 0..2 {
        let (status, err) = sim.call(Method::POST, PATH, body()).await;
        assert_eq!(status, 503);
        assert_eq!(err["reason"], "Service Unavailable");
    }
    assert_eq!(sim.call(Method::POST, PATH, body()).await.0, 201);
    // GETs were never selected.
    let (status, list) = sim.call(Method::GET, PATH, Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn throttling_and_latency_are_set_at_run_time() {
    let sim = Simulator::with_client(&[]).await;
    let (status, _) = sim
        .call(Method::POST, "/sim/faults", json!([{"kind": "throttle", "route": "gatekeepingRules", "retry-after": 7, "times": 1}]))
        .await;
    assert_eq!(status, 200);
    let response = sim
        .request(Method::GET, "/admin/01/gatekeepingRules")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(
        sim.request(Method::GET, "/admin/01/gatekeepingRules")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    sim.call(
        Method::POST,
        "/sim/faults",
        json!([{"kind": "latency", "ms": 300}]),
    )
    .await;
    let started = Instant::now();
    assert_eq!(
        sim.request(Method::GET, PATH)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(started.elapsed().as_millis() >= 300);
    let (status, _) = sim.call(Method::DELETE, "/sim/faults", Value::Null).await;
    assert_eq!(status, 204);
    let (_, rules) = sim.call(Method::GET, "/sim/faults", Value::Null).await;
    assert_eq!(rules, json!([]));

    let (status, err) = sim
        .call(
            Method::POST,
            "/sim/faults",
            json!([{"kind": "error", "status": 418}]),
        )
        .await;
    assert_eq!(status, 400);
    assert!(err["message"].as_str().unwrap().contains("500 or 503"));
}

#[tokio::test]
async fn a_drop_fault_commits_the_change_but_closes_the_connection() {
    let sim = Simulator::with_client(&[
        "--faults",
        "kind=drop,route=listenerRegistrations,method=POST,times=1",
    ])
    .await;
    let err = sim
        .request(Method::POST, PATH)
        .json(&body())
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_status(), "no answer at all: {err}");
    let (status, list) = sim.call(Method::GET, PATH, Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "the registration was created"
    );
    let (_, log) = sim.call(Method::GET, "/sim/requests", Value::Null).await;
    let dropped: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["dropped"] == true)
        .collect();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0]["status"], 201);
}

#[tokio::test]
async fn fault_draws_repeat_with_the_seed() {
    let statuses = |seed: &'static str| async move {
        let sim = Simulator::with_client(&[
            "--seed",
            seed,
            "--faults",
            "kind=error,route=gatekeepingRules,rate=0.5",
        ])
        .await;
        let mut statuses = Vec::new();
        for _ in 0..16 {
            statuses.push(
                sim.request(Method::GET, "/admin/01/gatekeepingRules")
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        statuses
    };
    let first = statuses("42").await;
    assert_eq!(first, statuses("42").await);
    assert!(first.contains(&500) && first.contains(&200), "{first:?}");
}
