//! The request log of the simulated API (`GET /sim/requests`): every admin, hub and
//! token request with its status, query values that look like credentials masked.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use super::faults::DropResponse;
use super::state::MASK;

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

    /// Every request kept, oldest first.
    pub fn records(&self) -> Vec<RequestRecord> {
        self.0
            .lock()
            .expect("request log lock")
            .iter()
            .cloned()
            .collect()
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
pub async fn record(State(log): State<Arc<RequestLog>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let time_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(redact_query);
    let response = next.run(request).await;
    log.push(RequestRecord {
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
