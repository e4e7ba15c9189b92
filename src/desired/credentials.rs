//! Keyed hashes of credential values.
//!
//! The framework never returns a client secret or a password, so the operator cannot see
//! whether the values it applied are still current by reading back. It keeps, in the
//! resource's status, an HMAC-SHA256 of the values it last applied, and sends the
//! credentials again when the hash of the current Secret values differs.
//!
//! The HMAC key is a [`HashKey`]: 32 random bytes the operator keeps in a Secret of its
//! own namespace (created at first start, shared by the replicas: see
//! `crate::controller::hash_key`). Someone who can read the resource but not that Secret
//! cannot test guesses of a password against the hash: it is no offline guessing oracle.
//! The resource's UID is hashed too (after a domain separator), so equal credentials of
//! two resources hash differently and a hash is bound to its resource.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::framework::model::ListenerAuth;

const DOMAIN: &[u8] = b"cxf.dev/credentials-hash/v2\0";

/// The secret key of the credentials hash. Its `Debug` shows no byte of it.
#[derive(Clone, PartialEq, Eq)]
pub struct HashKey([u8; HashKey::LEN]);

impl HashKey {
    /// Length of a key, in bytes.
    pub const LEN: usize = 32;

    /// A key made of `bytes`; `None` unless there are exactly [`HashKey::LEN`].
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// A new key from the operating system's random source.
    pub fn generate() -> Self {
        Self(rand::random())
    }

    /// The key's bytes, for the one place that stores it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(<redacted>)")
    }
}

/// HMAC-SHA256 (lower-case hex), keyed by `key`, of the resource `uid` and its whole
/// `listener-auth` value. `None` (no authentication) hashes to a fixed value too, so
/// removing the authentication is a change.
pub fn hash(key: &HashKey, uid: &str, auth: Option<&ListenerAuth>) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes a key of any length");
    mac.update(DOMAIN);
    field(&mut mac, uid);
    match auth {
        None => mac.update(b"none"),
        Some(ListenerAuth::OidcClientCredentials(o)) => {
            for part in [
                "oidc",
                &o.identity_uri,
                &o.client_id,
                o.expose_secret(),
                o.scope.as_deref().unwrap_or(""),
            ] {
                field(&mut mac, part);
            }
            mac.update(&[u8::from(o.scope.is_some())]);
        }
        Some(ListenerAuth::Basic(b)) => {
            for part in ["basic", &b.username, b.expose_password()] {
                field(&mut mac, part);
            }
        }
    }
    hex(&mac.finalize().into_bytes())
}

/// Length-prefixed, so that `("ab", "c")` and `("a", "bc")` hash differently.
fn field(mac: &mut Hmac<Sha256>, value: &str) {
    mac.update(&(value.len() as u64).to_be_bytes());
    mac.update(value.as_bytes());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::model::{BasicAuth, SecretValue};

    fn basic(user: &str, password: &str) -> ListenerAuth {
        ListenerAuth::Basic(BasicAuth {
            username: user.into(),
            password: Some(SecretValue::new(password)),
        })
    }

    fn key(byte: u8) -> HashKey {
        HashKey::from_bytes(&[byte; HashKey::LEN]).unwrap()
    }

    #[test]
    fn hash_changes_with_the_secret_the_resource_and_the_key_only() {
        let k = key(1);
        let a = hash(&k, "uid-1", Some(&basic("admin", "s3cret")));
        assert_eq!(a, hash(&k, "uid-1", Some(&basic("admin", "s3cret"))));
        assert_ne!(a, hash(&k, "uid-1", Some(&basic("admin", "rotated"))));
        assert_ne!(a, hash(&k, "uid-2", Some(&basic("admin", "s3cret"))));
        assert_ne!(a, hash(&k, "uid-1", None));
        assert_eq!(a.len(), 64);
        assert!(!a.contains("s3cret"));
    }

    #[test]
    fn without_the_key_the_hash_cannot_be_recomputed() {
        // What someone who reads the resource (uid, hash) but not the key's Secret could
        // compute for a guessed password never matches the stored hash.
        let stored = hash(&key(7), "uid-1", Some(&basic("admin", "s3cret")));
        for guess in [key(0), key(8), HashKey::generate()] {
            assert_ne!(
                stored,
                hash(&guess, "uid-1", Some(&basic("admin", "s3cret")))
            );
        }
        assert_ne!(HashKey::generate(), HashKey::generate());
    }

    #[test]
    fn keys_have_one_length_and_never_show() {
        assert!(HashKey::from_bytes(&[0; 31]).is_none());
        assert!(HashKey::from_bytes(&[0; 33]).is_none());
        assert_eq!(format!("{:?}", key(0x41)), "HashKey(<redacted>)");
    }

    #[test]
    fn fields_are_length_prefixed() {
        assert_ne!(
            hash(&key(1), "u", Some(&basic("ab", "c"))),
            hash(&key(1), "u", Some(&basic("a", "bc")))
        );
        assert_ne!(
            hash(&key(1), "ub", Some(&basic("a", "c"))),
            hash(&key(1), "u", Some(&basic("ba", "c")))
        );
    }
}
