//! `cxf-operator route` agrees with the simulator's actual deliveries.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::{self, Simulator, shown};

/// A registration of `apis` (`(api-name, query)`), at an address nothing listens on.
fn registration(apis: &[(&str, Option<&str>)]) -> Value {
    let apis: Vec<Value> = apis
        .iter()
        .map(|(name, query)| json!({"api-name": name, "api-version": "v4", "query": query}))
        .collect();
    json!({
        "affiliated-apis": apis,
        "listener-locality": {"external-listener": {"listener-url": "http://127.0.0.1:9/events"}},
        "type": "external"
    })
}

fn party(id: Option<&str>, extra: Value, gatekeeper: Option<&str>, op: &str) -> Value {
    let mut individual = json!({"status": "active"});
    if let Some(id) = id {
        individual["id"] = json!(id);
    }
    if let (Value::Object(into), Value::Object(extra)) = (&mut individual, extra) {
        into.extend(extra);
    }
    let mut event = json!({
        "envelope": {"eventType": "IndividualCreateEvent", "event": {"individual": individual}},
        "ids": id.into_iter().collect::<Vec<_>>(),
        "op": op,
        "api-name": "Party",
        "api-version": "v4"
    });
    if let Some(gatekeeper) = gatekeeper {
        event["gatekeeper"] = json!(gatekeeper);
    }
    event
}

#[tokio::test]
async fn route_names_the_listeners_and_the_gatekeeper_the_simulator_delivers_to() {
    let sim = Simulator::start().await;
    let mut ids = std::collections::BTreeMap::new();
    for (name, apis) in [
        ("party-all", vec![("Party", None)]),
        (
            "party-active",
            vec![("Party", Some("/event/individual/status eq \"active\""))],
        ),
        (
            "party-doe",
            vec![("Party", Some("/event/individual/familyName eq \"Doe\""))],
        ),
        ("siebel-own", vec![("Party", None)]),
        (
            "customer",
            vec![(
                "customerManagement",
                Some("/eventType eq \"CustomerCreateEvent\""),
            )],
        ),
        (
            "multi",
            vec![
                ("Party", Some("OP eq \"PATCH\"")),
                ("customerManagement", None),
            ],
        ),
    ] {
        let (status, created) = sim
            .call(
                Method::POST,
                "/admin/01/listenerRegistrations",
                Some(registration(&apis)),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        ids.insert(created["id"].as_str().unwrap().to_owned(), name);
    }
    // The Siebel application's own listener: its events never go back there.
    let own = ids
        .iter()
        .find(|(_, n)| **n == "siebel-own")
        .unwrap()
        .0
        .clone();
    let (_, mut rule) = sim
        .call(
            Method::GET,
            "/admin/01/gatekeepingRules/gkr-siebel-accounts",
            None,
        )
        .await;
    rule["listener-registration-refs"] = json!([own]);
    let (status, answer) = sim
        .call(
            Method::PATCH,
            "/admin/01/gatekeepingRules/gkr-siebel-accounts",
            Some(rule),
        )
        .await;
    assert_eq!(status, 202, "{answer}");

    let organization = json!({
        "envelope": {"eventType": "OrganizationCreateEvent", "event": {"organization": {"id": "O1"}}},
        "api-name": "Party", "api-version": "v4"
    });
    let customer = json!({
        "envelope": {"eventType": "CustomerCreateEvent", "event": {"customer": {"id": "C1"}}},
        "api-name": "customerManagement", "api-version": "v4"
    });
    let tax = json!({
        "envelope": {"eventType": "TaxEvent1", "event": {"tax": {"id": "T1"}}},
        "api-name": "taxCalculation", "api-version": "v1"
    });
    // (event, gatekeeper, receivers by name); None: not published.
    type Case<'a> = (Value, Option<&'a str>, Option<Vec<&'a str>>);
    let table: Vec<Case> = vec![
        (
            party(
                Some("SBL-1"),
                json!({"familyName": "Doe"}),
                Some("siebel-accounts"),
                "POST",
            ),
            Some("gkr-siebel-accounts"),
            Some(vec!["party-active", "party-all", "party-doe"]),
        ),
        (
            party(Some("CDRM-1"), json!({}), None, "POST"),
            Some("gkr-tmf632"),
            Some(vec!["party-active", "party-all", "siebel-own"]),
        ),
        (
            party(Some("SBL-2"), json!({}), Some("tmf632"), "POST"),
            Some("gkr-siebel-accounts"),
            None,
        ),
        (
            party(Some("CDRM-9"), json!({}), None, "PATCH"),
            Some("gkr-tmf632"),
            Some(vec!["multi", "party-active", "party-all", "siebel-own"]),
        ),
        (party(None, json!({}), None, "POST"), None, None),
        (
            organization,
            Some("gkr-tmf632"),
            Some(vec!["party-all", "siebel-own"]),
        ),
        (
            customer,
            Some("gkr-tmf629"),
            Some(vec!["customer", "multi"]),
        ),
        (tax, None, Some(vec![])),
    ];
    for (event, gatekeeper, receivers) in table {
        let (status, delivered) = sim
            .call(Method::POST, "/sim/01/events", Some(event.clone()))
            .await;
        assert_eq!(status, 202, "{delivered}");
        let delivered_to: BTreeSet<&str> = delivered["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| ids[d["listener-id"].as_str().unwrap()])
            .collect();

        let output = cli::run(
            &[
                "route",
                "--event",
                "-",
                "--gateway",
                &sim.base,
                "--workspace",
                "01",
                "-o",
                "json",
            ],
            Some(&event.to_string()),
        );
        assert!(output.status.success(), "{}", shown(&output));
        let route = cli::json(&output)["route"].clone();
        let routed_to: BTreeSet<&str> = route["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["verdict"] == "receives")
            .map(|l| ids[l["id"].as_str().unwrap()])
            .collect();

        assert_eq!(routed_to, delivered_to, "{event}");
        assert_eq!(route["gatekeeper"], delivered["gatekeeper"], "{event}");
        assert_eq!(route["published"], delivered["published"], "{event}");
        assert_eq!(route["reason"], delivered["reason"], "{event}");
        // And both are what the rules say.
        assert_eq!(route["gatekeeper"].as_str(), gatekeeper, "{event}");
        match receivers {
            Some(names) => assert_eq!(routed_to, names.into_iter().collect(), "{event}"),
            None => assert_eq!(route["published"], false, "{event}"),
        }
    }
}

#[tokio::test]
async fn route_explains_each_listener_from_manifests() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("listeners.yaml"),
        r#"apiVersion: cxf.dev/v1alpha1
kind: ListenerRegistration
metadata: {name: crm}
spec:
  affiliatedApis: [{apiName: Party, apiVersion: v4, query: '/event/individual/status eq "active"'}]
  listenerUrl: http://crm.example/events
---
apiVersion: cxf.dev/v1alpha1
kind: ListenerRegistration
metadata: {name: archive}
spec:
  affiliatedApis: [{apiName: Party, apiVersion: v4, query: 'not (/event/individual/id sw "SBL-")'}]
  listenerUrl: http://archive.example/events
---
apiVersion: cxf.dev/v1alpha1
kind: ListenerRegistration
metadata: {name: siebel}
spec:
  affiliatedApis: [{apiName: Party, apiVersion: v4}]
  listenerUrl: http://siebel.example/events
---
apiVersion: cxf.dev/v1alpha1
kind: GatekeepingRule
metadata: {name: siebel}
spec:
  selector: {endpointName: siebel-accounts}
  gatekeepingApis:
    - apiId: tmf-632
      apiName: Party
      apiVersion: v4
      apiResources: [{resourceName: Individual, criteria: '/event/individual/id sw "SBL-"', rank: 0}]
  listenerRegistrationRefs: [{name: siebel}]
"#,
    )
    .unwrap();
    let event = r#"{"eventType": "IndividualCreateEvent", "event": {"individual": {"id": "SBL-7", "status": "closed"}}}"#;
    let path = dir.path().to_str().unwrap();
    let args = |output: &'static str| {
        [
            "route",
            "--event",
            "-",
            "-f",
            path,
            "--api-name",
            "Party",
            "--api-version",
            "v4",
            "--gatekeeper",
            "siebel-accounts",
            "-o",
            output,
        ]
    };
    let output = cli::run(&args("text"), Some(event));
    assert!(output.status.success(), "{}", shown(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "Published: yes (gatekept by rule 'siebel-accounts')",
        "rank 0    siebel-accounts (endpoint siebel-accounts) Individual: matched",
        r#"not matched  crm http://crm.example/events: /event/individual/status eq "active" is false: /event/individual/status is "closed""#,
        r#"not matched  archive http://archive.example/events: not (/event/individual/id sw "SBL-") is false: /event/individual/id is "SBL-7""#,
        "left out     siebel http://siebel.example/events: a listener of the emitting gatekeeper (rule siebel-accounts)",
        "0 listener(s) receive the event.",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let output = cli::run(&args("mermaid"), Some(event));
    assert!(output.status.success(), "{}", shown(&output));
    let diagram = String::from_utf8_lossy(&output.stdout);
    assert!(diagram.starts_with("flowchart LR\n"), "{diagram}");
    assert!(diagram.contains("left out: the emitter's own"), "{diagram}");
    assert!(
        diagram.contains("eq #quot;active#quot; is false"),
        "quotes inside labels are escaped: {diagram}"
    );
}
