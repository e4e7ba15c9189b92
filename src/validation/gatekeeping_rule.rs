//! GatekeepingRule checks the schema cannot express, the framework's rules for a rule
//! update (as in [`crate::framework::rule_checks`], in the resource's own field names):
//! every criteria parses, every resource has a rank, a rank differs for the same
//! resource and criteria, no API is listed twice, a custom (non-TMF) API needs
//! destination selection, listener references are not repeated and (warning) exist,
//! and the FrameworkConnection exists (warning).

use std::collections::HashMap;

use super::{Finding, Known, criteria_field, missing_connection, missing_reference};
use crate::resources::gatekeeping_rule::GatekeepingRuleSpec;

/// Findings about `spec` beyond its schema.
pub fn check(spec: &GatekeepingRuleSpec, known: &Known) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut apis: HashMap<(&str, &str), usize> = HashMap::new();
    for (a, api) in spec.gatekeeping_apis.iter().enumerate() {
        let at = format!("spec.gatekeepingApis[{a}]");
        if let Some(first) = apis.insert((&api.api_id, &api.api_version), a) {
            out.push(Finding::error(
                at.clone(),
                format!(
                    "API {} {} is listed twice (also at spec.gatekeepingApis[{first}]); list each API once",
                    api.api_id, api.api_version
                ),
            ));
        }
        let mut ranks: HashMap<(&str, &str, i64), usize> = HashMap::new();
        for (r, resource) in api.api_resources.iter().enumerate() {
            let at = format!("{at}.apiResources[{r}]");
            out.extend(criteria_field::check(
                &format!("{at}.criteria"),
                &resource.criteria,
            ));
            match resource.rank {
                None => out.push(Finding::error(
                    format!("{at}.rank"),
                    "every resource needs a rank (0 or more; lower ranks are applied first)",
                )),
                Some(rank) => {
                    let key = (
                        resource.resource_name.as_str(),
                        resource.criteria.trim(),
                        rank,
                    );
                    if let Some(first) = ranks.insert(key, r) {
                        out.push(Finding::error(
                            format!("{at}.rank"),
                            format!(
                                "rank {rank} is already used by apiResources[{first}] for resource {} with the same criteria; ranks must differ for the same resource and criteria",
                                resource.resource_name
                            ),
                        ));
                    }
                }
            }
        }
    }
    if let Some(api) = spec
        .gatekeeping_apis
        .iter()
        .find(|api| !api.api_id.starts_with("tmf-"))
        && spec
            .destination_selection
            .as_deref()
            .unwrap_or_default()
            .is_empty()
    {
        out.push(Finding::error(
            "spec.destinationSelection",
            format!(
                "API {} is not a TMF Open API: a custom API needs destinationSelection details",
                api.api_id
            ),
        ));
    }
    for (i, destination) in spec.destination_selection.iter().flatten().enumerate() {
        for (c, criteria) in destination.criteria.iter().enumerate() {
            out.extend(criteria_field::check(
                &format!("spec.destinationSelection[{i}].criteria[{c}]"),
                criteria,
            ));
        }
    }
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
}
