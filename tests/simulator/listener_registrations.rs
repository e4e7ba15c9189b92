//! `listenerRegistrations`: seed 000's registration, validation, JSON Patch in both
//! spellings and verbs, workspaces.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Simulator, tax_engine};

const PATH: &str = "/admin/01/listenerRegistrations";

#[tokio::test]
async fn the_seed_registration_is_created_read_filtered_replaced_and_deleted() {
    let sim = Simulator::with_client(&[]).await;
    // The seed's curl call ends the path with a slash.
    let (status, created) = sim
        .call(
            Method::POST,
            "/admin/01/listenerRegistrations/",
            tax_engine("http://tax.example:8080", "https://idp.example/token"),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let suffix = id.strip_prefix("listener-registration").unwrap();
    assert_eq!(suffix.len(), 5);
    let auth = "/listener-locality/external-listener/listener-auth/oidc-client-credentials";
    assert_eq!(
        created.pointer(&format!("{auth}/client-secret")).unwrap(),
        "****"
    );
    assert_eq!(
        created.pointer(&format!("{auth}/client-id")).unwrap(),
        "OIDC_CLIENT_ID"
    );

    let (status, read) = sim
        .call(Method::GET, &format!("{PATH}/{id}"), Value::Null)
        .await;
    assert_eq!(status, 200);
    assert_eq!(read, created);
    assert!(!read.to_string().contains("OIDC_CLIENT_SECRET"));

    for (query, count) in [
        ("api-name=taxCalculation", 1),
        ("api-name=Party", 0),
        ("api-id=orcl-200&api-version=v1", 1),
        ("listener-url=http://tax.example:8080", 1),
        ("type=internal", 0),
    ] {
        let (status, list) = sim
            .call(Method::GET, &format!("{PATH}?{query}"), Value::Null)
            .await;
        assert_eq!(status, 200);
        assert_eq!(list.as_array().unwrap().len(), count, "{query}");
    }

    let mut replacement = tax_engine("http://tax2.example", "https://idp.example/token");
    replacement["id"] = json!(id);
    let (status, replaced) = sim
        .call(Method::PUT, &format!("{PATH}/{id}"), replacement)
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(
        replaced
            .pointer("/listener-locality/external-listener/listener-url")
            .unwrap(),
        "http://tax2.example"
    );

    let (status, _) = sim
        .call(Method::DELETE, &format!("{PATH}/{id}"), Value::Null)
        .await;
    assert_eq!(status, 204);
    let (status, err) = sim
        .call(Method::DELETE, &format!("{PATH}/{id}"), Value::Null)
        .await;
    assert_eq!(status, 404);
    assert_eq!(err["code"], "404");
    assert!(err["message"].as_str().unwrap().contains(&id));
    let (status, _) = sim
        .call(Method::GET, &format!("{PATH}/{id}"), Value::Null)
        .await;
    assert_eq!(status, 404);
}

async fn rejected(sim: &Simulator, body: Value) -> String {
    let (status, err) = sim.call(Method::POST, PATH, body).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["code"], "400");
    assert_eq!(err["reason"], "Bad Request");
    err["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn malformed_registrations_are_refused_naming_the_field() {
    let sim = Simulator::with_client(&[]).await;
    let good = tax_engine("http://tax.example", "https://idp.example/token");

    let mut missing_url = good.clone();
    missing_url["listener-locality"]["external-listener"]
        .as_object_mut()
        .unwrap()
        .remove("listener-url");
    let message = rejected(&sim, missing_url).await;
    assert!(
        message.contains("listener-locality.external-listener") && message.contains("listener-url"),
        "{message}"
    );

    let mut unquoted = good.clone();
    unquoted["affiliated-apis"][0]["api-number"] = json!(200);
    assert!(
        rejected(&sim, unquoted)
            .await
            .contains("affiliated-apis[0].api-number")
    );

    let mut bad_url = good.clone();
    bad_url["listener-locality"]["external-listener"]["listener-url"] = json!("TAXATIONGW_IP:PORT");
    assert!(rejected(&sim, bad_url).await.contains("listener-url"));

    let mut bad_query = good.clone();
    bad_query["affiliated-apis"][0]["query"] = json!("familyName eq \"abc\"");
    let message = rejected(&sim, bad_query).await;
    assert!(
        message.contains("affiliated-apis[0].query: invalid criteria")
            && message.contains("line 1, column"),
        "{message}"
    );

    let mut tmf630 = good.clone();
    tmf630["affiliated-apis"][0]["query"] = json!("eventType=TaxEvent1");
    let message = rejected(&sim, tmf630).await;
    assert!(
        message.contains("write /eventType eq \"TaxEvent1\""),
        "{message}"
    );

    let mut no_apis = good.clone();
    no_apis["affiliated-apis"] = json!([]);
    assert!(rejected(&sim, no_apis).await.contains("at least one API"));

    let response = sim
        .request(Method::POST, PATH)
        .body("{\"affiliated-apis\": [")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let (_, list) = sim.call(Method::GET, PATH, Value::Null).await;
    assert_eq!(list, json!([]), "nothing was created");
}

#[tokio::test]
async fn credentials_are_set_by_json_patch_in_both_spellings_and_verbs() {
    let sim = Simulator::with_client(&[]).await;
    let (_, created) = sim
        .call(
            Method::POST,
            PATH,
            tax_engine("http://tax.example", "https://idp.example/token"),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let at = format!("{PATH}/{id}");
    // Seed 000: the seed's path spelling, sent with POST.
    let basic = json!([{
        "op": "replace",
        "path": "listenerRegistrations/listener-locality/external-listener/listener-auth",
        "value": {"basic": {"username": "admin", "password": "admin"}}
    }]);
    let (status, patched) = sim.call(Method::POST, &at, basic).await;
    assert_eq!(status, 200, "{patched}");
    let auth = patched
        .pointer("/listener-locality/external-listener/listener-auth")
        .unwrap();
    assert_eq!(
        auth,
        &json!({"basic": {"username": "admin", "password": "****"}})
    );
    // The pointer form, with PATCH, and a test operation.
    let oidc = json!([
        {"op": "test", "path": "/type", "value": "external"},
        {"op": "replace", "path": "/listener-locality/external-listener/listener-auth", "value": {
            "oidc-client-credentials": {"identity-uri": "https://IDENTITY_URI", "client-id": "OIDC_CLIENT_ID",
            "client-secret": "OIDC_CLIENT_SECRET", "scope": "OIDC_SCOPE"}}}
    ]);
    let (status, patched) = sim.call(Method::PATCH, &at, oidc).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched.pointer("/listener-locality/external-listener/listener-auth/oidc-client-credentials/client-secret").unwrap(),
        "****"
    );
    // A failed test operation is a conflict and changes nothing.
    let stale = json!([{"op": "test", "path": "/type", "value": "internal"}, {"op": "remove", "path": "/affiliated-apis/0"}]);
    let (status, err) = sim.call(Method::PATCH, &at, stale).await;
    assert_eq!(status, 409, "{err}");
    // A patch leaving an invalid registration is refused, naming the field.
    let broken =
        json!([{"op": "remove", "path": "/listener-locality/external-listener/listener-url"}]);
    let (status, err) = sim.call(Method::PATCH, &at, broken).await;
    assert_eq!(status, 400);
    assert!(
        err["message"].as_str().unwrap().contains("listener-url"),
        "{err}"
    );
    let (status, err) = sim.call(Method::PATCH, &at, json!({"op": "add"})).await;
    assert_eq!(status, 400);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("JSON Patch array")
    );
    let (status, err) = sim
        .call(
            Method::PATCH,
            &at,
            json!([{"op": "replace", "path": "/id", "value": "x"}]),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("id: is read-only")
    );
    let (_, read) = sim.call(Method::GET, &at, Value::Null).await;
    assert_eq!(read["affiliated-apis"].as_array().unwrap().len(), 1);
    assert!(
        read.pointer("/listener-locality/external-listener/listener-auth/oidc-client-credentials")
            .is_some()
    );
}

#[tokio::test]
async fn each_workspace_and_the_gateway_form_have_their_own_state() {
    let sim = Simulator::with_client(&[]).await;
    let (status, _) = sim
        .call(
            Method::POST,
            "/admin/02/listenerRegistrations",
            tax_engine("http://tax.example", "https://idp.example/token"),
        )
        .await;
    assert_eq!(status, 201);
    let count = |body: Value| body.as_array().unwrap().len();
    assert_eq!(
        count(
            sim.call(Method::GET, "/admin/02/listenerRegistrations", Value::Null)
                .await
                .1
        ),
        1
    );
    assert_eq!(
        count(
            sim.call(Method::GET, "/admin/01/listenerRegistrations", Value::Null)
                .await
                .1
        ),
        0
    );
    assert_eq!(
        count(
            sim.call(Method::GET, "/admin/listenerRegistrations", Value::Null)
                .await
                .1
        ),
        0
    );
    let (status, _) = sim
        .call(
            Method::POST,
            "/admin/listenerRegistrations",
            tax_engine("http://tax.example", "https://idp.example/token"),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        count(
            sim.call(Method::GET, "/admin/listenerRegistrations/", Value::Null)
                .await
                .1
        ),
        1
    );
}
