//! GatekeepingRule end to end, on the simulator's `gkr-siebel-accounts` (an external
//! tenant application's rule).

use cxf_operator::resources::{GatekeepingRule, ListenerRegistration};
use serde_json::{Value, json};

use crate::env::{Env, external_id, listener};

const RULE: &str = "gkr-siebel-accounts";

fn apis(individual_criteria: &str) -> Value {
    json!([
        {"apiId": "tmf-632", "apiName": "Party", "apiVersion": "v4",
         "apiResources": [{"resourceName": "Individual", "criteria": individual_criteria, "rank": 0}]},
        {"apiId": "tmf-666", "apiName": "accountManagement", "apiVersion": "v4",
         "apiResources": [{"resourceName": "BillingAccount", "criteria": "*", "rank": 1}]}
    ])
}

fn rule(name: &str, spec: Value) -> Value {
    let mut body = json!({"metadata": {"name": name}, "spec": {"selector": {"endpointName": "siebel-accounts"}, "gatekeepingApis": apis("/event/individual/id sw \"SBL-\"")}});
    if let (Value::Object(s), Value::Object(extra)) = (&mut body["spec"], spec) {
        s.extend(extra);
    }
    body
}

#[tokio::test]
async fn a_rule_change_is_written_a_forbidden_one_refused_and_restore_puts_it_back() {
    let env = Env::start("gkr-change", None).await;
    let original = env.sim.rule(RULE).await;
    env.create::<GatekeepingRule>(rule("siebel", json!({"gatekeepingApis": apis("/event/individual/id sw \"SBL-2\""), "deletionPolicy": "Restore"}))).await;
    let object = env.wait_ready::<GatekeepingRule>("siebel").await;
    assert_eq!(external_id(&object), RULE);
    assert_eq!(object["status"]["endpointName"], "siebel-accounts");
    let saved: Value =
        serde_json::from_str(object["status"]["originalRule"].as_str().unwrap()).unwrap();
    assert_eq!(saved["gatekeeping-apis"], original["gatekeeping-apis"]);
    let now = env.sim.rule(RULE).await;
    assert_eq!(
        now["gatekeeping-apis"][0]["api-resources"][0]["gatekeeping-criteria"]["criteria"],
        "/event/individual/id sw \"SBL-2\""
    );

    // Removing an API is forbidden: a condition names it, nothing is written.
    env.patch_spec::<GatekeepingRule>("siebel", json!({"gatekeepingApis": [apis("*")[0].clone()]}))
        .await;
    let object = env
        .wait_reason::<GatekeepingRule>("siebel", "ForbiddenChange")
        .await;
    let message = object["status"]["conditions"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("gatekeeping-apis"), "{message}");
    assert_eq!(env.sim.rule(RULE).await, now, "nothing written");

    env.delete::<GatekeepingRule>("siebel").await;
    assert_eq!(
        env.sim.rule(RULE).await["gatekeeping-apis"],
        original["gatekeeping-apis"],
        "Restore puts back the original"
    );
}

#[tokio::test]
async fn a_second_claim_on_the_same_rule_is_a_conflict() {
    let env = Env::start("gkr-conflict", None).await;
    env.create::<GatekeepingRule>(rule("first", json!({})))
        .await;
    env.wait_ready::<GatekeepingRule>("first").await;
    let before = env.sim.admin_requests().await.len();
    env.create::<GatekeepingRule>(rule("second", json!({"gatekeepingApis": apis("(ID pr)")})))
        .await;
    let object = env
        .wait_reason::<GatekeepingRule>("second", "Conflict")
        .await;
    assert!(
        object["status"]["conditions"][0]["message"]
            .as_str()
            .unwrap()
            .contains("/first")
    );
    let after = env.sim.admin_requests().await;
    assert!(
        after[before..].iter().all(|r| r["method"] == "GET"),
        "the second writes nothing: {:?}",
        &after[before..]
    );

    // Once the first lets go, the second takes the rule in charge.
    env.delete::<GatekeepingRule>("first").await;
    env.wait_ready::<GatekeepingRule>("second").await;
    let criteria = &env.sim.rule(RULE).await["gatekeeping-apis"][0]["api-resources"][0]["gatekeeping-criteria"]
        ["criteria"];
    assert_eq!(criteria, "(ID pr)");
}

#[tokio::test]
async fn a_listener_reference_resolves_when_the_listener_is_ready() {
    let env = Env::start("gkr-listener-ref", None).await;
    env.create::<GatekeepingRule>(rule(
        "siebel",
        json!({"listenerRegistrationRefs": [{"name": "tax"}]}),
    ))
    .await;
    env.wait_reason::<GatekeepingRule>("siebel", "ListenerNotReady")
        .await;
    env.secret("listener-credentials", &[("client-secret", "s")])
        .await;
    env.create::<ListenerRegistration>(listener("tax", "http://127.0.0.1:9/tax", "*", json!({})))
        .await;
    let id = external_id(&env.wait_ready::<ListenerRegistration>("tax").await);
    env.wait_ready::<GatekeepingRule>("siebel").await;
    assert_eq!(
        env.sim.rule(RULE).await["listener-registration-refs"],
        json!([id])
    );
}

#[tokio::test]
async fn a_rule_edited_on_the_framework_is_put_back() {
    let env = Env::start("gkr-drift", None).await;
    env.create::<GatekeepingRule>(rule("siebel", json!({"gatekeepingApis": apis("(ID pr)")})))
        .await;
    env.wait_ready::<GatekeepingRule>("siebel").await;
    let mut edited = env.sim.rule(RULE).await;
    edited["gatekeeping-apis"][0]["api-resources"][0]["gatekeeping-criteria"]["criteria"] =
        json!("*");
    let answer = env
        .sim
        .admin(
            reqwest::Method::PATCH,
            &format!("gatekeepingRules/{RULE}"),
            Some(edited),
        )
        .await;
    assert!(answer.status().is_success(), "{}", answer.status());
    crate::support::eventually("the rule to be put back", || async {
        let now = env.sim.rule(RULE).await;
        (now["gatekeeping-apis"][0]["api-resources"][0]["gatekeeping-criteria"]["criteria"]
            == "(ID pr)")
            .then_some(())
    })
    .await;
}
