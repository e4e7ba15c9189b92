//! Event routing and delivery: queries, gatekeeping rules, credentials, retries.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Listener, Simulator, eventually, tax_engine};

fn tax_event(event_type: &str) -> Value {
    json!({
        "envelope": {
            "eventId": format!("evt-{event_type}"),
            "eventType": event_type,
            "event": {"TaxEvent3": {"familyName": "abc"}}
        },
        "op": "POST",
        "api-name": "taxCalculation",
        "api-version": "v1"
    })
}

fn party_event(individual_id: &str, gatekeeper: &str) -> Value {
    json!({
        "envelope": {
            "eventId": format!("evt-{individual_id}-{gatekeeper}"),
            "eventType": "IndividualCreateEvent",
            "event": {"individual": {"id": individual_id, "familyName": "Doe"}}
        },
        "ids": [individual_id],
        "op": "POST",
        "api-name": "Party",
        "api-version": "v4",
        "gatekeeper": gatekeeper
    })
}

#[tokio::test]
async fn a_matching_event_reaches_the_listener_with_an_oauth_token() {
    let sim = Simulator::with_client(&[]).await;
    let listener = Listener::start().await;
    let registration = tax_engine(
        &format!("{}/events", listener.base),
        &format!("{}/token", listener.base),
    );
    let (status, created) = sim
        .call(
            Method::POST,
            "/admin/01/listenerRegistrations",
            registration,
        )
        .await;
    assert_eq!(status, 201);

    let (status, answer) = sim
        .call(
            Method::POST,
            "/sim/01/events?wait=true",
            tax_event("/event/TaxEvent3"),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["published"], true);
    assert_eq!(answer["reason"], "no gatekeeping rule covers this resource");
    let delivery = &answer["deliveries"][0];
    assert_eq!(delivery["listener-id"], created["id"]);
    assert_eq!(delivery["status"], "delivered");
    assert_eq!(delivery["auth"], "oidc-client-credentials");
    assert_eq!(delivery["attempts"], 1);

    let events = listener.events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].authorization.as_deref(),
        Some("Bearer listener-token")
    );
    assert_eq!(events[0].path, "/events");
    assert_eq!(events[0].body["eventType"], "/event/TaxEvent3");
    let tokens = listener.token_requests();
    assert_eq!(tokens.len(), 1);
    assert!(
        tokens[0].1.contains("grant_type=client_credentials")
            && tokens[0].1.contains("scope=OIDC_SCOPE")
    );

    // The token is cached: a second event fetches none.
    let (_, answer) = sim
        .call(
            Method::POST,
            "/sim/01/events?wait=true",
            tax_event("/event/TaxEvent3"),
        )
        .await;
    assert_eq!(answer["deliveries"][0]["status"], "delivered");
    assert_eq!(listener.token_requests().len(), 1);

    let (_, deliveries) = sim
        .call(Method::GET, "/sim/01/deliveries", Value::Null)
        .await;
    assert_eq!(deliveries.as_array().unwrap().len(), 2);
    assert!(!deliveries.to_string().contains("OIDC_CLIENT_SECRET"));
    assert!(!deliveries.to_string().contains("listener-token"));
}

#[tokio::test]
async fn an_event_the_query_does_not_match_is_not_delivered() {
    let sim = Simulator::with_client(&[]).await;
    let listener = Listener::start().await;
    let registration = tax_engine(
        &format!("{}/events", listener.base),
        &format!("{}/token", listener.base),
    );
    sim.call(
        Method::POST,
        "/admin/01/listenerRegistrations",
        registration,
    )
    .await;
    let (_, answer) = sim
        .call(
            Method::POST,
            "/sim/01/events?wait=true",
            tax_event("/event/TaxEvent2"),
        )
        .await;
    assert_eq!(answer["published"], true);
    assert_eq!(answer["deliveries"], json!([]));
    // Another API's event, or another workspace's, does not reach it either.
    let mut other_api = tax_event("/event/TaxEvent3");
    other_api["api-version"] = json!("v2");
    let (_, answer) = sim
        .call(Method::POST, "/sim/01/events?wait=true", other_api)
        .await;
    assert_eq!(answer["deliveries"], json!([]));
    let (_, answer) = sim
        .call(
            Method::POST,
            "/sim/02/events?wait=true",
            tax_event("/event/TaxEvent3"),
        )
        .await;
    assert_eq!(answer["deliveries"], json!([]));
    assert!(listener.events().is_empty());
    assert!(listener.token_requests().is_empty());
}

#[tokio::test]
async fn a_hub_listener_with_basic_credentials_receives_events_after_retries() {
    let sim = Simulator::with_client(&[]).await;
    let listener = Listener::start().await;
    let (_, created) = sim
        .call(Method::POST, "/api/01/Party/v4/hub", json!({"callback": format!("{}/events", listener.base), "query": "/eventType eq \"IndividualCreateEvent\""}))
        .await;
    let id = created["id"].as_str().unwrap();
    let basic = json!([{"op": "replace", "path": "listenerRegistrations/listener-locality/external-listener/listener-auth",
        "value": {"basic": {"username": "admin", "password": "admin"}}}]);
    let (status, _) = sim
        .call(
            Method::POST,
            &format!("/admin/01/listenerRegistrations/{id}"),
            basic,
        )
        .await;
    assert_eq!(status, 200);
    listener.fail_next(2);
    let (_, answer) = sim
        .call(
            Method::POST,
            "/sim/01/events",
            party_event("CDRM_1", "tmf632"),
        )
        .await;
    assert_eq!(answer["published"], true);
    assert_eq!(answer["gatekeeper"], "gkr-tmf632");
    assert_eq!(answer["deliveries"][0]["status"], "pending");
    eventually(|| listener.events().len() == 1).await;
    let received = &listener.events()[0];
    assert_eq!(
        received.authorization.as_deref(),
        Some(format!("Basic {}", crate::support::base64_encode("admin:admin")).as_str())
    );
    assert_eq!(received.body["event"]["individual"]["id"], "CDRM_1");
    let mut record = Value::Null;
    for _ in 0..50 {
        let (_, deliveries) = sim
            .call(
                Method::GET,
                &format!("/sim/01/deliveries?listener-id={id}"),
                Value::Null,
            )
            .await;
        record = deliveries[0].clone();
        if record["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(record["status"], "delivered");
    assert_eq!(record["attempts"], 3);
    assert_eq!(record["auth"], "basic");
}

#[tokio::test]
async fn a_listener_that_keeps_failing_is_recorded_as_failed() {
    let sim = Simulator::with_client(&["--delivery-attempts", "2"]).await;
    let listener = Listener::start().await;
    sim.call(
        Method::POST,
        "/api/01/Party/v4/hub",
        json!({"callback": format!("{}/events", listener.base)}),
    )
    .await;
    listener.fail_next(5);
    let (_, answer) = sim
        .call(
            Method::POST,
            "/sim/01/events?wait=true",
            party_event("CDRM_2", "tmf632"),
        )
        .await;
    let record = &answer["deliveries"][0];
    assert_eq!(record["status"], "failed");
    assert_eq!(record["attempts"], 2);
    assert_eq!(record["http-status"], 503);
    assert_eq!(record["auth"], "none");
}

#[tokio::test]
async fn events_follow_the_gatekeeping_rules_and_never_go_back_to_their_gatekeeper() {
    let sim = Simulator::with_client(&[]).await;
    let own = Listener::start().await;
    let other = Listener::start().await;
    let (_, own_reg) = sim
        .call(
            Method::POST,
            "/api/01/Party/v4/hub",
            json!({"callback": format!("{}/events", own.base), "query": "*"}),
        )
        .await;
    sim.call(
        Method::POST,
        "/api/01/Party/v4/hub",
        json!({"callback": format!("{}/events", other.base)}),
    )
    .await;
    // The tenant application owns the first listener.
    let (_, mut tenant) = sim
        .call(
            Method::GET,
            "/admin/01/gatekeepingRules/gkr-siebel-accounts",
            Value::Null,
        )
        .await;
    tenant["listener-registration-refs"] = json!([own_reg["id"]]);
    let (status, _) = sim
        .call(
            Method::PATCH,
            "/admin/01/gatekeepingRules/gkr-siebel-accounts",
            tenant,
        )
        .await;
    assert_eq!(status, 202);

    // Rank 0: the tenant gatekeeps individuals whose ids start with SBL-.
    let (_, answer) = sim
        .call(
            Method::POST,
            "/sim/01/events?wait=true",
            party_event("SBL-1", "siebel-accounts"),
        )
        .await;
    assert_eq!(answer["published"], true);
    assert_eq!(answer["gatekeeper"], "gkr-siebel-accounts");
    assert_eq!(answer["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(other.events().len(), 1);
    assert!(
        own.events().is_empty(),
        "not delivered back to the gatekeeper that generated it"
    );

    // The internal application is not the gatekeeper of SBL- individuals.
    let (_, answer) = sim
        .call(
            Method::POST,
            "/sim/01/events?wait=true",
            party_event("SBL-2", "tmf632"),
        )
        .await;
    assert_eq!(answer["published"], false);
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .contains("rule 'gkr-siebel-accounts' (endpoint siebel-accounts) gatekeeps it"),
        "{answer}"
    );

    // Other individuals are the internal application's: both listeners get them.
    let (_, answer) = sim
        .call(
            Method::POST,
            "/sim/01/events?wait=true",
            party_event("CDRM_3", "tmf632"),
        )
        .await;
    assert_eq!(answer["gatekeeper"], "gkr-tmf632");
    assert_eq!(answer["deliveries"].as_array().unwrap().len(), 2);
    assert_eq!(own.events().len(), 1);
    assert_eq!(other.events().len(), 2);

    let (status, err) = sim
        .call(
            Method::POST,
            "/sim/01/events",
            party_event("CDRM_4", "nobody"),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("no gatekeeping rule has the id or endpoint-name 'nobody'")
    );
}

#[tokio::test]
async fn the_gateway_form_routes_its_own_events() {
    let sim = Simulator::with_client(&[]).await;
    let listener = Listener::start().await;
    let mut registration = tax_engine(
        &format!("{}/events", listener.base),
        &format!("{}/token", listener.base),
    );
    registration["affiliated-apis"][0]["query"] = json!("*");
    let (status, _) = sim
        .call(Method::POST, "/admin/listenerRegistrations", registration)
        .await;
    assert_eq!(status, 201);
    let (_, answer) = sim
        .call(
            Method::POST,
            "/sim/01/events?wait=true",
            tax_event("/event/TaxEvent2"),
        )
        .await;
    assert_eq!(
        answer["deliveries"],
        json!([]),
        "workspace 01 has no listener"
    );
    let (status, answer) = sim
        .call(
            Method::POST,
            "/sim/events?wait=true",
            tax_event("/event/TaxEvent2"),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["deliveries"][0]["status"], "delivered");
    let (_, deliveries) = sim
        .call(
            Method::GET,
            "/sim/deliveries?event-id=evt-/event/TaxEvent2",
            Value::Null,
        )
        .await;
    assert_eq!(deliveries.as_array().unwrap().len(), 1);
    assert_eq!(listener.events().len(), 1);
}
