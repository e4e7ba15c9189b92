//! The webhook's half of the trust model (docs/resources.md, "Trust model"): the author
//! of a FrameworkConnection or ListenerRegistration must be allowed to `get` every
//! Secret it references. Otherwise someone who may create these resources but not read
//! a namespace's Secrets could point `gatewayUrl`, `tokenUrl`, `identityUri`,
//! `listenerUrl` or `connectionName` at a server of theirs and have the operator (or
//! the framework) deliver the Secret's value there.
//!
//! - [`secrets_to_check`] (pure) decides which Secrets a request must be checked for:
//!   all those referenced, on a create, and on an update that changes a reference or a
//!   field deciding where values go ([`DESTINATION_FIELDS`]); none otherwise (an update
//!   of a query by a developer who cannot read the Secret stays possible);
//! - [`review`] asks the API server, with one SubjectAccessReview per Secret, whether the
//!   requesting user may `get` it, and fails closed: a SubjectAccessReview that fails or
//!   is slow refuses the request;
//! - [`refusal`] (pure) is the message.
//!
//! The operator's other half is [`crate::resources::secret_access`]: it reads only
//! Secrets labelled `cxf.dev/credentials: "true"`.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, Operation};

use crate::validation::Resource;

/// How long the SubjectAccessReviews of one request may take in all.
const REVIEW_TIMEOUT: Duration = Duration::from_secs(3);

/// The fields, per kind, that decide where Secret values are sent: an update changing
/// one of them is checked as a create is. `spec.auth` holds the Secret references.
pub const DESTINATION_FIELDS: &[(&str, &[&str])] = &[
    (
        "FrameworkConnection",
        &["/spec/gatewayUrl", "/spec/auth", "/spec/caBundle"],
    ),
    (
        "ListenerRegistration",
        &["/spec/listenerUrl", "/spec/auth", "/spec/connectionName"],
    ),
];

/// The names of the Secrets, in the request's namespace, that the requesting user must
/// be allowed to `get` for `resource` (the request's object, decoded; `object` and
/// `old` are the new and old objects as JSON). Sorted, without repeats.
pub fn secrets_to_check(
    request: &AdmissionRequest<DynamicObject>,
    resource: &Resource,
    object: &serde_json::Value,
    old: Option<&serde_json::Value>,
) -> BTreeSet<String> {
    let (kind, refs) = match resource {
        Resource::FrameworkConnection(c) => ("FrameworkConnection", c.secret_refs()),
        Resource::ListenerRegistration(l) => ("ListenerRegistration", l.secret_refs()),
        Resource::GatekeepingRule(_) => return BTreeSet::new(),
    };
    let deleting = object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null());
    let check = !deleting
        && match request.operation {
            Operation::Create => true,
            Operation::Update => old.is_none_or(|old| destination_changed(kind, old, object)),
            Operation::Delete | Operation::Connect => false,
        };
    if !check {
        return BTreeSet::new();
    }
    refs.into_iter().map(|r| r.name.clone()).collect()
}

/// Whether one of `kind`'s [`DESTINATION_FIELDS`] differs between `old` and `new`.
fn destination_changed(kind: &str, old: &serde_json::Value, new: &serde_json::Value) -> bool {
    DESTINATION_FIELDS
        .iter()
        .filter(|(k, _)| *k == kind)
        .flat_map(|(_, fields)| fields.iter())
        .any(|field| old.pointer(field) != new.pointer(field))
}

/// The refusal message when `user` may not read `denied` Secrets of `namespace`.
pub fn refusal(user: &str, namespace: &str, denied: &BTreeSet<String>) -> String {
    let names = denied
        .iter()
        .map(|name| format!("{namespace}/{name}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "user {user:?} may not get Secret {names}: a FrameworkConnection or ListenerRegistration \
         may only reference Secrets its author can read (the operator sends their values to the \
         URLs the resource names); ask for `get` on the Secret, or have someone who has it make \
         the change"
    )
}

/// Asks the API server, for each of `secrets` in `namespace`, whether the user of
/// `request` may `get` it. `Ok` with the Secrets they may not read.
///
/// # Errors
///
/// The failed step, when a SubjectAccessReview could not be made in time: the caller
/// refuses the request (fail closed).
pub async fn review(
    client: &Client,
    request: &AdmissionRequest<DynamicObject>,
    namespace: &str,
    secrets: &BTreeSet<String>,
) -> Result<BTreeSet<String>, String> {
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let asks = secrets.iter().map(|name| {
        let api = api.clone();
        let review = subject_access_review(request, namespace, name);
        async move {
            let answer = api.create(&PostParams::default(), &review).await;
            (name, answer)
        }
    });
    let answers = tokio::time::timeout(REVIEW_TIMEOUT, futures::future::join_all(asks))
        .await
        .map_err(|_| "checking access to the referenced Secrets timed out".to_owned())?;
    let mut denied = BTreeSet::new();
    for (name, answer) in answers {
        let answer = answer.map_err(|e| {
            format!("checking access to Secret {namespace}/{name} (SubjectAccessReview): {e}")
        })?;
        if !answer.status.is_some_and(|s| s.allowed) {
            denied.insert(name.clone());
        }
    }
    Ok(denied)
}

/// A SubjectAccessReview: may the user of `request` `get` Secret `namespace/name`?
pub fn subject_access_review(
    request: &AdmissionRequest<DynamicObject>,
    namespace: &str,
    name: &str,
) -> SubjectAccessReview {
    let user = &request.user_info;
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: user.username.clone(),
            uid: user.uid.clone(),
            groups: user.groups.clone(),
            extra: user.extra.clone(),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(namespace.to_owned()),
                verb: Some("get".to_owned()),
                group: Some(String::new()),
                version: Some("v1".to_owned()),
                resource: Some("secrets".to_owned()),
                name: Some(name.to_owned()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::validation::{Decoded, decode};

    fn connection(gateway: &str, secret: &str) -> Value {
        json!({
            "apiVersion": "cxf.dev/v1alpha1", "kind": "FrameworkConnection",
            "metadata": {"name": "default", "namespace": "ns"},
            "spec": {"gatewayUrl": gateway, "workspace": "01",
                "auth": {"oauth2": {"clientId": "op", "clientSecret": {"name": secret, "key": "k"}}}},
        })
    }

    fn listener(url: &str, secret: &str, query: &str) -> Value {
        json!({
            "apiVersion": "cxf.dev/v1alpha1", "kind": "ListenerRegistration",
            "metadata": {"name": "l", "namespace": "ns"},
            "spec": {"listenerUrl": url,
                "affiliatedApis": [{"apiName": "a", "apiVersion": "v1", "query": query}],
                "auth": {"basic": {"username": {"secretKeyRef": {"name": "user", "key": "u"}},
                                   "password": {"name": secret, "key": "p"}}}},
        })
    }

    fn rule() -> Value {
        json!({
            "apiVersion": "cxf.dev/v1alpha1", "kind": "GatekeepingRule",
            "metadata": {"name": "r", "namespace": "ns"},
            "spec": {"selector": {"endpointName": "e"}, "gatekeepingApis": []},
        })
    }

    fn request(
        operation: &str,
        object: &Value,
        old: Option<&Value>,
    ) -> AdmissionRequest<DynamicObject> {
        let review: kube::core::admission::AdmissionReview<DynamicObject> =
            serde_json::from_value(json!({
                "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {
                    "uid": "u-1",
                    "kind": {"group": "cxf.dev", "version": "v1alpha1", "kind": object["kind"]},
                    "resource": {"group": "cxf.dev", "version": "v1alpha1", "resource": "x"},
                    "operation": operation, "namespace": "ns", "name": "n",
                    "userInfo": {"username": "mallory", "uid": "m-1", "groups": ["dev"], "extra": {"scopes": ["a"]}},
                    "object": object, "oldObject": old, "dryRun": false,
                },
            }))
            .unwrap();
        review.try_into().unwrap()
    }

    fn to_check(operation: &str, object: &Value, old: Option<&Value>) -> Vec<String> {
        let Decoded::Resource(resource) = decode(object) else {
            panic!("not a valid resource: {object}");
        };
        secrets_to_check(&request(operation, object, old), &resource, object, old)
            .into_iter()
            .collect()
    }

    #[test]
    fn creates_check_every_referenced_secret() {
        assert_eq!(
            to_check("CREATE", &connection("https://gw", "s"), None),
            ["s"]
        );
        assert_eq!(
            to_check("CREATE", &listener("https://l", "pw", "*"), None),
            ["pw", "user"]
        );
        assert!(to_check("CREATE", &rule(), None).is_empty());
    }

    #[test]
    fn updates_are_checked_only_when_a_destination_or_reference_changes() {
        let c = connection("https://gw", "s");
        let l = listener("https://l", "pw", "*");
        let table: &[(&str, Value, Value, bool)] = &[
            ("same connection", c.clone(), c.clone(), false),
            (
                "gatewayUrl",
                c.clone(),
                connection("https://evil", "s"),
                true,
            ),
            (
                "secret name",
                c.clone(),
                connection("https://gw", "other"),
                true,
            ),
            (
                "tokenUrl",
                c.clone(),
                {
                    let mut v = c.clone();
                    v["spec"]["auth"]["oauth2"]["tokenUrl"] = json!("https://evil/token");
                    v
                },
                true,
            ),
            (
                "caBundle",
                c.clone(),
                {
                    let mut v = c.clone();
                    v["spec"]["caBundle"] = json!("pem");
                    v
                },
                true,
            ),
            (
                "requestsPerSecond",
                c.clone(),
                {
                    let mut v = c.clone();
                    v["spec"]["requestsPerSecond"] = json!(9);
                    v
                },
                false,
            ),
            (
                "query only",
                l.clone(),
                listener("https://l", "pw", "/a pr"),
                false,
            ),
            (
                "listenerUrl",
                l.clone(),
                listener("https://evil", "pw", "*"),
                true,
            ),
            (
                "connectionName",
                l.clone(),
                {
                    let mut v = l.clone();
                    v["spec"]["connectionName"] = json!("mine");
                    v
                },
                true,
            ),
            (
                "identityUri",
                l.clone(),
                {
                    let mut v = l.clone();
                    v["spec"]["auth"] = json!({"oidcClientCredentials": {"identityUri": "https://evil",
                        "clientId": {"value": "c"}, "clientSecret": {"name": "pw", "key": "p"}}});
                    v
                },
                true,
            ),
        ];
        for (what, old, new, checked) in table {
            let secrets = to_check("UPDATE", new, Some(old));
            assert_eq!(!secrets.is_empty(), *checked, "{what}: {secrets:?}");
        }
    }

    #[test]
    fn deletions_and_resources_being_deleted_are_not_checked() {
        let mut deleting = connection("https://evil", "s");
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert!(to_check("UPDATE", &deleting, Some(&connection("https://gw", "s"))).is_empty());
        let c = connection("https://gw", "s");
        assert!(to_check("DELETE", &c, Some(&c)).is_empty());
    }

    #[test]
    fn the_review_asks_for_the_requesting_user_exactly() {
        let c = connection("https://gw", "s");
        let review = subject_access_review(&request("CREATE", &c, None), "ns", "s");
        let spec = review.spec;
        assert_eq!(spec.user.as_deref(), Some("mallory"));
        assert_eq!(spec.uid.as_deref(), Some("m-1"));
        assert_eq!(spec.groups, Some(vec!["dev".to_owned()]));
        assert!(spec.extra.unwrap().contains_key("scopes"));
        let attributes = spec.resource_attributes.unwrap();
        assert_eq!(
            (
                attributes.namespace.as_deref(),
                attributes.verb.as_deref(),
                attributes.resource.as_deref(),
                attributes.name.as_deref()
            ),
            (Some("ns"), Some("get"), Some("secrets"), Some("s"))
        );
    }

    #[test]
    fn the_refusal_names_the_user_and_each_secret() {
        let denied = BTreeSet::from(["a".to_owned(), "b".to_owned()]);
        let message = refusal("mallory", "ns", &denied);
        assert!(
            message.starts_with("user \"mallory\" may not get Secret ns/a, ns/b: "),
            "{message}"
        );
    }
}
