//! The CRD schema's structural rules, checked in Rust: `minLength`, `pattern`,
//! `minimum`/`maximum`, and every CEL rule (`x-kubernetes-validations`) of
//! `src/resources`, with the same message.
//!
//! The API server enforces the schema itself; these mirrors give `cxf-operator
//! validate` the same answers offline. Required fields, enums and types are checked by
//! deserializing into the typed spec ([`super::document`]). The tests below keep the
//! mirrors in sync with the generated CRDs: every CEL message and pattern of the CRDs
//! must be one of the constants here.

use super::Finding;
use crate::resources::framework_connection::FrameworkConnectionSpec;
use crate::resources::gatekeeping_rule::GatekeepingRuleSpec;
use crate::resources::listener_registration::{
    ListenerAuth, ListenerRegistrationSpec, RegistrationMethod,
};
use crate::resources::secret_ref::{SecretKeyRef, ValueSource};

/// CEL: `FrameworkConnection.spec.gatewayUrl`.
pub const GATEWAY_URL_SCHEME: &str = "gatewayUrl must be an http:// or https:// URL";
/// CEL: `FrameworkConnection.spec.auth.oauth2.tokenUrl`.
pub const TOKEN_URL_SCHEME: &str = "tokenUrl must be an http:// or https:// URL";
/// CEL: `FrameworkConnection.spec.auth`.
pub const ONE_CONNECTION_AUTH: &str = "set exactly one of oauth2 and bearerToken";
/// CEL: `ListenerRegistration` (root).
pub const HUB_ONE_API: &str = "registrationMethod Hub takes exactly one affiliated API";
/// CEL: `ListenerRegistration.spec.listenerUrl`.
pub const LISTENER_URL_SCHEME: &str = "listenerUrl must be an http:// or https:// URL";
/// CEL: `ListenerRegistration.spec.auth`.
pub const ONE_LISTENER_AUTH: &str = "set exactly one of oidcClientCredentials and basic";
/// CEL: `ListenerRegistration.spec.auth.oidcClientCredentials.identityUri`.
pub const IDENTITY_URI_SCHEME: &str = "identityUri must be an http:// or https:// URL";
/// CEL: every `ValueSource` (client ids, user names).
pub const ONE_VALUE_SOURCE: &str = "set exactly one of value and secretKeyRef";
/// CEL: `GatekeepingRule.spec.selector`.
pub const ONE_SELECTOR: &str = "set exactly one of id and endpointName";
/// CEL: `GatekeepingRule.spec.listenerRegistrationRefs[]`.
pub const ONE_LISTENER_REF: &str = "set exactly one of name and id";
/// Pattern of `api-id` (`GatekeepingRule` APIs and destination selections).
pub const API_ID_PATTERN: &str = r"^[a-z0-9]{1,8}-[0-9]{1,4}$";
/// Pattern of `FrameworkConnection.spec.workspace`.
pub const WORKSPACE_PATTERN: &str = r"^[A-Za-z0-9_-]{1,32}$";

/// Structural findings for a FrameworkConnection's spec.
pub fn framework_connection(spec: &FrameworkConnectionSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    url_scheme(
        &mut out,
        "spec.gatewayUrl",
        &spec.gateway_url,
        GATEWAY_URL_SCHEME,
    );
    if let Some(workspace) = &spec.workspace
        && !is_workspace(workspace)
    {
        out.push(pattern("spec.workspace", workspace, WORKSPACE_PATTERN));
    }
    let auth = &spec.auth;
    exactly_one(
        &mut out,
        "spec.auth",
        auth.oauth2.is_some(),
        auth.bearer_token.is_some(),
        ONE_CONNECTION_AUTH,
    );
    if let Some(oauth2) = &auth.oauth2 {
        if let Some(token_url) = &oauth2.token_url {
            url_scheme(
                &mut out,
                "spec.auth.oauth2.tokenUrl",
                token_url,
                TOKEN_URL_SCHEME,
            );
        }
        not_empty(&mut out, "spec.auth.oauth2.clientId", &oauth2.client_id);
        secret_ref(
            &mut out,
            "spec.auth.oauth2.clientSecret",
            &oauth2.client_secret,
        );
    }
    if let Some(token) = &auth.bearer_token {
        secret_ref(&mut out, "spec.auth.bearerToken", token);
    }
    if let Some(rps) = spec.requests_per_second
        && !(1..=1000).contains(&rps)
    {
        out.push(Finding::error(
            "spec.requestsPerSecond",
            format!("must be between 1 and 1000, found {rps}"),
        ));
    }
    out
}

/// Structural findings for a ListenerRegistration's spec.
pub fn listener_registration(spec: &ListenerRegistrationSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    if spec.affiliated_apis.is_empty() {
        out.push(Finding::error(
            "spec.affiliatedApis",
            "must list at least one API",
        ));
    }
    if spec.registration_method == RegistrationMethod::Hub && spec.affiliated_apis.len() != 1 {
        out.push(Finding::error("spec.affiliatedApis", HUB_ONE_API));
    }
    for (i, api) in spec.affiliated_apis.iter().enumerate() {
        not_empty(
            &mut out,
            &format!("spec.affiliatedApis[{i}].apiName"),
            &api.api_name,
        );
        not_empty(
            &mut out,
            &format!("spec.affiliatedApis[{i}].apiVersion"),
            &api.api_version,
        );
    }
    url_scheme(
        &mut out,
        "spec.listenerUrl",
        &spec.listener_url,
        LISTENER_URL_SCHEME,
    );
    if let Some(auth) = &spec.auth {
        listener_auth(&mut out, auth);
    }
    out
}

fn listener_auth(out: &mut Vec<Finding>, auth: &ListenerAuth) {
    exactly_one(
        out,
        "spec.auth",
        auth.oidc_client_credentials.is_some(),
        auth.basic.is_some(),
        ONE_LISTENER_AUTH,
    );
    if let Some(oidc) = &auth.oidc_client_credentials {
        let at = "spec.auth.oidcClientCredentials";
        url_scheme(
            out,
            &format!("{at}.identityUri"),
            &oidc.identity_uri,
            IDENTITY_URI_SCHEME,
        );
        value_source(out, &format!("{at}.clientId"), &oidc.client_id);
        secret_ref(out, &format!("{at}.clientSecret"), &oidc.client_secret);
    }
    if let Some(basic) = &auth.basic {
        value_source(out, "spec.auth.basic.username", &basic.username);
        secret_ref(out, "spec.auth.basic.password", &basic.password);
    }
}

/// Structural findings for a GatekeepingRule's spec.
pub fn gatekeeping_rule(spec: &GatekeepingRuleSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    let selector = &spec.selector;
    exactly_one(
        &mut out,
        "spec.selector",
        selector.id.is_some(),
        selector.endpoint_name.is_some(),
        ONE_SELECTOR,
    );
    if spec.gatekeeping_apis.is_empty() {
        out.push(Finding::error(
            "spec.gatekeepingApis",
            "must list at least one API",
        ));
    }
    for (a, api) in spec.gatekeeping_apis.iter().enumerate() {
        let at = format!("spec.gatekeepingApis[{a}]");
        api_id(&mut out, &format!("{at}.apiId"), &api.api_id);
        not_empty(&mut out, &format!("{at}.apiName"), &api.api_name);
        not_empty(&mut out, &format!("{at}.apiVersion"), &api.api_version);
        if api.api_resources.is_empty() {
            out.push(Finding::error(
                format!("{at}.apiResources"),
                "must list at least one resource",
            ));
        }
        for (r, resource) in api.api_resources.iter().enumerate() {
            let at = format!("{at}.apiResources[{r}]");
            not_empty(
                &mut out,
                &format!("{at}.resourceName"),
                &resource.resource_name,
            );
            not_empty(&mut out, &format!("{at}.criteria"), &resource.criteria);
            if let Some(rank) = resource.rank
                && rank < 0
            {
                out.push(Finding::error(
                    format!("{at}.rank"),
                    format!("must be 0 or more, found {rank}"),
                ));
            }
        }
    }
    for (i, reference) in spec.listener_registration_refs.iter().enumerate() {
        let field = format!("spec.listenerRegistrationRefs[{i}]");
        exactly_one(
            &mut out,
            &field,
            reference.name.is_some(),
            reference.id.is_some(),
            ONE_LISTENER_REF,
        );
    }
    for (i, destination) in spec.destination_selection.iter().enumerate() {
        let at = format!("spec.destinationSelection[{i}]");
        api_id(&mut out, &format!("{at}.apiId"), &destination.api_id);
        not_empty(
            &mut out,
            &format!("{at}.apiVersion"),
            &destination.api_version,
        );
    }
    out
}

fn url_scheme(out: &mut Vec<Finding>, field: &str, value: &str, message: &str) {
    if !(value.starts_with("https://") || value.starts_with("http://")) {
        out.push(Finding::error(field, message));
    }
}

fn exactly_one(out: &mut Vec<Finding>, field: &str, a: bool, b: bool, message: &str) {
    if a == b {
        out.push(Finding::error(field, message));
    }
}

fn not_empty(out: &mut Vec<Finding>, field: &str, value: &str) {
    if value.is_empty() {
        out.push(Finding::error(field, "must not be empty"));
    }
}

fn secret_ref(out: &mut Vec<Finding>, field: &str, reference: &SecretKeyRef) {
    for (part, value) in [("name", &reference.name), ("key", &reference.key)] {
        if !(1..=253).contains(&value.len()) {
            out.push(Finding::error(
                format!("{field}.{part}"),
                "must be 1 to 253 characters long",
            ));
        }
    }
}

fn value_source(out: &mut Vec<Finding>, field: &str, source: &ValueSource) {
    exactly_one(
        out,
        field,
        source.value.is_some(),
        source.secret_key_ref.is_some(),
        ONE_VALUE_SOURCE,
    );
    if let Some(reference) = &source.secret_key_ref {
        secret_ref(out, &format!("{field}.secretKeyRef"), reference);
    }
}

fn api_id(out: &mut Vec<Finding>, field: &str, value: &str) {
    if !is_api_id(value) {
        out.push(pattern(field, value, API_ID_PATTERN));
    }
}

fn pattern(field: &str, value: &str, pattern: &str) -> Finding {
    Finding::error(field, format!("{value:?} does not match {pattern}"))
}

/// [`API_ID_PATTERN`]: `^[a-z0-9]{1,8}-[0-9]{1,4}$`, such as `tmf-632`.
pub fn is_api_id(id: &str) -> bool {
    let Some((name, number)) = id.split_once('-') else {
        return false;
    };
    (1..=8).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && (1..=4).contains(&number.len())
        && number.bytes().all(|c| c.is_ascii_digit())
}

/// [`WORKSPACE_PATTERN`]: `^[A-Za-z0-9_-]{1,32}$`.
fn is_workspace(workspace: &str) -> bool {
    (1..=32).contains(&workspace.len())
        && workspace
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

#[cfg(test)]
mod tests {
    use kube::CustomResourceExt;
    use serde_json::{Value, json};

    use super::*;
    use crate::resources::{FrameworkConnection, GatekeepingRule, ListenerRegistration};

    /// Every value of `key` anywhere in `value`.
    fn collect(value: &Value, key: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == key {
                        match v {
                            Value::String(s) => out.push(s.clone()),
                            Value::Array(rules) => {
                                out.extend(
                                    rules
                                        .iter()
                                        .filter_map(|r| r["message"].as_str().map(str::to_owned)),
                                );
                            }
                            _ => {}
                        }
                    }
                    collect(v, key, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, key, out)),
            _ => {}
        }
    }

    fn crds() -> Value {
        json!([
            FrameworkConnection::crd(),
            ListenerRegistration::crd(),
            GatekeepingRule::crd()
        ])
    }

    const MIRRORED_MESSAGES: &[&str] = &[
        GATEWAY_URL_SCHEME,
        TOKEN_URL_SCHEME,
        ONE_CONNECTION_AUTH,
        HUB_ONE_API,
        LISTENER_URL_SCHEME,
        ONE_LISTENER_AUTH,
        IDENTITY_URI_SCHEME,
        ONE_VALUE_SOURCE,
        ONE_SELECTOR,
        ONE_LISTENER_REF,
        // Transition rules (`oldSelf`): only an update has an old object, which offline
        // validation never sees; the apiserver enforces them before any webhook runs.
        crate::resources::CONNECTION_IMMUTABLE,
        crate::resources::SELECTOR_IMMUTABLE,
    ];

    #[test]
    fn every_cel_rule_of_the_crds_is_mirrored_by_message() {
        let mut messages = Vec::new();
        collect(&crds(), "x-kubernetes-validations", &mut messages);
        assert!(!messages.is_empty());
        for message in &messages {
            assert!(
                MIRRORED_MESSAGES.contains(&message.as_str()),
                "CEL rule {message:?} has no mirror in src/validation/schema.rs"
            );
        }
        for mirrored in MIRRORED_MESSAGES {
            assert!(
                messages.iter().any(|m| m == mirrored),
                "{mirrored:?} is mirrored but no CRD has that rule any more"
            );
        }
    }

    #[test]
    fn every_pattern_of_the_crds_is_mirrored() {
        let mut patterns = Vec::new();
        collect(&crds(), "pattern", &mut patterns);
        assert!(!patterns.is_empty());
        for p in &patterns {
            assert!(
                [API_ID_PATTERN, WORKSPACE_PATTERN].contains(&p.as_str()),
                "pattern {p:?} has no mirror"
            );
        }
    }

    #[test]
    fn api_id_follows_its_pattern() {
        for ok in ["tmf-632", "orcl-200", "a-1", "abcdefgh-1234"] {
            assert!(is_api_id(ok), "{ok}");
        }
        for bad in [
            "TMF-632",
            "tmf632",
            "tmf-",
            "-1",
            "abcdefghi-1",
            "tmf-12345",
            "tmf-63a",
            "tmf-6-3",
        ] {
            assert!(!is_api_id(bad), "{bad}");
        }
    }

    #[test]
    fn workspace_follows_its_pattern() {
        assert!(is_workspace("01") && is_workspace("a_b-C"));
        assert!(!is_workspace("") && !is_workspace("a/b") && !is_workspace(&"a".repeat(33)));
    }
}
