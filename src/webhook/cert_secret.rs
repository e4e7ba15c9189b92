//! The self-managed certificate: kept in a Secret (type `kubernetes.io/tls`: `tls.crt`,
//! `tls.key`, `ca.crt`) shared by every replica, renewed before it expires, with the CA
//! written into the ValidatingWebhookConfiguration's `caBundle`.
//!
//! Several replicas may start at once: whoever finds the Secret missing creates it
//! (create-if-absent; the loser reads the winner's), and whoever finds it due renews it
//! with an update guarded by its `resourceVersion` (the loser reads the winner's). Every
//! replica then serves what the Secret holds.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};

use super::certs::{CertError, ServingCert};

/// Annotation of the Secret holding the certificate's end of validity (Unix seconds).
pub const NOT_AFTER_ANNOTATION: &str = "cxf.dev/not-after";

/// How many times a create or update lost to another replica is retried.
const ATTEMPTS: usize = 5;

/// What the self-managed certificate is made of and where it is kept.
#[derive(Clone, Debug)]
pub struct CertPolicy {
    /// Namespace of the Secret.
    pub namespace: String,
    /// Name of the Secret.
    pub secret: String,
    /// DNS names and IP addresses the certificate is valid for.
    pub hosts: Vec<String>,
    /// Lifetime of a new certificate.
    pub lifetime: Duration,
    /// Renew when the certificate ends within this.
    pub renew_before: Duration,
}

/// Keeping the certificate failed.
#[derive(Debug, thiserror::Error)]
pub enum CertSecretError {
    /// Reading, creating or updating the Secret failed.
    #[error("{step} the webhook certificate Secret {namespace}/{name}: {source}")]
    Secret {
        /// What was being done.
        step: &'static str,
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The API server's answer.
        source: kube::Error,
    },
    /// Other replicas kept winning the race to write the Secret.
    #[error("the webhook certificate Secret {0} kept changing under us; retrying later")]
    Contended(String),
    /// Generating the certificate failed.
    #[error(transparent)]
    Generate(#[from] CertError),
    /// Reading or patching the ValidatingWebhookConfiguration failed.
    #[error("writing the caBundle of ValidatingWebhookConfiguration {name}: {source}")]
    CaBundle {
        /// The configuration's name.
        name: String,
        /// The API server's answer.
        source: kube::Error,
    },
}

/// Reads the certificate from the Secret, creating or renewing it if it is missing,
/// unreadable or due.
///
/// # Errors
///
/// [`CertSecretError`] naming the step that failed.
pub async fn ensure(client: &Client, policy: &CertPolicy) -> Result<ServingCert, CertSecretError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &policy.namespace);
    let failed = |step: &'static str| {
        move |source| CertSecretError::Secret {
            step,
            namespace: policy.namespace.clone(),
            name: policy.secret.clone(),
            source,
        }
    };
    for _ in 0..ATTEMPTS {
        let existing = api
            .get_opt(&policy.secret)
            .await
            .map_err(failed("reading"))?;
        let Some(existing) = existing else {
            let cert = ServingCert::issue(&policy.hosts, policy.lifetime, None)?;
            match api
                .create(&PostParams::default(), &secret(policy, &cert, None))
                .await
            {
                Ok(_) => {
                    tracing::info!(secret = %policy.secret, "webhook: created the certificate Secret");
                    return Ok(cert);
                }
                Err(e) if is_status(&e, 409) => continue,
                Err(e) => return Err(failed("creating")(e)),
            }
        };
        let current = read(&existing);
        if let Some(cert) = &current
            && !cert.is_due(SystemTime::now(), policy.renew_before)
        {
            return Ok(cert.clone());
        }
        let previous_ca = current.as_ref().map(|c| c.ca_pem.as_str());
        let cert = ServingCert::issue(&policy.hosts, policy.lifetime, previous_ca)?;
        let renewed = secret(policy, &cert, existing.resource_version());
        match api
            .replace(&policy.secret, &PostParams::default(), &renewed)
            .await
        {
            Ok(_) => {
                tracing::info!(secret = %policy.secret, not_after = cert.not_after, "webhook: renewed the certificate");
                return Ok(cert);
            }
            Err(e) if is_status(&e, 409) => continue,
            Err(e) => return Err(failed("updating")(e)),
        }
    }
    Err(CertSecretError::Contended(policy.secret.clone()))
}

/// Sets `ca_pem` as the `caBundle` of every webhook of the configuration `name`, if it
/// is not already.
///
/// # Errors
///
/// [`CertSecretError::CaBundle`] if the configuration cannot be read or patched.
pub async fn write_ca_bundle(
    client: &Client,
    name: &str,
    ca_pem: &str,
) -> Result<(), CertSecretError> {
    let failed = |source| CertSecretError::CaBundle {
        name: name.to_owned(),
        source,
    };
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let mut lost_race = None;
    for _ in 0..ATTEMPTS {
        let config = api.get(name).await.map_err(failed)?;
        let webhooks = config.webhooks.unwrap_or_default();
        let operations: Vec<serde_json::Value> = webhooks
            .iter()
            .enumerate()
            .filter(|(_, w)| {
                w.client_config.ca_bundle.as_ref().map(|b| b.0.as_slice())
                    != Some(ca_pem.as_bytes())
            })
            .map(|(i, _)| {
                serde_json::json!({
                    "op": "add",
                    "path": format!("/webhooks/{i}/clientConfig/caBundle"),
                    "value": ByteString(ca_pem.as_bytes().to_vec()),
                })
            })
            .collect();
        if operations.is_empty() {
            return Ok(());
        }
        // Guarded: if the configuration changed since it was read (another replica
        // wrote it), the patch fails and it is read again at once: replicas starting
        // together serve their certificate only once this returns.
        let mut guarded = vec![
            serde_json::json!({"op": "test", "path": "/metadata/resourceVersion", "value": config.metadata.resource_version}),
        ];
        guarded.extend(operations);
        let patch: json_patch::Patch = serde_json::from_value(serde_json::Value::Array(guarded))
            .expect("test and add operations are valid JSON patch operations");
        match api
            .patch(name, &PatchParams::default(), &Patch::Json::<()>(patch))
            .await
        {
            Ok(_) => {
                tracing::info!(config = %name, "webhook: wrote the caBundle");
                return Ok(());
            }
            // A failed `test` operation is 422; a conflict, 409.
            Err(e) if is_status(&e, 422) || is_status(&e, 409) => lost_race = Some(e),
            Err(e) => return Err(failed(e)),
        }
    }
    Err(failed(lost_race.expect("ATTEMPTS > 0: a patch was tried")))
}

fn is_status(error: &kube::Error, code: u16) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == code)
}

fn secret(policy: &CertPolicy, cert: &ServingCert, resource_version: Option<String>) -> Secret {
    let data = BTreeMap::from([
        (
            "ca.crt".to_owned(),
            ByteString(cert.ca_pem.clone().into_bytes()),
        ),
        (
            "tls.crt".to_owned(),
            ByteString(cert.cert_pem.clone().into_bytes()),
        ),
        (
            "tls.key".to_owned(),
            ByteString(cert.key_pem.clone().into_bytes()),
        ),
    ]);
    Secret {
        metadata: ObjectMeta {
            name: Some(policy.secret.clone()),
            namespace: Some(policy.namespace.clone()),
            resource_version,
            annotations: Some(BTreeMap::from([(
                NOT_AFTER_ANNOTATION.to_owned(),
                cert.not_after.to_string(),
            )])),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_owned(),
                "cxf-operator".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(data),
        ..Secret::default()
    }
}

/// The certificate a Secret holds, if it holds a complete one.
fn read(secret: &Secret) -> Option<ServingCert> {
    let data = secret.data.as_ref()?;
    let text = |key: &str| {
        data.get(key)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
    };
    Some(ServingCert {
        ca_pem: text("ca.crt")?,
        cert_pem: text("tls.crt")?,
        key_pem: text("tls.key")?,
        not_after: secret
            .annotations()
            .get(NOT_AFTER_ANNOTATION)?
            .parse()
            .ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_round_trips_and_an_incomplete_one_reads_as_none() {
        let policy = CertPolicy {
            namespace: "ns".into(),
            secret: "s".into(),
            hosts: vec!["localhost".into()],
            lifetime: Duration::from_secs(60),
            renew_before: Duration::from_secs(20),
        };
        let cert = ServingCert::issue(&policy.hosts, policy.lifetime, None).unwrap();
        let mut secret = secret(&policy, &cert, Some("7".into()));
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(read(&secret), Some(cert));
        secret.metadata.annotations = None;
        assert_eq!(read(&secret), None);
    }
}
