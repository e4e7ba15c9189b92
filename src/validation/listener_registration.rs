//! ListenerRegistration checks the schema cannot express: every query parses, the URLs
//! parse, no API is listed twice, and the FrameworkConnection exists.

use std::collections::HashMap;

use super::{Finding, Known, criteria_field, missing_connection};
use crate::resources::listener_registration::ListenerRegistrationSpec;

/// Findings about `spec` beyond its schema.
pub fn check(spec: &ListenerRegistrationSpec, known: &Known) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, api) in spec.affiliated_apis.iter().enumerate() {
        let at = format!("spec.affiliatedApis[{i}]");
        if let Some(first) = seen.insert((&api.api_name, &api.api_version), i) {
            out.push(Finding::error(
                at.clone(),
                format!(
                    "API {} {} is listed twice (also at spec.affiliatedApis[{first}]); list each API once and combine the queries with or",
                    api.api_name, api.api_version
                ),
            ));
        }
        if let Some(query) = &api.query {
            out.extend(criteria_field::check(&format!("{at}.query"), query));
        }
    }
    super::framework_connection::url(&mut out, "spec.listenerUrl", &spec.listener_url);
    if let Some(oidc) = spec
        .auth
        .as_ref()
        .and_then(|a| a.oidc_client_credentials.as_ref())
    {
        super::framework_connection::url(
            &mut out,
            "spec.auth.oidcClientCredentials.identityUri",
            &oidc.identity_uri,
        );
    }
    out.extend(missing_connection(spec.connection_name.as_deref(), known));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(value: serde_json::Value) -> ListenerRegistrationSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn query_errors_carry_the_field_and_position() {
        let spec = spec(json!({
            "listenerUrl": "https://l.example.com",
            "affiliatedApis": [{"apiName": "a", "apiVersion": "v1", "query": "/eventType eq \"X\" and (/a eq )"}],
        }));
        let findings = check(&spec, &Known::default());
        assert_eq!(findings.len(), 1, "{findings:?}");
        let text = findings[0].to_string();
        assert!(
            text.starts_with("spec.affiliatedApis[0].query: line 1, column 30: "),
            "{text}"
        );
        assert!(findings[0].is_error());
    }

    #[test]
    fn an_api_listed_twice_is_an_error() {
        let spec = spec(json!({
            "listenerUrl": "https://l.example.com",
            "affiliatedApis": [{"apiName": "a", "apiVersion": "v1"}, {"apiName": "a", "apiVersion": "v1"}, {"apiName": "a", "apiVersion": "v2"}],
        }));
        let findings = check(&spec, &Known::default());
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].field, "spec.affiliatedApis[1]");
        assert!(
            findings[0]
                .message
                .contains("also at spec.affiliatedApis[0]")
        );
    }

    #[test]
    fn a_missing_connection_is_a_warning_only_when_connections_are_known() {
        let spec = spec(
            json!({"listenerUrl": "https://l", "affiliatedApis": [{"apiName": "a", "apiVersion": "v1"}]}),
        );
        assert!(check(&spec, &Known::default()).is_empty());
        let known = Known {
            framework_connections: Some(["other".to_owned()].into()),
            ..Known::default()
        };
        let findings = check(&spec, &known);
        assert_eq!(findings.len(), 1);
        assert!(!findings[0].is_error());
        assert!(
            findings[0]
                .message
                .contains("FrameworkConnection 'default'")
        );
        let known = Known {
            framework_connections: Some(["default".to_owned()].into()),
            ..Known::default()
        };
        assert!(check(&spec, &known).is_empty());
    }
}
