//! `POST /validate`: AdmissionReview v1 in, the validation library's verdict out.
//! Errors refuse the change (all of them, with their field paths); warnings go back as
//! admission warnings, which kubectl prints. Anything that is not one of our
//! resources is allowed untouched.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use kube::Client;
use kube::api::{Api, ListParams};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};

use crate::resources::{FrameworkConnection, ListenerRegistration};
use crate::validation::{self, Decoded, Known, Resource};

/// How long the webhook waits for the API server when looking up references; past
/// that, the reference warnings are skipped rather than the request failed.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Kubernetes truncates longer warnings.
const MAX_WARNING_LEN: usize = 256;

/// What the webhook needs to answer: a client to look up the names that references
/// point to (`None`: reference checks are skipped).
#[derive(Clone, Default)]
pub struct Validator {
    client: Option<Client>,
}

impl Validator {
    /// A validator looking references up through `client`.
    pub fn new(client: Option<Client>) -> Self {
        Self { client }
    }

    /// Answers one AdmissionReview.
    pub async fn review(
        &self,
        review: AdmissionReview<DynamicObject>,
    ) -> AdmissionReview<DynamicObject> {
        let request: AdmissionRequest<DynamicObject> = match review.try_into() {
            Ok(request) => request,
            Err(e) => return AdmissionResponse::invalid(e).into_review(),
        };
        let Some(object) = &request.object else {
            return AdmissionResponse::from(&request).into_review();
        };
        let value = match serde_json::to_value(object) {
            Ok(value) => value,
            Err(e) => {
                return AdmissionResponse::invalid(format!("reading the object: {e}"))
                    .into_review();
            }
        };
        let known = match (&validation::decode(&value), request.namespace.as_deref()) {
            (Decoded::Resource(resource), Some(namespace)) => self.known(resource, namespace).await,
            _ => Known::default(),
        };
        respond(&request, &value, &known).into_review()
    }

    /// The names that `resource`'s references may point to, in `namespace`.
    async fn known(&self, resource: &Resource, namespace: &str) -> Known {
        let Some(client) = &self.client else {
            return Known::default();
        };
        let (listeners, connections) = match resource {
            Resource::FrameworkConnection(_) => return Known::default(),
            Resource::ListenerRegistration(_) => (false, true),
            Resource::GatekeepingRule(_) => (true, true),
        };
        Known {
            listener_registrations: if listeners {
                names::<ListenerRegistration>(Api::namespaced(client.clone(), namespace)).await
            } else {
                None
            },
            framework_connections: if connections {
                names::<FrameworkConnection>(Api::namespaced(client.clone(), namespace)).await
            } else {
                None
            },
        }
    }
}

/// Names of every `K` visible through `api`, or `None` if the lookup fails or is slow.
async fn names<K>(api: Api<K>) -> Option<BTreeSet<String>>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match tokio::time::timeout(LOOKUP_TIMEOUT, api.list_metadata(&ListParams::default())).await {
        Ok(Ok(list)) => Some(
            list.items
                .into_iter()
                .filter_map(|o| o.metadata.name)
                .collect(),
        ),
        Ok(Err(e)) => {
            tracing::warn!(kind = %K::kind(&()), error = %e, "webhook: listing names for the reference checks failed; skipping them");
            None
        }
        Err(_) => {
            tracing::warn!(kind = %K::kind(&()), "webhook: listing names for the reference checks timed out; skipping them");
            None
        }
    }
}

/// The verdict on `object` (the request's object as JSON), given the `known` names.
/// Pure: this is what the tests drive.
pub fn respond(
    request: &AdmissionRequest<DynamicObject>,
    object: &serde_json::Value,
    known: &Known,
) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    // A resource on its way out (finalizers being removed) is never held back by its spec.
    if object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        return response;
    }
    let findings = match validation::decode(object) {
        Decoded::NotOurs => return response,
        Decoded::Invalid { findings, .. } => findings,
        Decoded::Resource(resource) => validation::check(&resource, known),
    };
    let (errors, mut warnings): (Vec<_>, Vec<_>) = findings
        .into_iter()
        .partition(validation::Finding::is_error);
    // An update that leaves the spec as it is (a label, a finalizer added by the
    // controller) is not held back by a spec stored before a check existed: its
    // errors become warnings.
    if spec_unchanged(request, object) {
        warnings.extend(errors.into_iter().map(|mut error| {
            error.message = format!("(stored spec, unchanged) {}", error.message);
            error
        }));
        return with_warnings(response, &warnings);
    }
    let response = with_warnings(response, &warnings);
    if errors.is_empty() {
        return response;
    }
    let message = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let mut response = response.deny(message);
    response.result.code = 422;
    response.result.reason = "Invalid".into();
    response
}

/// Whether the request is an update whose old object has the same spec.
fn spec_unchanged(request: &AdmissionRequest<DynamicObject>, object: &serde_json::Value) -> bool {
    let Some(old) = &request.old_object else {
        return false;
    };
    serde_json::to_value(old).is_ok_and(|old| old.get("spec") == object.get("spec"))
}

/// `response` with `warnings`, each on one short line.
fn with_warnings(
    mut response: AdmissionResponse,
    warnings: &[validation::Finding],
) -> AdmissionResponse {
    if !warnings.is_empty() {
        response.warnings = Some(
            warnings
                .iter()
                .map(|w| warning_text(&w.to_string()))
                .collect(),
        );
    }
    response
}

/// One line, at most [`MAX_WARNING_LEN`] bytes.
fn warning_text(text: &str) -> String {
    let mut line = text.replace(['\n', '\r'], " ");
    if line.len() > MAX_WARNING_LEN {
        let mut end = MAX_WARNING_LEN - 3;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push_str("...");
    }
    line
}

/// The axum handler of `POST /validate`.
pub async fn handle(
    State(validator): State<Validator>,
    Json(review): Json<AdmissionReview<DynamicObject>>,
) -> Json<AdmissionReview<DynamicObject>> {
    Json(validator.review(review).await)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(object: serde_json::Value) -> AdmissionRequest<DynamicObject> {
        let review: AdmissionReview<DynamicObject> = serde_json::from_value(json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u-1",
                "kind": {"group": "cxf.dev", "version": "v1alpha1", "kind": object["kind"]},
                "resource": {"group": "cxf.dev", "version": "v1alpha1", "resource": "x"},
                "operation": "CREATE", "namespace": "ns", "name": "n",
                "userInfo": {}, "object": object, "dryRun": false,
            },
        }))
        .unwrap();
        review.try_into().unwrap()
    }

    fn listener(query: &str) -> serde_json::Value {
        json!({
            "apiVersion": "cxf.dev/v1alpha1", "kind": "ListenerRegistration", "metadata": {"name": "n", "namespace": "ns"},
            "spec": {"listenerUrl": "https://l", "affiliatedApis": [{"apiName": "a", "apiVersion": "v1", "query": query}]},
        })
    }

    #[test]
    fn criteria_errors_are_denied_with_field_and_position() {
        let object = listener("/a eq 1 and (/b eq )");
        let response = respond(&request(object.clone()), &object, &Known::default());
        assert!(!response.allowed);
        assert_eq!(response.uid, "u-1");
        assert!(
            response
                .result
                .message
                .starts_with("spec.affiliatedApis[0].query: line 1, column 20: "),
            "{}",
            response.result.message
        );
        assert_eq!(response.result.code, 422);
    }

    #[test]
    fn lint_findings_and_missing_references_are_warnings() {
        let object = listener("/a eq 1 or /b eq 2 and /c eq 3");
        let known = Known {
            framework_connections: Some(BTreeSet::new()),
            ..Known::default()
        };
        let response = respond(&request(object.clone()), &object, &known);
        assert!(response.allowed);
        let warnings = response.warnings.unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings.iter().any(|w| {
            w.starts_with("spec.affiliatedApis[0].query: line 1, column 20: `and` binds")
        }));
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("FrameworkConnection 'default' does not exist"))
        );
    }

    #[test]
    fn other_kinds_and_deleting_resources_are_allowed() {
        let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "("}});
        assert!(respond(&request(config_map.clone()), &config_map, &Known::default()).allowed);
        let mut deleting = listener("(");
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert!(respond(&request(deleting.clone()), &deleting, &Known::default()).allowed);
        let valid = listener("*");
        let response = respond(&request(valid.clone()), &valid, &Known::default());
        assert!(response.allowed && response.warnings.is_none());
    }

    #[test]
    fn an_update_that_keeps_an_invalid_spec_is_allowed_with_warnings() {
        let object = listener("/a eq");
        let mut update = request(object.clone());
        update.old_object = Some(serde_json::from_value(object.clone()).unwrap());
        let response = respond(&update, &object, &Known::default());
        assert!(response.allowed);
        let warnings = response.warnings.unwrap();
        assert!(
            warnings[0].starts_with(
                "spec.affiliatedApis[0].query: (stored spec, unchanged) line 1, column 6"
            ),
            "{warnings:?}"
        );

        let changed = listener("/b eq");
        let response = respond(&update, &changed, &Known::default());
        assert!(!response.allowed, "a changed spec is checked");
    }

    #[test]
    fn long_warnings_are_cut_to_one_short_line() {
        let text = warning_text(&format!("a\nb{}", "é".repeat(300)));
        assert!(text.len() <= MAX_WARNING_LEN && text.starts_with("a b") && text.ends_with("..."));
    }
}
