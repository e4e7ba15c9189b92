//! Every branch of the GatekeepingRule plan, as a table. Numbers refer to the scenarios
//! of issue 10.

use super::*;
use crate::reconcile::Retry;

const ME: &str = "ns/mine";

fn rule(id: &str, endpoint: &str, criteria: &str) -> model::GatekeepingRule {
    serde_json::from_value(serde_json::json!({
        "id": id, "endpoint-name": endpoint, "rule-name": "generated", "owner": "tenant",
        "gatekeeping-apis": [{"api-id": "tmf-632", "api-name": "Party", "api-version": "v4",
            "api-resources": [{"resource-name": "Individual", "gatekeeping-criteria": {"criteria": criteria, "rank": 0}}]}]
    }))
    .unwrap()
}

fn spec(selector: serde_json::Value, apis: serde_json::Value) -> GatekeepingRuleSpec {
    serde_json::from_value(serde_json::json!({"selector": selector, "gatekeepingApis": apis}))
        .unwrap()
}

fn apis(criteria: &str) -> serde_json::Value {
    serde_json::json!([{"apiId": "tmf-632", "apiName": "Party", "apiVersion": "v4",
        "apiResources": [{"resourceName": "Individual", "criteria": criteria, "rank": 0}]}])
}

fn by_endpoint(criteria: &str) -> GatekeepingRuleSpec {
    spec(
        serde_json::json!({"endpointName": "siebel"}),
        apis(criteria),
    )
}

fn captured(id: &str, original: &model::GatekeepingRule) -> GatekeepingRuleStatus {
    GatekeepingRuleStatus {
        external_id: Some(id.into()),
        endpoint_name: Some(original.endpoint_name.clone()),
        original_rule: Some(serde_json::to_string(original).unwrap()),
        observed_generation: Some(1),
        ..Default::default()
    }
}

struct Given {
    spec: GatekeepingRuleSpec,
    status: GatekeepingRuleStatus,
    rules: Option<Vec<model::GatekeepingRule>>,
    others: Vec<Claimant<'static>>,
    listeners: Result<Vec<String>, String>,
}

fn given(spec: GatekeepingRuleSpec, rules: Vec<model::GatekeepingRule>) -> Given {
    Given {
        spec,
        status: GatekeepingRuleStatus::default(),
        rules: Some(rules),
        others: Vec::new(),
        listeners: Ok(Vec::new()),
    }
}

fn plan_of(g: &Given) -> Plan {
    let rules: Option<HashMap<String, model::GatekeepingRule>> = g.rules.as_ref().map(|r| {
        r.iter()
            .map(|r| (r.id.clone().unwrap(), r.clone()))
            .collect()
    });
    let mut claimants = vec![Claimant {
        name: ME,
        created: Some("2026-01-02T00:00:00Z"),
        id: g.status.external_id.as_deref(),
        endpoint: g.spec.selector.endpoint_name.as_deref(),
    }];
    claimants.extend(g.others.iter().cloned());
    plan(&Facts {
        name: ME,
        generation: Some(1),
        spec: &g.spec,
        status: &g.status,
        pinned_id: None,
        rules: rules.as_ref(),
        claimants: &claimants,
        listener_ids: g.listeners.clone(),
    })
}

#[test]
fn select_claim_capture_update_or_wait() {
    let held = rule("r1", "siebel", "*");
    type Check = fn(&Plan) -> bool;
    let rows: Vec<(&str, Given, Check)> = vec![
        (
            "a cold cache lists first (one list for the connection)",
            Given {
                rules: None,
                ..given(by_endpoint("*"), vec![])
            },
            |p| p == &Plan::Read(Read::List),
        ),
        (
            "10: no such rule (the application is not integrated yet) retries on its own",
            given(by_endpoint("*"), vec![rule("r2", "other", "*")]),
            |p| matches!(p, Plan::Wait(w) if w.reason == conditions::REASON_RULE_NOT_FOUND && w.retry == Retry::Backoff),
        ),
        (
            "10: a rule id in status that disappeared retries on its own",
            Given {
                status: captured("gone", &held),
                ..given(by_endpoint("*"), vec![held.clone()])
            },
            |p| matches!(p, Plan::Wait(w) if w.reason == conditions::REASON_RULE_NOT_FOUND && w.retry == Retry::Backoff),
        ),
        (
            "two rules with the endpoint name wait for the user",
            given(
                by_endpoint("*"),
                vec![rule("r1", "siebel", "*"), rule("r2", "siebel", "*")],
            ),
            |p| matches!(p, Plan::Wait(w) if w.reason == conditions::REASON_RULE_AMBIGUOUS && w.retry == Retry::OnChange),
        ),
        (
            "the original is captured before anything is written",
            given(by_endpoint("(ID pr)"), vec![held.clone()]),
            |p| matches!(p, Plan::Capture { id, original, .. } if id == "r1" && original.contains("\"criteria\":\"*\"")),
        ),
        (
            "captured: a changed spec is written",
            Given {
                status: GatekeepingRuleStatus {
                    observed_generation: Some(0),
                    ..captured("r1", &held)
                },
                ..given(by_endpoint("(ID pr)"), vec![held.clone()])
            },
            |p| matches!(p, Plan::Update { id, drift: false, rule } if id == "r1" && rule.gatekeeping_apis[0].api_resources[0].gatekeeping_criteria.criteria == "(ID pr)"),
        ),
        (
            "captured: a rule changed on the framework is put back (drift)",
            Given {
                status: captured("r1", &held),
                ..given(by_endpoint("*"), vec![rule("r1", "siebel", "(ID pr)")])
            },
            |p| matches!(p, Plan::Update { drift: true, .. }),
        ),
        (
            "captured and equal: in sync",
            Given {
                status: captured("r1", &held),
                ..given(by_endpoint("*"), vec![held.clone()])
            },
            |p| p == &Plan::InSync("r1".into()),
        ),
        (
            "an older claim on the same endpoint holds the rule",
            Given {
                others: vec![Claimant {
                    name: "ns/first",
                    created: Some("2026-01-01T00:00:00Z"),
                    id: None,
                    endpoint: Some("siebel"),
                }],
                ..given(by_endpoint("(ID pr)"), vec![held.clone()])
            },
            |p| matches!(p, Plan::Wait(w) if w.reason == conditions::REASON_CONFLICT && w.message.contains("ns/first")),
        ),
        (
            "7: a holder being deleted (its Restore pending) still holds: nothing is captured",
            Given {
                // The gather keeps claimants whose finalizer is still there.
                others: vec![Claimant {
                    name: "ns/first",
                    created: Some("2026-01-01T00:00:00Z"),
                    id: Some("r1"),
                    endpoint: Some("siebel"),
                }],
                ..given(
                    by_endpoint("(ID pr)"),
                    vec![rule("r1", "siebel", "modified by first")],
                )
            },
            |p| matches!(p, Plan::Wait(w) if w.reason == conditions::REASON_CONFLICT),
        ),
        (
            "a listener without a framework id yet waits (the listener is watched)",
            Given {
                listeners: Err("ns/tax".into()),
                ..given(by_endpoint("*"), vec![held.clone()])
            },
            |p| matches!(p, Plan::Wait(w) if w.reason == conditions::REASON_LISTENER_NOT_READY),
        ),
        (
            "a change the framework forbids (removing an API) is refused, nothing written",
            Given {
                status: captured("r1", &held),
                ..given(
                    by_endpoint("*"),
                    vec![{
                        let mut r = held.clone();
                        let mut extra = r.gatekeeping_apis[0].clone();
                        extra.api_id = "tmf-666".into();
                        r.gatekeeping_apis.push(extra);
                        r
                    }],
                )
            },
            |p| matches!(p, Plan::Wait(w) if w.reason == conditions::REASON_FORBIDDEN_CHANGE && w.message.contains("tmf-666")),
        ),
    ];
    for (name, given, check) in rows {
        let plan = plan_of(&given);
        assert!(check(&plan), "{name}: got {plan:?}");
    }
}

#[test]
fn cleanup_restores_only_what_the_framework_takes_back() {
    let original = rule("r1", "siebel", "*");
    let changed = rule("r1", "siebel", "(ID pr)");
    let mut grown = changed.clone();
    let mut extra = grown.gatekeeping_apis[0].clone();
    extra.api_id = "tmf-666".into();
    grown.gatekeeping_apis.push(extra);
    let status = captured("r1", &original);
    let table = |rules: &[model::GatekeepingRule]| -> HashMap<String, model::GatekeepingRule> {
        rules
            .iter()
            .map(|r| (r.id.clone().unwrap(), r.clone()))
            .collect()
    };
    let run = |status: &GatekeepingRuleStatus, policy, abandoned, rules: Option<&HashMap<_, _>>| {
        cleanup(&CleanupFacts {
            status,
            policy,
            abandoned,
            rules,
        })
    };
    use RuleDeletionPolicy::{Orphan, Restore};
    assert_eq!(
        run(
            &status,
            Orphan,
            false,
            Some(&table(std::slice::from_ref(&changed)))
        ),
        Cleanup::Release
    );
    assert_eq!(
        run(&status, Restore, true, None),
        Cleanup::Release,
        "abandon"
    );
    assert_eq!(
        run(&GatekeepingRuleStatus::default(), Restore, false, None),
        Cleanup::Release,
        "never taken in charge: nothing to put back"
    );
    assert_eq!(
        run(&status, Restore, false, None),
        Cleanup::Read(Read::List)
    );
    assert_eq!(
        run(
            &status,
            Restore,
            false,
            Some(&table(std::slice::from_ref(&changed)))
        ),
        Cleanup::Restore {
            id: "r1".into(),
            original: Box::new(original.clone())
        }
    );
    assert_eq!(
        run(
            &status,
            Restore,
            false,
            Some(&table(std::slice::from_ref(&original)))
        ),
        Cleanup::Release,
        "already as it was"
    );
    assert_eq!(
        run(&status, Restore, false, Some(&table(&[]))),
        Cleanup::Release,
        "the rule is gone"
    );
    assert!(
        matches!(
            run(&status, Restore, false, Some(&table(&[grown]))),
            Cleanup::Wait(w) if w.reason == conditions::REASON_FORBIDDEN_CHANGE && w.message.contains("tmf-666") && w.message.contains(ABANDON_ANNOTATION)
        ),
        "12: a Restore the framework would refuse (APIs were added) says so instead of retrying"
    );
    let unreadable = GatekeepingRuleStatus {
        original_rule: Some("{".into()),
        ..status.clone()
    };
    assert!(matches!(
        run(&unreadable, Restore, false, None),
        Cleanup::Wait(w) if w.reason == conditions::REASON_INVALID_SPEC
    ));
}
