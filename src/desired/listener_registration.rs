//! ListenerRegistration: the desired framework registration, and the minimal JSON Patch
//! from what the framework holds to it.

use json_patch::{
    AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation, jsonptr::PointerBuf,
};
use serde_json::Value;

use crate::framework::model::{
    self, ExternalListener, HubSubscription, ListenerAuth, ListenerLocality,
};
use crate::resources::listener_registration::{
    ListenerRegistrationSpec, ListenerType, PendingCreate,
};

/// JSON Pointer of the credentials inside a registration.
pub const LISTENER_AUTH_POINTER: &str = "/listener-locality/external-listener/listener-auth";

/// The registration `spec` stands for, with `auth` (the credentials read from the
/// Secrets) as its `listener-auth`.
pub fn desired(
    spec: &ListenerRegistrationSpec,
    auth: Option<ListenerAuth>,
) -> model::ListenerRegistration {
    model::ListenerRegistration {
        id: None,
        affiliated_apis: spec
            .affiliated_apis
            .iter()
            .map(|api| model::AffiliatedApi {
                api_name: api.api_name.clone(),
                api_number: api.api_number.clone(),
                api_version: api.api_version.clone(),
                query: api.query.clone(),
            })
            .collect(),
        listener_locality: ListenerLocality {
            external_listener: ExternalListener {
                listener_url: spec.listener_url.clone(),
                listener_auth: auth,
            },
        },
        listener_type: match spec.listener_type {
            ListenerType::External => model::ListenerType::External,
            ListenerType::Internal => model::ListenerType::Internal,
        },
    }
}

/// The hub subscription for `spec` (registration method `Hub`, one affiliated API).
pub fn hub_subscription(spec: &ListenerRegistrationSpec) -> HubSubscription {
    HubSubscription {
        id: None,
        callback: spec.listener_url.clone(),
        query: spec
            .affiliated_apis
            .first()
            .and_then(|api| api.query.clone()),
    }
}

/// What is recorded before a create, to recognize the object if the answer is lost:
/// `before` are the ids that already match it, `replaces` the id it replaces.
pub fn pending_create(
    desired: &model::ListenerRegistration,
    before: Vec<String>,
    replaces: Option<String>,
) -> PendingCreate {
    PendingCreate {
        listener_url: desired
            .listener_locality
            .external_listener
            .listener_url
            .clone(),
        api_names: desired
            .affiliated_apis
            .iter()
            .map(|api| api.api_name.clone())
            .collect(),
        before,
        replaces,
    }
}

/// Whether `observed` could be the object a pending create made.
pub fn matches_pending(pending: &PendingCreate, observed: &model::ListenerRegistration) -> bool {
    observed.listener_locality.external_listener.listener_url == pending.listener_url
        && observed
            .affiliated_apis
            .iter()
            .map(|api| &api.api_name)
            .eq(pending.api_names.iter())
}

/// The minimal RFC 6902 patch turning `observed` into `desired`, empty when in sync.
///
/// Credential values cannot be read back: `send_credentials` (the keyed hash of the
/// values changed since they were last applied) sends the whole `listener-auth`, and so
/// does a visible difference in its non-secret fields or its kind. The patch carries
/// secret values: it must never be logged.
pub fn patch(
    desired: &model::ListenerRegistration,
    observed: &model::ListenerRegistration,
    send_credentials: bool,
) -> Patch {
    let mut patch = json_patch::diff(&without_auth(observed), &without_auth(desired));
    let wanted = desired
        .listener_locality
        .external_listener
        .listener_auth
        .as_ref();
    let held = observed
        .listener_locality
        .external_listener
        .listener_auth
        .as_ref();
    let pointer = PointerBuf::parse(LISTENER_AUTH_POINTER).expect("a valid JSON pointer");
    match (wanted, held) {
        (Some(auth), Some(held)) if send_credentials || !same_visible_auth(auth, held) => {
            patch.0.push(PatchOperation::Replace(ReplaceOperation {
                path: pointer,
                value: auth_value(auth),
            }));
        }
        (Some(auth), None) => {
            patch.0.push(PatchOperation::Add(AddOperation {
                path: pointer,
                value: auth_value(auth),
            }));
        }
        (None, Some(_)) => patch
            .0
            .push(PatchOperation::Remove(RemoveOperation { path: pointer })),
        _ => {}
    }
    patch
}

/// Whether `observed` differs from `desired` in anything but the secret values.
pub fn drifted(
    desired: &model::ListenerRegistration,
    observed: &model::ListenerRegistration,
) -> bool {
    !patch(desired, observed, false).0.is_empty()
}

fn auth_value(auth: &ListenerAuth) -> Value {
    serde_json::to_value(auth).expect("listener auth serializes")
}

/// The registration as JSON without `id` and `listener-auth`.
fn without_auth(reg: &model::ListenerRegistration) -> Value {
    let mut value = serde_json::to_value(reg).expect("a registration serializes");
    if let Value::Object(map) = &mut value {
        map.remove("id");
    }
    if let Some(Value::Object(listener)) = value.pointer_mut("/listener-locality/external-listener")
    {
        listener.remove("listener-auth");
    }
    value
}

/// Same kind and same non-secret fields. A masked or absent secret says nothing.
fn same_visible_auth(wanted: &ListenerAuth, held: &ListenerAuth) -> bool {
    match (wanted, held) {
        (ListenerAuth::OidcClientCredentials(a), ListenerAuth::OidcClientCredentials(b)) => {
            a.identity_uri == b.identity_uri && a.client_id == b.client_id && a.scope == b.scope
        }
        (ListenerAuth::Basic(a), ListenerAuth::Basic(b)) => a.username == b.username,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::model::{BasicAuth, OidcClientCredentials, SecretValue};
    use crate::resources::listener_registration::AffiliatedApi;

    fn spec(query: &str) -> ListenerRegistrationSpec {
        serde_json::from_value(serde_json::json!({
            "affiliatedApis": [{"apiName": "taxCalculation", "apiNumber": "orcl-200", "apiVersion": "v1", "query": query}],
            "listenerUrl": "http://tax.example:8080",
        }))
        .unwrap()
    }

    fn oidc(secret: &str) -> ListenerAuth {
        ListenerAuth::OidcClientCredentials(OidcClientCredentials {
            identity_uri: "https://idp.example/token".into(),
            client_id: "tax".into(),
            client_secret: SecretValue::new(secret),
            scope: Some("events".into()),
        })
    }

    /// As the framework answers a GET: the secret masked.
    fn observed_of(desired: &model::ListenerRegistration) -> model::ListenerRegistration {
        let mut observed = desired.clone();
        observed.id = Some("lr-1".into());
        if let Some(ListenerAuth::OidcClientCredentials(o)) =
            &mut observed.listener_locality.external_listener.listener_auth
        {
            o.client_secret = SecretValue::new("****");
        }
        observed
    }

    #[test]
    fn desired_is_seed_000_payload() {
        let reg = desired(
            &spec("/eventType eq \"TaxEvent1\""),
            Some(oidc("OIDC_CLIENT_SECRET")),
        );
        let json = serde_json::to_value(&reg).unwrap();
        assert_eq!(json["affiliated-apis"][0]["api-number"], "orcl-200");
        assert_eq!(
            json["listener-locality"]["external-listener"]["listener-auth"]["oidc-client-credentials"]
                ["client-secret"],
            "OIDC_CLIENT_SECRET"
        );
        assert_eq!(json["type"], "external");
        assert!(json.get("id").is_none());
    }

    #[test]
    fn in_sync_gives_an_empty_patch() {
        let want = desired(&spec("(ID pr)"), Some(oidc("s")));
        assert!(patch(&want, &observed_of(&want), false).0.is_empty());
        assert!(!drifted(&want, &observed_of(&want)));
    }

    #[test]
    fn a_changed_query_replaces_only_the_query() {
        let before = desired(&spec("(ID pr)"), Some(oidc("s")));
        let after = desired(&spec("(OP eq \"POST\")"), Some(oidc("s")));
        let ops = serde_json::to_value(patch(&after, &observed_of(&before), false)).unwrap();
        assert_eq!(
            ops,
            serde_json::json!([{"op": "replace", "path": "/affiliated-apis/0/query", "value": "(OP eq \"POST\")"}])
        );
    }

    #[test]
    fn a_rotated_secret_replaces_the_credentials() {
        let want = desired(&spec("(ID pr)"), Some(oidc("rotated")));
        let ops = serde_json::to_value(patch(&want, &observed_of(&want), true)).unwrap();
        assert_eq!(ops[0]["op"], "replace");
        assert_eq!(ops[0]["path"], LISTENER_AUTH_POINTER);
        assert_eq!(
            ops[0]["value"]["oidc-client-credentials"]["client-secret"],
            "rotated"
        );
        assert_eq!(ops.as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_changed_auth_kind_is_seen_without_the_hash() {
        let want = desired(&spec("(ID pr)"), Some(oidc("s")));
        let mut held = observed_of(&want);
        held.listener_locality.external_listener.listener_auth =
            Some(ListenerAuth::Basic(BasicAuth {
                username: "u".into(),
                password: SecretValue::new("****"),
            }));
        assert!(drifted(&want, &held));
        let mut none = observed_of(&want);
        none.listener_locality.external_listener.listener_auth = None;
        assert_eq!(
            serde_json::to_value(patch(&want, &none, false)).unwrap()[0]["op"],
            "add"
        );
        let bare = desired(&spec("(ID pr)"), None);
        assert_eq!(
            serde_json::to_value(patch(&bare, &held, false)).unwrap()[0]["op"],
            "remove"
        );
    }

    #[test]
    fn pending_create_recognizes_url_and_api_names() {
        let mut s = spec("(ID pr)");
        let want = desired(&s, None);
        let pending = pending_create(&want, Vec::new(), None);
        assert!(matches_pending(&pending, &observed_of(&want)));
        s.affiliated_apis.push(AffiliatedApi {
            api_name: "other".into(),
            api_number: None,
            api_version: "v1".into(),
            query: None,
        });
        assert!(!matches_pending(&pending, &desired(&s, None)));
        s.listener_url = "http://elsewhere".into();
        s.affiliated_apis.pop();
        assert!(!matches_pending(&pending, &desired(&s, None)));
    }

    #[test]
    fn hub_subscription_takes_callback_and_query() {
        let sub = hub_subscription(&spec("(ID pr)"));
        assert_eq!(sub.callback, "http://tax.example:8080");
        assert_eq!(sub.query.as_deref(), Some("(ID pr)"));
    }
}
