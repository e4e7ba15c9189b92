//! Validation of a set of manifests together, as `cxf-operator validate` reads them
//! from Git: each document on its own, plus what only the set can tell: references to
//! ListenerRegistrations that are in none of the documents, and to FrameworkConnections
//! that are not when the documents hold some (warnings: a connection is often managed
//! apart from the resources using it), and the same resource defined twice in one
//! namespace, or in one file when the documents name no namespace (errors).

use std::collections::{BTreeSet, HashMap};

use super::{Decoded, Finding, Known, Resource, check, decode};

/// One document of the input, with where it came from.
#[derive(Clone, Debug)]
pub struct Document {
    /// The file it was read from (`-` for stdin).
    pub file: String,
    /// Its 1-based position in the file.
    pub index: usize,
    /// The document itself.
    pub value: serde_json::Value,
}

/// The findings about one of our resources.
#[derive(Clone, Debug)]
pub struct DocumentReport {
    /// The file it was read from.
    pub file: String,
    /// Its 1-based position in the file.
    pub index: usize,
    /// Its kind, as written.
    pub kind: String,
    /// Its name, as written (empty if missing).
    pub name: String,
    /// Errors and warnings, errors first.
    pub findings: Vec<Finding>,
}

/// Checks every document of ours in `documents` (others are skipped), in order.
pub fn check_all(documents: &[Document]) -> Vec<DocumentReport> {
    let decoded: Vec<(&Document, Decoded)> =
        documents.iter().map(|d| (d, decode(&d.value))).collect();
    let resources: Vec<&Resource> = decoded
        .iter()
        .filter_map(|(_, d)| match d {
            Decoded::Resource(r) => Some(r),
            _ => None,
        })
        .collect();
    let mut first_seen: HashMap<(&str, &str, &str), &Document> = HashMap::new();
    let mut reports = Vec::new();
    for (document, decoded) in &decoded {
        let report = |kind: &str, name: &str, findings| DocumentReport {
            file: document.file.clone(),
            index: document.index,
            kind: kind.to_owned(),
            name: name.to_owned(),
            findings,
        };
        match decoded {
            Decoded::NotOurs => {}
            Decoded::Invalid {
                kind,
                name,
                findings,
            } => reports.push(report(kind, name, findings.clone())),
            Decoded::Resource(resource) => {
                let mut findings = check(resource, &known_for(resource, &resources));
                // Without a namespace, documents of different files may well land in
                // different namespaces (kustomize and Argo CD set it per application).
                let scope = resource.namespace().unwrap_or(&document.file);
                let key = (resource.kind(), scope, resource.name());
                if !resource.name().is_empty()
                    && let Some(first) = first_seen.insert(key, document)
                {
                    findings.insert(
                        0,
                        Finding::error(
                            "metadata.name",
                            format!(
                                "{} {} is defined twice (also at {}:{})",
                                resource.kind(),
                                resource.name(),
                                first.file,
                                first.index
                            ),
                        ),
                    );
                }
                reports.push(report(resource.kind(), resource.name(), findings));
            }
        }
    }
    reports
}

/// The names `resource` may refer to: those of the same namespace among `resources`
/// (a document without a namespace matches any: it lands in whatever namespace it is
/// applied to).
fn known_for(resource: &Resource, resources: &[&Resource]) -> Known {
    let same_namespace = |other: &&&Resource| match (resource.namespace(), other.namespace()) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    let names = |kind: &str| -> BTreeSet<String> {
        resources
            .iter()
            .filter(same_namespace)
            .filter(|r| r.kind() == kind)
            .map(|r| r.name().to_owned())
            .collect()
    };
    let any_connection = resources.iter().any(|r| r.kind() == "FrameworkConnection");
    Known {
        listener_registrations: Some(names("ListenerRegistration")),
        framework_connections: any_connection.then(|| names("FrameworkConnection")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(index: usize, value: serde_json::Value) -> Document {
        Document {
            file: "f.yaml".into(),
            index,
            value,
        }
    }

    fn rule(namespace: &str, listener: &str) -> serde_json::Value {
        json!({
            "apiVersion": "cxf.dev/v1alpha1", "kind": "GatekeepingRule", "metadata": {"name": "r", "namespace": namespace},
            "spec": {
                "selector": {"endpointName": "tmf632"},
                "gatekeepingApis": [{"apiId": "tmf-632", "apiName": "Party", "apiVersion": "v4", "apiResources": [{"resourceName": "I", "criteria": "*", "rank": 0}]}],
                "listenerRegistrationRefs": [{"name": listener}],
            },
        })
    }

    fn listener(namespace: Option<&str>) -> serde_json::Value {
        json!({
            "apiVersion": "cxf.dev/v1alpha1", "kind": "ListenerRegistration", "metadata": {"name": "l", "namespace": namespace},
            "spec": {"listenerUrl": "https://l", "affiliatedApis": [{"apiName": "a", "apiVersion": "v1"}]},
        })
    }

    fn connection() -> serde_json::Value {
        json!({
            "apiVersion": "cxf.dev/v1alpha1", "kind": "FrameworkConnection", "metadata": {"name": "default"},
            "spec": {"gatewayUrl": "https://gw", "auth": {"bearerToken": {"name": "s", "key": "k"}}},
        })
    }

    #[test]
    fn references_resolve_within_the_inputs_and_namespace() {
        let reports = check_all(&[
            doc(1, connection()),
            doc(2, listener(Some("a"))),
            doc(3, rule("a", "l")),
            doc(4, json!({"kind": "ConfigMap"})),
        ]);
        assert_eq!(reports.len(), 3);
        assert!(reports.iter().all(|r| r.findings.is_empty()), "{reports:?}");

        let reports = check_all(&[
            doc(1, connection()),
            doc(2, listener(Some("b"))),
            doc(3, rule("a", "l")),
        ]);
        let findings = &reports[2].findings;
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].field, "spec.listenerRegistrationRefs[0].name");
        assert!(!findings[0].is_error());

        let reports = check_all(&[
            doc(1, connection()),
            doc(2, listener(None)),
            doc(3, rule("a", "l")),
        ]);
        assert!(reports[2].findings.is_empty());
    }

    #[test]
    fn connections_are_checked_only_when_the_inputs_hold_some() {
        let reports = check_all(&[doc(1, listener(None))]);
        assert!(reports[0].findings.is_empty(), "{reports:?}");
        let mut other = connection();
        other["metadata"]["name"] = json!("other");
        let reports = check_all(&[doc(1, other), doc(2, listener(None))]);
        assert_eq!(reports[1].findings.len(), 1);
        assert_eq!(reports[1].findings[0].field, "spec.connectionName");
    }

    #[test]
    fn a_resource_defined_twice_is_an_error_naming_the_first() {
        let reports = check_all(&[doc(1, connection()), doc(2, connection())]);
        assert!(reports[0].findings.is_empty());
        assert_eq!(
            reports[1].findings[0].to_string(),
            "metadata.name: FrameworkConnection default is defined twice (also at f.yaml:1)"
        );
        assert_eq!(
            (
                reports[1].index,
                reports[1].kind.as_str(),
                reports[1].name.as_str()
            ),
            (2, "FrameworkConnection", "default")
        );
    }

    #[test]
    fn without_a_namespace_only_the_same_file_is_a_duplicate() {
        let mut elsewhere = doc(1, connection());
        elsewhere.file = "other/f.yaml".into();
        let reports = check_all(&[doc(1, connection()), elsewhere.clone()]);
        assert!(
            reports[1].findings.is_empty(),
            "may be applied to another namespace"
        );
        elsewhere.value["metadata"]["namespace"] = json!("a");
        let mut here = doc(1, connection());
        here.value["metadata"]["namespace"] = json!("a");
        let reports = check_all(&[here, elsewhere]);
        assert!(reports[1].findings[0].message.contains("defined twice"));
    }

    #[test]
    fn invalid_documents_are_reported_with_what_is_known() {
        let reports = check_all(&[doc(
            1,
            json!({"apiVersion": "cxf.dev/v1alpha1", "kind": "GatekeepingRule", "metadata": {"name": "x"}}),
        )]);
        assert_eq!(
            (reports[0].kind.as_str(), reports[0].name.as_str()),
            ("GatekeepingRule", "x")
        );
        assert_eq!(reports[0].findings[0].to_string(), "spec: is required");
    }
}
