//! From an untyped manifest (JSON or YAML, as a [`serde_json::Value`]) to one of our
//! typed resources. Deserializing into the typed spec checks what the schema's types
//! say: required fields, enums, types; errors name the field.
//!
//! [`yaml_documents`] reads YAML text into values with bounded work: YAML aliases let a
//! few hundred bytes stand for billions of values ("billion laughs"); serde_yaml caps
//! nesting (128) and the number of alias jumps, but not what each jump expands to, so
//! every value read is counted against a budget proportional to the text
//! ([`value_budget`]), and a document that exceeds it is an error, not an allocation.

use std::cell::Cell;
use std::fmt;

use kube::core::ObjectMeta;
use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};

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

/// A YAML document that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("document {index}: {message}")]
pub struct YamlError {
    /// 1-based position of the document in the text.
    pub index: usize,
    /// What is wrong.
    pub message: String,
}

/// How many values (scalars, sequences, mappings) YAML text of `len` bytes may expand
/// to: a generous multiple of what it could hold without aliases, so ordinary anchors
/// and merges pass and a bomb stops after a few MiB of values.
pub fn value_budget(len: usize) -> usize {
    100_000 + len.saturating_mul(4)
}

/// The documents of YAML (or JSON) `text`, as values. A document exceeding the
/// [`value_budget`] of the text (all documents together) is an error.
///
/// # Errors
///
/// [`YamlError`]: a syntax error, nesting deeper than 128, or too many values.
pub fn yaml_documents(text: &str) -> Result<Vec<serde_json::Value>, YamlError> {
    let budget = value_budget(text.len());
    let left = Cell::new(budget);
    let mut documents = Vec::new();
    for (i, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        let value = Budgeted { left: &left }
            .deserialize(document)
            .map_err(|e| YamlError {
                index,
                message: if left.get() == 0 {
                    format!(
                        "expands to more than {budget} values (YAML aliases repeating a large node?); refusing to read it"
                    )
                } else {
                    e.to_string()
                },
            })?;
        documents.push(value);
    }
    Ok(documents)
}

/// Deserializes a [`serde_json::Value`], counting each value against `left`.
#[derive(Clone, Copy)]
struct Budgeted<'a> {
    left: &'a Cell<usize>,
}

impl Budgeted<'_> {
    fn spend<E: serde::de::Error>(self) -> Result<(), E> {
        match self.left.get().checked_sub(1) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => Err(E::custom("too many values")),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Budgeted<'_> {
    type Value = serde_json::Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Budgeted<'_> {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.spend()?;
        Ok(v.into())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.spend()?;
        Ok(v.into())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.spend()?;
        Ok(v.into())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.spend()?;
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.spend()?;
        Ok(v.into())
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        self.spend()?;
        Ok(v.into())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        self.spend()?;
        Ok(serde_json::Value::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        self.spend()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(items.into())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        self.spend()?;
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key_seed(self)? {
            let key = match key {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(object.into())
    }
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
    fn yaml_documents_are_read_with_their_values() {
        let documents =
            yaml_documents("a: 1\nb: [x, 2.5, null, true]\n---\n- &k {c: d}\n- *k\n").unwrap();
        assert_eq!(
            documents,
            [
                json!({"a": 1, "b": ["x", 2.5, null, true]}),
                json!([{"c": "d"}, {"c": "d"}])
            ]
        );
    }

    #[test]
    fn a_billion_laughs_is_refused_after_its_budget() {
        // Nine levels of ten aliases each: 10^9 strings if expanded.
        let mut bomb = String::from(
            "a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
        );
        for level in 1..=9 {
            let prev = level - 1;
            bomb.push_str(&format!(
                "a{level}: &a{level} [{}]\n",
                vec![format!("*a{prev}"); 10].join(", ")
            ));
        }
        let error = yaml_documents(&bomb).unwrap_err();
        assert_eq!(error.index, 1);
        assert!(error.message.contains("expands to more than"), "{error}");
    }

    #[test]
    fn wide_aliases_of_a_large_node_are_refused_too() {
        // What serde_yaml's own alias limit lets through: few jumps, each of a big node.
        let mut bomb = format!("big: &b [{}]\n", vec!["x"; 20_000].join(", "));
        bomb.push_str(&format!("copies: [{}]\n", vec!["*b"; 1_000].join(", ")));
        let error = yaml_documents(&bomb).unwrap_err();
        assert!(error.message.contains("expands to more than"), "{error}");
    }

    #[test]
    fn deep_nesting_and_bad_syntax_are_errors() {
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        let error = yaml_documents(&deep).unwrap_err();
        assert!(error.message.contains("recursion limit"), "{error}");
        let error = yaml_documents("a: 1\n---\nb: [\n").unwrap_err();
        assert_eq!(error.index, 2);
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
