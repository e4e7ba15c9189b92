//! The operator's custom resources (group `cxf.dev`, version `v1alpha1`, all namespaced):
//! [`FrameworkConnection`], [`ListenerRegistration`] and [`GatekeepingRule`].
//!
//! These types are the public contract shared by the controllers, the admission webhook
//! and `cxf-operator validate`; every field's doc comment is what `kubectl explain`
//! shows.

pub mod conditions;
pub mod framework_connection;
pub mod gatekeeping_rule;
pub mod listener_registration;
pub mod secret_access;
pub mod secret_ref;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::core::ObjectMeta;

pub use framework_connection::FrameworkConnection;
pub use gatekeeping_rule::GatekeepingRule;
pub use listener_registration::ListenerRegistration;

/// API group of every resource.
pub const GROUP: &str = "cxf.dev";
/// Annotation holding the framework id. Set on a new resource, it adopts the existing
/// framework object instead of creating one.
pub const EXTERNAL_ID_ANNOTATION: &str = "cxf.dev/external-id";
/// Annotation holding a create that was sent but whose id is not recorded yet (JSON of
/// [`listener_registration::PendingCreate`]); written by the operator only.
pub const PENDING_CREATE_ANNOTATION: &str = "cxf.dev/pending-create";
/// CEL transition rule (root): `spec.connectionName` (default `default`) never changes.
pub const CONNECTION_IMMUTABLE_RULE: &str = "(has(self.spec.connectionName) ? self.spec.connectionName : 'default') == (has(oldSelf.spec.connectionName) ? oldSelf.spec.connectionName : 'default')";
/// Message of [`CONNECTION_IMMUTABLE_RULE`].
pub const CONNECTION_IMMUTABLE: &str =
    "spec.connectionName is immutable: create a new resource to use another connection";
/// Message of the CEL transition rule on `GatekeepingRule.spec.selector`.
pub const SELECTOR_IMMUTABLE: &str =
    "spec.selector is immutable: create a new resource to take another rule in charge";
/// Annotation `cxf.dev/abandon: "true"`: on deletion, let go of the framework object
/// without calling the framework (for a connection that is gone or broken).
pub const ABANDON_ANNOTATION: &str = "cxf.dev/abandon";

/// The value of annotation `key`, if set.
pub fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// Whether the resource carries `cxf.dev/abandon: "true"`.
pub fn is_abandoned(meta: &ObjectMeta) -> bool {
    annotation(meta, ABANDON_ANNOTATION) == Some("true")
}

/// `text` made a fragment of a DNS label (a Kubernetes name): lower case, every
/// character but `[a-z0-9]` replaced by `-`, at most `max` characters, no `-` at either
/// end. Empty if nothing of `text` is left.
pub fn dns_label(text: &str, max: usize) -> String {
    let mut label: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    label.truncate(max);
    label.trim_matches('-').to_owned()
}

/// The CRDs of all resources, in a stable order, with the file name `crds/` holds each
/// one under.
pub fn crds() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        (
            "frameworkconnections.cxf.dev.yaml",
            FrameworkConnection::crd(),
        ),
        (
            "listenerregistrations.cxf.dev.yaml",
            ListenerRegistration::crd(),
        ),
        ("gatekeepingrules.cxf.dev.yaml", GatekeepingRule::crd()),
    ]
}

/// One CRD as the YAML document written to `crds/` and printed by `cxf-operator crds`.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(crd)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `crds/` holds exactly what the generator prints: regenerate with
    /// `cargo run -- crds --output-dir crds`.
    #[test]
    fn crds_directory_matches_the_generator() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
        let mut expected: Vec<String> = crds().iter().map(|(file, _)| (*file).to_owned()).collect();
        for (file, crd) in crds() {
            let on_disk = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
            assert_eq!(
                on_disk,
                crd_yaml(&crd).unwrap(),
                "crds/{file} is stale: run `cargo run -- crds --output-dir crds`"
            );
        }
        let mut present: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        present.sort();
        expected.sort();
        assert_eq!(
            present, expected,
            "crds/ holds files the generator does not write"
        );
    }

    #[test]
    fn crds_carry_category_short_names_and_status() {
        for (_, crd) in crds() {
            assert_eq!(crd.spec.group, GROUP);
            assert_eq!(crd.spec.scope, "Namespaced");
            assert_eq!(
                crd.spec.names.categories.as_deref(),
                Some(&["cxf".to_owned()][..])
            );
            assert_eq!(crd.spec.names.short_names.as_ref().map(Vec::len), Some(1));
            let version = &crd.spec.versions[0];
            assert!(version.subresources.as_ref().unwrap().status.is_some());
            let columns: Vec<&str> = version
                .additional_printer_columns
                .iter()
                .flatten()
                .map(|c| c.name.as_str())
                .collect();
            assert!(columns.contains(&"Ready") && columns.contains(&"Age"));
        }
    }

    #[test]
    fn abandon_annotation_must_be_true() {
        let mut meta = ObjectMeta::default();
        assert!(!is_abandoned(&meta));
        meta.annotations = Some([(ABANDON_ANNOTATION.to_owned(), "yes".to_owned())].into());
        assert!(!is_abandoned(&meta));
        meta.annotations = Some([(ABANDON_ANNOTATION.to_owned(), "true".to_owned())].into());
        assert!(is_abandoned(&meta));
    }

    #[test]
    fn a_dns_label_is_lower_case_alphanumeric_and_dashes_within_its_length() {
        // (text, max) → label
        let cases = [
            ("Tax Engine #1", 63, "tax-engine--1"),
            ("--01-lr-7--", 63, "01-lr-7"),
            ("abcdef", 4, "abcd"),
            ("abc-def", 4, "abc"),
            ("ÄÖ", 63, ""),
        ];
        for (text, max, label) in cases {
            assert_eq!(dns_label(text, max), label, "{text:?}");
        }
    }
}
