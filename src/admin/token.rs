//! The operator's credentials to the admin API, and the OAuth token cache: a token is
//! fetched once and reused until shortly before it expires.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::{AdminError, RequestSecrets};
use crate::framework::model::SecretValue;

/// How long before its expiry a token stops being reused.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// Lifetime assumed when the token answer has no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// The operator's credentials (values already read from their Secrets).
#[derive(Clone, Debug)]
pub enum Credentials {
    /// OAuth 2.0 client credentials grant.
    OAuth {
        /// Token endpoint.
        token_url: String,
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: SecretValue,
        /// Scope, if any.
        scope: Option<String>,
    },
    /// A fixed bearer token.
    Bearer(SecretValue),
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: SecretValue,
    #[serde(default)]
    expires_in: Option<u64>,
}

struct Cached {
    token: SecretValue,
    reuse_until: Instant,
}

/// Hands out bearer tokens, fetching an OAuth token only when none is fresh.
pub struct TokenSource {
    credentials: Credentials,
    cached: Mutex<Option<Cached>>,
}

impl TokenSource {
    /// A source for `credentials`.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            cached: Mutex::new(None),
        }
    }

    /// Whether `credentials` are the ones this source uses.
    pub fn uses(&self, credentials: &Credentials) -> bool {
        match (&self.credentials, credentials) {
            (Credentials::Bearer(a), Credentials::Bearer(b)) => a == b,
            (
                Credentials::OAuth {
                    token_url,
                    client_id,
                    client_secret,
                    scope,
                },
                Credentials::OAuth {
                    token_url: u,
                    client_id: c,
                    client_secret: s,
                    scope: sc,
                },
            ) => token_url == u && client_id == c && client_secret == s && scope == sc,
            _ => false,
        }
    }

    /// The secret values these credentials send (client secret or bearer token), for
    /// scrubbing answers.
    pub fn secrets(&self) -> RequestSecrets {
        let mut secrets = RequestSecrets::default();
        match &self.credentials {
            Credentials::Bearer(token) => secrets.add(token.expose()),
            Credentials::OAuth { client_secret, .. } => secrets.add(client_secret.expose()),
        }
        secrets
    }

    /// A bearer token: the cached one while fresh, else a new one.
    pub async fn token(&self, http: &reqwest::Client) -> Result<SecretValue, AdminError> {
        let (token_url, client_id, client_secret, scope) = match &self.credentials {
            Credentials::Bearer(token) => return Ok(token.clone()),
            Credentials::OAuth {
                token_url,
                client_id,
                client_secret,
                scope,
            } => (token_url, client_id, client_secret, scope),
        };
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.reuse_until) {
            return Ok(c.token.clone());
        }
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", client_secret.expose()),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let secrets = self.secrets();
        let fail = |status: Option<u16>, reason: String| AdminError::Token {
            url: secrets.scrub(token_url),
            status,
            reason: secrets.scrub(&reason),
        };
        let answer = http
            .post(token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| fail(None, e.without_url().to_string()))?;
        let status = answer.status();
        if !status.is_success() {
            return Err(fail(Some(status.as_u16()), format!("status {status}")));
        }
        let body: TokenAnswer = answer
            .json()
            .await
            .map_err(|e| fail(Some(status.as_u16()), format!("reading the token: {e}")))?;
        let lifetime = body
            .expires_in
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        let reuse_for =
            lifetime.saturating_sub(EXPIRY_MARGIN.min(lifetime / 10 + Duration::from_secs(1)));
        *cached = Some(Cached {
            token: body.access_token.clone(),
            reuse_until: Instant::now() + reuse_for,
        });
        Ok(body.access_token)
    }

    /// Forgets the cached token (after the admin API refused it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}
