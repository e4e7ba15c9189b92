//! Reconcile errors: each names the step that failed, and says whether it is retried
//! with backoff or waits for the user.

use crate::admin::{AdminError, ErrorKind};
use crate::resources::conditions;

/// A failed reconcile step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the Kubernetes API failed.
    #[error("{step}: {source}")]
    Kube {
        /// What was being done, such as `writing the status`.
        step: &'static str,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// A call to the framework's admin API failed.
    #[error("{0}")]
    Admin(#[from] AdminError),
    /// A Secret or one of its keys is missing (the message names which, never a value).
    #[error("{0}")]
    SecretNotFound(String),
    /// A referenced Secret did not opt in to being read (the message names the label).
    #[error(transparent)]
    SecretNotOptedIn(#[from] crate::resources::secret_access::NotOptedIn),
    /// The FrameworkConnection is missing, not Ready, or unusable.
    #[error("{0}")]
    ConnectionNotReady(String),
    /// The resource's status holds something the operator cannot use.
    #[error("{0}")]
    InvalidState(String),
    /// The connection is slowed down after the framework asked to (429, Retry-After).
    #[error("the framework asked to slow down: retrying in {} s", .0.as_secs().max(1))]
    SlowedDown(std::time::Duration),
}

impl Error {
    /// Low-cardinality label for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Kube { .. } => "kubernetes",
            Self::Admin(e) => e.category(),
            Self::SecretNotFound(_) => "secret_not_found",
            Self::SecretNotOptedIn(_) => "secret_not_opted_in",
            Self::ConnectionNotReady(_) => "connection_not_ready",
            Self::InvalidState(_) => "invalid_state",
            Self::SlowedDown(_) => "transient",
        }
    }

    /// Whether the error is retried with backoff: it may go away without a change of
    /// the resource (a failing call, a connection not ready yet, credentials being
    /// fixed). Otherwise the user must fix something, and the resource waits for a
    /// change (Secrets are watched).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Kube { .. } | Self::ConnectionNotReady(_) | Self::SlowedDown(_) => true,
            Self::Admin(e) => matches!(e.kind(), ErrorKind::Transient | ErrorKind::Unauthorized),
            Self::SecretNotFound(_) | Self::SecretNotOptedIn(_) | Self::InvalidState(_) => false,
        }
    }

    /// The least wait before a retry: the framework's `Retry-After`, or what is left of
    /// the connection's slow-down.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Admin(e) => e.retry_after(),
            Self::SlowedDown(wait) => Some(*wait),
            _ => None,
        }
    }

    /// Whether the framework asked the whole connection to slow down (a 429, or any
    /// answer with `Retry-After`), and for how long.
    pub fn slows_connection(&self) -> Option<std::time::Duration> {
        match self {
            Self::Admin(e @ AdminError::Status { status, .. }) => match (status, e.retry_after()) {
                (_, Some(wait)) => Some(wait),
                (429, None) => Some(std::time::Duration::from_secs(1)),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether the framework could not be reached or answer
    /// ([`AdminError::is_unreachable`]): its connection then probes for its return
    /// (`ConnectionState::call_unreachable`).
    pub fn framework_unreachable(&self) -> bool {
        matches!(self, Self::Admin(e) if e.is_unreachable())
    }

    /// The `Ready` reason this error sets.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Kube { .. } | Self::SlowedDown(_) => conditions::REASON_UNAVAILABLE,
            Self::Admin(e) => match e.kind() {
                ErrorKind::Transient => conditions::REASON_UNAVAILABLE,
                ErrorKind::Unauthorized => conditions::REASON_UNAUTHORIZED,
                ErrorKind::Rejected | ErrorKind::Conflict | ErrorKind::NotFound => {
                    conditions::REASON_REJECTED
                }
            },
            Self::SecretNotFound(_) => conditions::REASON_SECRET_NOT_FOUND,
            Self::SecretNotOptedIn(_) => conditions::REASON_SECRET_NOT_OPTED_IN,
            Self::ConnectionNotReady(_) => conditions::REASON_CONNECTION_NOT_READY,
            Self::InvalidState(_) => conditions::REASON_INVALID_SPEC,
        }
    }

    /// A plan that asked for reads without end (a bug: the plan and the reads disagree).
    pub fn undecided(steps: usize) -> Self {
        Self::InvalidState(format!(
            "no decision after {steps} plan-and-act steps: please report this"
        ))
    }

    /// Wraps a Kubernetes client error with its step.
    pub fn kube(step: &'static str) -> impl FnOnce(kube::Error) -> Self {
        move |source| Self::Kube { step, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_reasons_and_categories() {
        let busy = Error::Admin(AdminError::Status {
            step: "listing",
            status: 503,
            reason: "down".into(),
            retry_after: None,
        });
        assert!(busy.is_transient());
        assert_eq!(busy.reason(), conditions::REASON_UNAVAILABLE);
        let refused = Error::Admin(AdminError::Status {
            step: "creating",
            status: 400,
            reason: "bad query".into(),
            retry_after: None,
        });
        assert!(!refused.is_transient());
        assert_eq!(refused.reason(), conditions::REASON_REJECTED);
        assert_eq!(refused.category(), "rejected");
        let secret = Error::SecretNotFound("secret ns/s has no key k".into());
        assert_eq!(secret.reason(), conditions::REASON_SECRET_NOT_FOUND);
        assert!(!secret.is_transient());
        let revoked = Error::Admin(AdminError::Status {
            step: "listing",
            status: 401,
            reason: "token revoked".into(),
            retry_after: None,
        });
        assert!(
            revoked.is_transient(),
            "a transient Unauthorized retries on its own"
        );
        assert_eq!(revoked.reason(), conditions::REASON_UNAUTHORIZED);
        let throttled = Error::Admin(AdminError::Status {
            step: "creating",
            status: 429,
            reason: "slow down".into(),
            retry_after: None,
        });
        assert_eq!(
            throttled.slows_connection(),
            Some(std::time::Duration::from_secs(1))
        );
        assert_eq!(busy.slows_connection(), None);
        let not_yet = Error::ConnectionNotReady("has not been reconciled yet".into());
        assert!(not_yet.is_transient(), "not reconciled yet is transient");
        let token_down = Error::Admin(AdminError::Token {
            url: "http://idp/token".into(),
            status: None,
            reason: "connection refused".into(),
        });
        let token_refused = Error::Admin(AdminError::Token {
            url: "http://idp/token".into(),
            status: Some(400),
            reason: "invalid_client".into(),
        });
        // Which failures mean the framework is away (its connection probes for its return).
        for (error, unreachable) in [
            (&busy, true),
            (&token_down, true),
            (&refused, false),
            (&revoked, false),
            (&throttled, false),
            (&token_refused, false),
            (&not_yet, false),
            (&secret, false),
        ] {
            assert_eq!(error.framework_unreachable(), unreachable, "{error}");
        }
    }
}
