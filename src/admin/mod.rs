//! The framework's admin API client: one [`AdminClient`] per FrameworkConnection, with
//! its token cache, its rate limit, error classification and request metrics.
//!
//! Request and answer bodies are never logged: they may carry credentials.

pub mod error;
pub mod rate_limit;
pub mod token;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use error::{AdminError, ErrorKind, RequestSecrets};
pub use token::Credentials;

use crate::framework::model::{GatekeepingRule, HubSubscription, ListenerRegistration, TmfError};
use crate::metrics::AdminMetrics;
use crate::resources::framework_connection::RuleUpdateVerb;
use rate_limit::RateLimiter;
use token::TokenSource;

/// Timeout of one admin API request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Rate limit when the connection sets none.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 5;

const ROUTE_REGISTRATIONS: &str = "/admin/{ws}/listenerRegistrations";
const ROUTE_REGISTRATION: &str = "/admin/{ws}/listenerRegistrations/{id}";
const ROUTE_RULES: &str = "/admin/{ws}/gatekeepingRules";
const ROUTE_RULE: &str = "/admin/{ws}/gatekeepingRules/{id}";
const ROUTE_HUB: &str = "/api/{ws}/{apiName}/{apiVersion}/hub";
const ROUTE_HUB_ID: &str = "/api/{ws}/{apiName}/{apiVersion}/hub/{id}";

/// Everything needed to build a client for one framework.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Gateway base URL.
    pub gateway_url: String,
    /// Workspace segment, if any.
    pub workspace: Option<String>,
    /// The operator's credentials.
    pub credentials: Credentials,
    /// Extra trusted CAs (PEM).
    pub ca_bundle: Option<String>,
    /// Request rate limit.
    pub requests_per_second: u32,
    /// Verb of rule updates.
    pub rule_update_verb: RuleUpdateVerb,
}

/// A client of one framework's admin API.
pub struct AdminClient {
    http: reqwest::Client,
    config: ClientConfig,
    tokens: TokenSource,
    limiter: RateLimiter,
    metrics: AdminMetrics,
}

impl AdminClient {
    /// Builds a client; fails only on a bad CA bundle or gateway URL.
    pub fn new(config: ClientConfig, metrics: AdminMetrics) -> Result<Self, AdminError> {
        url::Url::parse(&config.gateway_url)
            .map_err(|e| AdminError::Config(format!("gateway URL: {e}")))?;
        let mut builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("cxf-operator/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.ca_bundle {
            let certificates = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| AdminError::Config(format!("CA bundle: {e}")))?;
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder
            .build()
            .map_err(|e| AdminError::Config(e.to_string()))?;
        Ok(Self {
            http,
            tokens: TokenSource::new(config.credentials.clone()),
            limiter: RateLimiter::new(config.requests_per_second),
            config,
            metrics,
        })
    }

    /// Whether this client was built from `config` (so it can be kept).
    pub fn is_built_from(&self, config: &ClientConfig) -> bool {
        let c = &self.config;
        c.gateway_url == config.gateway_url
            && c.workspace == config.workspace
            && c.ca_bundle == config.ca_bundle
            && c.requests_per_second == config.requests_per_second
            && c.rule_update_verb == config.rule_update_verb
            && self.tokens.uses(&config.credentials)
    }

    /// The workspace, if the connection has one.
    pub fn workspace(&self) -> Option<&str> {
        self.config.workspace.as_deref()
    }

    /// Gets a token (if OAuth), proving the credentials work.
    pub async fn check_token(&self) -> Result<(), AdminError> {
        self.tokens.token(&self.http).await.map(drop)
    }

    /// `GET listenerRegistrations`, with the documented filters (`listener-url`, ...).
    pub async fn list_registrations(
        &self,
        filters: &[(&str, &str)],
    ) -> Result<Vec<ListenerRegistration>, AdminError> {
        let url = self.admin_url(&["listenerRegistrations"]);
        self.call(
            "listing listener registrations",
            ROUTE_REGISTRATIONS,
            Method::GET,
            url,
            filters,
            None::<&()>,
        )
        .await
    }

    /// `GET listenerRegistrations/{id}`; `None` on 404.
    pub async fn get_registration(
        &self,
        id: &str,
    ) -> Result<Option<ListenerRegistration>, AdminError> {
        let url = self.admin_url(&["listenerRegistrations", id]);
        not_found_as_none(
            self.call(
                "reading a listener registration",
                ROUTE_REGISTRATION,
                Method::GET,
                url,
                &[],
                None::<&()>,
            )
            .await,
        )
    }

    /// `POST listenerRegistrations`: the created registration, with its id.
    pub async fn create_registration(
        &self,
        registration: &ListenerRegistration,
    ) -> Result<ListenerRegistration, AdminError> {
        let url = self.admin_url(&["listenerRegistrations"]);
        self.call(
            "creating a listener registration",
            ROUTE_REGISTRATIONS,
            Method::POST,
            url,
            &[],
            Some(registration),
        )
        .await
    }

    /// `PATCH listenerRegistrations/{id}` with an RFC 6902 patch.
    pub async fn patch_registration(
        &self,
        id: &str,
        patch: &json_patch::Patch,
    ) -> Result<(), AdminError> {
        let url = self.admin_url(&["listenerRegistrations", id]);
        self.call_empty(
            "patching a listener registration",
            ROUTE_REGISTRATION,
            Method::PATCH,
            url,
            Some(patch),
        )
        .await
    }

    /// `DELETE listenerRegistrations/{id}`; a 404 counts as done.
    pub async fn delete_registration(&self, id: &str) -> Result<(), AdminError> {
        let url = self.admin_url(&["listenerRegistrations", id]);
        match self
            .call_empty(
                "deleting a listener registration",
                ROUTE_REGISTRATION,
                Method::DELETE,
                url,
                None::<&()>,
            )
            .await
        {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// `POST /api/{ws}/{apiName}/{apiVersion}/hub`: the subscription with its id.
    pub async fn subscribe_hub(
        &self,
        api_name: &str,
        api_version: &str,
        subscription: &HubSubscription,
    ) -> Result<HubSubscription, AdminError> {
        let url = self.hub_url(api_name, api_version, None)?;
        self.call(
            "subscribing to a hub",
            ROUTE_HUB,
            Method::POST,
            url,
            &[],
            Some(subscription),
        )
        .await
    }

    /// `DELETE /api/{ws}/{apiName}/{apiVersion}/hub/{id}`; a 404 counts as done.
    pub async fn unsubscribe_hub(
        &self,
        api_name: &str,
        api_version: &str,
        id: &str,
    ) -> Result<(), AdminError> {
        let url = self.hub_url(api_name, api_version, Some(id))?;
        match self
            .call_empty(
                "unsubscribing from a hub",
                ROUTE_HUB_ID,
                Method::DELETE,
                url,
                None::<&()>,
            )
            .await
        {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// `GET gatekeepingRules`.
    pub async fn list_rules(&self) -> Result<Vec<GatekeepingRule>, AdminError> {
        let url = self.admin_url(&["gatekeepingRules"]);
        self.call(
            "listing gatekeeping rules",
            ROUTE_RULES,
            Method::GET,
            url,
            &[],
            None::<&()>,
        )
        .await
    }

    /// `PATCH` (or `PUT`, per the connection) `gatekeepingRules/{id}` with the whole rule.
    pub async fn update_rule(&self, id: &str, rule: &GatekeepingRule) -> Result<(), AdminError> {
        let url = self.admin_url(&["gatekeepingRules", id]);
        let method = match self.config.rule_update_verb {
            RuleUpdateVerb::Patch => Method::PATCH,
            RuleUpdateVerb::Put => Method::PUT,
        };
        self.call_empty(
            "updating a gatekeeping rule",
            ROUTE_RULE,
            method,
            url,
            Some(rule),
        )
        .await
    }

    fn admin_url(&self, segments: &[&str]) -> url::Url {
        let mut all = vec!["admin"];
        all.extend(self.config.workspace.as_deref());
        all.extend_from_slice(segments);
        self.url(&all)
    }

    fn hub_url(
        &self,
        api_name: &str,
        api_version: &str,
        id: Option<&str>,
    ) -> Result<url::Url, AdminError> {
        let workspace = self.config.workspace.as_deref().ok_or_else(|| {
            AdminError::Config(
                "the hub needs a workspace: set spec.workspace on the FrameworkConnection".into(),
            )
        })?;
        let mut all = vec!["api", workspace, api_name, api_version, "hub"];
        all.extend(id);
        Ok(self.url(&all))
    }

    fn url(&self, segments: &[&str]) -> url::Url {
        let mut url = url::Url::parse(&self.config.gateway_url).expect("checked in new");
        url.path_segments_mut()
            .expect("an http(s) URL has a path")
            .pop_if_empty()
            .extend(segments);
        url
    }

    async fn call<T: DeserializeOwned>(
        &self,
        step: &'static str,
        route: &'static str,
        method: Method,
        url: url::Url,
        query: &[(&str, &str)],
        body: Option<&impl Serialize>,
    ) -> Result<T, AdminError> {
        let (answer, secrets) = self.send(step, route, method, url, query, body).await?;
        let bytes = answer
            .bytes()
            .await
            .map_err(|source| AdminError::Transport { step, source })?;
        decode(step, &bytes, &secrets)
    }

    async fn call_empty(
        &self,
        step: &'static str,
        route: &'static str,
        method: Method,
        url: url::Url,
        body: Option<&impl Serialize>,
    ) -> Result<(), AdminError> {
        self.send(step, route, method, url, &[], body)
            .await
            .map(drop)
    }

    /// Sends one request (rate limited, with a bearer token; once more with a new token
    /// after a 401) and turns an error status, or a 206 (a partial list: transient), into
    /// [`AdminError::Status`], scrubbed of the request's secret values (which are
    /// returned, for scrubbing the answer).
    ///
    /// The request waits for its rate-limiter turn first and takes its token after: a
    /// token fetched before the wait could expire while the request queues. A 429 slows
    /// every request of the connection ([`RateLimiter::throttled`]).
    async fn send(
        &self,
        step: &'static str,
        route: &'static str,
        method: Method,
        url: url::Url,
        query: &[(&str, &str)],
        body: Option<&impl Serialize>,
    ) -> Result<(reqwest::Response, RequestSecrets), AdminError> {
        let mut secrets = self.tokens.secrets();
        if let Some(body) = body {
            secrets.add_from_body(&serde_json::to_value(body).unwrap_or_default());
        }
        let mut retried = false;
        loop {
            self.limiter.acquire().await;
            let token = self.tokens.token(&self.http).await?;
            secrets.add(token.expose());
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose())
                .query(query);
            if let Some(body) = body {
                request = request.json(body);
            }
            let started = Instant::now();
            let answer = request.send().await;
            let status = answer.as_ref().ok().map(|a| a.status().as_u16());
            self.metrics
                .observe(route, method_label(&method), status, started.elapsed());
            let answer = answer.map_err(|source| AdminError::Transport {
                step,
                source: source.without_url(),
            })?;
            let status = answer.status();
            if status == StatusCode::PARTIAL_CONTENT {
                // One page of a longer collection (TMF 630 paging): acting on it as the
                // whole would take the objects of the other pages for gone.
                return Err(AdminError::Status {
                    step,
                    status: status.as_u16(),
                    reason:
                        "a partial list (Partial Content); the operator acts only on a complete one"
                            .into(),
                    retry_after: None,
                });
            }
            if status.is_success() {
                self.limiter.succeeded();
                return Ok((answer, secrets));
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.limiter.throttled(retry_after(answer.headers()));
            }
            if status == StatusCode::UNAUTHORIZED && !retried {
                self.tokens.invalidate().await;
                retried = true;
                continue;
            }
            return Err(status_error(step, answer, &secrets).await);
        }
    }
}

/// Parses a JSON answer straight into `T` (no `serde_json::Value` in between, which for a
/// list of thousands of objects was the largest allocation of a drift check); a parse
/// error is scrubbed of `secrets`.
fn decode<T: DeserializeOwned>(
    step: &'static str,
    bytes: &[u8],
    secrets: &RequestSecrets,
) -> Result<T, AdminError> {
    serde_json::from_slice(bytes).map_err(|e| AdminError::Decode {
        step,
        reason: secrets.scrub(&e.to_string()),
    })
}

fn not_found_as_none<T>(result: Result<T, AdminError>) -> Result<Option<T>, AdminError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

async fn status_error(
    step: &'static str,
    answer: reqwest::Response,
    secrets: &RequestSecrets,
) -> AdminError {
    let status = answer.status();
    let retry_after = retry_after(answer.headers());
    let reason = match answer.json::<TmfError>().await {
        Ok(tmf) => {
            let mut reason = tmf.reason;
            if let Some(message) = tmf.message {
                reason = format!("{reason}: {message}");
            }
            secrets.scrub(&reason)
        }
        Err(_) => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    AdminError::Status {
        step,
        status: status.as_u16(),
        reason,
        retry_after,
    }
}

/// `Retry-After` in seconds, if the answer carries one.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests;
