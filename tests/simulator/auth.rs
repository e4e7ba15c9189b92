//! OAuth client credentials, bearer tokens, basic where allowed, workspaces, TLS.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{CLIENT_ID, CLIENT_SECRET, Simulator, json_of};

#[tokio::test]
async fn admin_calls_need_a_valid_unexpired_token() {
    let sim = Simulator::start(&[
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        CLIENT_SECRET,
        "--token-ttl",
        "1",
    ]);
    let url = format!("{}/admin/01/gatekeepingRules", sim.base);
    let (status, err) = json_of(sim.http.get(&url).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("missing Authorization header")
    );
    let (status, err) = json_of(
        sim.http
            .get(&url)
            .bearer_auth("made-up")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("unknown bearer token")
    );

    // Client credentials in HTTP basic this time.
    let response = sim
        .http
        .post(format!("{}/oauth2/token", sim.base))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let (status, token) = json_of(response).await;
    assert_eq!(status, 200);
    assert_eq!(token["expires_in"], 1);
    let token = token["access_token"].as_str().unwrap();
    assert_eq!(
        sim.http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, err) = json_of(sim.http.get(&url).bearer_auth(token).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert!(err["message"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn the_token_endpoint_refuses_wrong_clients_and_grants() {
    let sim = Simulator::start(&["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]);
    let token_url = format!("{}/oauth2/token", sim.base);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", "wrong"),
    ];
    let (status, err) = json_of(sim.http.post(&token_url).form(&form).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(err["error"], "invalid_client");
    let form = [
        ("grant_type", "password"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    let (status, err) = json_of(sim.http.post(&token_url).form(&form).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn clients_are_limited_to_their_workspaces() {
    let dir = tempfile::tempdir().unwrap();
    let clients = dir.path().join("clients.yaml");
    std::fs::write(
        &clients,
        "- id: test-team\n  secret: test-secret\n  workspaces: [\"02\"]\n- id: admin\n  secret: admin-secret\n",
    )
    .unwrap();
    let sim = Simulator::start(&["--clients", clients.to_str().unwrap()]);
    let token = sim.fetch_token("test-team", "test-secret").await;
    let get = |path: &str| {
        sim.http
            .get(format!("{}{path}", sim.base))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(
        get("/admin/02/gatekeepingRules").await.unwrap().status(),
        200
    );
    let (status, err) = json_of(get("/admin/01/gatekeepingRules").await.unwrap()).await;
    assert_eq!(status, 403);
    assert_eq!(
        err["message"],
        "client 'test-team' may not use workspace '01'"
    );
    assert_eq!(get("/admin/gatekeepingRules").await.unwrap().status(), 403);
    let admin = sim.fetch_token("admin", "admin-secret").await;
    let response = sim
        .http
        .get(format!("{}/admin/01/gatekeepingRules", sim.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn basic_credentials_work_on_listener_registrations_but_not_on_rules() {
    let sim = Simulator::start(&["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]);
    let basic = |path: &str| {
        sim.http
            .get(format!("{}{path}", sim.base))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .send()
    };
    assert_eq!(
        basic("/admin/01/listenerRegistrations")
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, err) = json_of(basic("/admin/01/gatekeepingRules").await.unwrap()).await;
    assert_eq!(status, 401);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("basic authentication is accepted only by listenerRegistrations and the hub")
    );
    let wrong = sim
        .http
        .get(format!("{}/admin/01/listenerRegistrations", sim.base))
        .basic_auth(CLIENT_ID, Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}

#[tokio::test]
async fn no_auth_accepts_everything_and_the_log_holds_no_secret() {
    let sim = Simulator::start(&["--no-auth"]);
    let (status, _) = sim
        .call(
            Method::GET,
            "/admin/01/listenerRegistrations?client_secret=leaked",
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    let (_, log) = sim.call(Method::GET, "/sim/requests", Value::Null).await;
    assert_eq!(log[0]["method"], "GET");
    assert_eq!(log[0]["path"], "/admin/01/listenerRegistrations");
    assert_eq!(log[0]["query"], "client_secret=****");
    assert_eq!(log[0]["status"], 200);
    assert!(!log.to_string().contains("leaked"));
}

#[tokio::test]
async fn tls_serves_https() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let sim = Simulator::start(&[
        "--no-auth",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(sim.base.starts_with("https://127.0.0.1:"), "{}", sim.base);
    let (status, state) = sim.call(Method::GET, "/sim/state", Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(state["faults"], json!([]));
}
