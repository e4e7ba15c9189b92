//! The admin client against a small in-process axum server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, patch, post};
use axum::{Json, Router};

use super::*;
use crate::framework::model::SecretValue;

#[derive(Default)]
struct Server {
    tokens_issued: AtomicUsize,
    reject_next_token: AtomicUsize,
}

async fn token(
    State(s): State<Arc<Server>>,
    body: String,
) -> (StatusCode, Json<serde_json::Value>) {
    assert!(
        body.contains("grant_type=client_credentials") && body.contains("client_secret=sekret"),
        "{body}"
    );
    let n = s.tokens_issued.fetch_add(1, Ordering::SeqCst);
    (
        StatusCode::OK,
        Json(
            serde_json::json!({"access_token": format!("token-{n}"), "token_type": "Bearer", "expires_in": 3600}),
        ),
    )
}

fn authorized(s: &Server, headers: &HeaderMap) -> bool {
    let current = format!(
        "Bearer token-{}",
        s.tokens_issued.load(Ordering::SeqCst) - 1
    );
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(current.as_str())
        && s.reject_next_token.swap(0, Ordering::SeqCst) == 0
}

async fn list(
    State(s): State<Arc<Server>>,
    headers: HeaderMap,
) -> (StatusCode, Json<serde_json::Value>) {
    if !authorized(&s, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"code": "401", "reason": "bad token"})),
        );
    }
    (StatusCode::OK, Json(serde_json::json!([])))
}

async fn create(
    Path(ws): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> (StatusCode, Json<serde_json::Value>) {
    let mut body = body;
    body["id"] = serde_json::json!(format!("{ws}-lr-1"));
    (StatusCode::CREATED, Json(body))
}

async fn busy() -> (StatusCode, HeaderMap, Json<serde_json::Value>) {
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", "7".parse().unwrap());
    (
        StatusCode::TOO_MANY_REQUESTS,
        headers,
        Json(serde_json::json!({"code": "429", "reason": "slow down"})),
    )
}

async fn start() -> (String, Arc<Server>, tokio::task::JoinHandle<()>) {
    serve(
        Router::new()
            .route("/admin/{ws}/listenerRegistrations", get(list).post(create))
            .route("/admin/{ws}/listenerRegistrations/{id}", patch(busy)),
    )
    .await
}

/// Serves `routes` and the token endpoint on a free port.
async fn serve(routes: Router<Arc<Server>>) -> (String, Arc<Server>, tokio::task::JoinHandle<()>) {
    let state = Arc::new(Server::default());
    let app = routes
        .route("/oauth2/token", post(token))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), state, server)
}

fn client(gateway: &str, metrics: AdminMetrics) -> AdminClient {
    let config = ClientConfig {
        gateway_url: gateway.to_owned(),
        workspace: Some("01".into()),
        credentials: Credentials::OAuth {
            token_url: format!("{gateway}/oauth2/token"),
            client_id: "operator".into(),
            client_secret: SecretValue::new("sekret"),
            scope: None,
        },
        ca_bundle: None,
        requests_per_second: 1000,
        rule_update_verb: RuleUpdateVerb::Patch,
    };
    AdminClient::new(config, metrics).unwrap()
}

#[tokio::test]
async fn a_token_is_reused_and_renewed_after_a_401() {
    let (gateway, state, server) = start().await;
    let metrics = crate::metrics::Metrics::default();
    let admin = client(&gateway, metrics.admin.clone());
    admin
        .list_registrations(&[("listener-url", "http://x")])
        .await
        .unwrap();
    admin.list_registrations(&[]).await.unwrap();
    assert_eq!(
        state.tokens_issued.load(Ordering::SeqCst),
        1,
        "one token for two calls"
    );

    state.reject_next_token.store(1, Ordering::SeqCst);
    admin.list_registrations(&[]).await.unwrap();
    assert_eq!(
        state.tokens_issued.load(Ordering::SeqCst),
        2,
        "a 401 fetches a new token and retries once"
    );

    let text = metrics.encode();
    assert!(
        text.contains(r#"route="/admin/{ws}/listenerRegistrations",method="GET",status="200"} 3"#),
        "{text}"
    );
    assert!(text.contains(r#"status="401"} 1"#), "{text}");
    assert!(!text.contains("sekret") && !text.contains("token-"));
    server.abort();
}

#[tokio::test]
async fn create_returns_the_id_and_429_is_transient_with_retry_after() {
    let (gateway, _state, server) = start().await;
    let admin = client(&gateway, AdminMetrics::default());
    let registration: ListenerRegistration = serde_json::from_value(serde_json::json!({
        "affiliated-apis": [{"api-name": "taxCalculation", "api-version": "v1"}],
        "listener-locality": {"external-listener": {"listener-url": "http://tax"}},
        "type": "external"
    }))
    .unwrap();
    let created = admin.create_registration(&registration).await.unwrap();
    assert_eq!(created.id.as_deref(), Some("01-lr-1"));

    let error = admin
        .patch_registration("01-lr-1", &json_patch::Patch(Vec::new()))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transient);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    assert!(
        error.to_string().contains("429") && error.to_string().contains("slow down"),
        "{error}"
    );
    server.abort();
}

#[tokio::test]
async fn an_unreachable_framework_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gateway = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let admin = client(&gateway, AdminMetrics::default());
    let error = admin.list_rules().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transient, "{error}");
}

/// Tokens that live one second; a request with an older one is refused (and counted).
#[derive(Default)]
struct ShortLived {
    issued: std::sync::Mutex<Vec<std::time::Instant>>,
    expired: AtomicUsize,
}

async fn short_token(State(s): State<Arc<ShortLived>>) -> Json<serde_json::Value> {
    let mut issued = s.issued.lock().unwrap();
    issued.push(std::time::Instant::now());
    Json(
        serde_json::json!({"access_token": format!("t-{}", issued.len() - 1), "token_type": "Bearer", "expires_in": 1}),
    )
}

async fn short_list(State(s): State<Arc<ShortLived>>, headers: HeaderMap) -> StatusCode {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer t-"))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap();
    let issued = s.issued.lock().unwrap()[token];
    if issued.elapsed() >= Duration::from_secs(1) {
        s.expired.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    StatusCode::NO_CONTENT
}

/// 20 requests at 10 per second queue up to 2 s for their turn: each takes its token
/// after its turn, so none is sent with a token that expired while it waited.
#[tokio::test]
async fn requests_take_their_token_after_waiting_for_their_turn() {
    let state = Arc::new(ShortLived::default());
    let app = Router::new()
        .route("/oauth2/token", post(short_token))
        .route("/admin/{ws}/listenerRegistrations/{id}", patch(short_list))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut admin = client(&gateway, AdminMetrics::default());
    admin.limiter = RateLimiter::new(10);
    let admin = Arc::new(admin);
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let admin = Arc::clone(&admin);
            tokio::spawn(async move {
                admin
                    .patch_registration(&format!("lr-{i}"), &json_patch::Patch(Vec::new()))
                    .await
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(
        state.expired.load(Ordering::SeqCst),
        0,
        "a request was sent with a token that expired while it queued"
    );
    server.abort();
}

#[tokio::test]
async fn a_429_slows_the_whole_connection() {
    let (gateway, _state, server) = start().await;
    let admin = client(&gateway, AdminMetrics::default());
    assert_eq!(admin.limiter.period(), Duration::from_millis(1));
    admin
        .patch_registration("01-lr-1", &json_patch::Patch(Vec::new()))
        .await
        .unwrap_err();
    assert_eq!(
        admin.limiter.period(),
        Duration::from_millis(2),
        "the 429 halved the connection's rate"
    );
    server.abort();
}

/// A 206 (TMF: "Partial Content", one page of a longer collection) to every list.
async fn partial() -> (StatusCode, Json<serde_json::Value>) {
    (StatusCode::PARTIAL_CONTENT, Json(serde_json::json!([])))
}

#[tokio::test]
async fn a_partial_list_is_transient_never_taken_for_the_whole_collection() {
    let (gateway, _state, server) = serve(
        Router::new()
            .route("/admin/{ws}/listenerRegistrations", get(partial))
            .route("/admin/{ws}/gatekeepingRules", get(partial)),
    )
    .await;
    let admin = client(&gateway, AdminMetrics::default());
    let registrations = admin.list_registrations(&[]).await.unwrap_err();
    let rules = admin.list_rules().await.unwrap_err();
    for error in [registrations, rules] {
        assert_eq!(error.kind(), ErrorKind::Transient, "{error}");
        assert!(error.to_string().contains("206"), "{error}");
    }
    server.abort();
}
