//! Admin API errors, classified: what is retried with backoff and what the user must fix.
//!
//! Error text goes into status conditions, Events and logs, so it never carries a secret
//! value. The framework's (or token endpoint's) answer is untrusted text: it may echo
//! the request. Before any of it is stored in an error, [`RequestSecrets::scrub`]
//! replaces every secret value the request carried (the connection's client secret or
//! bearer token, the access token sent, the client secrets and passwords of the body),
//! raw and in the encodings an echo may use (JSON string, form and percent encoding,
//! base64), by `<redacted>`, and cuts the result to [`MAX_REASON_CHARS`] characters on
//! one line.

use std::time::Duration;

use base64::Engine;

/// How the controllers treat an admin API error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 5xx, 429, a timeout, a connection failure: retried with backoff.
    Transient,
    /// 401/403: the connection's credentials are wrong.
    Unauthorized,
    /// 400/422 and other 4xx: the request is wrong, the spec must change.
    Rejected,
    /// 404.
    NotFound,
    /// 409.
    Conflict,
}

/// A failed admin API call. Messages name the step and never carry a secret value: the
/// framework's answer is reduced to its TMF `reason` and `message`.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request could not be sent or its answer not received.
    #[error("{step}: {source}")]
    Transport {
        /// The call, such as `creating a listener registration`.
        step: &'static str,
        /// The HTTP client's error (its URL holds no secret).
        #[source]
        source: reqwest::Error,
    },
    /// The framework answered with an error status.
    #[error("{step}: the framework answered {status}: {reason}")]
    Status {
        /// The call.
        step: &'static str,
        /// HTTP status code.
        status: u16,
        /// The TMF error's reason and message, or the status text.
        reason: String,
        /// `Retry-After`, when the answer carried one.
        retry_after: Option<Duration>,
    },
    /// The answer was not the JSON expected.
    #[error("{step}: reading the answer: {reason}")]
    Decode {
        /// The call.
        step: &'static str,
        /// The parse error, scrubbed (serde quotes the values it could not read).
        reason: String,
    },
    /// The token endpoint refused or failed.
    #[error("getting a token from {url}: {reason}")]
    Token {
        /// The token URL.
        url: String,
        /// HTTP status, when the endpoint answered.
        status: Option<u16>,
        /// What went wrong.
        reason: String,
    },
    /// The connection's settings cannot make a client.
    #[error("building the admin API client: {0}")]
    Config(String),
}

impl AdminError {
    /// How the controllers treat the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Transport { .. } | Self::Decode { .. } => ErrorKind::Transient,
            Self::Status { status, .. } => classify(*status),
            Self::Token { status: None, .. } => ErrorKind::Transient,
            Self::Token {
                status: Some(status),
                ..
            } => match classify(*status) {
                ErrorKind::Transient => ErrorKind::Transient,
                _ => ErrorKind::Unauthorized,
            },
            Self::Config(_) => ErrorKind::Rejected,
        }
    }

    /// Low-cardinality label for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        match self.kind() {
            ErrorKind::Transient => "transient",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Rejected => "rejected",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
        }
    }

    /// The wait the framework asked for (429 or 503 with `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the framework could not be reached or could not answer (no answer, a
    /// 408, a 5xx, from the admin API or its token endpoint): the next call may well
    /// succeed once it is back. A 429, a 206 or a refusal is an answer.
    pub fn is_unreachable(&self) -> bool {
        let failed = |status: u16| status == 408 || status >= 500;
        match self {
            Self::Transport { .. } => true,
            Self::Status { status, .. } => failed(*status),
            Self::Token { status, .. } => status.is_none_or(failed),
            Self::Decode { .. } | Self::Config(_) => false,
        }
    }

    /// Whether the error is a 404.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }
}

/// The most characters of the framework's text kept in an error.
pub const MAX_REASON_CHARS: usize = 300;

/// What replaces a secret value in error text.
pub const REDACTED: &str = "<redacted>";

/// Keys whose string values are secrets, in request bodies (the framework's kebab-case,
/// and the camelCase and snake_case spellings an answer may echo).
const SECRET_KEYS: &[&str] = &[
    "client-secret",
    "clientSecret",
    "client_secret",
    "password",
    "access_token",
    "access-token",
    "token",
    "refresh_token",
];

/// Every secret value one request carried, to be scrubbed from the answer's text.
#[derive(Clone, Default)]
pub struct RequestSecrets {
    /// The forms to replace, longest first once [`Self::scrub`] runs.
    forms: Vec<String>,
}

impl std::fmt::Debug for RequestSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RequestSecrets({} forms)", self.forms.len())
    }
}

impl RequestSecrets {
    /// Adds `value` (if not empty), with its encodings.
    pub fn add(&mut self, value: &str) {
        if value.is_empty() {
            return;
        }
        let json = serde_json::to_string(value).unwrap_or_default();
        let forms = [
            value.to_owned(),
            json.trim_matches('"').to_owned(),
            url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
            base64::engine::general_purpose::STANDARD.encode(value),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value),
        ];
        for form in forms {
            if !form.is_empty() && !self.forms.contains(&form) {
                self.forms.push(form);
            }
        }
    }

    /// Adds the string values of `body` found under [`SECRET_KEYS`], and the `value` of
    /// RFC 6902 operations whose `path` ends with one of them.
    pub fn add_from_body(&mut self, body: &serde_json::Value) {
        self.collect(body, false);
    }

    fn collect(&mut self, value: &serde_json::Value, secret: bool) {
        match value {
            serde_json::Value::String(s) if secret => self.add(s),
            serde_json::Value::Array(items) => {
                for item in items {
                    self.collect(item, secret);
                }
            }
            serde_json::Value::Object(map) => {
                let patched_secret = map
                    .get("path")
                    .and_then(|p| p.as_str())
                    .and_then(|p| p.rsplit('/').next())
                    .is_some_and(is_secret_key);
                for (key, item) in map {
                    let under_secret =
                        secret || is_secret_key(key) || (patched_secret && key == "value");
                    self.collect(item, under_secret);
                }
            }
            _ => {}
        }
    }

    /// `text` without any secret value of the request, on one line, at most
    /// [`MAX_REASON_CHARS`] characters.
    pub fn scrub(&self, text: &str) -> String {
        let mut forms: Vec<&String> = self.forms.iter().collect();
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        let mut text = text.to_owned();
        for form in forms {
            if text.contains(form.as_str()) {
                text = text.replace(form.as_str(), REDACTED);
            }
        }
        let line = text.replace(['\n', '\r'], " ");
        if line.chars().count() <= MAX_REASON_CHARS {
            return line;
        }
        let mut cut: String = line.chars().take(MAX_REASON_CHARS - 3).collect();
        cut.push_str("...");
        cut
    }
}

fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
}

fn classify(status: u16) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::Unauthorized,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        206 | 408 | 429 => ErrorKind::Transient,
        500.. => ErrorKind::Transient,
        _ => ErrorKind::Rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_SECRET: &str = "s3cr3t+/=&x y";
    const PASSWORD: &str = "p@ss w0rd\"q";
    const TOKEN: &str = "tok-abc123";

    fn leaks(text: &str) -> Vec<&'static str> {
        [CLIENT_SECRET, PASSWORD, TOKEN]
            .into_iter()
            .filter(|secret| {
                let mut forms = RequestSecrets::default();
                forms.add(secret);
                forms.forms.iter().any(|form| text.contains(form.as_str()))
            })
            .collect()
    }

    #[test]
    fn scrub_removes_each_secret_in_every_encoding() {
        let mut secrets = RequestSecrets::default();
        secrets.add(CLIENT_SECRET);
        secrets.add(PASSWORD);
        secrets.add("");
        let json = serde_json::to_string(PASSWORD).unwrap();
        let form: String = url::form_urlencoded::byte_serialize(CLIENT_SECRET.as_bytes()).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(CLIENT_SECRET);
        let text = format!("raw {CLIENT_SECRET} json {json} form {form} b64 {b64}\nnext line");
        let scrubbed = secrets.scrub(&text);
        assert!(leaks(&scrubbed).is_empty(), "{scrubbed}");
        assert_eq!(
            scrubbed,
            "raw <redacted> json \"<redacted>\" form <redacted> b64 <redacted> next line"
        );
    }

    #[test]
    fn scrub_cuts_long_text_after_removing_secrets() {
        let mut secrets = RequestSecrets::default();
        secrets.add(TOKEN);
        let text = format!(
            "{}{TOKEN}{}",
            "é".repeat(MAX_REASON_CHARS - 5),
            "x".repeat(50)
        );
        let scrubbed = secrets.scrub(&text);
        assert_eq!(scrubbed.chars().count(), MAX_REASON_CHARS);
        assert!(
            scrubbed.ends_with("...") && !scrubbed.contains("tok-"),
            "{scrubbed}"
        );
    }

    #[test]
    fn secrets_are_found_in_bodies_and_json_patches() {
        let mut secrets = RequestSecrets::default();
        secrets.add_from_body(&serde_json::json!({
            "listener-locality": {"external-listener": {"listener-url": "http://l",
                "listener-auth": {"oidc-client-credentials": {"identity-uri": "https://idp",
                    "client-id": "tax-client", "client-secret": CLIENT_SECRET}}}},
        }));
        secrets.add_from_body(&serde_json::json!([
            {"op": "replace", "path": "/listener-locality/external-listener/listener-auth/basic/password", "value": PASSWORD},
            {"op": "replace", "path": "/affiliated-apis/0/query", "value": "/a pr"},
        ]));
        let scrubbed = secrets.scrub(&format!(
            "{CLIENT_SECRET} {PASSWORD} tax-client /a pr http://l"
        ));
        assert_eq!(scrubbed, "<redacted> <redacted> tax-client /a pr http://l");
    }

    /// A framework that echoes every request it gets (body, form and Authorization
    /// header) in its error answers, the worst case for error text.
    mod echoing_framework {
        use axum::Router;
        use axum::http::{HeaderMap, StatusCode};
        use axum::routing::{patch, post};

        use super::*;
        use crate::admin::{AdminClient, ClientConfig, Credentials};
        use crate::framework::model::{
            BasicAuth, ExternalListener, ListenerAuth, ListenerLocality, ListenerRegistration,
            ListenerType, SecretValue,
        };
        use crate::metrics::Metrics;
        use crate::resources::framework_connection::RuleUpdateVerb;

        fn echo(headers: &HeaderMap, body: &str) -> String {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            format!("you sent {body} with {auth}")
        }

        async fn start(token_status: StatusCode) -> String {
            let app = Router::new()
                .route(
                    "/oauth2/token",
                    post(move |headers: HeaderMap, body: String| async move {
                        if token_status.is_success() {
                            (token_status, format!(r#"{{"access_token": "{TOKEN}", "expires_in": 3600}}"#))
                        } else {
                            (token_status, format!(r#"{{"error": "invalid_client", "error_description": {}}}"#,
                                serde_json::to_string(&echo(&headers, &body)).unwrap()))
                        }
                    }),
                )
                .route(
                    "/admin/01/listenerRegistrations",
                    post(|headers: HeaderMap, body: String| async move {
                        let tmf = serde_json::json!({"code": "400", "reason": "Bad request", "message": echo(&headers, &body)});
                        (StatusCode::BAD_REQUEST, tmf.to_string())
                    }),
                )
                .route(
                    "/admin/01/listenerRegistrations/{id}",
                    patch(|headers: HeaderMap, body: String| async move {
                        // A success whose answer is not what was expected, quoting the request.
                        (StatusCode::OK, serde_json::to_string(&echo(&headers, &body)).unwrap())
                    })
                    .get(|headers: HeaderMap| async move {
                        (StatusCode::OK, serde_json::to_string(&echo(&headers, "")).unwrap())
                    }),
                );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            format!("http://{addr}")
        }

        fn client(gateway: &str) -> AdminClient {
            let config = ClientConfig {
                gateway_url: gateway.to_owned(),
                workspace: Some("01".into()),
                credentials: Credentials::OAuth {
                    token_url: format!("{gateway}/oauth2/token"),
                    client_id: "operator".into(),
                    client_secret: SecretValue::new(CLIENT_SECRET),
                    scope: None,
                },
                ca_bundle: None,
                requests_per_second: 1000,
                rule_update_verb: RuleUpdateVerb::Patch,
            };
            AdminClient::new(config, Metrics::default().admin).unwrap()
        }

        fn registration() -> ListenerRegistration {
            ListenerRegistration {
                id: None,
                affiliated_apis: Vec::new(),
                listener_locality: ListenerLocality {
                    external_listener: ExternalListener {
                        listener_url: "http://tax".into(),
                        listener_auth: Some(ListenerAuth::Basic(BasicAuth {
                            username: "admin".into(),
                            password: Some(SecretValue::new(PASSWORD)),
                        })),
                    },
                },
                listener_type: ListenerType::External,
            }
        }

        #[tokio::test]
        async fn a_refusal_quoting_the_request_keeps_no_secret() {
            let gateway = start(StatusCode::OK).await;
            let error = client(&gateway)
                .create_registration(&registration())
                .await
                .unwrap_err();
            let text = error.to_string();
            assert!(
                text.contains("the framework answered 400: Bad request: you sent"),
                "{text}"
            );
            assert!(text.contains("<redacted>"), "{text}");
            assert!(leaks(&text).is_empty(), "{text}");
        }

        #[tokio::test]
        async fn an_unexpected_answer_quoting_the_request_keeps_no_secret() {
            let gateway = start(StatusCode::OK).await;
            let admin = client(&gateway);
            let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
                {"op": "replace", "path": "/listener-locality/external-listener/listener-auth",
                 "value": {"basic": {"username": "admin", "password": PASSWORD}}},
            ]))
            .unwrap();
            admin.patch_registration("lr-1", &patch).await.unwrap();
            let error = admin.get_registration("lr-1").await.unwrap_err();
            let text = error.to_string();
            assert!(
                text.contains("reading the answer: invalid type: string"),
                "{text}"
            );
            assert!(leaks(&text).is_empty(), "{text}");
        }

        #[tokio::test]
        async fn a_token_endpoint_quoting_the_request_keeps_no_secret() {
            let gateway = start(StatusCode::UNAUTHORIZED).await;
            let error = client(&gateway).check_token().await.unwrap_err();
            let text = error.to_string();
            assert!(text.starts_with("getting a token from"), "{text}");
            assert!(leaks(&text).is_empty(), "{text}");
        }
    }

    fn status(status: u16) -> AdminError {
        AdminError::Status {
            step: "listing",
            status,
            reason: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(status(503).kind(), ErrorKind::Transient);
        assert_eq!(status(429).category(), "transient");
        assert_eq!(status(401).kind(), ErrorKind::Unauthorized);
        assert_eq!(status(400).kind(), ErrorKind::Rejected);
        assert_eq!(status(404).kind(), ErrorKind::NotFound);
        assert_eq!(status(409).category(), "conflict");
        let token = AdminError::Token {
            url: "u".into(),
            status: Some(400),
            reason: "invalid_client".into(),
        };
        assert_eq!(token.kind(), ErrorKind::Unauthorized);
    }
}
