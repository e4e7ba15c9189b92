//! `FrameworkConnection`: where and how the operator reaches one framework's admin API.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::secret_ref::SecretKeyRef;

/// Name of the FrameworkConnection used by resources that name none.
pub const DEFAULT_CONNECTION: &str = "default";

/// The FrameworkConnection a resource uses: the one its `connectionName` names, else
/// [`DEFAULT_CONNECTION`].
pub fn connection_or_default(connection_name: Option<&str>) -> &str {
    connection_name.unwrap_or(DEFAULT_CONNECTION)
}

/// Where and how to reach one CX Industries Framework admin API: the gateway, the
/// workspace, the operator's own credentials, and how hard to call it.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "cxf.dev",
    version = "v1alpha1",
    kind = "FrameworkConnection",
    namespaced,
    status = "FrameworkConnectionStatus",
    shortname = "cxfconn",
    category = "cxf",
    printcolumn = r#"{"name":"Ready", "type":"string", "jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reachable", "type":"string", "jsonPath":".status.conditions[?(@.type==\"Reachable\")].status"}"#,
    printcolumn = r#"{"name":"Gateway", "type":"string", "jsonPath":".spec.gatewayUrl"}"#,
    printcolumn = r#"{"name":"Workspace", "type":"string", "jsonPath":".spec.workspace"}"#,
    printcolumn = r#"{"name":"Age", "type":"date", "jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct FrameworkConnectionSpec {
    /// Base URL of the framework's API gateway, such as `https://gw.example.com`.
    /// Admin calls go to `<gatewayUrl>/admin/<workspace>/...`.
    #[x_kube(validation = Rule::new("self.startsWith('https://') || self.startsWith('http://')").message("gatewayUrl must be an http:// or https:// URL"))]
    pub gateway_url: String,
    /// Workspace path segment, such as `01` or `02`. Omit it when calling through the
    /// FA API Gateway, whose admin paths have no workspace segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[A-Za-z0-9_-]{1,32}$"))]
    pub workspace: Option<String>,
    /// The operator's own credentials to the admin API.
    pub auth: ConnectionAuth,
    /// PEM bundle of the certificate authorities to trust for the gateway (and the token
    /// URL), in addition to the system roots. Not secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<String>,
    /// HTTP verb used to update a gatekeeping rule: `PATCH` (the user guide, default) or
    /// `PUT` (the REST reference).
    #[serde(default)]
    pub rule_update_verb: RuleUpdateVerb,
    /// Most admin API requests per second the operator sends to this framework, across
    /// all resources. Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000), extend("format" = "int32"))]
    pub requests_per_second: Option<u32>,
    /// How often the operator lists the framework's objects to detect and revert changes
    /// made outside Kubernetes (one list call per kind and interval), such as `5m` or
    /// `30s`. Default: the `--drift-interval` flag of `cxf-operator run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_check_interval: Option<kube::core::Duration>,
}

/// The operator's credentials to the admin API: exactly one of `oauth2` and
/// `bearerToken`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.oauth2) != has(self.bearerToken)").message("set exactly one of oauth2 and bearerToken"))]
pub struct ConnectionAuth {
    /// OAuth 2.0 client credentials grant against the token URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuthClientCredentials>,
    /// A fixed bearer token, read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<SecretKeyRef>,
}

/// OAuth 2.0 client credentials of the operator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientCredentials {
    /// Token endpoint. Default: `<gatewayUrl>/oauth2/token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('https://') || self.startsWith('http://')").message("tokenUrl must be an http:// or https:// URL"))]
    pub token_url: Option<String>,
    /// The operator's client id (not secret).
    #[schemars(length(min = 1))]
    pub client_id: String,
    /// The Secret key holding the operator's client secret.
    pub client_secret: SecretKeyRef,
    /// Scope requested with the token, if the identity server needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// HTTP verb for gatekeeping rule updates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RuleUpdateVerb {
    /// `PATCH /admin/{ws}/gatekeepingRules/{id}` with the whole rule (user guide).
    #[default]
    #[serde(rename = "PATCH")]
    Patch,
    /// `PUT /admin/{ws}/gatekeepingRules/{id}` with the whole rule (REST reference).
    #[serde(rename = "PUT")]
    Put,
}

/// Observed state of a FrameworkConnection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct FrameworkConnectionStatus {
    /// `Ready`: True when a token was obtained and a read call succeeded; otherwise the
    /// reason says why not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl FrameworkConnection {
    /// Whether the connection last reported `Ready=True`.
    pub fn is_ready(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| super::conditions::is_ready(&s.conditions))
    }

    /// Every Secret this connection reads.
    pub fn secret_refs(&self) -> Vec<&SecretKeyRef> {
        let auth = &self.spec.auth;
        auth.oauth2
            .as_ref()
            .map(|o| &o.client_secret)
            .into_iter()
            .chain(auth.bearer_token.as_ref())
            .collect()
    }
}
