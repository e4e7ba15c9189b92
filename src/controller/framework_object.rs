//! The one reconcile of both framework-object kinds (ListenerRegistration and
//! GatekeepingRule): a resource being deleted is cleaned up from its live copy (re-read,
//! not the watch copy) and lets go of its connection; any other is applied through its
//! connection; either way the outcome is reported once, by [`outcome::report`].

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::context::Context;
use super::error::Error;
use super::finalizer;
use super::outcome::{self, Done, Phase, ReadyStatus};
use super::state::ConnectionState;
use crate::resources::{FrameworkConnection, conditions};

/// A resource standing for a framework object.
pub trait FrameworkObject:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
    /// Its status.
    type Status: ReadyStatus + Send + Sync;
    /// Name of its controller in metrics.
    const CONTROLLER: &'static str;
    /// The `Ready=True` message.
    const IN_SYNC: &'static str;

    /// Its status, as read.
    fn status(&self) -> Option<&Self::Status>;

    /// Name of the FrameworkConnection it uses.
    fn connection(&self) -> &str;

    /// Plans and acts until the framework matches or the resource must wait.
    fn apply(
        &self,
        ctx: &Context,
        api: &Api<Self>,
        connection: &ConnectionState,
        status: &mut Self::Status,
    ) -> impl Future<Output = Result<Done, Error>> + Send;

    /// Cleans up (this is the live object), then removes the finalizer.
    fn cleanup(
        &self,
        ctx: &Context,
        api: &Api<Self>,
        status: &mut Self::Status,
    ) -> impl Future<Output = Result<Done, Error>> + Send;
}

/// Implements [`FrameworkObject`] for `$kind` with the module's own `apply` and
/// `cleanup` functions (same parameters as the trait's methods).
macro_rules! framework_object {
    ($kind:ty, $status:ty, $controller:expr, $in_sync:expr) => {
        impl $crate::controller::FrameworkObject for $kind {
            type Status = $status;
            const CONTROLLER: &'static str = $controller;
            const IN_SYNC: &'static str = $in_sync;

            fn status(&self) -> Option<&$status> {
                self.status.as_ref()
            }

            fn connection(&self) -> &str {
                self.connection_name()
            }

            fn apply(
                &self,
                ctx: &Context,
                api: &Api<Self>,
                connection: &ConnectionState,
                status: &mut $status,
            ) -> impl std::future::Future<Output = Result<Done, Error>> + Send {
                apply(self, ctx, api, connection, status)
            }

            fn cleanup(
                &self,
                ctx: &Context,
                api: &Api<Self>,
                status: &mut $status,
            ) -> impl std::future::Future<Output = Result<Done, Error>> + Send {
                cleanup(self, ctx, api, status)
            }
        }
    };
}
pub(crate) use framework_object;

/// The resources of `store` using `connection`.
pub fn users<K: FrameworkObject>(
    store: &Store<K>,
    connection: &ObjectRef<FrameworkConnection>,
) -> Vec<Arc<K>> {
    store.state_filter(|r| {
        r.namespace().as_deref() == connection.namespace.as_deref()
            && r.connection() == connection.name
    })
}

/// Reconciles one resource of kind `K`.
pub async fn reconcile<K: FrameworkObject>(
    object: Arc<K>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    ctx.metrics.reconcile.reconciled(K::CONTROLLER);
    let namespace = object.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let own = object.status();
    let mut status = ctx.latest_status(&*object, own).unwrap_or_default();
    let deleting = object.meta().deletion_timestamp.is_some();
    let connection = if deleting {
        ctx.cleanup_connection(&namespace, object.connection())
    } else {
        ctx.connection(&namespace, object.connection())
    };
    let (result, phase) = if deleting {
        if !finalizer::has(&*object) {
            return Ok(Action::await_change());
        }
        let result = cleanup(&*object, &ctx, &api, &mut status).await;
        if matches!(result, Ok(Done::Synced)) {
            let used = ObjectRef::new(object.connection()).within(&namespace);
            let _ = ctx.triggers.connections.unbounded_send(used);
        }
        (result, Phase::Cleanup)
    } else {
        let result = match &connection {
            Ok(connection) => object.apply(&ctx, &api, connection, &mut status).await,
            Err(Error::SlowedDown(wait)) => Err(Error::SlowedDown(*wait)),
            Err(e) => Err(Error::ConnectionNotReady(e.to_string())),
        };
        (
            result,
            Phase::Apply(conditions::REASON_RECONCILED, K::IN_SYNC),
        )
    };
    outcome::report(
        K::CONTROLLER,
        &*object,
        own,
        &ctx,
        &api,
        status,
        result,
        phase,
        connection.as_deref().ok(),
    )
    .await
}

/// The cleanup, from the live object: the watch copy may be older than a create.
async fn cleanup<K: FrameworkObject>(
    object: &K,
    ctx: &Context,
    api: &Api<K>,
    status: &mut K::Status,
) -> Result<Done, Error> {
    let Some(live) = api
        .get_opt(&object.name_any())
        .await
        .map_err(Error::kube("reading the resource before cleanup"))?
    else {
        return Ok(Done::Synced);
    };
    if let Some(own) = live.status() {
        *status = own.clone();
    }
    live.cleanup(ctx, api, status).await
}
