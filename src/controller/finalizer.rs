//! The operator's finalizer, added and removed by conditional writes: adding it (with
//! the pending-create marker when a create follows, in ONE write) is a merge patch that
//! carries the object's `resourceVersion`, so it fails if the object changed since it
//! was read; removing it is a JSON patch that `test`s the entry first, as kube-runtime's
//! `finalizer` does.

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::context::FINALIZER;
use super::error::Error;

/// Whether `object` carries the operator's finalizer.
pub fn has<K: Resource>(object: &K) -> bool {
    object.finalizers().iter().any(|f| f == FINALIZER)
}

/// Adds the finalizer (if missing) and sets `annotation` (if any), in one write
/// conditional on `object`'s `resourceVersion`. Returns the object as written.
pub async fn mark<K>(
    api: &Api<K>,
    object: &K,
    annotation: Option<(&str, String)>,
) -> Result<K, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut finalizers = object.finalizers().to_vec();
    if !has(object) {
        finalizers.push(FINALIZER.to_owned());
    }
    let mut metadata = json!({
        "resourceVersion": object.resource_version(),
        "finalizers": finalizers,
    });
    if let Some((key, value)) = annotation {
        metadata["annotations"] = json!({ key: value });
    }
    api.patch(
        &object.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": metadata })),
    )
    .await
    .map_err(Error::kube(
        "recording the finalizer (and the pending create)",
    ))
}

/// Adds the finalizer if it is missing (one write), before the framework is touched.
pub async fn ensure<K>(api: &Api<K>, object: K) -> Result<K, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    if has(&object) {
        return Ok(object);
    }
    mark(api, &object, None).await
}

/// Removes the finalizer; fails if the list changed since `object` was read.
pub async fn remove<K>(api: &Api<K>, object: &K) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let Some(index) = object.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{index}");
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": path, "value": FINALIZER},
        {"op": "remove", "path": path},
    ]))
    .expect("a valid JSON patch");
    match api
        .patch(
            &object.name_any(),
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        // Already gone: the object was deleted once its last finalizer went.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::kube("removing the finalizer")(e)),
    }
}
