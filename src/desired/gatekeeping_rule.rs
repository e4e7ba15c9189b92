//! GatekeepingRule: the rule a resource asks for, computed from the rule the framework
//! holds (fields the spec leaves out keep the framework's values, and fields the operator
//! does not know are kept where they stand), and the choice of the rule a selector
//! designates.

use crate::framework::model;
use crate::resources::gatekeeping_rule::{GatekeepingApi, GatekeepingRuleSpec, RuleSelector};

/// Why a selector does not designate exactly one rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// No rule has the id or endpoint name.
    #[error("no gatekeeping rule has {0}")]
    NotFound(String),
    /// Several rules have the endpoint name.
    #[error("{count} gatekeeping rules have {what}; select one by id")]
    Ambiguous {
        /// What was looked for.
        what: String,
        /// How many rules matched.
        count: usize,
    },
}

/// The one rule of `rules` that `selector` designates.
pub fn select<'a>(
    selector: &RuleSelector,
    rules: &'a [model::GatekeepingRule],
) -> Result<&'a model::GatekeepingRule, SelectError> {
    let (what, matches): (String, Vec<&model::GatekeepingRule>) =
        match (&selector.id, &selector.endpoint_name) {
            (Some(id), _) => (
                format!("id '{id}'"),
                rules
                    .iter()
                    .filter(|r| r.id.as_deref() == Some(id))
                    .collect(),
            ),
            (None, Some(name)) => (
                format!("endpoint-name '{name}'"),
                rules.iter().filter(|r| &r.endpoint_name == name).collect(),
            ),
            (None, None) => ("no selector".to_owned(), Vec::new()),
        };
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(SelectError::NotFound(what)),
        many => Err(SelectError::Ambiguous {
            what,
            count: many.len(),
        }),
    }
}

/// The rule `spec` asks for, starting from `observed`: every field the spec leaves out
/// (`ruleName`, `externalEventEmitterIdentification`, `listenerRegistrationRefs`,
/// `destinationSelection`) keeps the framework's value; an empty list is a value (it
/// clears the framework's). `listener_ids` are the resolved `listenerRegistrationRefs`,
/// in the spec's order; they are used only when the spec sets that field.
pub fn desired(
    spec: &GatekeepingRuleSpec,
    observed: &model::GatekeepingRule,
    listener_ids: Vec<String>,
) -> model::GatekeepingRule {
    model::GatekeepingRule {
        id: observed.id.clone(),
        rule_name: spec
            .rule_name
            .clone()
            .unwrap_or_else(|| observed.rule_name.clone()),
        endpoint_name: observed.endpoint_name.clone(),
        owner: observed.owner,
        external_event_emitter_identification: spec
            .external_event_emitter_identification
            .clone()
            .or_else(|| observed.external_event_emitter_identification.clone()),
        gatekeeping_apis: spec
            .gatekeeping_apis
            .iter()
            .map(|api| {
                let held = observed
                    .gatekeeping_apis
                    .iter()
                    .find(|o| o.api_id == api.api_id && o.api_version == api.api_version);
                gatekeeping_api(api, held)
            })
            .collect(),
        listener_registration_refs: match spec.listener_registration_refs {
            Some(_) => listener_ids,
            None => observed.listener_registration_refs.clone(),
        },
        destination_selection: match &spec.destination_selection {
            Some(destinations) => destinations
                .iter()
                .map(|d| {
                    let held = observed
                        .destination_selection
                        .iter()
                        .find(|o| o.api_id == d.api_id && o.api_version == d.api_version);
                    model::DestinationSelection {
                        api_id: d.api_id.clone(),
                        api_version: d.api_version.clone(),
                        criteria: d.criteria.clone(),
                        description: d.description.clone(),
                        include_in_sparse_query_results: d.include_in_sparse_query_results,
                        extra: unknown_fields(held, |h| &h.extra),
                    }
                })
                .collect(),
            None => observed.destination_selection.clone(),
        },
        extra: observed.extra.clone(),
    }
}

/// One API of the desired rule; `held` is the framework's API of the same id and
/// version, whose unknown fields (and those of its resources) are kept. The n-th
/// resource of a name in the spec is the n-th resource of that name on the framework.
fn gatekeeping_api(
    api: &GatekeepingApi,
    held: Option<&model::GatekeepingApi>,
) -> model::GatekeepingApi {
    let held_resources = held.map_or(&[][..], |h| h.api_resources.as_slice());
    let api_resources = api
        .api_resources
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let nth = api.api_resources[..i]
                .iter()
                .filter(|earlier| earlier.resource_name == r.resource_name)
                .count();
            let held = held_resources
                .iter()
                .filter(|h| h.resource_name == r.resource_name)
                .nth(nth);
            model::ApiResource {
                resource_name: r.resource_name.clone(),
                gatekeeping_criteria: model::GatekeepingCriteria {
                    criteria: r.criteria.clone(),
                    rank: r.rank,
                    extra: unknown_fields(held, |h| &h.gatekeeping_criteria.extra),
                },
                extra: unknown_fields(held, |h| &h.extra),
            }
        })
        .collect();
    model::GatekeepingApi {
        api_id: api.api_id.clone(),
        api_name: api.api_name.clone(),
        api_version: api.api_version.clone(),
        api_resources,
        extra: unknown_fields(held, |h| &h.extra),
    }
}

/// The unknown fields of `held`, none when the framework holds no counterpart.
fn unknown_fields<T>(
    held: Option<&T>,
    extra: impl Fn(&T) -> &model::UnknownFields,
) -> model::UnknownFields {
    held.map(extra).cloned().unwrap_or_default()
}

/// Wire names of the rule's fields and the spec's names for them. `gatekeeping-criteria`
/// has none: the spec holds its `criteria` and `rank` on the resource itself.
const SPEC_NAMES: &[(&str, &str)] = &[
    ("rule-name", "ruleName"),
    (
        "external-event-emitter-identification",
        "externalEventEmitterIdentification",
    ),
    ("gatekeeping-apis", "gatekeepingApis"),
    ("api-id", "apiId"),
    ("api-name", "apiName"),
    ("api-version", "apiVersion"),
    ("api-resources", "apiResources"),
    ("resource-name", "resourceName"),
    ("gatekeeping-criteria", ""),
    ("criteria", "criteria"),
    ("rank", "rank"),
    ("listener-registration-refs", "listenerRegistrationRefs"),
    ("destination-selection", "destinationSelection"),
    ("description", "description"),
    (
        "include-in-sparse-query-results",
        "includeInSparseQueryResults",
    ),
];

/// The spec field that a field of the [`desired`] rule comes from:
/// `gatekeeping-apis[0].api-resources[1].gatekeeping-criteria.rank` is
/// `spec.gatekeepingApis[0].apiResources[1].rank`. `None` for a field the framework alone
/// sets (`id`, `endpoint-name`, `owner`) or that the rule does not have.
pub fn spec_path(wire: &str) -> Option<String> {
    spec_names(wire).map(|path| format!("spec.{path}"))
}

/// [`spec_path`] for a path relative to any level of the rule, without the `spec.`
/// prefix: `api-resources[0]` is `apiResources[0]`.
pub fn spec_names(wire: &str) -> Option<String> {
    let mut out = Vec::new();
    for segment in wire.split('.') {
        let (name, index) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
        let (_, spec_name) = SPEC_NAMES.iter().find(|(wire, _)| *wire == name)?;
        if !spec_name.is_empty() {
            out.push(format!("{spec_name}{index}"));
        }
    }
    (!out.is_empty()).then(|| out.join("."))
}

/// Of several resources claiming the same rule (given as `(creation time, namespace/name)`),
/// the one that holds it: the oldest, then the first by name. The others get `Conflict`.
pub fn claim_holder<'a>(
    claims: impl IntoIterator<Item = (Option<&'a str>, &'a str)>,
) -> Option<&'a str> {
    claims.into_iter().min().map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, endpoint: &str) -> model::GatekeepingRule {
        serde_json::from_value(serde_json::json!({
            "id": id, "endpoint-name": endpoint, "rule-name": format!("Generated gatekeeping rule for endpoint {endpoint}"),
            "owner": "tenant", "listener-registration-refs": ["old-listener"],
            "gatekeeping-apis": [{"api-id": "tmf-632", "api-name": "Party", "api-version": "v4",
                "api-resources": [{"resource-name": "Individual", "gatekeeping-criteria": {"criteria": "*", "rank": 1}}]}]
        }))
        .unwrap()
    }

    fn spec(criteria: &str) -> GatekeepingRuleSpec {
        serde_json::from_value(serde_json::json!({
            "selector": {"endpointName": "tmf632"},
            "gatekeepingApis": [{"apiId": "tmf-632", "apiName": "Party", "apiVersion": "v4",
                "apiResources": [{"resourceName": "Individual", "criteria": criteria, "rank": 1}]}]
        }))
        .unwrap()
    }

    #[test]
    fn select_by_endpoint_needs_exactly_one_match() {
        let rules = vec![
            rule("r1", "tmf632"),
            rule("r2", "tmf666"),
            rule("r3", "tmf666"),
        ];
        let by_endpoint = |e: &str| RuleSelector {
            id: None,
            endpoint_name: Some(e.into()),
        };
        assert_eq!(
            select(&by_endpoint("tmf632"), &rules)
                .unwrap()
                .id
                .as_deref(),
            Some("r1")
        );
        assert_eq!(
            select(&by_endpoint("tmf666"), &rules),
            Err(SelectError::Ambiguous {
                what: "endpoint-name 'tmf666'".into(),
                count: 2
            })
        );
        assert!(matches!(
            select(&by_endpoint("nope"), &rules),
            Err(SelectError::NotFound(_))
        ));
        let by_id = RuleSelector {
            id: Some("r3".into()),
            endpoint_name: None,
        };
        assert_eq!(select(&by_id, &rules).unwrap().endpoint_name, "tmf666");
    }

    #[test]
    fn desired_keeps_what_the_spec_leaves_out() {
        let observed = rule("r1", "tmf632");
        let want = desired(&spec("*"), &observed, vec!["old-listener".into()]);
        assert_eq!(
            want, observed,
            "a spec equal to the rule asks for no change"
        );
        let changed = desired(&spec("(ID pr)"), &observed, Vec::new());
        assert_eq!(changed.endpoint_name, "tmf632");
        assert_eq!(changed.rule_name, observed.rule_name);
        assert_eq!(
            changed.gatekeeping_apis[0].api_resources[0]
                .gatekeeping_criteria
                .criteria,
            "(ID pr)"
        );
        assert_eq!(changed.listener_registration_refs, ["old-listener"]);
    }

    /// `listenerRegistrationRefs` and `destinationSelection`: omitted keeps the
    /// framework's, an empty list clears them, a list replaces them.
    #[test]
    fn omitted_lists_keep_the_framework_values() {
        let mut observed = rule("r1", "tmf632");
        observed.destination_selection = vec![model::DestinationSelection {
            api_id: "tmf-620".into(),
            api_version: "v4".into(),
            criteria: vec!["*".into()],
            description: None,
            include_in_sparse_query_results: None,
            extra: Default::default(),
        }];
        let held = observed.clone();
        let routed = serde_json::json!([{"apiId": "tmf-622", "apiVersion": "v5"}]);
        // (case, spec fields, wanted refs, wanted destination api ids)
        let cases: [(&str, serde_json::Value, &[&str], &[&str]); 3] = [
            (
                "omitted",
                serde_json::json!({}),
                &["old-listener"],
                &["tmf-620"],
            ),
            (
                "empty",
                serde_json::json!({"listenerRegistrationRefs": [], "destinationSelection": []}),
                &[],
                &[],
            ),
            (
                "set",
                serde_json::json!({"listenerRegistrationRefs": [{"id": "lr-9"}], "destinationSelection": routed}),
                &["lr-9"],
                &["tmf-622"],
            ),
        ];
        for (case, fields, refs, destinations) in cases {
            let mut value = serde_json::to_value(spec("*")).unwrap();
            value
                .as_object_mut()
                .unwrap()
                .extend(fields.as_object().unwrap().clone());
            let spec: GatekeepingRuleSpec = serde_json::from_value(value).unwrap();
            // Literal ids resolve to themselves.
            let ids = spec
                .listener_registration_refs
                .iter()
                .flatten()
                .filter_map(|r| r.id.clone())
                .collect();
            let want = desired(&spec, &held, ids);
            assert_eq!(want.listener_registration_refs, refs, "{case}");
            let apis: Vec<&str> = want
                .destination_selection
                .iter()
                .map(|d| d.api_id.as_str())
                .collect();
            assert_eq!(apis, destinations, "{case}");
        }
        let omitted = desired(&spec("*"), &held, Vec::new());
        assert_eq!(omitted, held, "a spec leaving both out asks for no change");
    }

    /// Fields the operator does not know, at every level, stay in the desired rule:
    /// matched by API id and version, by resource name (n-th with n-th), and by
    /// destination id and version.
    #[test]
    fn desired_keeps_the_framework_fields_it_does_not_know() {
        let observed: model::GatekeepingRule = serde_json::from_value(serde_json::json!({
            "id": "r1", "endpoint-name": "tmf632", "rule-name": "r", "x-rule": 1,
            "gatekeeping-apis": [{"api-id": "tmf-632", "api-name": "Party", "api-version": "v4", "x-api": 2,
                "api-resources": [
                    {"resource-name": "Individual", "x-resource": "first",
                     "gatekeeping-criteria": {"criteria": "*", "rank": 1, "x-criteria": 3}},
                    {"resource-name": "Individual", "x-resource": "second",
                     "gatekeeping-criteria": {"criteria": "(ID pr)", "rank": 2}}
                ]}],
            "destination-selection": [{"api-id": "tmf-620", "api-version": "v4", "x-destination": 4}]
        }))
        .unwrap();
        let spec = |criteria: &str| -> GatekeepingRuleSpec {
            serde_json::from_value(serde_json::json!({
                "selector": {"id": "r1"},
                "gatekeepingApis": [{"apiId": "tmf-632", "apiName": "Party", "apiVersion": "v4",
                    "apiResources": [
                        {"resourceName": "Individual", "criteria": criteria, "rank": 1},
                        {"resourceName": "Individual", "criteria": "(ID pr)", "rank": 2}
                    ]}],
                "destinationSelection": [{"apiId": "tmf-620", "apiVersion": "v4"}]
            }))
            .unwrap()
        };
        assert_eq!(
            desired(&spec("*"), &observed, Vec::new()),
            observed,
            "a spec equal to the rule asks for no change"
        );
        let changed =
            serde_json::to_value(desired(&spec("(OP eq \"POST\")"), &observed, Vec::new()))
                .unwrap();
        let api = &changed["gatekeeping-apis"][0];
        assert_eq!(
            (changed["x-rule"].clone(), api["x-api"].clone()),
            (1.into(), 2.into())
        );
        assert_eq!(api["api-resources"][0]["x-resource"], "first");
        assert_eq!(api["api-resources"][1]["x-resource"], "second");
        assert_eq!(
            api["api-resources"][0]["gatekeeping-criteria"]["x-criteria"],
            3
        );
        assert_eq!(changed["destination-selection"][0]["x-destination"], 4);
    }

    #[test]
    fn wire_paths_map_back_to_spec_paths() {
        let cases = [
            ("rule-name", Some("spec.ruleName")),
            (
                "gatekeeping-apis[1].api-id",
                Some("spec.gatekeepingApis[1].apiId"),
            ),
            (
                "gatekeeping-apis[0].api-resources[2].gatekeeping-criteria.rank",
                Some("spec.gatekeepingApis[0].apiResources[2].rank"),
            ),
            (
                "gatekeeping-apis[0].api-resources[2].gatekeeping-criteria.criteria",
                Some("spec.gatekeepingApis[0].apiResources[2].criteria"),
            ),
            (
                "gatekeeping-apis[0].api-resources[0].resource-name",
                Some("spec.gatekeepingApis[0].apiResources[0].resourceName"),
            ),
            (
                "listener-registration-refs[3]",
                Some("spec.listenerRegistrationRefs[3]"),
            ),
            ("destination-selection", Some("spec.destinationSelection")),
            (
                "destination-selection[0].include-in-sparse-query-results",
                Some("spec.destinationSelection[0].includeInSparseQueryResults"),
            ),
            (
                "external-event-emitter-identification",
                Some("spec.externalEventEmitterIdentification"),
            ),
            ("id", None),
            ("endpoint-name", None),
            ("owner", None),
            ("gatekeeping-apis[0].x-new", None),
            ("", None),
        ];
        for (wire, spec) in cases {
            assert_eq!(spec_path(wire).as_deref(), spec, "{wire}");
        }
        assert_eq!(
            spec_names("api-resources[0]").as_deref(),
            Some("apiResources[0]")
        );
        assert_eq!(spec_names("read-only"), None);
    }

    #[test]
    fn the_oldest_claim_holds_the_rule() {
        let claims = [
            (Some("2026-01-02T00:00:00Z"), "ns/b"),
            (Some("2026-01-01T00:00:00Z"), "ns/z"),
            (Some("2026-01-01T00:00:00Z"), "ns/c"),
        ];
        assert_eq!(claim_holder(claims), Some("ns/c"));
        assert_eq!(claim_holder(std::iter::empty()), None);
    }
}
