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
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(Box<kube::runtime::finalizer::Error<Error>>),
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
            Self::Finalizer(e) => match e.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.category(),
                _ => "kubernetes",
            },
        }
    }

    /// Whether retrying without a change can help (else the user must fix something,
    /// and the resource waits for a change).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Kube { .. } => true,
            Self::Admin(e) => e.kind() == ErrorKind::Transient,
            Self::SecretNotFound(_)
            | Self::SecretNotOptedIn(_)
            | Self::ConnectionNotReady(_)
            | Self::InvalidState(_) => false,
            Self::Finalizer(e) => match e.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.is_transient(),
                _ => true,
            },
        }
    }

    /// The `Ready` reason this error sets.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Kube { .. } | Self::Finalizer(_) => conditions::REASON_UNAVAILABLE,
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
    }
}
