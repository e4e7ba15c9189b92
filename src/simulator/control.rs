//! The `/sim` control API for tests (no authentication): the request log (kept by
//! [`super::request_log`]), the state, reset, and the fault rules at run time.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::api_error::{ApiError, parse_body};
use super::faults::FaultRule;
use super::listener_registrations::masked;
use super::request_log;
use super::sim::Sim;

/// `GET /sim/requests`: every request to the simulated API, oldest first.
pub async fn requests(State(sim): State<Arc<Sim>>) -> Json<Vec<request_log::RequestRecord>> {
    Json(sim.requests.records())
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
