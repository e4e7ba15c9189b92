//! Reading values from Secrets, and mapping a Secret to the resources that read it.
//!
//! Secrets are read from a cache, never with a GET per reconcile: one reflector per
//! watched scope holds the Secrets labelled [`CREDENTIALS_SELECTOR`], the opt-in label a
//! Secret must carry for the operator to read it (the trust model is in
//! docs/resources.md). A Secret without the label is neither watched nor read: for the
//! operator it does not exist, and the error says which label is missing.
//!
//! [`Readers`] is the index from a Secret to the resources that reference it, kept from
//! the resources' own watch events, so a Secret event finds its readers without scanning
//! every resource of the store.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Secret;
use kube::Resource;
use kube::core::ObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use super::error::Error;
use crate::framework::model::SecretValue;
use crate::resources::secret_access::{self, CREDENTIALS_SELECTOR};
use crate::resources::secret_ref::{SecretKeyRef, ValueSource};

/// Checks that every Secret of `references` is in the cache; for one that is not, one
/// metadata GET (only on this error path) tells a Secret that lacks the opt-in label
/// (`SecretNotOptedIn`, naming the label) from one that does not exist (`SecretNotFound`).
/// A labelled Secret the cache has not seen yet is `SecretNotFound` too: its watch event
/// triggers the resources reading it.
pub async fn ensure_cached(
    client: &kube::Client,
    secrets: &Store<Secret>,
    namespace: &str,
    references: Vec<&SecretKeyRef>,
) -> Result<(), Error> {
    for reference in references {
        let name = &reference.name;
        if secrets
            .get(&ObjectRef::new(name).within(namespace))
            .is_some()
        {
            continue;
        }
        let api: kube::Api<Secret> = kube::Api::namespaced(client.clone(), namespace);
        let found = api
            .get_metadata_opt(name)
            .await
            .map_err(|source| Error::Kube {
                step: "reading a Secret's labels",
                source,
            })?;
        return Err(match found {
            Some(secret) => {
                secret_access::check(namespace, name, secret.metadata.labels.as_ref())?;
                Error::SecretNotFound(format!(
                    "Secret {namespace}/{name} is not in the operator's cache yet"
                ))
            }
            None => Error::SecretNotFound(format!("Secret {namespace}/{name} does not exist")),
        });
    }
    Ok(())
}

/// Reads `reference` in `namespace` from the Secret cache. The error names the Secret and
/// key, never a value.
pub fn read(
    secrets: &Store<Secret>,
    namespace: &str,
    reference: &SecretKeyRef,
) -> Result<SecretValue, Error> {
    let secret = secrets
        .get(&ObjectRef::new(&reference.name).within(namespace))
        .ok_or_else(|| {
            Error::SecretNotFound(format!(
                "Secret {namespace}/{} does not exist or lacks the label {CREDENTIALS_SELECTOR}",
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
pub fn read_value(
    secrets: &Store<Secret>,
    namespace: &str,
    source: &ValueSource,
) -> Result<String, Error> {
    match (&source.value, &source.secret_key_ref) {
        (Some(value), _) => Ok(value.clone()),
        (None, Some(reference)) => Ok(read(secrets, namespace, reference)?.expose().to_owned()),
        (None, None) => Err(Error::SecretNotFound(
            "a value has neither value nor secretKeyRef".into(),
        )),
    }
}

/// `(namespace, Secret name)`.
type SecretKey = (String, String);

/// Which resources of kind `K` read which Secret, kept up to date from the watch events of
/// `K` ([`Readers::observe`]).
pub struct Readers<K: Resource> {
    refs: fn(&K) -> Vec<&SecretKeyRef>,
    state: Mutex<Index<ObjectRef<K>>>,
}

impl<K> Readers<K>
where
    K: Resource<DynamicType = ()> + Clone,
{
    /// An empty index; `refs` lists the Secrets a resource reads.
    pub fn new(refs: fn(&K) -> Vec<&SecretKeyRef>) -> Self {
        Self {
            refs,
            state: Mutex::new(Index::default()),
        }
    }

    /// Follows one watch event of `K`.
    pub fn observe(&self, event: &watcher::Event<K>) {
        let mut index = self.state.lock().expect("readers lock");
        match event {
            watcher::Event::Apply(object) => index.set(self.key(object), self.secrets(object)),
            watcher::Event::Delete(object) => index.remove(&self.key(object)),
            watcher::Event::Init => index.relist(),
            watcher::Event::InitApply(object) => {
                index.relisted(self.key(object), self.secrets(object));
            }
            watcher::Event::InitDone => index.relist_done(),
        }
    }

    /// The resources reading the Secret `secret`.
    pub fn of(&self, secret: &ObjectMeta) -> Vec<ObjectRef<K>> {
        let (Some(namespace), Some(name)) = (&secret.namespace, &secret.name) else {
            return Vec::new();
        };
        self.state
            .lock()
            .expect("readers lock")
            .readers(&(namespace.clone(), name.clone()))
    }

    fn key(&self, object: &K) -> ObjectRef<K> {
        ObjectRef::from_obj(object)
    }

    fn secrets(&self, object: &K) -> Vec<SecretKey> {
        let namespace = object.meta().namespace.clone().unwrap_or_default();
        (self.refs)(object)
            .into_iter()
            .map(|r| (namespace.clone(), r.name.clone()))
            .collect()
    }
}

/// The index itself: readers by Secret and Secrets by reader, and the readers a relist
/// has shown so far (the others are dropped when it ends).
struct Index<R> {
    by_secret: HashMap<SecretKey, HashSet<R>>,
    by_reader: HashMap<R, Vec<SecretKey>>,
    relisted: Option<HashSet<R>>,
}

impl<R> Default for Index<R> {
    fn default() -> Self {
        Self {
            by_secret: HashMap::new(),
            by_reader: HashMap::new(),
            relisted: None,
        }
    }
}

impl<R: Clone + Eq + Hash> Index<R> {
    fn set(&mut self, reader: R, secrets: Vec<SecretKey>) {
        self.remove(&reader);
        if secrets.is_empty() {
            return;
        }
        for secret in &secrets {
            self.by_secret
                .entry(secret.clone())
                .or_default()
                .insert(reader.clone());
        }
        self.by_reader.insert(reader, secrets);
    }

    fn remove(&mut self, reader: &R) {
        for secret in self.by_reader.remove(reader).unwrap_or_default() {
            if let Some(readers) = self.by_secret.get_mut(&secret) {
                readers.remove(reader);
                if readers.is_empty() {
                    self.by_secret.remove(&secret);
                }
            }
        }
    }

    fn relist(&mut self) {
        self.relisted = Some(HashSet::new());
    }

    fn relisted(&mut self, reader: R, secrets: Vec<SecretKey>) {
        if let Some(seen) = &mut self.relisted {
            seen.insert(reader.clone());
        }
        self.set(reader, secrets);
    }

    fn relist_done(&mut self) {
        let Some(seen) = self.relisted.take() else {
            return;
        };
        let gone: Vec<R> = self
            .by_reader
            .keys()
            .filter(|r| !seen.contains(*r))
            .cloned()
            .collect();
        for reader in gone {
            self.remove(&reader);
        }
    }

    fn readers(&self, secret: &SecretKey) -> Vec<R> {
        self.by_secret
            .get(secret)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::secret_access::CREDENTIALS_LABEL;

    fn key(namespace: &str, name: &str) -> SecretKey {
        (namespace.into(), name.into())
    }

    fn sorted(mut readers: Vec<&'static str>) -> Vec<&'static str> {
        readers.sort_unstable();
        readers
    }

    #[test]
    fn an_index_follows_applies_changes_and_deletes() {
        let mut index = Index::default();
        index.set("a", vec![key("ns", "s1"), key("ns", "s2")]);
        index.set("b", vec![key("ns", "s1")]);
        index.set("c", vec![key("other", "s1")]);
        assert_eq!(sorted(index.readers(&key("ns", "s1"))), ["a", "b"]);
        assert_eq!(index.readers(&key("ns", "s2")), ["a"]);
        assert_eq!(index.readers(&key("other", "s1")), ["c"], "namespaced");

        // `a` now reads s3 only: it no longer reads s1 or s2.
        index.set("a", vec![key("ns", "s3")]);
        assert_eq!(index.readers(&key("ns", "s1")), ["b"]);
        assert!(index.readers(&key("ns", "s2")).is_empty());
        assert_eq!(index.readers(&key("ns", "s3")), ["a"]);

        index.remove(&"b");
        assert!(index.readers(&key("ns", "s1")).is_empty());
        assert!(
            !index.by_secret.contains_key(&key("ns", "s1")),
            "no empty entries kept"
        );
        index.set("a", Vec::new());
        assert!(index.by_reader.is_empty() || !index.by_reader.contains_key("a"));
    }

    #[test]
    fn a_relist_drops_the_readers_it_did_not_show() {
        let mut index = Index::default();
        index.set("a", vec![key("ns", "s")]);
        index.set("b", vec![key("ns", "s")]);
        index.relist();
        // Seen during the relist: `a` (and a new `c`); `b` was deleted while the watch was down.
        index.relisted("a", vec![key("ns", "s")]);
        index.relisted("c", vec![key("ns", "s")]);
        assert_eq!(sorted(index.readers(&key("ns", "s"))), ["a", "b", "c"]);
        index.relist_done();
        assert_eq!(sorted(index.readers(&key("ns", "s"))), ["a", "c"]);
    }

    fn secret(labels: bool, data: &[(&str, &str)]) -> Secret {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "creds",
                "namespace": "ns",
                "labels": if labels { serde_json::json!({CREDENTIALS_LABEL: "true"}) } else { serde_json::json!({}) },
            },
            "stringData": data.iter().map(|(k, v)| ((*k).to_owned(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
        }))
        .unwrap()
    }

    fn cache(secrets: Vec<Secret>) -> Store<Secret> {
        let (store, mut writer) = kube::runtime::reflector::store();
        writer.apply_watcher_event(&watcher::Event::Init);
        for secret in secrets {
            writer.apply_watcher_event(&watcher::Event::InitApply(secret));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        store
    }

    #[test]
    fn values_come_from_the_cache_and_errors_name_the_label_never_a_value() {
        let store = cache(vec![secret(true, &[("password", "s3cret\n")])]);
        let reference = |name: &str, key: &str| SecretKeyRef {
            name: name.into(),
            key: key.into(),
        };
        let value = read(&store, "ns", &reference("creds", "password")).unwrap();
        assert_eq!(value.expose(), "s3cret", "trailing newline trimmed");

        let missing = read(&store, "ns", &reference("other", "password")).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("lacks the label cxf.dev/credentials=true"),
            "{missing}"
        );
        let no_key = read(&store, "ns", &reference("creds", "token")).unwrap_err();
        assert!(no_key.to_string().contains("no key 'token'"), "{no_key}");
        assert!(!no_key.to_string().contains("s3cret"));
        let elsewhere = read(&store, "other", &reference("creds", "password"));
        assert!(
            elsewhere.is_err(),
            "a Secret is read in its own namespace only"
        );
    }
}
