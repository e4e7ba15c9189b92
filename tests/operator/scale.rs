//! What each new object costs, counted, not timed (the times are in
//! `scripts/bench-operator.sh`): the apiserver writes the operator makes per new
//! ListenerRegistration (counted on the operator's own client), the admin calls per new
//! object (the simulator's `/sim/requests`), what steady state calls, and one watch per
//! kind.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, Request};
use cxf_operator::controller::{self, Settings};
use cxf_operator::metrics::Metrics;
use cxf_operator::resources::{FrameworkConnection, ListenerRegistration};
use kube::client::{Body, ClientBuilder};
use serde_json::json;

use crate::env::{Env, listener};
use crate::support::control_plane;

/// New objects created at once.
const N: usize = 6;
/// The most apiserver writes a new object may cost: one metadata write (finalizer and
/// pending-create marker) before the POST, one status write (id and Ready) after it.
const WRITES_PER_NEW_OBJECT: usize = 2;

/// Every request an operator client sent: method and path with its query.
type RequestLog = Arc<Mutex<Vec<(Method, String)>>>;

/// A client to the test control plane that records every request it sends.
async fn counting_client() -> (kube::Client, RequestLog) {
    let log = RequestLog::default();
    let recorded = Arc::clone(&log);
    let record = tower::util::MapRequestLayer::new(move |request: Request<Body>| {
        recorded
            .lock()
            .unwrap()
            .push((request.method().clone(), request.uri().to_string()));
        request
    });
    let client = ClientBuilder::try_from(control_plane().config().await)
        .unwrap()
        .with_layer(&record)
        .build();
    (client, log)
}

/// The writes in `log` to ListenerRegistration `name` (the object or its status).
fn writes_to(log: &[(Method, String)], name: &str) -> Vec<String> {
    log.iter()
        .map(|(method, uri)| (method, uri.split('?').next().unwrap_or_default()))
        .filter(|(method, path)| {
            **method != Method::GET
                && (path.ends_with(&format!("/listenerregistrations/{name}"))
                    || path.ends_with(&format!("/listenerregistrations/{name}/status")))
        })
        .map(|(method, path)| format!("{method} {path}"))
        .collect()
}

#[tokio::test]
async fn a_new_object_costs_two_writes_one_admin_call_and_steady_state_only_lists() {
    let env = Env::start_with("scale", None, false).await;
    let (client, log) = counting_client().await;
    let settings = Settings {
        namespaces: vec![env.ns.name().to_owned()],
        drift_interval: Duration::from_secs(60),
        credentials_key: cxf_operator::desired::credentials::HashKey::generate(),
        concurrency: controller::watch::DEFAULT_CONCURRENCY,
    };
    let controllers = tokio::spawn(controller::run(
        client,
        settings,
        Arc::new(Metrics::default()),
    ));
    env.wait_ready::<FrameworkConnection>("default").await;
    env.secret("listener-credentials", &[("client-secret", "s")])
        .await;
    let admin_before = env.sim.admin_requests().await.len();

    let names: Vec<String> = (0..N).map(|i| format!("lr-{i}")).collect();
    for name in &names {
        let url = format!("http://{name}.example/events");
        env.create::<ListenerRegistration>(listener(
            name,
            &url,
            "/eventType eq \"TaxEvent1\"",
            json!({}),
        ))
        .await;
    }
    for name in &names {
        env.wait_ready::<ListenerRegistration>(name).await;
    }

    // Exactly one admin call per new object; anything else is a list of the collection.
    let admin = env.sim.admin_requests().await;
    let converging = &admin[admin_before..];
    let is_list = |r: &serde_json::Value| {
        r["method"] == "GET"
            && r["path"]
                .as_str()
                .unwrap_or_default()
                .ends_with("/listenerRegistrations")
    };
    let posts = converging
        .iter()
        .filter(|r| r["method"] == "POST" && !r["path"].as_str().unwrap().contains("/sim/"))
        .count();
    assert_eq!(posts, N, "one POST per new object: {converging:#?}");
    let others: Vec<_> = converging
        .iter()
        .filter(|r| r["method"] != "POST" && !is_list(r))
        .collect();
    assert!(
        others.is_empty(),
        "calls other than the POSTs and lists: {others:#?}"
    );
    assert_eq!(env.sim.registrations().await.len(), N);

    // Steady state: the connection checks drift every 2 s; over a few checks the operator
    // only lists.
    let admin_mark = admin.len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let admin = env.sim.admin_requests().await;
    let steady = &admin[admin_mark..];
    assert!(!steady.is_empty(), "drift checks list the collection");
    assert!(
        steady.iter().all(is_list),
        "steady state calls more than lists: {steady:#?}"
    );

    // Apiserver writes per new object over the whole test (steady state included), as
    // the operator's client sent them. Asserted last: the bound holds once a new object
    // takes one pass (finalizer and pending marker in one write, id and Ready in one).
    let sent = log.lock().unwrap().clone();
    for name in &names {
        let writes = writes_to(&sent, name);
        assert!(
            writes.len() <= WRITES_PER_NEW_OBJECT,
            "{name}: {} apiserver writes, at most {WRITES_PER_NEW_OBJECT} expected: {writes:#?}",
            writes.len()
        );
    }

    // One watch per kind: what a change concerns beyond its own object is triggered from
    // that kind's watch, not from a second watch (each would list and decode every object
    // again).
    for resource in [
        "frameworkconnections",
        "listenerregistrations",
        "gatekeepingrules",
        "secrets",
    ] {
        let watches: Vec<&String> = sent
            .iter()
            .filter(|(method, uri)| {
                *method == Method::GET
                    && uri.contains("watch=true")
                    && uri
                        .split('?')
                        .next()
                        .unwrap_or_default()
                        .ends_with(&format!("/{resource}"))
            })
            .map(|(_, uri)| uri)
            .collect();
        assert_eq!(watches.len(), 1, "watches of {resource}: {watches:#?}");
    }
    controllers.abort();
}
