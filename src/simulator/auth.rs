//! API clients, the OAuth 2.0 client-credentials token endpoint and the check of every
//! admin request's credentials (bearer token, or HTTP basic where the framework allows
//! it: listener registrations and the hub).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;

use super::SimulatorError;
use super::api_error::ApiError;
use super::faults::{Route, classify};
use crate::framework::model::SecretValue;

/// A client allowed to call the admin API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiClient {
    /// Client id (the OAuth `client_id`, or the basic user name).
    pub id: String,
    /// Client secret (the OAuth `client_secret`, or the basic password).
    pub secret: SecretValue,
    /// Workspaces the client may use; absent or containing `*`: all of them. The
    /// gateway form (`/admin/...` without a workspace) is written `""`.
    #[serde(default)]
    pub workspaces: Option<Vec<String>>,
}

impl ApiClient {
    fn allows(&self, workspace: &str) -> bool {
        self.workspaces
            .as_ref()
            .is_none_or(|list| list.iter().any(|ws| ws == "*" || ws == workspace))
    }
}

/// Reads a clients file: a YAML (or JSON) list of `{id, secret, workspaces}`.
pub fn load_clients(path: &Path) -> Result<Vec<ApiClient>, SimulatorError> {
    let text = std::fs::read_to_string(path).map_err(|source| SimulatorError::ReadClients {
        path: path.to_owned(),
        source,
    })?;
    let deserializer = serde_yaml::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(deserializer).map_err(|err| SimulatorError::ParseClients {
        path: path.to_owned(),
        message: format!("{}: {}", err.path(), err.inner()),
    })
}

/// The clients and the bearer tokens issued to them (no `Debug`: it holds tokens).
pub struct Auth {
    enabled: bool,
    clients: Vec<ApiClient>,
    token_ttl: Duration,
    tokens: Mutex<HashMap<String, IssuedToken>>,
}

#[derive(Debug)]
struct IssuedToken {
    client: usize,
    expires: Instant,
}

impl Auth {
    /// Checks credentials against `clients`; tokens live `token_ttl`. With `enabled`
    /// false every admin request is accepted.
    pub fn new(enabled: bool, clients: Vec<ApiClient>, token_ttl: Duration) -> Self {
        Self {
            enabled,
            clients,
            token_ttl,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, id: &str, secret: &str) -> Option<usize> {
        self.clients
            .iter()
            .position(|c| c.id == id && c.secret.expose() == secret)
    }

    fn issue(&self, client: usize) -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let now = Instant::now();
        let mut tokens = self.tokens.lock().expect("token table lock");
        tokens.retain(|_, t| t.expires > now);
        tokens.insert(
            token.clone(),
            IssuedToken {
                client,
                expires: now + self.token_ttl,
            },
        );
        token
    }

    /// Which client the request's `Authorization` header authenticates, or why not.
    fn authenticate(&self, headers: &HeaderMap, route: Route) -> Result<usize, ApiError> {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return Err(unauthorized(
                "missing Authorization header: send a bearer token from POST /oauth2/token",
            ));
        };
        if let Some(token) = strip_scheme(value, "Bearer") {
            let tokens = self.tokens.lock().expect("token table lock");
            return match tokens.get(token.trim()) {
                None => Err(unauthorized(
                    "unknown bearer token: fetch one from POST /oauth2/token",
                )),
                Some(issued) if issued.expires <= Instant::now() => Err(unauthorized(
                    "the bearer token expired: fetch a new one from POST /oauth2/token",
                )),
                Some(issued) => Ok(issued.client),
            };
        }
        if let Some(encoded) = strip_scheme(value, "Basic") {
            if !matches!(route, Route::ListenerRegistrations | Route::Hub) {
                return Err(unauthorized(
                    "HTTP basic authentication is accepted only by listenerRegistrations and the hub: send a bearer token",
                ));
            }
            return decode_basic(encoded)
                .and_then(|(id, secret)| self.client(&id, &secret))
                .ok_or_else(|| unauthorized("wrong client id or secret in the basic credentials"));
        }
        Err(unauthorized(
            "unsupported Authorization scheme: send Bearer <token> (or Basic where allowed)",
        ))
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then_some(rest)
}

fn decode_basic(encoded: &str) -> Option<(String, String)> {
    let bytes = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Middleware on the admin and hub routes: 401 without valid credentials, 403 for a
/// client not allowed in the request's workspace.
pub async fn require_auth(State(auth): State<Arc<Auth>>, request: Request, next: Next) -> Response {
    if !auth.enabled {
        return next.run(request).await;
    }
    let Some((route, workspace)) = classify(request.uri().path()) else {
        return next.run(request).await;
    };
    match auth.authenticate(request.headers(), route) {
        Err(err) => {
            let mut response = err.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cxf-simulator\""),
            );
            response
        }
        Ok(client) if !auth.clients[client].allows(&workspace) => ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "client '{}' may not use workspace '{workspace}'",
                auth.clients[client].id
            ),
        )
        .into_response(),
        Ok(_) => next.run(request).await,
    }
}

/// `POST /oauth2/token`: the client-credentials grant (RFC 6749 §4.4). The client
/// authenticates with HTTP basic or with `client_id`/`client_secret` in the form.
pub async fn token(State(auth): State<Arc<Auth>>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        );
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| strip_scheme(v, "Basic"))
        .and_then(decode_basic);
    let credentials = basic.or_else(|| {
        Some((
            form.get("client_id")?.clone(),
            form.get("client_secret")?.clone(),
        ))
    });
    let Some(client) = credentials.and_then(|(id, secret)| auth.client(&id, &secret)) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    };
    let access_token = auth.issue(client);
    let mut response = Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": auth.token_ttl.as_secs(),
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        let client = ApiClient {
            id: "ops".into(),
            secret: SecretValue::new("s3cret"),
            workspaces: Some(vec!["01".into()]),
        };
        Auth::new(true, vec![client], Duration::from_secs(60))
    }

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn bearer_tokens_authenticate_until_they_expire() {
        let auth = auth();
        let token = auth.issue(0);
        let bearer = headers(&format!("Bearer {token}"));
        assert_eq!(
            auth.authenticate(&bearer, Route::GatekeepingRules).unwrap(),
            0
        );
        auth.tokens.lock().unwrap().get_mut(&token).unwrap().expires = Instant::now();
        let err = auth
            .authenticate(&bearer, Route::GatekeepingRules)
            .unwrap_err();
        assert!(err.message().contains("expired"));
    }

    #[test]
    fn basic_is_accepted_only_where_the_framework_allows_it() {
        let auth = auth();
        let basic = headers(&format!("Basic {}", STANDARD.encode("ops:s3cret")));
        assert_eq!(auth.authenticate(&basic, Route::Hub).unwrap(), 0);
        assert!(auth.authenticate(&basic, Route::GatekeepingRules).is_err());
        let wrong = headers(&format!("Basic {}", STANDARD.encode("ops:nope")));
        assert!(auth.authenticate(&wrong, Route::Hub).is_err());
    }

    #[test]
    fn workspaces_restrict_clients() {
        let auth = auth();
        assert!(auth.clients[0].allows("01"));
        assert!(!auth.clients[0].allows("02"));
        assert!(!auth.clients[0].allows(""));
    }
}
