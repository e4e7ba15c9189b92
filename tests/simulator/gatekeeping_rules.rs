//! `gatekeepingRules` (seed 001): reading, updating by PATCH and PUT, and each of the
//! seed's rules refusing a change with a message a person can act on.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Simulator, tax_engine};

const RULE: &str = "/admin/01/gatekeepingRules/gkr-tmf632";
const TENANT_RULE: &str = "/admin/01/gatekeepingRules/gkr-siebel-accounts";

/// Seed 001's payload, copied from the rule as the guide says.
fn seed_payload() -> Value {
    json!({
        "endpoint-name": "tmf632",
        "rule-name": "Generated gatekeeping rule for endpoint tmf632",
        "gatekeeping-apis": [{
            "api-id": "tmf-632",
            "api-name": "Party",
            "api-version": "v4",
            "api-resources": [
                {"resource-name": "Individual", "gatekeeping-criteria": {
                    "criteria": "(ID pr or /event/individual/familyName pr or /event/individual/id pr or /event/organization/tradingName pr or /event/organization/id pr)",
                    "rank": 1}},
                {"resource-name": "Organization", "gatekeeping-criteria": {"criteria": "*", "rank": 1}}
            ]
        }]
    })
}

#[tokio::test]
async fn rules_are_listed_read_and_filtered() {
    let sim = Simulator::with_client(&[]).await;
    // Seed 001's calls use the gateway form, one with a trailing slash.
    let (status, all) = sim
        .call(Method::GET, "/admin/gatekeepingRules/", Value::Null)
        .await;
    assert_eq!(status, 200);
    assert_eq!(all.as_array().unwrap().len(), 3);
    let (status, rule) = sim
        .call(
            Method::GET,
            "/admin/gatekeepingRules/gkr-tmf632",
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(rule["endpoint-name"], "tmf632");
    assert_eq!(rule["owner"], "internal");
    for (query, ids) in [
        ("owner=tenant", vec!["gkr-siebel-accounts"]),
        ("endpoint-name=tmf632", vec!["gkr-tmf632"]),
        (
            "rule-name=Generated%20gatekeeping%20rule%20for%20endpoint%20tmf629",
            vec!["gkr-tmf629"],
        ),
        ("internal-event-emitter-ref=tmf629", vec!["gkr-tmf629"]),
        ("listener-registration-refs=nobody", vec![]),
    ] {
        let (_, found) = sim
            .call(
                Method::GET,
                &format!("/admin/01/gatekeepingRules?{query}"),
                Value::Null,
            )
            .await;
        let found: Vec<&str> = found
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(found, ids, "{query}");
    }
    let (status, err) = sim
        .call(Method::GET, "/admin/01/systemDescriptors", Value::Null)
        .await;
    assert_eq!(status, 404);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("serves no /admin/01/systemDescriptors")
    );
    let (status, err) = sim
        .call(Method::GET, "/admin/01/gatekeepingRules/nope", Value::Null)
        .await;
    assert_eq!(status, 404);
    assert_eq!(err["message"], "no gatekeeping rule with id 'nope'");
}

#[tokio::test]
async fn the_seed_patch_is_accepted_and_put_replaces() {
    let sim = Simulator::with_client(&[]).await;
    let mut payload = seed_payload();
    payload["gatekeeping-apis"][0]["api-resources"][1]["gatekeeping-criteria"]["rank"] = json!(2);
    let (status, rule) = sim.call(Method::PATCH, RULE, payload.clone()).await;
    assert_eq!(status, 202, "{rule}");
    assert_eq!(rule["id"], "gkr-tmf632");
    assert_eq!(rule["owner"], "internal", "the owner is kept");
    let (_, read) = sim.call(Method::GET, RULE, Value::Null).await;
    assert_eq!(
        read["gatekeeping-apis"][0]["api-resources"][1]["gatekeeping-criteria"]["rank"],
        2
    );
    // PUT, with the REST reference's array root.
    payload["gatekeeping-apis"][0]["api-resources"][1]["gatekeeping-criteria"]["rank"] = json!(3);
    let (status, rule) = sim.call(Method::PUT, RULE, json!([payload])).await;
    assert_eq!(status, 200, "{rule}");
    assert_eq!(
        rule["gatekeeping-apis"][0]["api-resources"][1]["gatekeeping-criteria"]["rank"],
        3
    );
    // Other workspaces keep their own copy.
    let (_, other) = sim
        .call(
            Method::GET,
            "/admin/02/gatekeepingRules/gkr-tmf632",
            Value::Null,
        )
        .await;
    assert_eq!(
        other["gatekeeping-apis"][0]["api-resources"][1]["gatekeeping-criteria"]["rank"],
        1
    );
}

#[tokio::test]
async fn rules_can_be_neither_created_nor_deleted() {
    let sim = Simulator::with_client(&[]).await;
    for (method, path) in [
        (Method::POST, "/admin/01/gatekeepingRules"),
        (Method::DELETE, RULE),
    ] {
        let response = sim
            .request(method, path)
            .json(&seed_payload())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "GET, PATCH, PUT");
        let err: Value = response.json().await.unwrap();
        assert!(
            err["message"]
                .as_str()
                .unwrap()
                .contains("never created or deleted")
        );
    }
}

/// PATCHes `payload` onto `path` and returns the status and message.
async fn refused(sim: &Simulator, path: &str, payload: Value) -> (u16, String) {
    let (status, err) = sim.call(Method::PATCH, path, payload).await;
    assert!(status == 400 || status == 409, "{status} {err}");
    (status, err["message"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn each_seed_rule_refuses_a_change_with_its_message() {
    let sim = Simulator::with_client(&[]).await;

    let mut renamed_endpoint = seed_payload();
    renamed_endpoint["endpoint-name"] = json!("tmf632-v2");
    assert_eq!(
        refused(&sim, RULE, renamed_endpoint).await,
        (409, "endpoint-name: is read-only: it is 'tmf632' and cannot become 'tmf632-v2'; copy it from the current rule".into())
    );

    let mut removed_api = seed_payload();
    removed_api["gatekeeping-apis"] = json!([]);
    let (status, message) = refused(&sim, RULE, removed_api).await;
    assert_eq!(status, 409);
    assert!(
        message.contains(
            "API tmf-632 v4 cannot be removed: APIs may be added to a rule, never removed"
        ),
        "{message}"
    );

    let mut no_criteria = seed_payload();
    no_criteria["gatekeeping-apis"][0]["api-resources"][1]["gatekeeping-criteria"]["criteria"] =
        json!("");
    assert_eq!(
        refused(&sim, RULE, no_criteria).await,
        (400, "gatekeeping-apis[0].api-resources[1].gatekeeping-criteria.criteria: every resource needs a criteria; write * for no criteria".into())
    );

    let mut no_rank = seed_payload();
    no_rank["gatekeeping-apis"][0]["api-resources"][1]["gatekeeping-criteria"]
        .as_object_mut()
        .unwrap()
        .remove("rank");
    let (status, message) = refused(&sim, RULE, no_rank).await;
    assert_eq!(status, 400);
    assert!(
        message.contains("api-resources[1].gatekeeping-criteria.rank: every resource needs a rank"),
        "{message}"
    );

    let mut negative_rank = seed_payload();
    negative_rank["gatekeeping-apis"][0]["api-resources"][1]["gatekeeping-criteria"]["rank"] =
        json!(-1);
    assert_eq!(
        refused(&sim, RULE, negative_rank).await,
        (400, "gatekeeping-apis[0].api-resources[1].gatekeeping-criteria.rank: must be 0 or more, found -1".into())
    );

    let mut same_rank = seed_payload();
    let twin = same_rank["gatekeeping-apis"][0]["api-resources"][1].clone();
    same_rank["gatekeeping-apis"][0]["api-resources"]
        .as_array_mut()
        .unwrap()
        .push(twin);
    let (status, message) = refused(&sim, RULE, same_rank).await;
    assert_eq!(status, 409);
    assert!(message.contains("rank 1 is already used by api-resources[1] for resource Organization with the same criteria"), "{message}");

    let mut bad_criteria = seed_payload();
    bad_criteria["gatekeeping-apis"][0]["api-resources"][1]["gatekeeping-criteria"]["criteria"] =
        json!("OP eq GET");
    let (status, message) = refused(&sim, RULE, bad_criteria).await;
    assert_eq!(status, 400);
    assert!(message.starts_with("gatekeeping-apis[0].api-resources[1].gatekeeping-criteria.criteria: is not valid criteria: line 1, column"), "{message}");

    let mut internal_rename = seed_payload();
    internal_rename["rule-name"] = json!("My rule");
    let (status, message) = refused(&sim, RULE, internal_rename).await;
    assert_eq!(status, 409);
    assert!(
        message.starts_with(
            "rule-name: an internal application's rule may change only its API resources"
        ),
        "{message}"
    );

    let (_, tenant) = sim.call(Method::GET, TENANT_RULE, Value::Null).await;
    let mut unknown_listener = tenant.clone();
    unknown_listener["listener-registration-refs"] = json!(["listener-registrationzzzzz"]);
    assert_eq!(
        refused(&sim, TENANT_RULE, unknown_listener).await,
        (400, "listener-registration-refs[0]: no listener registration 'listener-registrationzzzzz' exists in this workspace; register the listener first".into())
    );

    let mut bad_api_id = tenant.clone();
    let mut custom = bad_api_id["gatekeeping-apis"][0].clone();
    custom["api-id"] = json!("Custom_API");
    bad_api_id["gatekeeping-apis"]
        .as_array_mut()
        .unwrap()
        .push(custom);
    let (status, message) = refused(&sim, TENANT_RULE, bad_api_id).await;
    assert_eq!(status, 400);
    assert!(
        message.contains("'Custom_API' is not an API id"),
        "{message}"
    );

    // Nothing was changed by the refused updates.
    let (_, rule) = sim.call(Method::GET, RULE, Value::Null).await;
    assert_eq!(
        rule["gatekeeping-apis"][0]["api-resources"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(rule["endpoint-name"], "tmf632");
}

#[tokio::test]
async fn a_tenant_rule_may_add_apis_and_reference_existing_listeners() {
    let sim = Simulator::with_client(&[]).await;
    let (_, listener) = sim
        .call(
            Method::POST,
            "/admin/01/listenerRegistrations",
            tax_engine("http://tax.example", "https://idp.example/token"),
        )
        .await;
    let (_, mut tenant) = sim.call(Method::GET, TENANT_RULE, Value::Null).await;
    tenant["listener-registration-refs"] = json!([listener["id"]]);
    tenant["rule-name"] = json!("Account master");
    tenant["gatekeeping-apis"].as_array_mut().unwrap().push(json!({
        "api-id": "tmf-629", "api-name": "customerManagement", "api-version": "v4",
        "api-resources": [{"resource-name": "Customer", "gatekeeping-criteria": {"criteria": "/event/customer/id sw \"SBL-\"", "rank": 0}}]
    }));
    let (status, rule) = sim.call(Method::PUT, TENANT_RULE, tenant).await;
    assert_eq!(status, 200, "{rule}");
    assert_eq!(rule["gatekeeping-apis"].as_array().unwrap().len(), 3);
    let (_, found) = sim
        .call(
            Method::GET,
            &format!(
                "/admin/01/gatekeepingRules?listener-registration-refs={}",
                listener["id"].as_str().unwrap()
            ),
            Value::Null,
        )
        .await;
    assert_eq!(found[0]["id"], "gkr-siebel-accounts");
}
