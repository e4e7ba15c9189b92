//! The TMF hub (seed 000, "Set Up Event Listeners Using Hub").

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{CLIENT_ID, CLIENT_SECRET, Simulator, json_of};

const HUB: &str = "/api/01/taxCalculation/v1/hub";

#[tokio::test]
async fn a_hub_subscription_is_a_listener_registration_with_patched_credentials() {
    let sim = Simulator::with_client(&[]).await;
    let query = "(/eventType eq \"/event/TaxEvent3\" or /eventType eq \"/event/TaxEvent1\" and \"/event/TaxEvent3/ familyName\" eq \"abc\")";
    // The seed allows HTTP basic authentication on the hub.
    let response = sim
        .http
        .post(format!("{}{HUB}", sim.base))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .json(&json!({"callback": "http://TAXATIONGW_IP:8080", "query": query}))
        .send()
        .await
        .unwrap();
    let (status, created) = json_of(response).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("listener-registration"));
    assert_eq!(
        created,
        json!({"id": id, "callback": "http://TAXATIONGW_IP:8080", "query": query})
    );

    let at = format!("/admin/01/listenerRegistrations/{id}");
    let (status, registration) = sim.call(Method::GET, &at, Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(
        registration["affiliated-apis"][0]["api-name"],
        "taxCalculation"
    );
    assert_eq!(registration["affiliated-apis"][0]["api-version"], "v1");
    assert_eq!(registration["affiliated-apis"][0]["query"], query);

    let oauth = json!([{
        "op": "replace",
        "path": "listenerRegistrations/listener-locality/external-listener/listener-auth",
        "value": {"oidc-client-credentials": {"identity-uri": "https://IDENTITY_URI", "client-id": "OIDC_CLIENT_ID", "client-secret": "OIDC_CLIENT_SECRET", "scope": "OIDC_SCOPE"}}
    }]);
    let (status, patched) = sim.call(Method::POST, &at, oauth).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched.pointer("/listener-locality/external-listener/listener-auth/oidc-client-credentials/client-id").unwrap(), "OIDC_CLIENT_ID");

    let (status, err) = sim
        .call(
            Method::DELETE,
            &format!("/api/01/Party/v4/hub/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(
        status, 404,
        "the subscription is for taxCalculation, not Party: {err}"
    );
    let (status, _) = sim
        .call(Method::DELETE, &format!("{HUB}/{id}"), Value::Null)
        .await;
    assert_eq!(status, 204);
    let (status, _) = sim
        .call(Method::DELETE, &format!("{HUB}/{id}"), Value::Null)
        .await;
    assert_eq!(status, 404);
    let (status, _) = sim.call(Method::GET, &at, Value::Null).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_tmf630_style_query_is_refused_with_a_hint() {
    let sim = Simulator::with_client(&[]).await;
    let (status, err) = sim
        .call(Method::POST, HUB, json!({"callback": "http://listener.example", "query": "eventType=CustomerCreateEvent"}))
        .await;
    assert_eq!(status, 400);
    let message = err["message"].as_str().unwrap();
    assert!(message.starts_with("query: invalid criteria"), "{message}");
    assert!(
        message
            .contains("not TMF630's key=value form; write /eventType eq \"CustomerCreateEvent\""),
        "{message}"
    );
    let (status, err) = sim.call(Method::POST, HUB, json!({"query": "*"})).await;
    assert_eq!(status, 400);
    assert!(err["message"].as_str().unwrap().contains("callback"));
}
