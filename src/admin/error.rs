//! Admin API errors, classified: what is retried with backoff and what the user must fix.

use std::time::Duration;

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
    #[error("{step}: reading the answer: {source}")]
    Decode {
        /// The call.
        step: &'static str,
        /// The parse error.
        #[source]
        source: serde_json::Error,
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

    /// Whether the error is a 404.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }
}

fn classify(status: u16) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::Unauthorized,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        408 | 429 => ErrorKind::Transient,
        500.. => ErrorKind::Transient,
        _ => ErrorKind::Rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
