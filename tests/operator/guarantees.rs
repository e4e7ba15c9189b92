//! The promises of the reconcile contract (`src/reconcile/mod.rs`) where production
//! breaks them: a lost answer, an omitted field, a restart, a namespace deletion, and
//! the writes a new object costs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cxf_operator::resources::{GatekeepingRule, ListenerRegistration};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{DeleteParams, WatchEvent, WatchParams};
use reqwest::Method;
use serde_json::{Value, json};

use crate::env::{Env, count, external_id, listener};
use crate::support::eventually;

/// A periodic drift list: `GET .../listenerRegistrations` without a filter.
fn is_drift_list(r: &Value) -> bool {
    r["method"] == "GET"
        && r["path"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/listenerRegistrations")
        && r.get("query").is_none_or(Value::is_null)
}

/// Observed bug (a): the answer of a drift recreate is lost; the next reconcile adopts
/// what it made instead of creating again.
#[tokio::test]
async fn a_lost_answer_of_a_drift_recreate_leads_to_exactly_one_registration() {
    let env = Env::start("lr-lost-recreate", None).await;
    env.secret("listener-credentials", &[("client-secret", "s")])
        .await;
    env.create::<ListenerRegistration>(listener("tax", "http://127.0.0.1:9/tax", "*", json!({})))
        .await;
    let first = external_id(&env.wait_ready::<ListenerRegistration>("tax").await);
    env.sim
        .set_faults(json!([{"kind": "drop", "route": "listenerRegistrations", "method": "POST", "times": 1}]))
        .await;
    let answer = env
        .sim
        .admin(
            Method::DELETE,
            &format!("listenerRegistrations/{first}"),
            None,
        )
        .await;
    assert!(answer.status().is_success());
    let second = eventually(
        "the registration to be created again and recorded",
        || async {
            let object = env.get::<ListenerRegistration>("tax").await;
            let id = object["status"]["externalId"].as_str()?.to_owned();
            (id != first && env.sim.registrations().await.contains_key(&id)).then_some(id)
        },
    )
    .await;
    let object = env.wait_ready::<ListenerRegistration>("tax").await;
    assert_eq!(external_id(&object), second);
    let registrations = env.sim.registrations().await;
    assert_eq!(
        registrations.keys().collect::<Vec<_>>(),
        vec![&second],
        "exactly one registration: {:?}",
        env.sim.admin_requests().await
    );
    assert_eq!(
        count(
            &env.sim.admin_requests().await,
            "POST",
            "listenerRegistrations"
        ),
        2,
        "the create and the (lost) recreate, nothing more"
    );
}

/// Observed bug (b): a rule that leaves `listenerRegistrationRefs` out keeps the
/// framework's refs.
#[tokio::test]
async fn a_rule_omitting_listener_refs_keeps_the_frameworks() {
    const RULE: &str = "gkr-siebel-accounts";
    let env = Env::start("gkr-omitted-refs", None).await;
    let created: Value = env
        .sim
        .admin(
            Method::POST,
            "listenerRegistrations",
            Some(json!({
                "affiliated-apis": [{"api-name": "accountManagement", "api-version": "v4"}],
                "listener-locality": {"external-listener": {"listener-url": "http://127.0.0.1:9/billing"}},
                "type": "external"
            })),
        )
        .await
        .json()
        .await
        .unwrap();
    let listener_id = created["id"].as_str().unwrap().to_owned();
    let mut edited = env.sim.rule(RULE).await;
    edited["listener-registration-refs"] = json!([listener_id]);
    let answer = env
        .sim
        .admin(
            Method::PATCH,
            &format!("gatekeepingRules/{RULE}"),
            Some(edited),
        )
        .await;
    assert!(answer.status().is_success(), "{}", answer.status());

    env.create::<GatekeepingRule>(json!({
        "metadata": {"name": "siebel"},
        "spec": {
            "selector": {"endpointName": "siebel-accounts"},
            "gatekeepingApis": [
                {"apiId": "tmf-632", "apiName": "Party", "apiVersion": "v4",
                 "apiResources": [{"resourceName": "Individual", "criteria": "(ID pr)", "rank": 0}]},
                {"apiId": "tmf-666", "apiName": "accountManagement", "apiVersion": "v4",
                 "apiResources": [{"resourceName": "BillingAccount", "criteria": "*", "rank": 1}]}
            ]
        }
    }))
    .await;
    env.wait_ready::<GatekeepingRule>("siebel").await;
    let rule = env.sim.rule(RULE).await;
    assert_eq!(
        rule["gatekeeping-apis"][0]["api-resources"][0]["gatekeeping-criteria"]["criteria"],
        "(ID pr)",
        "the spec was applied"
    );
    assert_eq!(
        rule["listener-registration-refs"],
        json!([listener_id]),
        "omitted refs keep the framework's"
    );
}

/// Observed bug (c): after a restart with existing resources, reconciled before their
/// connection's client exists (the token takes 1.5 s), every one is Ready again.
#[tokio::test]
async fn after_a_restart_every_resource_is_ready_again() {
    let mut env = Env::start("restart", Some("kind=latency,route=token,ms=1500")).await;
    env.secret("listener-credentials", &[("client-secret", "s")])
        .await;
    let names: Vec<String> = (0..6).map(|i| format!("tax-{i}")).collect();
    for name in &names {
        env.create::<ListenerRegistration>(listener(
            name,
            &format!("http://127.0.0.1:9/{name}"),
            "*",
            json!({}),
        ))
        .await;
    }
    for name in &names {
        env.wait_ready::<ListenerRegistration>(name).await;
    }
    env.stop_controllers().await;
    // Changed while no operator runs: each one needs a reconcile after the start.
    for name in &names {
        env.patch_spec::<ListenerRegistration>(
            name,
            json!({"affiliatedApis": [{"apiName": "taxCalculation", "apiVersion": "v1", "query": "(ID pr)"}]}),
        )
        .await;
    }
    env.start_controllers();
    for name in &names {
        env.wait_ready::<ListenerRegistration>(name).await;
    }
    let registrations = env.sim.registrations().await;
    assert_eq!(registrations.len(), names.len());
    assert!(
        registrations
            .values()
            .all(|r| r["affiliated-apis"][0]["query"] == "(ID pr)")
    );
}

/// Observed bug (d): deleting the namespace of a connection and a `Delete` listener
/// completes, and the registration is gone from the framework (even when the
/// connection's Secret went first).
#[tokio::test]
async fn deleting_a_namespace_completes_and_cleans_up_the_framework() {
    let env = Env::start("ns-delete", None).await;
    env.secret("listener-credentials", &[("client-secret", "s")])
        .await;
    env.create::<ListenerRegistration>(listener("tax", "http://127.0.0.1:9/tax", "*", json!({})))
        .await;
    let id = external_id(&env.wait_ready::<ListenerRegistration>("tax").await);
    // The namespace controller deletes in no set order: the connection's Secret may go
    // first, and the cleanup must still reach the framework.
    env.api::<k8s_openapi::api::core::v1::Secret>()
        .delete("operator-credentials", &DeleteParams::default())
        .await
        .unwrap();
    env.wait_reason::<cxf_operator::resources::FrameworkConnection>("default", "SecretNotFound")
        .await;
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    namespaces
        .delete(env.ns.name(), &DeleteParams::default())
        .await
        .unwrap();
    let registrations = env.api::<ListenerRegistration>();
    eventually("the ListenerRegistration to be cleaned up", || async {
        registrations
            .get_opt("tax")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let connections = env.api::<cxf_operator::resources::FrameworkConnection>();
    eventually("the FrameworkConnection to be let go", || async {
        connections
            .get_opt("default")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    eventually("the namespace to be gone", || async {
        namespaces
            .get_opt(env.ns.name())
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        !env.sim.registrations().await.contains_key(&id),
        "the registration was deleted on the framework"
    );
}

/// Issue 11: a new object costs at most two writes to the apiserver (the finalizer with
/// the pending-create marker, then the id with Ready) and exactly one admin call.
#[tokio::test]
async fn a_new_registration_costs_two_writes_and_one_admin_call() {
    let env = Env::start("writes-per-object", None).await;
    env.secret("listener-credentials", &[("client-secret", "s")])
        .await;
    let api = env.api::<ListenerRegistration>();
    let modified: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let seen = Arc::clone(&modified);
    let mut events = api
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let counter = tokio::spawn(async move {
        while let Ok(Some(event)) = events.try_next().await {
            if let WatchEvent::Modified(object) = event {
                let name = object.metadata.name.unwrap_or_default();
                *seen.lock().unwrap().entry(name).or_default() += 1;
            }
        }
    });
    let before = env.sim.admin_requests().await.len();
    let names: Vec<String> = (0..5).map(|i| format!("tax-{i}")).collect();
    for name in &names {
        env.create::<ListenerRegistration>(listener(
            name,
            &format!("http://127.0.0.1:9/{name}"),
            "*",
            json!({}),
        ))
        .await;
    }
    for name in &names {
        env.wait_ready::<ListenerRegistration>(name).await;
    }
    // A trailing write would come from the reconciles the writes above trigger: wait for
    // them to have run (the drift check lists every 2 s, so two lists mean they did).
    let lists = |requests: &[Value]| {
        requests[before..]
            .iter()
            .filter(|r| is_drift_list(r))
            .count()
    };
    let at_ready = lists(&env.sim.admin_requests().await);
    eventually("two more drift lists", || async {
        (lists(&env.sim.admin_requests().await) >= at_ready + 2).then_some(())
    })
    .await;
    counter.abort();
    let modified = modified.lock().unwrap().clone();
    for name in &names {
        let writes = modified.get(name).copied().unwrap_or_default();
        assert!(
            (1..=2).contains(&writes),
            "{name}: {writes} writes after the create ({modified:?})"
        );
    }
    let calls: Vec<Value> = env.sim.admin_requests().await[before..]
        .iter()
        .filter(|r| !is_drift_list(r))
        .cloned()
        .collect();
    assert_eq!(
        calls.len(),
        names.len(),
        "one admin call per object, besides the periodic list: {calls:?}"
    );
    assert_eq!(count(&calls, "POST", "listenerRegistrations"), names.len());
}
