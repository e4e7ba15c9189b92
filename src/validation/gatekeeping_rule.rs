//! GatekeepingRule checks the schema cannot express. The framework's own rules
//! ([`crate::framework::rule_checks::check_rule`], the one implementation the simulator
//! and the operator run too) are run on the wire rule the spec stands for
//! ([`desired::desired`]), and their field paths are mapped back to the spec's
//! ([`desired::spec_path`]): every resource has a rank, a rank differs for the same
//! resource and criteria, no API is listed twice, a custom (non-TMF) API needs
//! destination selection. Beside them: every criteria parses and lints (located inside
//! the expression), listener references are not repeated and (warning) exist, and the
//! FrameworkConnection exists (warning).
//!
//! Validation sees the spec alone, never the framework's rule: a finding about a field
//! the framework alone sets (`endpoint-name`, ...) or that the spec leaves to the
//! framework (`ruleName` when omitted) is not the spec's and is left out. The spec's
//! omitted lists count as empty, so a custom API needs `destinationSelection` in the
//! spec.

use std::collections::HashMap;

use super::{Finding, Known, criteria_field, missing_connection, missing_reference};
use crate::desired::gatekeeping_rule as desired;
use crate::framework::model;
use crate::framework::rule_checks;
use crate::resources::gatekeeping_rule::GatekeepingRuleSpec;

/// Findings about `spec` beyond its schema.
pub fn check(spec: &GatekeepingRuleSpec, known: &Known) -> Vec<Finding> {
    let mut out = criteria_findings(spec);
    out.extend(framework_findings(spec, &out));
    let mut listeners: HashMap<(Option<&str>, Option<&str>), usize> = HashMap::new();
    for (i, reference) in spec.listener_registration_refs.iter().flatten().enumerate() {
        let field = format!("spec.listenerRegistrationRefs[{i}]");
        if let Some(first) =
            listeners.insert((reference.name.as_deref(), reference.id.as_deref()), i)
        {
            out.push(Finding::error(
                field.clone(),
                format!("the same listener is referenced twice (also at spec.listenerRegistrationRefs[{first}])"),
            ));
        }
        if let Some(name) = &reference.name {
            out.extend(missing_reference(
                format!("{field}.name"),
                "ListenerRegistration",
                name,
                &known.listener_registrations,
            ));
        }
    }
    out.extend(missing_connection(spec.connection_name.as_deref(), known));
    out
}

/// Syntax errors and lint of every criteria, with the position inside the expression.
fn criteria_findings(spec: &GatekeepingRuleSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    for (a, api) in spec.gatekeeping_apis.iter().enumerate() {
        for (r, resource) in api.api_resources.iter().enumerate() {
            out.extend(criteria_field::check(
                &format!("spec.gatekeepingApis[{a}].apiResources[{r}].criteria"),
                &resource.criteria,
            ));
        }
    }
    for (i, destination) in spec.destination_selection.iter().flatten().enumerate() {
        for (c, criteria) in destination.criteria.iter().enumerate() {
            out.extend(criteria_field::check(
                &format!("spec.destinationSelection[{i}].criteria[{c}]"),
                criteria,
            ));
        }
    }
    out
}

/// The framework's checks of the rule the spec stands for, at the spec's fields, in the
/// spec's names. A field `located` already holds an error for (a criteria, with its
/// position) gets no second one.
fn framework_findings(spec: &GatekeepingRuleSpec, located: &[Finding]) -> Vec<Finding> {
    // One id a reference, literal or not, so that the indices match the spec's.
    let listener_ids = spec
        .listener_registration_refs
        .iter()
        .flatten()
        .map(|r| r.id.clone().or_else(|| r.name.clone()).unwrap_or_default())
        .collect();
    let wire = desired::desired(spec, &model::GatekeepingRule::default(), listener_ids);
    let Err(violations) = rule_checks::check_rule(&wire) else {
        return Vec::new();
    };
    violations
        .0
        .into_iter()
        .filter_map(|violation| {
            let field = desired::spec_path(&violation.field)?;
            let left_to_framework = field == "spec.ruleName" && spec.rule_name.is_none();
            let located = located.iter().any(|f| f.is_error() && f.field == field);
            (!left_to_framework && !located)
                .then(|| Finding::error(field, in_spec_names(&violation.message)))
        })
        .collect()
}

/// `message` with the wire field names it mentions (`api-resources[0]`) in the spec's
/// (`apiResources[0]`).
fn in_spec_names(message: &str) -> String {
    message
        .split(' ')
        .map(|word| {
            let name = word.trim_matches(|c: char| "();:,".contains(c));
            match desired::spec_names(name) {
                Some(spec_name) if name.contains('-') => word.replacen(name, &spec_name, 1),
                _ => word.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::validation::Severity;

    fn spec(resources: serde_json::Value) -> GatekeepingRuleSpec {
        serde_json::from_value(json!({
            "selector": {"endpointName": "tmf632"},
            "gatekeepingApis": [{"apiId": "tmf-632", "apiName": "Party", "apiVersion": "v4", "apiResources": resources}],
        }))
        .unwrap()
    }

    fn fields(findings: &[Finding]) -> Vec<(&str, Severity)> {
        findings
            .iter()
            .map(|f| (f.field.as_str(), f.severity))
            .collect()
    }

    #[test]
    fn a_valid_rule_has_no_findings() {
        let spec = spec(json!([
            {"resourceName": "Individual", "criteria": "*", "rank": 0},
            {"resourceName": "Individual", "criteria": "*", "rank": 1},
            {"resourceName": "Individual", "criteria": "/a eq 1", "rank": 0},
        ]));
        assert!(check(&spec, &Known::default()).is_empty());
    }

    #[test]
    fn ranks_must_differ_for_the_same_resource_and_criteria() {
        let spec = spec(json!([
            {"resourceName": "Individual", "criteria": "/a eq 1", "rank": 3},
            {"resourceName": "Organization", "criteria": "/a eq 1", "rank": 3},
            {"resourceName": "Individual", "criteria": "/a eq 1 ", "rank": 3},
        ]));
        let findings = check(&spec, &Known::default());
        assert_eq!(
            fields(&findings),
            [(
                "spec.gatekeepingApis[0].apiResources[2].rank",
                Severity::Error
            )]
        );
        assert!(
            findings[0]
                .message
                .contains("already used by apiResources[0]")
        );
    }

    #[test]
    fn a_missing_rank_is_an_error() {
        let findings = check(
            &spec(json!([{"resourceName": "Individual", "criteria": "*"}])),
            &Known::default(),
        );
        assert_eq!(
            fields(&findings),
            [(
                "spec.gatekeepingApis[0].apiResources[0].rank",
                Severity::Error
            )]
        );
    }

    #[test]
    fn criteria_errors_and_lint_are_located() {
        let findings = check(
            &spec(json!([
                {"resourceName": "Individual", "criteria": "/a eq", "rank": 0},
                {"resourceName": "Individual", "criteria": "/a eq 1 or /b eq 2 and /c eq 3", "rank": 0},
            ])),
            &Known::default(),
        );
        assert_eq!(
            fields(&findings),
            [
                (
                    "spec.gatekeepingApis[0].apiResources[0].criteria",
                    Severity::Error
                ),
                (
                    "spec.gatekeepingApis[0].apiResources[1].criteria",
                    Severity::Warning
                ),
            ]
        );
    }

    #[test]
    fn duplicate_apis_custom_apis_and_listener_refs() {
        let spec: GatekeepingRuleSpec = serde_json::from_value(json!({
            "selector": {"id": "r1"},
            "gatekeepingApis": [
                {"apiId": "tmf-632", "apiName": "Party", "apiVersion": "v4", "apiResources": [{"resourceName": "I", "criteria": "*", "rank": 0}]},
                {"apiId": "tmf-632", "apiName": "Party", "apiVersion": "v4", "apiResources": [{"resourceName": "I", "criteria": "*", "rank": 0}]},
                {"apiId": "orcl-200", "apiName": "Custom", "apiVersion": "v1", "apiResources": [{"resourceName": "I", "criteria": "*", "rank": 0}]},
            ],
            "listenerRegistrationRefs": [{"name": "a"}, {"name": "a"}, {"name": "b"}, {"id": "x"}],
            "connectionName": "main",
        }))
        .unwrap();
        let known = Known {
            listener_registrations: Some(["a".to_owned()].into()),
            framework_connections: Some(["main".to_owned()].into()),
        };
        let findings = check(&spec, &known);
        assert_eq!(
            fields(&findings),
            [
                ("spec.gatekeepingApis[1]", Severity::Error),
                ("spec.destinationSelection", Severity::Error),
                ("spec.listenerRegistrationRefs[1]", Severity::Error),
                ("spec.listenerRegistrationRefs[2].name", Severity::Warning),
            ]
        );
        assert!(
            findings[3]
                .message
                .contains("ListenerRegistration 'b' does not exist")
        );
    }

    #[test]
    fn fields_left_to_the_framework_are_not_the_specs() {
        let mut spec = spec(json!([{"resourceName": "Individual", "criteria": "*", "rank": 0}]));
        assert!(
            check(&spec, &Known::default()).is_empty(),
            "no ruleName: the framework's is kept; endpoint-name is never the spec's"
        );
        spec.rule_name = Some(" ".into());
        assert_eq!(
            fields(&check(&spec, &Known::default())),
            [("spec.ruleName", Severity::Error)]
        );
    }

    #[test]
    fn a_criteria_error_is_reported_once_with_its_position() {
        let findings = check(
            &spec(json!([{"resourceName": "Individual", "criteria": " ", "rank": 0}])),
            &Known::default(),
        );
        assert_eq!(
            fields(&findings),
            [(
                "spec.gatekeepingApis[0].apiResources[0].criteria",
                Severity::Error
            )]
        );
        assert!(findings[0].criteria.is_some(), "{findings:?}");
    }

    /// With the schema's mirror: one error a field where both say the same thing.
    #[test]
    fn the_schema_and_the_framework_checks_give_one_error_a_field() {
        let rule: crate::resources::GatekeepingRule = serde_json::from_value(json!({
            "apiVersion": "cxf.dev/v1alpha1", "kind": "GatekeepingRule",
            "metadata": {"name": "r", "namespace": "ns"},
            "spec": {"selector": {"endpointName": "tmf632"}, "gatekeepingApis": [
                {"apiId": "TMF632", "apiName": "", "apiVersion": "v4",
                 "apiResources": [{"resourceName": "Individual", "criteria": "*", "rank": -1}]}
            ], "destinationSelection": [{"apiId": "tmf-620", "apiVersion": "v4"}]}
        }))
        .unwrap();
        let findings = super::super::check(
            &super::super::Resource::GatekeepingRule(Box::new(rule)),
            &Known::default(),
        );
        assert_eq!(
            fields(&findings),
            [
                ("spec.gatekeepingApis[0].apiId", Severity::Error),
                ("spec.gatekeepingApis[0].apiName", Severity::Error),
                (
                    "spec.gatekeepingApis[0].apiResources[0].rank",
                    Severity::Error
                ),
            ]
        );
    }

    #[test]
    fn messages_name_fields_as_the_spec_does() {
        assert_eq!(
            in_spec_names(
                "API tmf-632 v4 is listed twice (also at gatekeeping-apis[0]); list each API once"
            ),
            "API tmf-632 v4 is listed twice (also at gatekeepingApis[0]); list each API once"
        );
        assert_eq!(
            in_spec_names("rank 1 is already used by api-resources[1] for resource X"),
            "rank 1 is already used by apiResources[1] for resource X"
        );
        assert_eq!(
            in_spec_names("a custom API needs destination-selection details; read-only"),
            "a custom API needs destinationSelection details; read-only"
        );
    }
}
