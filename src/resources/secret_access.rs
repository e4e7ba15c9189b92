//! Which Secrets the operator may read on a resource's behalf: only those that opt in.
//!
//! The trust model (docs/resources.md, "Trust model"): a resource makes the operator send
//! Secret values to URLs its author chooses (a FrameworkConnection's `gatewayUrl` and
//! `tokenUrl`, a ListenerRegistration's `identityUri` and `listenerUrl`). Someone who may
//! create these resources in a namespace but may not read its Secrets must not be able to
//! use the operator to read them. Two locks close that:
//!
//! - this rule: the operator reads a Secret only if it carries the label
//!   [`CREDENTIALS_LABEL`]`: "true"`, set by whoever owns the Secret. A Secret without it
//!   is never read; the resource gets `Ready=False`, reason `SecretNotOptedIn`, naming the
//!   label to add;
//! - the admission webhook (`crate::webhook::secret_access`): the author of a resource
//!   must themselves be allowed to `get` every Secret it references.
//!
//! The label is a label (not an annotation) so that a Secret cache can watch with a label
//! selector and hold nothing else.
//!
//! Pure: [`check`] decides from the Secret's labels; the controllers call it after
//! fetching a Secret and before using any of its values.

use std::collections::BTreeMap;

/// The label a Secret must carry, with value [`CREDENTIALS_LABEL_VALUE`], to be read.
pub const CREDENTIALS_LABEL: &str = "cxf.dev/credentials";
/// The value of [`CREDENTIALS_LABEL`] that opts a Secret in.
pub const CREDENTIALS_LABEL_VALUE: &str = "true";
/// The label selector that selects exactly the Secrets the operator may read.
pub const CREDENTIALS_SELECTOR: &str = "cxf.dev/credentials=true";

/// A Secret the operator refuses to read: it did not opt in.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "Secret {namespace}/{name} is not labelled {CREDENTIALS_LABEL}={CREDENTIALS_LABEL_VALUE}: \
     the operator reads only Secrets that opt in; if this Secret is meant for cxf-operator, \
     its owner can run `kubectl label secret -n {namespace} {name} {CREDENTIALS_LABEL}={CREDENTIALS_LABEL_VALUE}`"
)]
pub struct NotOptedIn {
    /// The Secret's namespace.
    pub namespace: String,
    /// The Secret's name.
    pub name: String,
}

/// Whether labels `labels` opt a Secret in: [`CREDENTIALS_LABEL`] is exactly `"true"`.
pub fn opted_in(labels: Option<&BTreeMap<String, String>>) -> bool {
    labels
        .and_then(|l| l.get(CREDENTIALS_LABEL))
        .is_some_and(|v| v == CREDENTIALS_LABEL_VALUE)
}

/// `Ok` if Secret `namespace/name` with `labels` may be read, else why not.
///
/// # Errors
///
/// [`NotOptedIn`] when the Secret lacks the label or sets another value.
pub fn check(
    namespace: &str,
    name: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> Result<(), NotOptedIn> {
    if opted_in(labels) {
        Ok(())
    } else {
        Err(NotOptedIn {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Labels of a Secret (`None`: no labels at all).
    type Labels<'a> = Option<&'a [(&'a str, &'a str)]>;

    #[test]
    fn only_the_exact_label_opts_in() {
        let table: &[(Labels, bool)] = &[
            (None, false),
            (Some(&[]), false),
            (Some(&[("app", "x")]), false),
            (Some(&[(CREDENTIALS_LABEL, "true")]), true),
            (Some(&[(CREDENTIALS_LABEL, "true"), ("app", "x")]), true),
            (Some(&[(CREDENTIALS_LABEL, "True")]), false),
            (Some(&[(CREDENTIALS_LABEL, "false")]), false),
            (Some(&[(CREDENTIALS_LABEL, "")]), false),
            (Some(&[("cxf.dev/credential", "true")]), false),
            (Some(&[("other.dev/credentials", "true")]), false),
        ];
        for (pairs, want) in table {
            let map = pairs.map(labels);
            assert_eq!(opted_in(map.as_ref()), *want, "{pairs:?}");
            assert_eq!(check("ns", "s", map.as_ref()).is_ok(), *want, "{pairs:?}");
        }
    }

    #[test]
    fn the_refusal_names_the_secret_and_the_label_to_add() {
        let refused = check("team-a", "db", None).unwrap_err();
        let message = refused.to_string();
        assert!(message.contains("Secret team-a/db"), "{message}");
        assert!(
            message.contains("kubectl label secret -n team-a db cxf.dev/credentials=true"),
            "{message}"
        );
        assert_eq!(
            CREDENTIALS_SELECTOR,
            format!("{CREDENTIALS_LABEL}={CREDENTIALS_LABEL_VALUE}")
        );
    }
}
