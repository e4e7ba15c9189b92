//! The plan of a GatekeepingRule: select the framework's rule, hold the claim, save the
//! original, update only what the framework allows, or wait; on deletion, restore the
//! original if the framework would take it back, or let go.

use std::collections::HashMap;

use crate::desired::gatekeeping_rule::{self as desired, SelectError};
use crate::framework::model;
use crate::framework::rule_checks;
use crate::resources::ABANDON_ANNOTATION;
use crate::resources::conditions;
use crate::resources::gatekeeping_rule::{
    GatekeepingRuleSpec, GatekeepingRuleStatus, RuleDeletionPolicy,
};

use super::{Read, Wait};

/// A resource of the store that may claim the same rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimant<'a> {
    /// `namespace/name`.
    pub name: &'a str,
    /// Creation time (RFC 3339), the oldest claim wins.
    pub created: Option<&'a str>,
    /// The rule id it holds or selects.
    pub id: Option<&'a str>,
    /// The endpoint name it selects.
    pub endpoint: Option<&'a str>,
}

/// What a plan is made from.
pub struct Facts<'a> {
    /// This resource, `namespace/name`.
    pub name: &'a str,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The spec.
    pub spec: &'a GatekeepingRuleSpec,
    /// The newest status known.
    pub status: &'a GatekeepingRuleStatus,
    /// Annotation `cxf.dev/external-id`: pins the rule id.
    pub pinned_id: Option<&'a str>,
    /// The connection's rules, by id, as last listed or written; `None` if never listed.
    pub rules: Option<&'a HashMap<String, model::GatekeepingRule>>,
    /// The resources of the same connection that claim a rule (this one included),
    /// those being deleted included until their cleanup is done.
    pub claimants: &'a [Claimant<'a>],
    /// The listener ids of `listenerRegistrationRefs`, or the name of a
    /// ListenerRegistration that has no framework id yet.
    pub listener_ids: Result<Vec<String>, String>,
}

/// One decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Read this, then plan again.
    Read(Read),
    /// Record the rule id, its endpoint name and the original rule in status (before
    /// anything is written to the framework), then plan again.
    Capture {
        /// The rule id.
        id: String,
        /// Its `endpoint-name`.
        endpoint: String,
        /// The rule as first taken in charge (framework JSON).
        original: String,
    },
    /// Write the whole rule.
    Update {
        /// The rule id.
        id: String,
        /// The rule to write.
        rule: Box<model::GatekeepingRule>,
        /// Whether it puts back a change made on the framework.
        drift: bool,
    },
    /// The framework matches.
    InSync(String),
    /// Nothing can be done now.
    Wait(Wait),
}

/// The next step for a GatekeepingRule that is not being deleted.
pub fn plan(f: &Facts) -> Plan {
    let Some(rules) = f.rules else {
        return Plan::Read(Read::List);
    };
    let observed = match select(f, rules) {
        Ok(observed) => observed,
        Err(wait) => return Plan::Wait(wait),
    };
    let Some(id) = observed.id.clone() else {
        return Plan::Wait(Wait::retry(
            conditions::REASON_RULE_NOT_FOUND,
            "the framework's rule has no id",
        ));
    };
    if let Some(holder) = holder(f, &id, &observed.endpoint_name) {
        return Plan::Wait(Wait::user(
            conditions::REASON_CONFLICT,
            format!(
                "GatekeepingRule {holder} already takes charge of rule {id}; this resource writes nothing"
            ),
        ));
    }
    let listener_ids = match &f.listener_ids {
        Ok(ids) => ids.clone(),
        Err(name) => {
            return Plan::Wait(Wait::user(
                conditions::REASON_LISTENER_NOT_READY,
                format!("ListenerRegistration {name} has no framework id yet"),
            ));
        }
    };
    let captured = f.status.external_id.as_deref() == Some(id.as_str())
        && f.status.original_rule.is_some()
        && f.status.endpoint_name.as_deref() == Some(observed.endpoint_name.as_str());
    if !captured {
        let original = match (&f.status.original_rule, f.status.external_id.as_deref()) {
            (Some(original), Some(held)) if held == id => original.clone(),
            _ => serde_json::to_string(observed).expect("a rule serializes"),
        };
        return Plan::Capture {
            id,
            endpoint: observed.endpoint_name.clone(),
            original,
        };
    }
    let want = desired::desired(f.spec, observed, listener_ids);
    if &want == observed {
        return Plan::InSync(id);
    }
    let known: Vec<&str> = want
        .listener_registration_refs
        .iter()
        .map(String::as_str)
        .collect();
    if let Err(violations) = rule_checks::check_rule_update(observed, &want, |l| known.contains(&l))
    {
        return Plan::Wait(Wait::user(
            conditions::REASON_FORBIDDEN_CHANGE,
            format!("the framework forbids this change: {violations}"),
        ));
    }
    Plan::Update {
        id,
        rule: Box::new(want),
        drift: f.generation == f.status.observed_generation,
    }
}

/// The rule taken in charge: the one in status (or pinned by the annotation), else the
/// one the selector designates.
fn select<'a>(
    f: &Facts,
    rules: &'a HashMap<String, model::GatekeepingRule>,
) -> Result<&'a model::GatekeepingRule, Wait> {
    if let Some(id) = f.status.external_id.as_deref().or(f.pinned_id) {
        return rules.get(id).ok_or_else(|| {
            Wait::retry(
                conditions::REASON_RULE_NOT_FOUND,
                format!("no gatekeeping rule has id '{id}' (retried: the application may be integrated later)"),
            )
        });
    }
    let all: Vec<model::GatekeepingRule> = rules.values().cloned().collect();
    let found = desired::select(&f.spec.selector, &all).map(|r| r.id.clone());
    match found {
        Ok(Some(id)) => Ok(&rules[&id]),
        Ok(None) => Err(Wait::retry(
            conditions::REASON_RULE_NOT_FOUND,
            "the framework's rule has no id",
        )),
        Err(e @ SelectError::NotFound(_)) => Err(Wait::retry(
            conditions::REASON_RULE_NOT_FOUND,
            format!("{e} (retried: the application may be integrated later)"),
        )),
        Err(e @ SelectError::Ambiguous { .. }) => {
            Err(Wait::user(conditions::REASON_RULE_AMBIGUOUS, e.to_string()))
        }
    }
}

/// Another resource holding rule `id` (the oldest claim wins), if any.
fn holder(f: &Facts, id: &str, endpoint: &str) -> Option<String> {
    let claims = f
        .claimants
        .iter()
        .filter(|c| c.name == f.name || c.id == Some(id) || c.endpoint == Some(endpoint));
    let holder = desired::claim_holder(claims.map(|c| (c.created, c.name)))?;
    (holder != f.name).then(|| holder.to_owned())
}

/// What a cleanup is made from: the live object, re-read.
pub struct CleanupFacts<'a> {
    /// Its status.
    pub status: &'a GatekeepingRuleStatus,
    /// `spec.deletionPolicy`.
    pub policy: RuleDeletionPolicy,
    /// Annotation `cxf.dev/abandon: "true"`.
    pub abandoned: bool,
    /// The connection's rules, by id; `None` if never listed.
    pub rules: Option<&'a HashMap<String, model::GatekeepingRule>>,
}

/// One cleanup decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Cleanup {
    /// Read this, then plan again.
    Read(Read),
    /// Write the original rule back.
    Restore {
        /// The rule id.
        id: String,
        /// The rule as first taken in charge.
        original: Box<model::GatekeepingRule>,
    },
    /// Let go without writing.
    Release,
    /// Nothing can be done now.
    Wait(Wait),
}

/// What deleting the resource does to the rule.
pub fn cleanup(f: &CleanupFacts) -> Cleanup {
    if f.abandoned || f.policy == RuleDeletionPolicy::Orphan {
        return Cleanup::Release;
    }
    let (Some(id), Some(original)) = (&f.status.external_id, &f.status.original_rule) else {
        return Cleanup::Release; // never taken in charge: nothing was written
    };
    let original: model::GatekeepingRule = match serde_json::from_str(original) {
        Ok(original) => original,
        Err(e) => {
            return Cleanup::Wait(Wait::user(
                conditions::REASON_INVALID_SPEC,
                format!(
                    "status.originalRule cannot be read ({e}); set annotation {ABANDON_ANNOTATION}: \"true\" to let go"
                ),
            ));
        }
    };
    let Some(rules) = f.rules else {
        return Cleanup::Read(Read::List);
    };
    let Some(current) = rules.get(id) else {
        return Cleanup::Release; // the rule is gone: nothing to put back
    };
    if current == &original {
        return Cleanup::Release;
    }
    // Listener ids cannot be checked here: the framework says if one no longer exists.
    if let Err(violations) = rule_checks::restore_allowed(current, &original) {
        return Cleanup::Wait(Wait::user(
            conditions::REASON_FORBIDDEN_CHANGE,
            format!(
                "the framework would refuse the original rule (deletionPolicy Restore): {violations}; set annotation {ABANDON_ANNOTATION}: \"true\" to leave the rule as it is"
            ),
        ));
    }
    Cleanup::Restore {
        id: id.clone(),
        original: Box::new(original),
    }
}

#[cfg(test)]
mod tests;
