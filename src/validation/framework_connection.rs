//! FrameworkConnection checks the schema cannot express: the URLs parse.

use super::Finding;
use crate::resources::framework_connection::FrameworkConnectionSpec;

/// Findings about `spec` beyond its schema.
pub fn check(spec: &FrameworkConnectionSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    url(&mut out, "spec.gatewayUrl", &spec.gateway_url);
    if let Some(token_url) = spec
        .auth
        .oauth2
        .as_ref()
        .and_then(|o| o.token_url.as_deref())
    {
        url(&mut out, "spec.auth.oauth2.tokenUrl", token_url);
    }
    out
}

/// An http(s) URL that does not parse (the scheme itself is the schema's rule).
pub(super) fn url(out: &mut Vec<Finding>, field: &str, value: &str) {
    if (value.starts_with("http://") || value.starts_with("https://"))
        && let Err(e) = url::Url::parse(value)
    {
        out.push(Finding::error(field, format!("is not a valid URL: {e}")));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_unparsable_gateway_url_is_an_error() {
        let spec: FrameworkConnectionSpec = serde_json::from_value(json!({
            "gatewayUrl": "https://exa mple.com", "auth": {"bearerToken": {"name": "s", "key": "k"}},
        }))
        .unwrap();
        let findings = check(&spec);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].field, "spec.gatewayUrl");
        assert!(findings[0].message.starts_with("is not a valid URL"));
    }
}
