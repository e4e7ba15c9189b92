//! Reconcile steps against a mocked apiserver (`tower_test`): each request the step makes
//! is asserted and answered in order, as in kube-rs/controller-rs's ApiServerVerifier.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use kube::runtime::reflector;
use serde_json::{Value, json};
use tower_test::mock::{Handle, pair};

use super::context::{Context, Stores, Triggers};
use super::framework_connection;
use crate::metrics::Metrics;
use crate::resources::FrameworkConnection;

type ApiServer = Handle<Request<Body>, Response<Body>>;

fn context(client: kube::Client) -> Arc<Context> {
    let stores = Stores {
        connections: reflector::store().0,
        registrations: reflector::store().0,
        rules: reflector::store().0,
        secrets: reflector::store().0,
    };
    let triggers = Triggers {
        registrations: futures::channel::mpsc::unbounded().0,
        rules: futures::channel::mpsc::unbounded().0,
        connections: futures::channel::mpsc::unbounded().0,
    };
    Arc::new(Context::new(
        client,
        Arc::new(Metrics::default()),
        stores,
        Duration::from_secs(60),
        triggers,
        crate::desired::credentials::HashKey::generate(),
    ))
}

fn connection() -> FrameworkConnection {
    serde_json::from_value(json!({
        "apiVersion": "cxf.dev/v1alpha1",
        "kind": "FrameworkConnection",
        "metadata": {"name": "default", "namespace": "ops", "generation": 1, "uid": "u1", "finalizers": ["cxf.dev/finalizer"]},
        "spec": {
            "gatewayUrl": "http://127.0.0.1:9",
            "auth": {"oauth2": {"clientId": "operator", "clientSecret": {"name": "creds", "key": "client-secret"}}}
        }
    }))
    .unwrap()
}

/// Answers the next request after checking its method and path; returns its JSON body.
async fn expect(
    server: &mut ApiServer,
    method: Method,
    path: &str,
    status: StatusCode,
    answer: Value,
) -> Value {
    let (request, send) = server.next_request().await.expect("a request");
    assert_eq!(request.method(), method, "{}", request.uri());
    assert_eq!(request.uri().path(), path);
    let bytes = axum::body::to_bytes(axum::body::Body::new(request.into_body()), usize::MAX)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    send.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(&answer).unwrap()))
            .unwrap(),
    );
    body
}

fn not_found(what: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": format!("{what} not found")})
}

#[tokio::test]
async fn a_missing_secret_sets_secret_not_found_by_server_side_apply_and_waits() {
    let (service, mut server) = pair::<Request<Body>, Response<Body>>();
    let ctx = context(kube::Client::new(service, "default"));
    let object = connection();
    let reconcile = tokio::spawn(framework_connection::reconcile(
        Arc::new(object.clone()),
        Arc::clone(&ctx),
    ));

    // Not in the Secret cache: one metadata read tells a missing Secret from one that
    // did not opt in.
    expect(
        &mut server,
        Method::GET,
        "/api/v1/namespaces/ops/secrets/creds",
        StatusCode::NOT_FOUND,
        not_found("secrets \"creds\""),
    )
    .await;
    let (request, send) = server.next_request().await.expect("the status write");
    assert_eq!(request.method(), Method::PATCH);
    assert_eq!(
        request.uri().path(),
        "/apis/cxf.dev/v1alpha1/namespaces/ops/frameworkconnections/default/status"
    );
    let query = request.uri().query().unwrap_or_default().to_owned();
    assert!(
        query.contains("fieldManager=cxf-operator") && query.contains("force=true"),
        "{query}"
    );
    assert_eq!(
        request.headers()["content-type"],
        "application/apply-patch+yaml"
    );
    let bytes = axum::body::to_bytes(axum::body::Body::new(request.into_body()), usize::MAX)
        .await
        .unwrap();
    let patch: Value = serde_json::from_slice(&bytes).unwrap();
    let ready = &patch["status"]["conditions"][0];
    assert_eq!(ready["type"], "Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "SecretNotFound");
    assert_eq!(ready["message"], "Secret ops/creds does not exist");
    assert_eq!(patch["status"]["observedGeneration"], 1);
    assert!(
        patch.get("spec").is_none(),
        "the operator never writes spec"
    );
    send.send_response(
        Response::builder()
            .body(Body::from(serde_json::to_vec(&object).unwrap()))
            .unwrap(),
    );

    let event = expect(
        &mut server,
        Method::POST,
        "/apis/events.k8s.io/v1/namespaces/ops/events",
        StatusCode::CREATED,
        json!({}),
    )
    .await;
    assert_eq!(event["reason"], "SecretNotFound");
    assert_eq!(event["type"], "Warning");

    let action = tokio::time::timeout(Duration::from_secs(5), reconcile)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        action,
        kube::runtime::controller::Action::await_change(),
        "a user error waits for a change"
    );
}

#[tokio::test]
async fn an_unchanged_status_is_not_written_again_nor_reported_again() {
    let (service, mut server) = pair::<Request<Body>, Response<Body>>();
    let ctx = context(kube::Client::new(service, "default"));
    let mut object = connection();
    let condition = crate::resources::conditions::ready(
        false,
        "SecretNotFound",
        "Secret ops/creds does not exist",
        Some(1),
    );
    object.status = Some(
        crate::resources::framework_connection::FrameworkConnectionStatus {
            conditions: vec![condition],
            observed_generation: Some(1),
        },
    );
    let reconcile = tokio::spawn(framework_connection::reconcile(
        Arc::new(object),
        Arc::clone(&ctx),
    ));
    expect(
        &mut server,
        Method::GET,
        "/api/v1/namespaces/ops/secrets/creds",
        StatusCode::NOT_FOUND,
        not_found("secrets \"creds\""),
    )
    .await;
    // No status PATCH, and no second Event for a condition already reported.
    let action = tokio::time::timeout(Duration::from_secs(5), reconcile)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(action, kube::runtime::controller::Action::await_change());
    assert!(
        futures::FutureExt::now_or_never(server.next_request()).is_none(),
        "nothing more was asked of the apiserver"
    );
}

#[tokio::test]
async fn backoff_doubles_per_failure_never_below_retry_after_and_resets() {
    let (service, _server) = pair::<Request<Body>, Response<Body>>();
    let ctx = context(kube::Client::new(service, "default"));
    let object = connection();
    assert_eq!(ctx.backoff(&object, None), Duration::from_secs(2));
    assert_eq!(ctx.backoff(&object, None), Duration::from_secs(4));
    assert_eq!(
        ctx.backoff(&object, Some(Duration::from_secs(30))),
        Duration::from_secs(30),
        "the framework's Retry-After wins when longer"
    );
    for _ in 0..20 {
        ctx.backoff(&object, None);
    }
    assert_eq!(
        ctx.backoff(&object, None),
        Duration::from_secs(300),
        "bounded"
    );
    ctx.reset_backoff(&object);
    assert_eq!(ctx.backoff(&object, None), Duration::from_secs(2));
}

#[tokio::test]
async fn the_crd_check_tells_a_missing_crd_from_an_apiserver_that_failed() {
    for (status, missing) in [
        (StatusCode::NOT_FOUND, true),
        (StatusCode::SERVICE_UNAVAILABLE, false),
    ] {
        let (service, mut server) = pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        let check = tokio::spawn(async move { super::crds_installed(&client, Some("ops")).await });
        let answer = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": status.as_u16(), "message": "answer"});
        expect(
            &mut server,
            Method::GET,
            "/apis/cxf.dev/v1alpha1/namespaces/ops/frameworkconnections",
            status,
            answer,
        )
        .await;
        let error = check.await.unwrap().expect_err("the check fails");
        assert_eq!(
            matches!(error, super::CrdCheckError::Missing { .. }),
            missing,
            "{status}: {error}"
        );
    }
}

#[test]
fn a_connection_concerns_its_users_when_its_spec_ready_or_deletion_changes() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kube::runtime::watcher::Event;

    use crate::resources::conditions;
    use crate::resources::framework_connection::FrameworkConnectionStatus;

    let with = |generation: i64, conditions: Vec<_>, deleting: bool| {
        let mut c = connection();
        c.metadata.generation = Some(generation);
        c.status = Some(FrameworkConnectionStatus {
            conditions,
            ..FrameworkConnectionStatus::default()
        });
        if deleting {
            c.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        }
        c
    };
    let ready = || conditions::ready(true, conditions::REASON_CONNECTED, "ok", Some(1));
    let down = conditions::reachable(Some("no answer"), Some(1));
    let up = conditions::reachable(None, Some(1));
    // What the watch's store holds before each event.
    let mut held: Option<FrameworkConnection> = None;
    // (event, whether the users are triggered)
    let cases = [
        (Event::InitApply(with(1, vec![], false)), true),
        (Event::Apply(with(1, vec![], false)), false),
        (Event::Apply(with(1, vec![ready()], false)), true),
        (Event::Apply(with(1, vec![ready(), up], false)), false),
        (Event::Apply(with(1, vec![ready(), down], false)), false),
        (
            Event::Apply(with(
                1,
                vec![conditions::ready(
                    false,
                    conditions::REASON_UNAUTHORIZED,
                    "401",
                    Some(1),
                )],
                false,
            )),
            true,
        ),
        (Event::Apply(with(2, vec![], false)), true),
        (Event::Apply(with(2, vec![], true)), true),
        (Event::Delete(with(2, vec![], true)), true),
        (Event::Init, false),
        (Event::InitDone, false),
    ];
    for (i, (event, triggers)) in cases.into_iter().enumerate() {
        assert_eq!(
            super::concerns_users(held.as_ref(), &event).is_some(),
            triggers,
            "case {i}"
        );
        match event {
            Event::Apply(connection) | Event::InitApply(connection) => held = Some(connection),
            Event::Delete(_) => held = None,
            Event::Init | Event::InitDone => {}
        }
    }
}
