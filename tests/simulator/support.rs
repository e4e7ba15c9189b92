//! Starting the simulator process, a client for it, and a listener server that
//! records what the simulator delivers.

use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use reqwest::{Method, Response};
use serde_json::{Value, json};

/// Client id and secret of the simulator's API client in these tests.
pub const CLIENT_ID: &str = "ops";
pub const CLIENT_SECRET: &str = "ops-s3cret-value";

/// A running simulator, killed on drop.
pub struct Simulator {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub http: reqwest::Client,
    token: Option<String>,
}

impl Simulator {
    /// Starts the simulator with `args` (after `--listen 127.0.0.1:0`).
    pub fn start(args: &[&str]) -> Self {
        let mut all = vec!["--delivery-backoff-ms", "20"];
        all.extend_from_slice(args);
        let (child, base) = super::process::spawn(&all);
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        Self {
            child,
            base,
            http,
            token: None,
        }
    }

    /// Starts the simulator with one API client (`CLIENT_ID`) and fetches a token.
    pub async fn with_client(args: &[&str]) -> Self {
        let mut all = vec!["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET];
        all.extend_from_slice(args);
        let mut sim = Self::start(&all);
        sim.token = Some(sim.fetch_token(CLIENT_ID, CLIENT_SECRET).await);
        sim
    }

    /// A token by the client-credentials grant (credentials in the form).
    pub async fn fetch_token(&self, id: &str, secret: &str) -> String {
        super::process::token(&self.http, &self.base, id, secret).await
    }

    /// A request with this simulator's bearer token (if any).
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends `body` (if not null) and returns the status and the JSON answer (null if
    /// none).
    pub async fn call(&self, method: Method, path: &str, body: Value) -> (u16, Value) {
        let mut request = self.request(method, path);
        if !body.is_null() {
            request = request.json(&body);
        }
        json_of(request.send().await.unwrap()).await
    }

    /// Kills the process now (as a crash would).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The status and JSON body (null if empty) of a response.
pub async fn json_of(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body)
}

/// Seed 000's listener registration (with `orcl-200` quoted), its listener at `url`
/// and its identity URI at `identity_uri`.
pub fn tax_engine(url: &str, identity_uri: &str) -> Value {
    json!({
        "affiliated-apis": [{
            "api-name": "taxCalculation",
            "api-number": "orcl-200",
            "api-version": "v1",
            "query": "(/eventType eq \"/event/TaxEvent3\" or /eventType eq \"/event/TaxEvent1\" and \"/event/TaxEvent3/ familyName\" eq \"abc\")"
        }],
        "listener-locality": {"external-listener": {
            "listener-url": url,
            "listener-auth": {"oidc-client-credentials": {
                "identity-uri": identity_uri,
                "client-id": "OIDC_CLIENT_ID",
                "client-secret": "OIDC_CLIENT_SECRET",
                "scope": "OIDC_SCOPE"
            }}
        }},
        "type": "external"
    })
}

/// What the listener server received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct Recorded {
    events: Vec<Received>,
    token_requests: Vec<(Option<String>, String)>,
    fail_next: u32,
}

/// An HTTP listener on a free port: `POST /events...` records the event (answering 503
/// while `fail_next` lasts), `POST /token` issues `listener-token` to the client
/// `OIDC_CLIENT_ID:OIDC_CLIENT_SECRET` (HTTP basic).
#[derive(Clone)]
pub struct Listener {
    pub base: String,
    recorded: Arc<Mutex<Recorded>>,
    _stop: Arc<tokio::sync::oneshot::Sender<()>>,
}

impl Listener {
    pub async fn start() -> Self {
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let app = Router::new()
            .route("/token", post(issue_token))
            .route("/events", post(record_event))
            .route("/events/{name}", post(record_event))
            .with_state(Arc::clone(&recorded));
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", socket.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(socket, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            base,
            recorded,
            _stop: Arc::new(stop),
        }
    }

    pub fn events(&self) -> Vec<Received> {
        self.recorded.lock().unwrap().events.clone()
    }

    /// `(Authorization header, form body)` of every token request.
    pub fn token_requests(&self) -> Vec<(Option<String>, String)> {
        self.recorded.lock().unwrap().token_requests.clone()
    }

    /// The next `n` event deliveries answer 503.
    pub fn fail_next(&self, n: u32) {
        self.recorded.lock().unwrap().fail_next = n;
    }
}

async fn issue_token(
    State(recorded): State<Arc<Mutex<Recorded>>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    let authorization = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned());
    recorded
        .lock()
        .unwrap()
        .token_requests
        .push((authorization.clone(), body));
    let expected = format!(
        "Basic {}",
        base64_encode("OIDC_CLIENT_ID:OIDC_CLIENT_SECRET")
    );
    if authorization.as_deref() == Some(expected.as_str()) {
        let token =
            json!({"access_token": "listener-token", "token_type": "Bearer", "expires_in": 3600});
        (StatusCode::OK, axum::Json(token))
    } else {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
    }
}

async fn record_event(
    State(recorded): State<Arc<Mutex<Recorded>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let mut recorded = recorded.lock().unwrap();
    if recorded.fail_next > 0 {
        recorded.fail_next -= 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    recorded.events.push(Received {
        path: uri.path().to_owned(),
        authorization: headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: serde_json::from_slice(&body).unwrap(),
    });
    StatusCode::OK
}

pub fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Waits up to 5 s for `check` to hold.
pub async fn eventually(mut check: impl FnMut() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the condition did not hold within 5 s");
}
