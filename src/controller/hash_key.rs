//! The key of `status.credentialsHash` ([`crate::desired::credentials`]), kept in a
//! Secret of the operator's own namespace and shared by every replica.
//!
//! Expected flow: at start, every replica calls [`ensure`]. Whoever finds the Secret
//! missing creates it with a new random key (create-if-absent: a create answered with
//! AlreadyExists means another replica won, and its key is read). Nothing ever updates
//! the Secret.
//!
//! Guarantees: every replica hashes with the same key; the key never leaves the process
//! except into that Secret, and is never logged.
//!
//! Caveats: deleting the Secret makes the next start create a new key; every
//! ListenerRegistration's stored hash then differs from the one computed, and its
//! credentials are sent to the framework once more (harmless, the same values). A
//! Secret holding something else than a key of the right length is an error, never
//! overwritten: delete it to have a new key made.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, Error as KubeError};

use crate::desired::credentials::HashKey;

/// Key of the Secret's `data` holding the 32 bytes.
pub const DATA_KEY: &str = "key";
/// Default name of the Secret (`cxf-operator run --credentials-hash-secret`).
pub const DEFAULT_SECRET_NAME: &str = "cxf-operator-credentials-hash-key";

/// How many times a create lost to another replica is followed by a read.
const ATTEMPTS: usize = 3;

/// Keeping the key failed. Names the Secret and the step, never a byte of the key.
#[derive(Debug, thiserror::Error)]
pub enum HashKeyError {
    /// Reading or creating the Secret failed.
    #[error("{step} the credentials-hash key Secret {namespace}/{name}: {source}")]
    Secret {
        /// What was being done.
        step: &'static str,
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The API server's answer.
        source: KubeError,
    },
    /// The Secret exists but holds no usable key.
    #[error(
        "the credentials-hash key Secret {namespace}/{name} has no {len}-byte `{DATA_KEY}`; \
         delete it and the operator makes a new one (credentials are then sent once more)",
        len = HashKey::LEN
    )]
    Unusable {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
    },
    /// The Secret kept being created and deleted under us.
    #[error("the credentials-hash key Secret {namespace}/{name} kept changing; try again")]
    Contended {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
    },
}

/// The key in Secret `namespace/name`, created with a new random key if absent.
///
/// # Errors
///
/// [`HashKeyError`] naming the step that failed.
pub async fn ensure(client: &Client, namespace: &str, name: &str) -> Result<HashKey, HashKeyError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let failed = |step: &'static str| {
        move |source| HashKeyError::Secret {
            step,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source,
        }
    };
    for _ in 0..ATTEMPTS {
        if let Some(existing) = api.get_opt(name).await.map_err(failed("reading"))? {
            return key_of(&existing).ok_or_else(|| HashKeyError::Unusable {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            });
        }
        let key = HashKey::generate();
        match api
            .create(&PostParams::default(), &secret(name, &key))
            .await
        {
            Ok(_) => {
                tracing::info!(secret = %name, "created the credentials-hash key Secret");
                return Ok(key);
            }
            Err(KubeError::Api(status)) if status.code == 409 => continue,
            Err(e) => return Err(failed("creating")(e)),
        }
    }
    Err(HashKeyError::Contended {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    })
}

/// The key held by `secret`, if it holds one.
pub fn key_of(secret: &Secret) -> Option<HashKey> {
    HashKey::from_bytes(&secret.data.as_ref()?.get(DATA_KEY)?.0)
}

/// The Secret holding `key`.
pub fn secret(name: &str, key: &HashKey) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_owned(),
                "cxf-operator".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        immutable: Some(true),
        data: Some(BTreeMap::from([(
            DATA_KEY.to_owned(),
            ByteString(key.expose().to_vec()),
        )])),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_round_trips_its_key_and_anything_else_is_unusable() {
        let key = HashKey::generate();
        let made = secret("k", &key);
        assert_eq!(key_of(&made), Some(key));
        assert_eq!(made.immutable, Some(true));
        assert!(key_of(&Secret::default()).is_none());
        let mut short = made.clone();
        short
            .data
            .as_mut()
            .unwrap()
            .insert(DATA_KEY.into(), ByteString(vec![1; 16]));
        assert!(key_of(&short).is_none());
    }
}
