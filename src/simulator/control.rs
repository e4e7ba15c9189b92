//! The `/sim` control API for tests (no authentication): the request log, the state,
//! reset, and the fault rules at run time.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};

use super::api_error::{ApiError, parse_body};
use super::faults::{DropResponse, FaultRule};
use super::listener_registrations::{MASK, masked};
use super::server::Sim;

/// Requests kept in the log; older ones are forgotten first.
pub const KEPT_REQUESTS: usize = 10_000;

/// One request to the simulated API, as `GET /sim/requests` shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query string, with the values of credential-like parameters masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Status answered (the one the client would have seen, for a dropped answer).
    pub status: u16,
    /// Whether the answer was dropped by a fault.
    pub dropped: bool,
    /// When the request arrived, milliseconds since the Unix epoch.
    pub time_ms: u128,
    /// How long the answer took, in milliseconds.
    pub duration_ms: u128,
}

/// The request log.
#[derive(Debug, Default)]
pub struct RequestLog(Mutex<VecDeque<RequestRecord>>);

impl RequestLog {
    fn push(&self, record: RequestRecord) {
        let mut log = self.0.lock().expect("request log lock");
        if log.len() == KEPT_REQUESTS {
            log.pop_front();
        }
        log.push_back(record);
    }

    /// Forgets every request.
    pub fn clear(&self) {
        self.0.lock().expect("request log lock").clear();
    }
}

fn redact_query(query: &str) -> String {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(key, value)| {
            let lower = key.to_ascii_lowercase();
            let secret = ["secret", "password", "token"]
                .iter()
                .any(|word| lower.contains(word));
            let value = if secret { MASK.into() } else { value };
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Middleware on the simulated API: records every request and its status.
pub async fn record(State(sim): State<Arc<Sim>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let time_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(redact_query);
    let response = next.run(request).await;
    sim.requests.push(RequestRecord {
        method,
        path,
        query,
        status: response.status().as_u16(),
        dropped: response.extensions().get::<DropResponse>().is_some(),
        time_ms,
        duration_ms: started.elapsed().as_millis(),
    });
    response
}

/// `GET /sim/requests`: every request to the simulated API, oldest first.
pub async fn requests(State(sim): State<Arc<Sim>>) -> Json<Vec<RequestRecord>> {
    Json(
        sim.requests
            .0
            .lock()
            .expect("request log lock")
            .iter()
            .cloned()
            .collect(),
    )
}

/// `GET /sim/state`: every workspace's objects (credentials masked) and the faults.
/// The gateway form's workspace is the key `""`.
pub async fn state(State(sim): State<Arc<Sim>>) -> Json<Value> {
    let store = sim.store.lock().expect("store lock");
    let workspaces: BTreeMap<&String, Value> = store
        .workspaces()
        .iter()
        .map(|(name, ws)| {
            let listeners: BTreeMap<&String, Value> = ws
                .listener_registrations
                .iter()
                .map(|(id, reg)| (id, masked(reg)))
                .collect();
            (
                name,
                json!({
                    "listener-registrations": listeners,
                    "gatekeeping-rules": ws.gatekeeping_rules,
                }),
            )
        })
        .collect();
    Json(json!({ "workspaces": workspaces, "faults": sim.faults.rules() }))
}

/// `POST /sim/reset`: forgets every workspace (they start again from the initial
/// rules), delivery, logged request and fault rule. Clients and tokens stay.
pub async fn reset(State(sim): State<Arc<Sim>>) -> Result<StatusCode, ApiError> {
    sim.store.lock().expect("store lock").reset();
    sim.delivery.clear();
    sim.requests.clear();
    sim.faults.set(Vec::new());
    sim.persist().await?;
    tracing::info!("simulator reset");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /sim/faults`: the active fault rules (with what is left of their `times`).
pub async fn faults(State(sim): State<Arc<Sim>>) -> Json<Vec<FaultRule>> {
    Json(sim.faults.rules())
}

/// `POST /sim/faults`: replaces the fault rules with a JSON array of rules.
pub async fn set_faults(
    State(sim): State<Arc<Sim>>,
    body: Bytes,
) -> Result<Json<Vec<FaultRule>>, ApiError> {
    let rules: Vec<FaultRule> = parse_body(&body)?;
    for (i, rule) in rules.iter().enumerate() {
        rule.check()
            .map_err(|err| ApiError::bad_request(format!("[{i}]: {err}")))?;
    }
    sim.faults.set(rules.clone());
    tracing::info!(rules = rules.len(), "fault rules set");
    Ok(Json(rules))
}

/// `DELETE /sim/faults`: no more faults.
pub async fn clear_faults(State(sim): State<Arc<Sim>>) -> StatusCode {
    sim.faults.set(Vec::new());
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_like_query_values_are_masked() {
        assert_eq!(
            redact_query("api-name=Party&client_secret=x&access_token=y"),
            "api-name=Party&client_secret=****&access_token=****"
        );
    }
}
