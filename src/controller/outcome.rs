//! How every reconcile ends, for the three kinds and for cleanups alike: the Ready
//! condition and observed generation written to status (only when they changed), an
//! Event when the user must act, the connection slowed down when the framework asks (or
//! probing for its return when it could not be reached), and the next action: a user
//! error waits for a change, anything else is retried with backoff (at least the
//! framework's `Retry-After`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Resource;
use kube::api::Api;
use kube::runtime::controller::Action;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::warn;

use super::context::Context;
use super::error::Error;
use super::state::ConnectionState;
use crate::reconcile::{Retry, Wait};
use crate::resources::framework_connection::FrameworkConnectionStatus;
use crate::resources::gatekeeping_rule::GatekeepingRuleStatus;
use crate::resources::listener_registration::ListenerRegistrationStatus;
use crate::resources::{ABANDON_ANNOTATION, conditions};

/// How a reconcile ended when no call failed.
pub enum Done {
    /// The framework matches (or, in a cleanup, the resource was let go).
    Synced,
    /// Nothing more can be done now.
    Wait(Wait),
}

/// What ended.
pub enum Phase {
    /// A reconcile: on success, `Ready=True` with this reason and message.
    Apply(&'static str, &'static str),
    /// A cleanup: on success the finalizer is gone and nothing is written; a failure
    /// says how to let go.
    Cleanup,
}

/// A status with a Ready condition and the generation it speaks for.
pub trait ReadyStatus: Clone + Default + PartialEq + Serialize + DeserializeOwned {
    /// Merges `condition` into the conditions and records `generation` as observed.
    fn set_ready(&mut self, condition: Condition, generation: Option<i64>);
}

macro_rules! ready_status {
    ($($status:ty),*) => {$(
        impl ReadyStatus for $status {
            fn set_ready(&mut self, condition: Condition, generation: Option<i64>) {
                self.conditions = conditions::merge(&self.conditions, condition);
                self.observed_generation = generation;
            }
        }
    )*};
}
ready_status!(
    ListenerRegistrationStatus,
    GatekeepingRuleStatus,
    FrameworkConnectionStatus
);

/// Reports `result` on `object` (its status as the reconcile left it is `status`; the
/// connection it used, if any, is `connection`) and decides what comes next.
#[allow(clippy::too_many_arguments)]
pub async fn report<K, S>(
    controller: &'static str,
    object: &K,
    own: Option<&S>,
    ctx: &Context,
    api: &Api<K>,
    mut status: S,
    result: Result<Done, Error>,
    phase: Phase,
    connection: Option<&ConnectionState>,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: ReadyStatus,
{
    let generation = object.meta().generation;
    let (reason, message, retry) = match &result {
        Ok(Done::Synced) => {
            ctx.reset_backoff(object);
            let Phase::Apply(reason, message) = phase else {
                ctx.forget(object);
                return Ok(Action::await_change());
            };
            status.set_ready(
                conditions::ready(true, reason, message, generation),
                generation,
            );
            write_if_changed(ctx, api, object, own, &status).await?;
            return Ok(Action::await_change());
        }
        Ok(Done::Wait(wait)) => (wait.reason, wait.message.clone(), wait.retry),
        Err(e) => {
            ctx.metrics.reconcile.failed(controller, e.category());
            if let (Some(wait), Some(connection)) = (e.slows_connection(), connection) {
                connection.slow_down(Instant::now() + wait);
            }
            if let (true, Some(connection)) = (e.framework_unreachable(), connection) {
                connection.call_unreachable(Instant::now());
            }
            let retry = if e.is_transient() {
                Retry::Backoff
            } else {
                Retry::OnChange
            };
            (e.reason(), e.to_string(), retry)
        }
    };
    let message = match phase {
        Phase::Apply(..) => message,
        Phase::Cleanup => format!(
            "deleting: {message}; to let go without calling the framework, set annotation {ABANDON_ANNOTATION}: \"true\""
        ),
    };
    status.set_ready(
        conditions::ready(false, reason, message.clone(), generation),
        generation,
    );
    let changed = write_if_changed(ctx, api, object, own, &status).await?;
    match retry {
        Retry::Backoff => {
            let at_least = result.as_ref().err().and_then(Error::retry_after);
            let delay = ctx.backoff(object, at_least);
            warn!(controller, name = ?object.meta().name, namespace = ?object.meta().namespace, reason, %message, ?delay, "retrying");
            Ok(Action::requeue(delay))
        }
        Retry::OnChange => {
            ctx.reset_backoff(object);
            if changed {
                ctx.event(object, true, reason, "Reconcile", message);
            }
            Ok(Action::await_change())
        }
    }
}

/// Writes `status` unless it is the latest one known; says whether it wrote.
async fn write_if_changed<K, S>(
    ctx: &Context,
    api: &Api<K>,
    object: &K,
    own: Option<&S>,
    status: &S,
) -> Result<bool, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: ReadyStatus,
{
    if Some(status) == ctx.latest_status(object, own).as_ref() {
        return Ok(false);
    }
    ctx.write_status(api, object, status).await?;
    Ok(true)
}
