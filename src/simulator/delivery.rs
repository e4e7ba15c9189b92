//! Delivery of events to listeners: `POST {listener-url}` with the envelope, with the
//! listener's credentials (an OAuth token from its identity URI, fetched by the client
//! credentials grant and cached until it expires; or HTTP basic), retried with
//! exponential backoff, and recorded for `GET /sim[/{ws}]/deliveries`. Records hold
//! the kind of credentials used, never their values.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use super::RetryPolicy;
use super::state::GATEWAY;
use crate::framework::model::{ListenerAuth, ListenerRegistration, OidcClientCredentials};

/// Deliveries kept per workspace; older ones are forgotten first.
pub const KEPT_DELIVERIES: usize = 10_000;

/// Which credentials a delivery used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthKind {
    /// No `Authorization` header.
    None,
    /// HTTP basic with the registration's user name and password.
    Basic,
    /// A bearer token from the registration's identity URI.
    OidcClientCredentials,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryStatus {
    /// Attempts are still being made.
    Pending,
    /// The listener answered 2xx.
    Delivered,
    /// Every attempt failed, or the listener refused the event (4xx).
    Failed,
}

/// One event's delivery to one listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DeliveryRecord {
    /// Delivery id.
    pub id: String,
    /// The event's id.
    pub event_id: String,
    /// The listener registration.
    pub listener_id: String,
    /// Where the event was sent.
    pub listener_url: String,
    /// The credentials used.
    pub auth: AuthKind,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// The listener's last HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The last failure (no credential values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    identity_uri: String,
    client_id: String,
    scope: Option<String>,
    secret_digest: [u8; 32],
}

impl TokenKey {
    fn of(oidc: &OidcClientCredentials) -> Self {
        Self {
            identity_uri: oidc.identity_uri.clone(),
            client_id: oidc.client_id.clone(),
            scope: oidc.scope.clone(),
            secret_digest: Sha256::digest(oidc.expose_secret().as_bytes()).into(),
        }
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The delivery engine: HTTP client, token cache and delivery log (no `Debug`: it
/// caches listeners' tokens).
pub struct Delivery {
    http: reqwest::Client,
    policy: RetryPolicy,
    tokens: Mutex<HashMap<TokenKey, (String, Instant)>>,
    log: Mutex<HashMap<String, VecDeque<DeliveryRecord>>>,
    next_id: AtomicU64,
}

enum Attempt {
    Delivered(u16),
    Refused(u16),
    Retry { status: Option<u16>, error: String },
}

impl Delivery {
    /// A delivery engine retrying as `policy` says.
    pub fn new(policy: RetryPolicy) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("the HTTP client builds with rustls");
        Self {
            http,
            policy,
            tokens: Mutex::new(HashMap::new()),
            log: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        }
    }

    /// A generated event id for an envelope without `eventId`.
    pub fn new_event_id(&self) -> String {
        format!("event-{}", self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Records a pending delivery of `envelope` to `listener` and starts it.
    pub fn start(
        self: &Arc<Self>,
        workspace: &str,
        event_id: &str,
        listener: &ListenerRegistration,
        envelope: Arc<Value>,
    ) -> (DeliveryRecord, JoinHandle<()>) {
        let external = &listener.listener_locality.external_listener;
        let auth = external.listener_auth.clone();
        let record = DeliveryRecord {
            id: format!("delivery-{}", self.next_id.fetch_add(1, Ordering::Relaxed)),
            event_id: event_id.to_owned(),
            listener_id: listener.id.clone().unwrap_or_default(),
            listener_url: external.listener_url.clone(),
            auth: match &auth {
                None => AuthKind::None,
                Some(ListenerAuth::Basic(_)) => AuthKind::Basic,
                Some(ListenerAuth::OidcClientCredentials(_)) => AuthKind::OidcClientCredentials,
            },
            status: DeliveryStatus::Pending,
            attempts: 0,
            http_status: None,
            last_error: None,
        };
        {
            let mut log = self.log.lock().expect("delivery log lock");
            let entries = log.entry(workspace.to_owned()).or_default();
            if entries.len() == KEPT_DELIVERIES {
                entries.pop_front();
            }
            entries.push_back(record.clone());
        }
        let engine = Arc::clone(self);
        let (workspace, id) = (workspace.to_owned(), record.id.clone());
        let url = record.listener_url.clone();
        let task = tokio::spawn(async move {
            engine
                .run(&workspace, &id, &url, auth.as_ref(), &envelope)
                .await
        });
        (record, task)
    }

    async fn run(
        &self,
        workspace: &str,
        id: &str,
        url: &str,
        auth: Option<&ListenerAuth>,
        envelope: &Value,
    ) {
        for attempt in 1..=self.policy.attempts.max(1) {
            if attempt > 1 {
                let factor = 1u32 << (attempt - 2).min(16);
                tokio::time::sleep(self.policy.first_backoff * factor).await;
            }
            let outcome = self.attempt(url, auth, envelope).await;
            let done = self.update(workspace, id, |record| {
                record.attempts = attempt;
                match &outcome {
                    Attempt::Delivered(status) => {
                        record.status = DeliveryStatus::Delivered;
                        record.http_status = Some(*status);
                        record.last_error = None;
                    }
                    Attempt::Refused(status) => {
                        record.status = DeliveryStatus::Failed;
                        record.http_status = Some(*status);
                        record.last_error =
                            Some(format!("the listener refused the event with {status}"));
                    }
                    Attempt::Retry { status, error } => {
                        record.http_status = *status;
                        record.last_error = Some(error.clone());
                        if attempt == self.policy.attempts.max(1) {
                            record.status = DeliveryStatus::Failed;
                        }
                    }
                }
                record.status != DeliveryStatus::Pending
            });
            match &outcome {
                Attempt::Delivered(_) => {
                    tracing::debug!(%workspace, delivery = %id, attempt, "event delivered")
                }
                Attempt::Refused(status) => {
                    tracing::warn!(%workspace, delivery = %id, status, "listener refused the event")
                }
                Attempt::Retry { error, .. } => {
                    tracing::warn!(%workspace, delivery = %id, attempt, %error, "delivery attempt failed")
                }
            }
            if done {
                return;
            }
        }
    }

    async fn attempt(&self, url: &str, auth: Option<&ListenerAuth>, envelope: &Value) -> Attempt {
        let mut request = self.http.post(url).json(envelope);
        match auth {
            None => {}
            Some(ListenerAuth::Basic(basic)) => {
                request = request.basic_auth(&basic.username, Some(basic.expose_password()));
            }
            Some(ListenerAuth::OidcClientCredentials(oidc)) => match self.token(oidc).await {
                Ok(token) => request = request.bearer_auth(token),
                Err(error) => {
                    return Attempt::Retry {
                        status: None,
                        error,
                    };
                }
            },
        }
        match request.send().await {
            Err(err) => Attempt::Retry {
                status: None,
                error: format!("sending the event to {url}: {err}"),
            },
            Ok(response) => {
                let status = response.status();
                let code = status.as_u16();
                if status.is_success() {
                    Attempt::Delivered(code)
                } else if status.is_server_error() || matches!(code, 401 | 408 | 429) {
                    if code == 401
                        && let Some(ListenerAuth::OidcClientCredentials(oidc)) = auth
                    {
                        self.tokens
                            .lock()
                            .expect("token cache lock")
                            .remove(&TokenKey::of(oidc));
                    }
                    Attempt::Retry {
                        status: Some(code),
                        error: format!("the listener answered {status}"),
                    }
                } else {
                    Attempt::Refused(code)
                }
            }
        }
    }

    /// A token for `oidc`, from the cache or its identity URI.
    async fn token(&self, oidc: &OidcClientCredentials) -> Result<String, String> {
        let key = TokenKey::of(oidc);
        if let Some((token, expires)) = self.tokens.lock().expect("token cache lock").get(&key)
            && *expires > Instant::now()
        {
            return Ok(token.clone());
        }
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &oidc.scope {
            form.push(("scope", scope));
        }
        let uri = &oidc.identity_uri;
        let response = self
            .http
            .post(uri)
            .basic_auth(&oidc.client_id, Some(oidc.expose_secret()))
            .form(&form)
            .send()
            .await
            .map_err(|err| format!("fetching a token from {uri}: {err}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("fetching a token from {uri}: answered {status}"));
        }
        let answer: TokenAnswer = response
            .json()
            .await
            .map_err(|err| format!("reading the token answer of {uri}: {err}"))?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(300));
        let expires = Instant::now() + lifetime.saturating_sub(Duration::from_secs(5));
        self.tokens
            .lock()
            .expect("token cache lock")
            .insert(key, (answer.access_token.clone(), expires));
        Ok(answer.access_token)
    }

    fn update(
        &self,
        workspace: &str,
        id: &str,
        change: impl FnOnce(&mut DeliveryRecord) -> bool,
    ) -> bool {
        let mut log = self.log.lock().expect("delivery log lock");
        log.get_mut(workspace)
            .and_then(|entries| entries.iter_mut().rev().find(|r| r.id == id))
            .map(change)
            // A record pushed out of the log: nobody can read the outcome, stop.
            .unwrap_or(true)
    }

    /// The delivery `id` of `workspace`, as it stands.
    pub fn record(&self, workspace: &str, id: &str) -> Option<DeliveryRecord> {
        let log = self.log.lock().expect("delivery log lock");
        log.get(workspace)?
            .iter()
            .rev()
            .find(|r| r.id == id)
            .cloned()
    }

    /// Forgets every delivery record.
    pub fn clear(&self) {
        self.log.lock().expect("delivery log lock").clear();
    }

    fn list(&self, workspace: &str, filter: &DeliveryFilter) -> Vec<DeliveryRecord> {
        let log = self.log.lock().expect("delivery log lock");
        log.get(workspace)
            .map(|entries| {
                entries
                    .iter()
                    .filter(|r| filter.event_id.as_ref().is_none_or(|e| *e == r.event_id))
                    .filter(|r| {
                        filter
                            .listener_id
                            .as_ref()
                            .is_none_or(|l| *l == r.listener_id)
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Filters of `GET /sim[/{ws}]/deliveries`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DeliveryFilter {
    /// Only this event's deliveries.
    #[serde(default)]
    pub event_id: Option<String>,
    /// Only this listener's deliveries.
    #[serde(default)]
    pub listener_id: Option<String>,
}

/// `GET /sim[/{ws}]/deliveries[?event-id=..&listener-id=..]`, oldest first.
pub async fn list(
    State(delivery): State<Arc<Delivery>>,
    Path(params): Path<HashMap<String, String>>,
    Query(filter): Query<DeliveryFilter>,
) -> Json<Vec<DeliveryRecord>> {
    let workspace = params.get("ws").map(String::as_str).unwrap_or(GATEWAY);
    Json(delivery.list(workspace, &filter))
}
