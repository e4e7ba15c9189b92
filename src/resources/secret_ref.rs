//! References to values held in Secrets of the resource's own namespace.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A key of a Secret in the same namespace as the resource that refers to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret, in the resource's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the Secret's `data` whose value is used.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A value that is not secret by itself (a client id, a user name): given inline or read
/// from a key of a Secret. Exactly one of `value` and `secretKeyRef` is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.value) != has(self.secretKeyRef)").message("set exactly one of value and secretKeyRef"))]
pub struct ValueSource {
    /// The value itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A key of a Secret holding the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
}

impl ValueSource {
    /// The Secret this value is read from, if any.
    pub fn secret(&self) -> Option<&SecretKeyRef> {
        self.secret_key_ref.as_ref()
    }
}
