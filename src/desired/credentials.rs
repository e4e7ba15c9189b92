//! Keyed hashes of credential values.
//!
//! The framework never returns a client secret or a password, so the operator cannot see
//! whether the values it applied are still current by reading back. It keeps, in the
//! resource's status, an HMAC-SHA256 of the values it last applied, and sends the
//! credentials again when the hash of the current Secret values differs.
//!
//! The HMAC key is the resource's UID (`metadata.uid`) prefixed with a domain separator:
//! it makes the hashes of two resources with the same password differ and binds a hash
//! to the resource it was computed for. The UID is not a secret: the hash hides nothing
//! from someone who can guess the password and read the resource, which is why it is
//! only ever compared, never shown outside the status, and why Secrets should hold
//! high-entropy values.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::framework::model::ListenerAuth;

const DOMAIN: &[u8] = b"cxf.dev/credentials-hash/v1\0";

/// HMAC-SHA256 (lower-case hex) of the whole `listener-auth` value, keyed by `uid`.
/// `None` (no authentication) hashes to a fixed value too, so removing the
/// authentication is a change.
pub fn hash(uid: &str, auth: Option<&ListenerAuth>) -> String {
    let mut key = DOMAIN.to_vec();
    key.extend_from_slice(uid.as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes a key of any length");
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

    #[test]
    fn hash_changes_with_the_secret_and_the_key_only() {
        let a = hash("uid-1", Some(&basic("admin", "s3cret")));
        assert_eq!(a, hash("uid-1", Some(&basic("admin", "s3cret"))));
        assert_ne!(a, hash("uid-1", Some(&basic("admin", "rotated"))));
        assert_ne!(a, hash("uid-2", Some(&basic("admin", "s3cret"))));
        assert_ne!(a, hash("uid-1", None));
        assert_eq!(a.len(), 64);
        assert!(!a.contains("s3cret"));
    }

    #[test]
    fn fields_are_length_prefixed() {
        assert_ne!(
            hash("u", Some(&basic("ab", "c"))),
            hash("u", Some(&basic("a", "bc")))
        );
    }
}
