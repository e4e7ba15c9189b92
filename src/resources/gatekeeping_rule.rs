//! `GatekeepingRule`: takes charge of one gatekeeping rule the framework generated for an
//! integrated application (seed 001). Rules are never created or deleted: only updated.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The desired content of one framework-generated gatekeeping rule: which APIs and
/// resources the application is gatekeeper for, with which criteria and rank, and which
/// listeners receive its events.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "cxf.dev",
    version = "v1alpha1",
    kind = "GatekeepingRule",
    namespaced,
    status = "GatekeepingRuleStatus",
    shortname = "cxfgkr",
    category = "cxf",
    printcolumn = r#"{"name":"Ready", "type":"string", "jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Framework ID", "type":"string", "jsonPath":".status.externalId"}"#,
    printcolumn = r#"{"name":"Endpoint", "type":"string", "jsonPath":".status.endpointName", "priority":1}"#,
    printcolumn = r#"{"name":"Age", "type":"date", "jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new(super::CONNECTION_IMMUTABLE_RULE).message(super::CONNECTION_IMMUTABLE)
)]
#[serde(rename_all = "camelCase")]
pub struct GatekeepingRuleSpec {
    /// Name of the FrameworkConnection, in this namespace. Default: `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_name: Option<String>,
    /// Which generated rule this resource takes charge of. Immutable: to take another
    /// rule in charge, create another resource.
    #[x_kube(validation = Rule::new("self == oldSelf").message(super::SELECTOR_IMMUTABLE))]
    pub selector: RuleSelector,
    /// Rule name (`rule-name`), unique per application. Omit to keep the framework's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    /// Client id of the external application emitting the events
    /// (`external-event-emitter-identification`); external applications only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_event_emitter_identification: Option<String>,
    /// The APIs and resources this application is gatekeeper for (`gatekeeping-apis`).
    /// APIs may be added, never removed.
    #[schemars(length(min = 1))]
    pub gatekeeping_apis: Vec<GatekeepingApi>,
    /// Listeners receiving this gatekeeper's events (`listener-registration-refs`);
    /// external applications only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listener_registration_refs: Vec<ListenerRef>,
    /// Routing of custom non-TMF APIs to Open APIs (`destination-selection`); request
    /// routing only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_selection: Vec<DestinationSelection>,
    /// What deleting this resource does: `Orphan` (default) leaves the rule as it is,
    /// `Restore` puts back the rule as it was when first taken in charge
    /// (`status.originalRule`).
    #[serde(default)]
    pub deletion_policy: RuleDeletionPolicy,
}

/// Finds the generated rule: exactly one of `id` and `endpointName`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.id) != has(self.endpointName)").message("set exactly one of id and endpointName"))]
pub struct RuleSelector {
    /// The rule's framework id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The rule's `endpoint-name` (exactly one rule must have it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_name: Option<String>,
}

/// One API of the rule (`gatekeeping-apis[]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatekeepingApi {
    /// API id such as `tmf-632` (`api-id`).
    #[schemars(pattern(r"^[a-z0-9]{1,8}-[0-9]{1,4}$"))]
    pub api_id: String,
    /// API name such as `Party` (`api-name`).
    #[schemars(length(min = 1))]
    pub api_name: String,
    /// API version such as `v4` (`api-version`).
    #[schemars(length(min = 1))]
    pub api_version: String,
    /// Resources of the API for which events are published (`api-resources`).
    #[schemars(length(min = 1))]
    pub api_resources: Vec<ApiResource>,
}

/// One resource of an API with its criteria (`api-resources[]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiResource {
    /// Resource name such as `Individual` (`resource-name`).
    #[schemars(length(min = 1))]
    pub resource_name: String,
    /// Gatekeeper criteria filtering the events; `*` means no criteria (`criteria`).
    #[schemars(length(min = 1))]
    pub criteria: String,
    /// Order of application of the criteria, minimum 0; must differ for the same
    /// criteria and resource (`rank`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub rank: Option<i64>,
}

/// A listener receiving the gatekeeper's events: exactly one of `name` (a
/// ListenerRegistration in this namespace, resolved to its framework id) and `id` (a
/// literal framework id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.name) != has(self.id)").message("set exactly one of name and id"))]
pub struct ListenerRef {
    /// Name of a ListenerRegistration in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A framework listener registration id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Routing of a custom non-TMF API to an Open API (`destination-selection[]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DestinationSelection {
    /// API id of the destination Open API (`api-id`).
    #[schemars(pattern(r"^[a-z0-9]{1,8}-[0-9]{1,4}$"))]
    pub api_id: String,
    /// API version of the destination (`api-version`).
    #[schemars(length(min = 1))]
    pub api_version: String,
    /// Criteria selecting the requests routed there (`criteria`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub criteria: Vec<String>,
    /// Free text (`description`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether results appear in sparse query results (`include-in-sparse-query-results`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_in_sparse_query_results: Option<bool>,
}

/// What deleting the resource does to the rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RuleDeletionPolicy {
    /// Leave the rule as it is.
    #[default]
    Orphan,
    /// Put back the rule saved in `status.originalRule`.
    Restore,
}

/// Observed state of a GatekeepingRule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatekeepingRuleStatus {
    /// `Ready` and its reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The framework id of the rule taken in charge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The rule's `endpoint-name` (read-only on the framework).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_name: Option<String>,
    /// The rule as it was when first taken in charge, as the framework's JSON: what
    /// `deletionPolicy: Restore` puts back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_rule: Option<String>,
}

impl GatekeepingRule {
    /// Name of the FrameworkConnection this resource uses.
    pub fn connection_name(&self) -> &str {
        super::framework_connection::connection_or_default(self.spec.connection_name.as_deref())
    }

    /// The framework id of the rule, from status, the annotation, or the selector.
    pub fn external_id(&self) -> Option<&str> {
        self.status
            .as_ref()
            .and_then(|s| s.external_id.as_deref())
            .or_else(|| super::annotation(&self.metadata, super::EXTERNAL_ID_ANNOTATION))
            .or(self.spec.selector.id.as_deref())
    }

    /// Names of the ListenerRegistrations this rule refers to.
    pub fn listener_names(&self) -> impl Iterator<Item = &str> {
        self.spec
            .listener_registration_refs
            .iter()
            .filter_map(|r| r.name.as_deref())
    }
}
