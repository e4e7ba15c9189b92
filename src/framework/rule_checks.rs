//! The framework's checks on a gatekeeping rule update, as a pure function.
//!
//! The simulator runs them on every `PATCH`/`PUT` of a rule; the operator's controller
//! runs the same [`check_rule_update`] before writing (and [`restore_allowed`] before
//! putting the original rule back), so a user learns of a refused change from the
//! resource's status rather than from the framework; validation runs [`check_rule`] on
//! the rule a spec stands for.
//!
//! The rules (seed 001, `framework-api.md`): `endpoint-name` is read-only; APIs may be
//! added but not removed; every resource has a criteria and a rank; a rank is 0 or more
//! and differs for the same resource and criteria; an internal application's rule may
//! change only its API resources; listener references name existing listener
//! registrations; every criteria parses.

use std::collections::HashMap;
use std::fmt;

use crate::criteria;
use crate::framework::model::{GatekeepingRule, RuleOwner};

/// Whether a refused change is malformed (400) or conflicts with the rule as it is (409).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// The new rule is wrong in itself.
    Invalid,
    /// The new rule is well formed but may not replace the old one.
    Conflict,
}

/// One reason to refuse a rule update: the field (`gatekeeping-apis[0].api-id`) and
/// what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleViolation {
    /// Malformed or conflicting.
    pub kind: ViolationKind,
    /// Path of the offending field, in wire names.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for RuleViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every reason to refuse an update (never empty).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RuleViolations(pub Vec<RuleViolation>);

impl RuleViolations {
    /// [`ViolationKind::Invalid`] if any violation is, else [`ViolationKind::Conflict`].
    pub fn kind(&self) -> ViolationKind {
        if self.0.iter().any(|v| v.kind == ViolationKind::Invalid) {
            ViolationKind::Invalid
        } else {
            ViolationKind::Conflict
        }
    }
}

impl fmt::Display for RuleViolations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, violation) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{violation}")?;
        }
        Ok(())
    }
}

/// Checks `new` on its own: every field the framework requires, every criteria parses,
/// ranks are 0 or more and unique per resource and criteria.
pub fn check_rule(new: &GatekeepingRule) -> Result<(), RuleViolations> {
    finish(rule_violations(new))
}

/// Checks that `new` may replace `old`: [`check_rule`] on `new`, then the update rules.
/// `is_listener` tells whether a listener registration id exists (in the workspace of
/// the rule). The owner is `old`'s (a rule without one counts as a tenant's).
pub fn check_rule_update(
    old: &GatekeepingRule,
    new: &GatekeepingRule,
    is_listener: impl Fn(&str) -> bool,
) -> Result<(), RuleViolations> {
    let mut violations = rule_violations(new);
    let conflict = |field: &str, message: String| RuleViolation {
        kind: ViolationKind::Conflict,
        field: field.to_owned(),
        message,
    };
    if let (Some(old_id), Some(new_id)) = (&old.id, &new.id)
        && old_id != new_id
    {
        violations.push(RuleViolation {
            kind: ViolationKind::Invalid,
            field: "id".into(),
            message: format!("the body is for rule '{new_id}' but the URL names '{old_id}'"),
        });
    }
    if new.endpoint_name != old.endpoint_name {
        violations.push(conflict(
            "endpoint-name",
            format!(
                "is read-only: it is '{}' and cannot become '{}'; copy it from the current rule",
                old.endpoint_name, new.endpoint_name
            ),
        ));
    }
    let owner = old.owner.unwrap_or(RuleOwner::Tenant);
    if let Some(new_owner) = new.owner
        && Some(new_owner) != old.owner
    {
        violations.push(conflict(
            "owner",
            "is read-only: it is set by the framework when the application is integrated".into(),
        ));
    }
    for old_api in &old.gatekeeping_apis {
        let kept = new
            .gatekeeping_apis
            .iter()
            .any(|api| api.api_id == old_api.api_id && api.api_version == old_api.api_version);
        if !kept {
            violations.push(conflict(
                "gatekeeping-apis",
                format!(
                    "API {} {} cannot be removed: APIs may be added to a rule, never removed",
                    old_api.api_id, old_api.api_version
                ),
            ));
        }
    }
    if owner == RuleOwner::Internal {
        internal_update_violations(old, new, &mut violations);
    }
    for (i, id) in new.listener_registration_refs.iter().enumerate() {
        if !is_listener(id) {
            violations.push(RuleViolation {
                kind: ViolationKind::Invalid,
                field: format!("listener-registration-refs[{i}]"),
                message: format!(
                    "no listener registration '{id}' exists in this workspace; register the listener first"
                ),
            });
        }
    }
    finish(violations)
}

/// Whether writing `original` (the rule as first taken in charge) back over `current`
/// (the rule the framework holds now) can succeed: [`check_rule_update`] of that write,
/// with every listener reference taken to exist (the framework answers for those). It
/// fails for good once an API was added since `original`, as APIs are never removed;
/// no retry helps then.
pub fn restore_allowed(
    current: &GatekeepingRule,
    original: &GatekeepingRule,
) -> Result<(), RuleViolations> {
    check_rule_update(current, original, |_| true)
}

fn finish(violations: Vec<RuleViolation>) -> Result<(), RuleViolations> {
    if violations.is_empty() {
        Ok(())
    } else {
        Err(RuleViolations(violations))
    }
}

/// An internal application's rule may change only `gatekeeping-apis[].api-resources`.
fn internal_update_violations(
    old: &GatekeepingRule,
    new: &GatekeepingRule,
    violations: &mut Vec<RuleViolation>,
) {
    let mut read_only = |field: &str, changed: bool| {
        if changed {
            violations.push(RuleViolation {
                kind: ViolationKind::Conflict,
                field: field.to_owned(),
                message: "an internal application's rule may change only its API resources \
                          (gatekeeping-apis[].api-resources); keep this field as it is"
                    .into(),
            });
        }
    };
    read_only("rule-name", new.rule_name != old.rule_name);
    read_only(
        "external-event-emitter-identification",
        new.external_event_emitter_identification != old.external_event_emitter_identification,
    );
    read_only(
        "listener-registration-refs",
        new.listener_registration_refs != old.listener_registration_refs,
    );
    read_only(
        "destination-selection",
        new.destination_selection != old.destination_selection,
    );
    let apis = |rule: &GatekeepingRule| {
        rule.gatekeeping_apis
            .iter()
            .map(|api| {
                (
                    api.api_id.clone(),
                    api.api_name.clone(),
                    api.api_version.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let (mut old_apis, mut new_apis) = (apis(old), apis(new));
    old_apis.sort();
    new_apis.sort();
    read_only("gatekeeping-apis", old_apis != new_apis);
}

fn rule_violations(rule: &GatekeepingRule) -> Vec<RuleViolation> {
    let mut violations = Vec::new();
    if rule.rule_name.trim().is_empty() {
        invalid(&mut violations, "rule-name".into(), "is required".into());
    }
    if rule.endpoint_name.trim().is_empty() {
        invalid(
            &mut violations,
            "endpoint-name".into(),
            "is required".into(),
        );
    }
    if rule.owner == Some(RuleOwner::Internal) {
        if rule.external_event_emitter_identification.is_some() {
            invalid(
                &mut violations,
                "external-event-emitter-identification".into(),
                "applies only to external applications; remove it from an internal rule".into(),
            );
        }
        if !rule.listener_registration_refs.is_empty() {
            invalid(
                &mut violations,
                "listener-registration-refs".into(),
                "applies only to external applications; remove it from an internal rule".into(),
            );
        }
    }
    let mut seen_apis: HashMap<(&str, &str), usize> = HashMap::new();
    let mut needs_destination = None;
    for (a, api) in rule.gatekeeping_apis.iter().enumerate() {
        let at = format!("gatekeeping-apis[{a}]");
        if !is_api_id(&api.api_id) {
            invalid(
                &mut violations,
                format!("{at}.api-id"),
                format!(
                    "'{}' is not an API id: it must match {API_ID_PATTERN}, such as tmf-632",
                    api.api_id
                ),
            );
        }
        if api.api_name.trim().is_empty() {
            invalid(
                &mut violations,
                format!("{at}.api-name"),
                "is required".into(),
            );
        }
        if api.api_version.trim().is_empty() {
            invalid(
                &mut violations,
                format!("{at}.api-version"),
                "is required".into(),
            );
        }
        if let Some(first) = seen_apis.insert((&api.api_id, &api.api_version), a) {
            invalid(
                &mut violations,
                at.clone(),
                format!(
                    "API {} {} is listed twice (also at gatekeeping-apis[{first}]); list each API once",
                    api.api_id, api.api_version
                ),
            );
        }
        if !api.api_id.starts_with("tmf-") && needs_destination.is_none() {
            needs_destination = Some(api.api_id.clone());
        }
        let mut ranks: HashMap<(&str, &str, i64), usize> = HashMap::new();
        for (r, resource) in api.api_resources.iter().enumerate() {
            let at = format!("{at}.api-resources[{r}]");
            if resource.resource_name.trim().is_empty() {
                invalid(
                    &mut violations,
                    format!("{at}.resource-name"),
                    "is required".into(),
                );
            }
            let criteria_text = resource.gatekeeping_criteria.criteria.trim();
            if criteria_text.is_empty() {
                invalid(
                    &mut violations,
                    format!("{at}.gatekeeping-criteria.criteria"),
                    "every resource needs a criteria; write * for no criteria".into(),
                );
            } else if let Err(errors) = criteria::parse(criteria_text) {
                invalid(
                    &mut violations,
                    format!("{at}.gatekeeping-criteria.criteria"),
                    format!("is not valid criteria: {errors}"),
                );
            }
            match resource.gatekeeping_criteria.rank {
                None => invalid(
                    &mut violations,
                    format!("{at}.gatekeeping-criteria.rank"),
                    "every resource needs a rank (0 or more; lower ranks are applied first)".into(),
                ),
                Some(rank) if rank < 0 => invalid(
                    &mut violations,
                    format!("{at}.gatekeeping-criteria.rank"),
                    format!("must be 0 or more, found {rank}"),
                ),
                Some(rank) => {
                    let key = (resource.resource_name.as_str(), criteria_text, rank);
                    if let Some(first) = ranks.insert(key, r) {
                        violations.push(RuleViolation {
                            kind: ViolationKind::Conflict,
                            field: format!("{at}.gatekeeping-criteria.rank"),
                            message: format!(
                                "rank {rank} is already used by api-resources[{first}] for resource {} with the same criteria; ranks must differ for the same resource and criteria",
                                resource.resource_name
                            ),
                        });
                    }
                }
            }
        }
    }
    if let Some(api_id) = needs_destination
        && rule.destination_selection.is_empty()
    {
        violations.push(RuleViolation {
            kind: ViolationKind::Invalid,
            field: "destination-selection".into(),
            message: format!(
                "API {api_id} is not a TMF Open API: a custom API needs destination-selection details"
            ),
        });
    }
    violations
}

fn invalid(violations: &mut Vec<RuleViolation>, field: String, message: String) {
    violations.push(RuleViolation {
        kind: ViolationKind::Invalid,
        field,
        message,
    });
}

/// The pattern of an `api-id`, such as `tmf-632` (the CRD schema states it too).
pub const API_ID_PATTERN: &str = r"^[a-z0-9]{1,8}-[0-9]{1,4}$";

/// Whether `id` matches [`API_ID_PATTERN`].
pub fn is_api_id(id: &str) -> bool {
    let Some((name, number)) = id.split_once('-') else {
        return false;
    };
    (1..=8).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && (1..=4).contains(&number.len())
        && number.bytes().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(value: serde_json::Value) -> GatekeepingRule {
        serde_json::from_value(value).unwrap()
    }

    fn tmf632(owner: &str) -> GatekeepingRule {
        rule(json!({
            "id": "gkr-tmf632", "owner": owner,
            "endpoint-name": "tmf632",
            "rule-name": "Generated gatekeeping rule for endpoint tmf632",
            "gatekeeping-apis": [{
                "api-id": "tmf-632", "api-name": "Party", "api-version": "v4",
                "api-resources": [
                    {"resource-name": "Individual", "gatekeeping-criteria": {"criteria": "(ID pr)", "rank": 1}},
                    {"resource-name": "Organization", "gatekeeping-criteria": {"criteria": "*", "rank": 1}}
                ]
            }]
        }))
    }

    fn fields(result: Result<(), RuleViolations>) -> Vec<String> {
        result.unwrap_err().0.into_iter().map(|v| v.field).collect()
    }

    /// Item 12 of issue 10: a restore after APIs were added can never succeed.
    #[test]
    fn a_restore_is_refused_once_an_api_was_added() {
        for owner in ["tenant", "internal"] {
            let original = tmf632(owner);
            assert_eq!(restore_allowed(&original, &original), Ok(()), "{owner}");
            let mut current = original.clone();
            current.gatekeeping_apis[0].api_resources[0]
                .gatekeeping_criteria
                .criteria = "(OP eq \"POST\")".into();
            current.gatekeeping_apis[0].api_resources.pop();
            assert_eq!(
                restore_allowed(&current, &original),
                Ok(()),
                "{owner}: resources go back"
            );
            let mut added = current.clone();
            let mut api = added.gatekeeping_apis[0].clone();
            api.api_id = "tmf-629".into();
            added.gatekeeping_apis.push(api);
            let refused = restore_allowed(&added, &original);
            let text = refused.clone().unwrap_err().to_string();
            let mut refused_fields = fields(refused);
            refused_fields.dedup();
            assert_eq!(refused_fields, ["gatekeeping-apis"], "{owner}");
            assert!(text.contains("API tmf-629 v4 cannot be removed"), "{text}");
        }
        let original = tmf632("tenant");
        let mut current = original.clone();
        current.listener_registration_refs = vec!["lr-1".into()];
        assert_eq!(
            restore_allowed(&current, &original),
            Ok(()),
            "listener references go back"
        );
    }

    #[test]
    fn an_unchanged_rule_passes() {
        let old = tmf632("internal");
        assert_eq!(check_rule_update(&old, &old.clone(), |_| false), Ok(()));
    }

    #[test]
    fn an_internal_rule_may_change_its_resources() {
        let old = tmf632("internal");
        let mut new = old.clone();
        new.id = None;
        new.owner = None;
        new.gatekeeping_apis[0].api_resources[1]
            .gatekeeping_criteria
            .rank = Some(2);
        assert_eq!(check_rule_update(&old, &new, |_| false), Ok(()));
    }

    #[test]
    fn endpoint_name_is_read_only() {
        let old = tmf632("tenant");
        let mut new = old.clone();
        new.endpoint_name = "other".into();
        let err = check_rule_update(&old, &new, |_| false).unwrap_err();
        assert_eq!(err.kind(), ViolationKind::Conflict);
        assert!(err.to_string().contains("endpoint-name: is read-only"));
    }

    #[test]
    fn apis_cannot_be_removed() {
        let old = tmf632("tenant");
        let mut new = old.clone();
        new.gatekeeping_apis.clear();
        assert!(
            check_rule_update(&old, &new, |_| false)
                .unwrap_err()
                .to_string()
                .contains("API tmf-632 v4 cannot be removed")
        );
    }

    #[test]
    fn ranks_are_required_non_negative_and_unique() {
        let old = tmf632("tenant");
        let mut new = old.clone();
        let resources = &mut new.gatekeeping_apis[0].api_resources;
        resources[0].gatekeeping_criteria.rank = None;
        resources[1].gatekeeping_criteria.rank = Some(-1);
        let mut twin = resources[1].clone();
        twin.gatekeeping_criteria.rank = Some(3);
        resources.push(twin.clone());
        resources.push(twin);
        let err = check_rule_update(&old, &new, |_| false).unwrap_err();
        assert_eq!(
            fields(Err(err.clone())),
            [
                "gatekeeping-apis[0].api-resources[0].gatekeeping-criteria.rank",
                "gatekeeping-apis[0].api-resources[1].gatekeeping-criteria.rank",
                "gatekeeping-apis[0].api-resources[3].gatekeeping-criteria.rank",
            ]
        );
        assert!(
            err.to_string()
                .contains("rank 3 is already used by api-resources[2]")
        );
    }

    #[test]
    fn criteria_must_be_present_and_parse() {
        let old = tmf632("tenant");
        let mut new = old.clone();
        new.gatekeeping_apis[0].api_resources[0]
            .gatekeeping_criteria
            .criteria = " ".into();
        new.gatekeeping_apis[0].api_resources[1]
            .gatekeeping_criteria
            .criteria = "familyName eq \"abc\"".into();
        let err = check_rule_update(&old, &new, |_| false).unwrap_err();
        assert_eq!(err.kind(), ViolationKind::Invalid);
        let text = err.to_string();
        assert!(text.contains("write * for no criteria"), "{text}");
        assert!(
            text.contains("api-resources[1].gatekeeping-criteria.criteria: is not valid criteria"),
            "{text}"
        );
    }

    #[test]
    fn internal_rules_may_change_only_resources() {
        let old = tmf632("internal");
        let mut new = old.clone();
        new.rule_name = "renamed".into();
        let mut added = new.gatekeeping_apis[0].clone();
        added.api_id = "tmf-629".into();
        new.gatekeeping_apis.push(added);
        assert_eq!(
            fields(check_rule_update(&old, &new, |_| false)),
            ["rule-name", "gatekeeping-apis"]
        );
        let mut tenant_new = new.clone();
        tenant_new.owner = None;
        let tenant_old = GatekeepingRule {
            owner: Some(RuleOwner::Tenant),
            ..old
        };
        assert_eq!(
            check_rule_update(&tenant_old, &tenant_new, |_| false),
            Ok(())
        );
    }

    #[test]
    fn listener_refs_must_exist() {
        let old = tmf632("tenant");
        let mut new = old.clone();
        new.listener_registration_refs = vec!["listener-registrationaaaaa".into(), "gone".into()];
        let err = check_rule_update(&old, &new, |id| id == "listener-registrationaaaaa");
        assert_eq!(fields(err.clone()), ["listener-registration-refs[1]"]);
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("no listener registration 'gone'")
        );
    }

    #[test]
    fn api_ids_follow_the_pattern_and_custom_apis_need_destinations() {
        for ok in ["tmf-632", "orcl-200", "a-1", "abcdefgh-1234"] {
            assert!(is_api_id(ok), "{ok}");
        }
        for bad in [
            "TMF-632",
            "tmf632",
            "tmf-",
            "-1",
            "abcdefghi-1",
            "toolongname-1",
            "tmf-12345",
            "tmf-63a",
            "tmf-6-3",
        ] {
            assert!(!is_api_id(bad), "{bad}");
        }
        let mut new = tmf632("tenant");
        new.gatekeeping_apis[0].api_id = "orcl-200".into();
        assert_eq!(fields(check_rule(&new)), ["destination-selection"]);
    }
}
