//! `POST /sim[/{ws}]/events`: publishes an event as if an application behind the
//! framework had produced it, routes it by [`crate::framework::routing`] (which rule
//! gatekeeps it, which listener registrations receive it; the same rules
//! `cxf-operator route` explains), and delivers it (see [`super::delivery`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::api_error::{ApiError, parse_body};
use super::delivery::DeliveryRecord;
use super::sim::Sim;
use super::state::GATEWAY;
use crate::framework::routing::{self, Event};

/// Options of `POST /sim[/{ws}]/events`.
#[derive(Debug, Default, Deserialize)]
pub struct PublishOptions {
    /// Answer only once every delivery has succeeded or failed.
    #[serde(default)]
    pub wait: bool,
}

/// The answer of `POST /sim[/{ws}]/events` (202).
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PublishAnswer {
    /// The envelope's `eventId`, or a generated one.
    pub event_id: String,
    /// Whether the event is published to listeners.
    pub published: bool,
    /// The gatekeeping rule that gatekeeps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gatekeeper: Option<String>,
    /// Why (or why not).
    pub reason: String,
    /// One delivery per receiving listener (final states with `?wait=true`).
    pub deliveries: Vec<DeliveryRecord>,
}

/// `POST /sim[/{ws}]/events[?wait=true]`: 202 with a [`PublishAnswer`].
pub async fn publish(
    State(sim): State<Arc<Sim>>,
    Path(params): Path<HashMap<String, String>>,
    Query(options): Query<PublishOptions>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let workspace = params.get("ws").map(String::as_str).unwrap_or(GATEWAY);
    let event: Event = parse_body(&body)?;
    let (published, gatekeeper, reason, receivers) = {
        let mut store = sim.store.lock().expect("store lock");
        let state = store.workspace(workspace);
        let routing = routing::route(
            state.gatekeeping_rules.values(),
            state
                .listener_registrations
                .iter()
                .map(|(id, registration)| (id.as_str(), registration)),
            &event,
            &sim.criteria,
            false,
        )
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let receivers: Vec<_> = routing
            .receivers()
            .filter_map(|id| state.listener_registrations.get(id).cloned())
            .collect();
        let gatekeeper = routing.gatekeeper.map(str::to_owned);
        (routing.published, gatekeeper, routing.reason, receivers)
    };
    let event_id = match event.envelope.get("eventId") {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(id)) => id.to_string(),
        _ => sim.delivery.new_event_id(),
    };
    let envelope = Arc::new(event.envelope);
    let mut deliveries = Vec::new();
    let mut running = Vec::new();
    for listener in &receivers {
        let (record, task) =
            sim.delivery
                .start(workspace, &event_id, listener, Arc::clone(&envelope));
        deliveries.push(record);
        running.push(task);
    }
    tracing::info!(
        %workspace, %event_id, published,
        deliveries = deliveries.len(), "event published"
    );
    if options.wait {
        for task in running {
            // A delivery task only ends by recording its outcome.
            let _ = task.await;
        }
        deliveries = deliveries
            .iter()
            .filter_map(|record| sim.delivery.record(workspace, &record.id))
            .collect();
    }
    let answer = PublishAnswer {
        event_id,
        published,
        gatekeeper,
        reason,
        deliveries,
    };
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}
