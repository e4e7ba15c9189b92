//! `status.conditions`: the `Ready` condition and the reasons it can carry, and a
//! FrameworkConnection's `Reachable`.
//!
//! Reasons are `pub const &str` so that the controllers, the docs and the tests agree
//! on them; they are low-cardinality and double as the `reason` of Events.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// The one condition type every resource of this operator reports.
pub const READY: &str = "Ready";
/// FrameworkConnection: whether its framework answers the drift lists (beside `Ready`,
/// which speaks for the credentials and settings and stays True in an outage).
pub const REACHABLE: &str = "Reachable";
/// Reachable=True: the last drift list was answered, or none failed.
pub const REASON_ANSWERED: &str = "Answered";
/// Reachable=False: a drift list could not reach the framework, and none was answered
/// since.
pub const REASON_UNREACHABLE: &str = "Unreachable";

/// Ready=True: the framework object matches the resource.
pub const REASON_RECONCILED: &str = "Reconciled";
/// Ready=True (FrameworkConnection): a token was obtained and a read call succeeded.
pub const REASON_CONNECTED: &str = "Connected";
/// The referenced FrameworkConnection does not exist or is not Ready.
pub const REASON_CONNECTION_NOT_READY: &str = "ConnectionNotReady";
/// A referenced Secret or one of its keys is missing.
pub const REASON_SECRET_NOT_FOUND: &str = "SecretNotFound";
/// A referenced Secret lacks the opt-in label `cxf.dev/credentials: "true"`, so the
/// operator does not read it (see [`super::secret_access`]).
pub const REASON_SECRET_NOT_OPTED_IN: &str = "SecretNotOptedIn";
/// The admin API refused the credentials of the connection (401/403).
pub const REASON_UNAUTHORIZED: &str = "Unauthorized";
/// The admin API refused the request as invalid (400, 422): the spec must be fixed.
pub const REASON_REJECTED: &str = "Rejected";
/// The admin API could not be reached or failed (5xx, timeout, 429); retried with backoff.
pub const REASON_UNAVAILABLE: &str = "Unavailable";
/// A create may have reached the framework but its answer was lost, and the framework
/// holds several candidates: the user must pick one with the `cxf.dev/external-id`
/// annotation.
pub const REASON_AMBIGUOUS_CREATE: &str = "AmbiguousCreate";
/// The framework object named by `cxf.dev/external-id` does not exist.
pub const REASON_ADOPT_TARGET_NOT_FOUND: &str = "AdoptTargetNotFound";
/// GatekeepingRule: no rule, or more than one, matches the selector.
pub const REASON_RULE_NOT_FOUND: &str = "RuleNotFound";
/// GatekeepingRule: several rules match the endpoint name.
pub const REASON_RULE_AMBIGUOUS: &str = "RuleAmbiguous";
/// GatekeepingRule: the change asks for something the framework forbids.
pub const REASON_FORBIDDEN_CHANGE: &str = "ForbiddenChange";
/// GatekeepingRule: another resource already takes charge of the same rule.
pub const REASON_CONFLICT: &str = "Conflict";
/// GatekeepingRule: a referenced ListenerRegistration has no framework id yet.
pub const REASON_LISTENER_NOT_READY: &str = "ListenerNotReady";
/// The resource's spec is invalid in a way the schema cannot express.
pub const REASON_INVALID_SPEC: &str = "InvalidSpec";

/// Builds the `Ready` condition for `generation`.
pub fn ready(
    ready: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) -> Condition {
    condition(READY, ready, reason, message.into(), generation)
}

/// A condition of `type_` for `generation`, its transition time now (see [`merge`]).
fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: generation,
        last_transition_time: Time(Timestamp::now()),
    }
}

/// Builds a FrameworkConnection's `Reachable` condition: `outage` is the error of the
/// drift list that found its framework unreachable, while no list was answered since.
pub fn reachable(outage: Option<&str>, generation: Option<i64>) -> Condition {
    match outage {
        None => condition(
            REACHABLE,
            true,
            REASON_ANSWERED,
            "the admin API answers the drift lists".to_owned(),
            generation,
        ),
        Some(error) => condition(
            REACHABLE,
            false,
            REASON_UNREACHABLE,
            format!(
                "the admin API does not answer ({error}): the resources using this connection are retried as soon as it answers"
            ),
            generation,
        ),
    }
}

/// Merges `new` into `existing` conditions: a condition whose status did not change
/// keeps its `lastTransitionTime`, so that a steady state writes identical status.
pub fn merge(existing: &[Condition], new: Condition) -> Vec<Condition> {
    let mut out: Vec<Condition> = existing
        .iter()
        .filter(|c| c.type_ != new.type_)
        .cloned()
        .collect();
    let kept = existing
        .iter()
        .find(|c| c.type_ == new.type_ && c.status == new.status)
        .map(|c| c.last_transition_time.clone());
    out.push(Condition {
        last_transition_time: kept.unwrap_or(new.last_transition_time.clone()),
        ..new
    });
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

/// Whether `conditions` hold `Ready=True`.
pub fn is_ready(conditions: &[Condition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == READY && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_condition_carries_reason_and_generation() {
        let c = ready(
            false,
            REASON_SECRET_NOT_FOUND,
            "secret a/b missing",
            Some(3),
        );
        assert_eq!(c.type_, READY);
        assert_eq!(c.status, "False");
        assert_eq!(c.reason, REASON_SECRET_NOT_FOUND);
        assert_eq!(c.observed_generation, Some(3));
        assert!(!is_ready(&[c]));
    }

    #[test]
    fn reachable_says_whether_the_framework_answers_and_why_not() {
        let up = reachable(None, Some(2));
        assert_eq!(
            (up.type_.as_str(), up.status.as_str(), up.reason.as_str()),
            (REACHABLE, "True", REASON_ANSWERED)
        );
        let down = reachable(
            Some("listing listener registrations: error sending request"),
            Some(2),
        );
        assert_eq!(
            (down.status.as_str(), down.reason.as_str()),
            ("False", REASON_UNREACHABLE)
        );
        assert!(
            down.message
                .contains("(listing listener registrations: error sending request)"),
            "{}",
            down.message
        );
        // Beside Ready, in a stable order, so a steady state writes nothing.
        let both = merge(
            &merge(&[], ready(true, REASON_CONNECTED, "ok", Some(2))),
            up,
        );
        let types: Vec<&str> = both.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [REACHABLE, READY]);
        assert!(is_ready(&merge(&both, down)));
    }

    #[test]
    fn merge_keeps_transition_time_when_status_is_unchanged() {
        let mut first = ready(true, REASON_RECONCILED, "ok", Some(1));
        first.last_transition_time = Time("2020-01-01T00:00:00Z".parse().unwrap());
        let merged = merge(
            &[first.clone()],
            ready(true, REASON_RECONCILED, "ok", Some(2)),
        );
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].last_transition_time, first.last_transition_time);
        assert_eq!(merged[0].observed_generation, Some(2));
        assert!(is_ready(&merged));

        let flipped = merge(&merged, ready(false, REASON_UNAVAILABLE, "down", Some(2)));
        assert_ne!(flipped[0].last_transition_time, first.last_transition_time);
        assert_eq!(flipped[0].status, "False");
    }
}
