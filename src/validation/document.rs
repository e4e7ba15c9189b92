//! From an untyped manifest (JSON or YAML, as a [`serde_json::Value`]) to one of our
//! typed resources. Deserializing into the typed spec checks what the schema's types
//! say: required fields, enums, types; errors name the field.

use kube::core::ObjectMeta;
use serde::de::DeserializeOwned;

use super::{Finding, Resource};
use crate::resources::{FrameworkConnection, GROUP, GatekeepingRule, ListenerRegistration};

/// The only version of our resources.
pub const VERSION: &str = "v1alpha1";

/// What a manifest is, as far as validation goes.
#[derive(Debug)]
pub enum Decoded {
    /// Not a kind of ours (or not an object at all): ignored.
    NotOurs,
    /// Of our group, but not a valid resource: the kind and name (as far as known) and
    /// why.
    Invalid {
        /// `kind`, as written.
        kind: String,
        /// `metadata.name`, if readable.
        name: String,
        /// What is wrong (errors).
        findings: Vec<Finding>,
    },
    /// One of our resources.
    Resource(Resource),
}

/// Decodes `value`: resources of group `cxf.dev` become typed, everything else is
/// [`Decoded::NotOurs`].
pub fn decode(value: &serde_json::Value) -> Decoded {
    let api_version = value
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let Some((group, version)) = api_version.split_once('/') else {
        return Decoded::NotOurs;
    };
    if group != GROUP {
        return Decoded::NotOurs;
    }
    let kind = value
        .get("kind")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let name = value
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let invalid = |findings| Decoded::Invalid {
        kind: kind.clone(),
        name: name.clone(),
        findings,
    };
    if version != VERSION {
        return invalid(vec![Finding::error(
            "apiVersion",
            format!("{api_version} is not served; use {GROUP}/{VERSION}"),
        )]);
    }
    let result = match kind.as_str() {
        "FrameworkConnection" => {
            typed::<FrameworkConnection>(value).map(|r| Resource::FrameworkConnection(Box::new(r)))
        }
        "ListenerRegistration" => typed::<ListenerRegistration>(value)
            .map(|r| Resource::ListenerRegistration(Box::new(r))),
        "GatekeepingRule" => {
            typed::<GatekeepingRule>(value).map(|r| Resource::GatekeepingRule(Box::new(r)))
        }
        other => Err(vec![Finding::error(
            "kind",
            format!(
                "{other:?} is not a kind of {GROUP}; use FrameworkConnection, ListenerRegistration or GatekeepingRule"
            ),
        )]),
    };
    match result {
        Ok(resource) => Decoded::Resource(resource),
        Err(findings) => invalid(findings),
    }
}

/// Deserializes the whole object, reporting the field path of the first problem in
/// `metadata` and in `spec` (a missing `spec` is reported as such).
fn typed<K: DeserializeOwned>(value: &serde_json::Value) -> Result<K, Vec<Finding>> {
    let mut findings = Vec::new();
    if let Some(meta) = value.get("metadata")
        && let Err(e) = serde_path_to_error::deserialize::<_, ObjectMeta>(meta)
    {
        findings.push(path_finding("metadata", &e));
    }
    match value.get("spec") {
        None => findings.push(Finding::error("spec", "is required")),
        Some(spec) => {
            if let Err(e) = serde_path_to_error::deserialize::<_, K>(&serde_json::json!({
                "apiVersion": value["apiVersion"], "kind": value["kind"], "metadata": {}, "spec": spec,
            })) {
                findings.push(path_finding("", &e));
            }
        }
    }
    if !findings.is_empty() {
        return Err(findings);
    }
    let mut object = value.clone();
    // Status is the controllers' business: an applied manifest's status is ignored.
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    serde_json::from_value(object).map_err(|e| vec![Finding::error("", e.to_string())])
}

fn path_finding(prefix: &str, error: &serde_path_to_error::Error<serde_json::Error>) -> Finding {
    let path = error.path().to_string();
    let field = match (prefix.is_empty(), path.as_str()) {
        (_, ".") => prefix.to_owned(),
        (true, _) => path,
        (false, _) => format!("{prefix}.{path}"),
    };
    Finding::error(field, error.inner().to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn findings(value: serde_json::Value) -> Vec<String> {
        match decode(&value) {
            Decoded::Invalid { findings, .. } => findings.iter().map(ToString::to_string).collect(),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn other_groups_are_not_ours() {
        assert!(matches!(
            decode(&json!({"apiVersion": "v1", "kind": "ConfigMap"})),
            Decoded::NotOurs
        ));
        assert!(matches!(
            decode(&json!({"apiVersion": "apps/v1", "kind": "Deployment"})),
            Decoded::NotOurs
        ));
        assert!(matches!(decode(&json!("text")), Decoded::NotOurs));
    }

    #[test]
    fn a_missing_required_field_is_named_with_its_path() {
        let found = findings(json!({
            "apiVersion": "cxf.dev/v1alpha1", "kind": "ListenerRegistration", "metadata": {"name": "l"},
            "spec": {"listenerUrl": "https://l", "affiliatedApis": [{"apiName": "a"}]},
        }));
        assert_eq!(
            found,
            ["spec.affiliatedApis[0]: missing field `apiVersion`"]
        );
    }

    #[test]
    fn a_bad_enum_value_is_named_with_its_path() {
        let found = findings(json!({
            "apiVersion": "cxf.dev/v1alpha1", "kind": "ListenerRegistration", "metadata": {"name": "l"},
            "spec": {"listenerUrl": "https://l", "registrationMethod": "Carrier", "affiliatedApis": [{"apiName": "a", "apiVersion": "v1"}]},
        }));
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("spec.registrationMethod: unknown variant `Carrier`"),
            "{found:?}"
        );
    }

    #[test]
    fn unknown_kinds_versions_and_missing_spec() {
        assert!(
            findings(json!({"apiVersion": "cxf.dev/v1alpha1", "kind": "Listener"}))[0]
                .starts_with("kind: \"Listener\" is not a kind")
        );
        assert!(
            findings(json!({"apiVersion": "cxf.dev/v1", "kind": "GatekeepingRule"}))[0]
                .starts_with("apiVersion: cxf.dev/v1 is not served")
        );
        assert_eq!(
            findings(
                json!({"apiVersion": "cxf.dev/v1alpha1", "kind": "GatekeepingRule", "metadata": {"name": "r"}})
            ),
            ["spec: is required"]
        );
    }

    #[test]
    fn a_valid_resource_decodes_with_its_name_and_namespace() {
        let decoded = decode(&json!({
            "apiVersion": "cxf.dev/v1alpha1", "kind": "FrameworkConnection", "metadata": {"name": "default", "namespace": "ns"},
            "spec": {"gatewayUrl": "https://gw", "auth": {"bearerToken": {"name": "s", "key": "k"}}},
            "status": {"conditions": "not a list"},
        }));
        let Decoded::Resource(resource) = decoded else {
            panic!("{decoded:?}")
        };
        assert_eq!(
            (resource.kind(), resource.name(), resource.namespace()),
            ("FrameworkConnection", "default", Some("ns"))
        );
    }
}
