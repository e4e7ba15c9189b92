//! `ListenerRegistration`: one event listener registered on the framework (seed 000).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::secret_ref::{SecretKeyRef, ValueSource};

/// An external application registered as an event listener on the framework: the APIs
/// whose events it receives (each filtered by a criteria query), where they are
/// delivered, and how the framework authenticates to it.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "cxf.dev",
    version = "v1alpha1",
    kind = "ListenerRegistration",
    namespaced,
    status = "ListenerRegistrationStatus",
    shortname = "cxflr",
    category = "cxf",
    printcolumn = r#"{"name":"Ready", "type":"string", "jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Framework ID", "type":"string", "jsonPath":".status.externalId"}"#,
    printcolumn = r#"{"name":"Listener", "type":"string", "jsonPath":".spec.listenerUrl", "priority":1}"#,
    printcolumn = r#"{"name":"Age", "type":"date", "jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.spec.registrationMethod != 'Hub' || size(self.spec.affiliatedApis) == 1").message("registrationMethod Hub takes exactly one affiliated API"),
    validation = Rule::new(super::CONNECTION_IMMUTABLE_RULE).message(super::CONNECTION_IMMUTABLE)
)]
#[serde(rename_all = "camelCase")]
pub struct ListenerRegistrationSpec {
    /// Name of the FrameworkConnection, in this namespace, to register through.
    /// Default: `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_name: Option<String>,
    /// The APIs whose events this listener receives (`affiliated-apis`).
    #[schemars(length(min = 1))]
    pub affiliated_apis: Vec<AffiliatedApi>,
    /// Endpoint URL of the listening application (`listener-url`; the hub's `callback`).
    #[x_kube(validation = Rule::new("self.startsWith('https://') || self.startsWith('http://')").message("listenerUrl must be an http:// or https:// URL"))]
    pub listener_url: String,
    /// How the framework authenticates to the listener when it delivers an event
    /// (`listener-auth`). Omit for a listener without authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<ListenerAuth>,
    /// Listener type: `external` (default) or `internal`.
    #[serde(default, rename = "type")]
    pub listener_type: ListenerType,
    /// How the registration is created: through the admin API's
    /// `listenerRegistrations` (`AdminApi`, default) or through the TMF API's hub
    /// (`Hub`: `POST /api/{ws}/{apiName}/{apiVersion}/hub`, then the credentials by JSON
    /// Patch on the returned id).
    #[serde(default)]
    pub registration_method: RegistrationMethod,
    /// What happens on the framework when this resource is deleted: `Delete` (default)
    /// deletes the registration, `Orphan` leaves it in place.
    #[serde(default)]
    pub deletion_policy: ListenerDeletionPolicy,
}

/// One API whose events the listener receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AffiliatedApi {
    /// Name of the TMF Open API or custom API publishing the events (`api-name`).
    #[schemars(length(min = 1))]
    pub api_name: String,
    /// API number, such as `orcl-200` (`api-number`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_number: Option<String>,
    /// API version, such as `v1` (`api-version`).
    #[schemars(length(min = 1))]
    pub api_version: String,
    /// Gatekeeper criteria selecting the events published to this listener (`query`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// Listener authentication: exactly one of `oidcClientCredentials` and `basic`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.oidcClientCredentials) != has(self.basic)").message("set exactly one of oidcClientCredentials and basic"))]
pub struct ListenerAuth {
    /// OAuth 2.0 client credentials the framework uses to get a token for the listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_client_credentials: Option<OidcClientCredentials>,
    /// HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<BasicAuth>,
}

/// OAuth 2.0 client credentials for the listener (`oidc-client-credentials`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcClientCredentials {
    /// Token URI of the listener's identity server (`identity-uri`).
    #[x_kube(validation = Rule::new("self.startsWith('https://') || self.startsWith('http://')").message("identityUri must be an http:// or https:// URL"))]
    pub identity_uri: String,
    /// Client id (`client-id`), inline or from a Secret.
    pub client_id: ValueSource,
    /// Client secret (`client-secret`): only ever from a Secret.
    pub client_secret: SecretKeyRef,
    /// OAuth scope requested (`scope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// HTTP basic authentication for the listener (`basic`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuth {
    /// User name (`username`), inline or from a Secret.
    pub username: ValueSource,
    /// Password (`password`): only ever from a Secret.
    pub password: SecretKeyRef,
}

/// Listener type (`type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ListenerType {
    /// An external application (the usual case).
    #[default]
    External,
    /// An internal application.
    Internal,
}

/// How a registration is created on the framework.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RegistrationMethod {
    /// `POST /admin/{ws}/listenerRegistrations` with the whole payload.
    #[default]
    AdminApi,
    /// `POST /api/{ws}/{apiName}/{apiVersion}/hub` with callback and query, then the
    /// credentials by JSON Patch on the returned id.
    Hub,
}

/// What deleting the resource does on the framework.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ListenerDeletionPolicy {
    /// Delete the framework registration.
    #[default]
    Delete,
    /// Leave the framework registration in place.
    Orphan,
}

/// Observed state of a ListenerRegistration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerRegistrationStatus {
    /// `Ready` and its reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The framework's id of the registration (also in the `cxf.dev/external-id`
    /// annotation's sense: set that annotation on a new resource to adopt an existing one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// HMAC-SHA256 (hex) of the credential values last applied to the framework, keyed
    /// by the resource's UID: secret values cannot be read back, so a change of this
    /// hash is what sends new credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_hash: Option<String>,
}

/// The value of annotation `cxf.dev/pending-create`, written (with the finalizer, in one
/// write) just before a create is sent: what identifies the registration if the answer
/// is lost. It is settled once `status.externalId` names another id than `replaces`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingCreate {
    /// The `listener-url` sent.
    pub listener_url: String,
    /// The `api-name`s of the affiliated APIs sent, in order.
    pub api_names: Vec<String>,
    /// Ids of the registrations that already matched before the create: never adopted
    /// as its result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    /// The id this create replaces (a registration deleted on the framework), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

impl ListenerRegistration {
    /// Annotation `cxf.dev/pending-create`, read; the error says why it cannot be.
    pub fn pending_create(&self) -> Result<Option<PendingCreate>, String> {
        super::annotation(&self.metadata, super::PENDING_CREATE_ANNOTATION)
            .map(|text| {
                serde_json::from_str(text).map_err(|e| {
                    format!(
                        "annotation {} cannot be read ({e}): it is the operator's; remove it only if no create is under way",
                        super::PENDING_CREATE_ANNOTATION
                    )
                })
            })
            .transpose()
    }

    /// Name of the FrameworkConnection this resource uses.
    pub fn connection_name(&self) -> &str {
        super::framework_connection::connection_or_default(self.spec.connection_name.as_deref())
    }

    /// Every Secret this resource reads.
    pub fn secret_refs(&self) -> Vec<&SecretKeyRef> {
        let Some(auth) = &self.spec.auth else {
            return Vec::new();
        };
        let mut refs = Vec::new();
        if let Some(oidc) = &auth.oidc_client_credentials {
            refs.extend(oidc.client_id.secret());
            refs.push(&oidc.client_secret);
        }
        if let Some(basic) = &auth.basic {
            refs.extend(basic.username.secret());
            refs.push(&basic.password);
        }
        refs
    }

    /// The framework id, from status or (for adoption) the annotation.
    pub fn external_id(&self) -> Option<&str> {
        self.status
            .as_ref()
            .and_then(|s| s.external_id.as_deref())
            .or_else(|| super::annotation(&self.metadata, super::EXTERNAL_ID_ANNOTATION))
    }
}
