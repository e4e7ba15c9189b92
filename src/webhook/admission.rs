//! `POST /validate`: AdmissionReview v1 in, the validation library's verdict out.
//! Errors refuse the change (all of them, with their field paths); warnings go back as
//! admission warnings, which kubectl prints. Anything that is not one of our
//! resources is allowed untouched. A FrameworkConnection or ListenerRegistration whose
//! author may not read the Secrets it references is refused ([`super::secret_access`]).
//!
//! Bad input: a body over [`MAX_REVIEW_BYTES`] is answered 413 without being read
//! further; a body that is not an AdmissionReview v1 with a request (malformed JSON,
//! nesting deeper than serde_json's limit of 128) is answered 400 with the reason
//! ([`decode_review`], which the fuzz target `admission_review` drives).

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kube::Client;
use kube::api::{Api, ListParams};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};

use super::secret_access;
use crate::resources::{FrameworkConnection, ListenerRegistration};
use crate::validation::{self, Decoded, Known, Resource};

/// How long the webhook waits for the API server when looking up references; past
/// that, the reference warnings are skipped rather than the request failed.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Kubernetes truncates longer warnings.
const MAX_WARNING_LEN: usize = 256;

/// The largest AdmissionReview read. The API server stores objects of at most 1.5 MiB
/// (etcd's default) and takes request bodies of at most 3 MiB; an update's review
/// carries the object twice (`object`, `oldObject`).
pub const MAX_REVIEW_BYTES: usize = 8 * 1024 * 1024;

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

    /// Answers one admission request.
    pub async fn review(
        &self,
        request: AdmissionRequest<DynamicObject>,
    ) -> AdmissionReview<DynamicObject> {
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
        let (known, secrets) = match (&validation::decode(&value), request.namespace.as_deref()) {
            (Decoded::Resource(resource), Some(namespace)) => {
                let old = request
                    .old_object
                    .as_ref()
                    .and_then(|o| serde_json::to_value(o).ok());
                let needed =
                    secret_access::secrets_to_check(&request, resource, &value, old.as_ref());
                let secrets = self.secret_access(&request, namespace, &needed).await;
                (self.known(resource, namespace).await, secrets)
            }
            _ => (Known::default(), SecretAccess::Allowed),
        };
        let response = respond(&request, &value, &known);
        refuse_unreadable(response, &request, &secrets).into_review()
    }

    /// Whether the user of `request` may read each of `secrets` in `namespace`.
    async fn secret_access(
        &self,
        request: &AdmissionRequest<DynamicObject>,
        namespace: &str,
        secrets: &BTreeSet<String>,
    ) -> SecretAccess {
        if secrets.is_empty() {
            return SecretAccess::Allowed;
        }
        let Some(client) = &self.client else {
            return SecretAccess::Unknown(
                "the webhook has no Kubernetes client to check access to the referenced Secrets"
                    .into(),
            );
        };
        match secret_access::review(client, request, namespace, secrets).await {
            Ok(denied) if denied.is_empty() => SecretAccess::Allowed,
            Ok(denied) => SecretAccess::Denied(denied),
            Err(e) => {
                tracing::warn!(error = %e, "webhook: checking access to Secrets failed; refusing");
                SecretAccess::Unknown(e)
            }
        }
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

/// Whether the author of a request may read the Secrets it references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretAccess {
    /// Every referenced Secret that needed checking may be read (or none needed it).
    Allowed,
    /// These Secrets (names, in the request's namespace) may not be read.
    Denied(BTreeSet<String>),
    /// The check could not be made (the reason): the request is refused.
    Unknown(String),
}

/// `response`, refused (403) if `access` is not [`SecretAccess::Allowed`]. Pure.
pub fn refuse_unreadable(
    response: AdmissionResponse,
    request: &AdmissionRequest<DynamicObject>,
    access: &SecretAccess,
) -> AdmissionResponse {
    let message = match access {
        SecretAccess::Allowed => return response,
        SecretAccess::Denied(denied) => secret_access::refusal(
            request.user_info.username.as_deref().unwrap_or("(unknown)"),
            request.namespace.as_deref().unwrap_or_default(),
            denied,
        ),
        SecretAccess::Unknown(reason) => format!(
            "{reason}; refusing, since the author's access to the referenced Secrets could not be checked"
        ),
    };
    let message = if response.allowed {
        message
    } else {
        format!("{message}; {}", response.result.message)
    };
    let mut response = response.deny(message);
    response.result.code = 403;
    response.result.reason = "Forbidden".into();
    response
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

/// Why a body is not an admission request.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// Not JSON, or not an AdmissionReview.
    #[error("reading the AdmissionReview: {0}")]
    Malformed(#[from] serde_json::Error),
    /// An AdmissionReview without a request, or of another version.
    #[error("reading the AdmissionReview: {0}")]
    NoRequest(String),
}

/// The admission request in `body`, an AdmissionReview v1 as JSON. Pure: this is what
/// the fuzz target drives. Memory stays proportional to the body (which the handler
/// caps at [`MAX_REVIEW_BYTES`]) and nesting is capped by serde_json (128 levels).
///
/// # Errors
///
/// [`ReviewError`] saying what is wrong, never echoing the body.
pub fn decode_review(body: &[u8]) -> Result<AdmissionRequest<DynamicObject>, ReviewError> {
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(body)?;
    review
        .try_into()
        .map_err(|e: kube::core::admission::ConvertAdmissionReviewError| {
            ReviewError::NoRequest(e.to_string())
        })
}

/// The axum handler of `POST /validate`.
pub async fn handle(
    State(validator): State<Validator>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the AdmissionReview is larger than {MAX_REVIEW_BYTES} bytes"),
            )
                .into_response();
        }
        Err(e) => return (e.status(), e.body_text()).into_response(),
    };
    match decode_review(&body) {
        Ok(request) => Json(validator.review(request).await).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
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

    /// Posts `body` to the webhook's router (no TLS, no client): status and body text.
    async fn post(body: Vec<u8>) -> (u16, String) {
        use tower::ServiceExt;
        let request = axum::http::Request::post("/validate")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body))
            .unwrap();
        let answer = crate::webhook::router(Validator::default())
            .oneshot(request)
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    fn review_body(object: &serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u-9",
                "kind": {"group": "cxf.dev", "version": "v1alpha1", "kind": object["kind"]},
                "resource": {"group": "cxf.dev", "version": "v1alpha1", "resource": "x"},
                "operation": "CREATE", "namespace": "ns", "name": "n",
                "userInfo": {"username": "mallory"}, "object": object,
            },
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn an_oversized_review_is_refused_unread() {
        let mut body = review_body(&listener("*"));
        body.resize(MAX_REVIEW_BYTES + 1, b' ');
        let (status, text) = post(body).await;
        assert_eq!(status, 413, "{text}");
        assert_eq!(
            text,
            format!("the AdmissionReview is larger than {MAX_REVIEW_BYTES} bytes")
        );
    }

    #[tokio::test]
    async fn malformed_reviews_get_a_clear_400() {
        let deep = format!(
            r#"{{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {{"object": {{"apiVersion": "v1", "kind": "X", "metadata": {{}}, "spec": {}1{}}}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let table: &[(&[u8], &str)] = &[
            (b"", "reading the AdmissionReview: EOF while parsing a value"),
            (b"{\"apiVersion\": ", "reading the AdmissionReview: EOF while parsing"),
            (b"\xff\xfe", "reading the AdmissionReview: expected value"),
            (deep.as_bytes(), "recursion limit exceeded"),
            (
                br#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}"#,
                "reading the AdmissionReview: ",
            ),
            (br#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": 5}}"#, "invalid type: integer `5`"),
        ];
        for (body, expected) in table {
            let (status, text) = post(body.to_vec()).await;
            assert_eq!(status, 400, "{text}");
            assert!(text.contains(expected), "{expected:?} not in {text:?}");
        }
    }

    #[tokio::test]
    async fn a_review_is_answered_for_its_uid_and_unchecked_secrets_refuse() {
        let (status, text) = post(review_body(&listener("*"))).await;
        assert_eq!(status, 200, "{text}");
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["response"]["uid"], "u-9");
        assert_eq!(answer["response"]["allowed"], true, "{text}");

        // Without a client, access to a referenced Secret cannot be checked: refused.
        let mut with_secret = listener("*");
        with_secret["spec"]["auth"] =
            json!({"basic": {"username": {"value": "u"}, "password": {"name": "s", "key": "p"}}});
        let (status, text) = post(review_body(&with_secret)).await;
        assert_eq!(status, 200, "{text}");
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["response"]["allowed"], false, "{text}");
        assert_eq!(answer["response"]["status"]["code"], 403, "{text}");
    }

    #[test]
    fn a_denied_secret_refuses_with_the_validation_errors_kept() {
        let object = listener("/a eq");
        let request = request(object.clone());
        let denied = SecretAccess::Denied(BTreeSet::from(["s".to_owned()]));
        let response = refuse_unreadable(
            respond(&request, &object, &Known::default()),
            &request,
            &denied,
        );
        assert!(!response.allowed);
        assert_eq!(response.result.code, 403);
        assert!(
            response
                .result
                .message
                .starts_with("user \"(unknown)\" may not get Secret ns/s: "),
            "{}",
            response.result.message
        );
        assert!(
            response
                .result
                .message
                .contains("spec.affiliatedApis[0].query: line 1"),
            "{}",
            response.result.message
        );
        let allowed = refuse_unreadable(
            respond(&request, &object, &Known::default()),
            &request,
            &SecretAccess::Allowed,
        );
        assert_eq!(allowed.result.code, 422);
    }

    #[test]
    fn long_warnings_are_cut_to_one_short_line() {
        let text = warning_text(&format!("a\nb{}", "é".repeat(300)));
        assert!(text.len() <= MAX_WARNING_LEN && text.starts_with("a b") && text.ends_with("..."));
    }
}
