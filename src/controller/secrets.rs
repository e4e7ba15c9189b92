//! Reading values from Secrets, and mapping a Secret to the resources that read it.
//! Only Secrets labelled `cxf.dev/credentials: "true"` are read
//! ([`crate::resources::secret_access`]).

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::error::Error;
use crate::framework::model::SecretValue;
use crate::resources::secret_access;
use crate::resources::secret_ref::{SecretKeyRef, ValueSource};

/// Reads `reference` in `namespace`. The error names the Secret and key, never a value.
pub async fn read(
    client: &kube::Client,
    namespace: &str,
    reference: &SecretKeyRef,
) -> Result<SecretValue, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api
        .get_opt(&reference.name)
        .await
        .map_err(Error::kube("reading a Secret"))?
        .ok_or_else(|| {
            Error::SecretNotFound(format!(
                "Secret {namespace}/{} does not exist",
                reference.name
            ))
        })?;
    secret_access::check(namespace, &reference.name, secret.metadata.labels.as_ref())?;
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&reference.key))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(&reference.key))
                .map(|s| s.clone().into_bytes())
        })
        .ok_or_else(|| {
            Error::SecretNotFound(format!(
                "Secret {namespace}/{} has no key '{}'",
                reference.name, reference.key
            ))
        })?;
    let value = String::from_utf8(bytes).map_err(|_| {
        Error::SecretNotFound(format!(
            "key '{}' of Secret {namespace}/{} is not UTF-8",
            reference.key, reference.name
        ))
    })?;
    Ok(SecretValue::new(value.trim_end_matches(['\n', '\r'])))
}

/// Reads a value given inline or from a Secret.
pub async fn read_value(
    client: &kube::Client,
    namespace: &str,
    source: &ValueSource,
) -> Result<String, Error> {
    match (&source.value, &source.secret_key_ref) {
        (Some(value), _) => Ok(value.clone()),
        (None, Some(reference)) => Ok(read(client, namespace, reference)
            .await?
            .expose()
            .to_owned()),
        (None, None) => Err(Error::SecretNotFound(
            "a value has neither value nor secretKeyRef".into(),
        )),
    }
}
