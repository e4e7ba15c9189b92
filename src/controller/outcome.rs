//! How a reconcile of a framework object ends: the Ready condition and observed
//! generation written to status (only when they changed), an Event when the user must
//! act, and the next action. Shared by the ListenerRegistration and GatekeepingRule
//! controllers.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Resource;
use kube::api::Api;
use kube::runtime::controller::Action;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::Context;
use super::error::Error;
use crate::resources::conditions;
use crate::resources::gatekeeping_rule::GatekeepingRuleStatus;
use crate::resources::listener_registration::ListenerRegistrationStatus;

/// How a reconcile ended when it did not fail.
pub enum Sync {
    /// The framework matches.
    Done,
    /// The user must act: reason and message.
    Blocked(&'static str, String),
}

/// A status with a Ready condition and the generation it speaks for.
pub trait ReadyStatus: Clone + Default + PartialEq + Serialize + DeserializeOwned {
    /// Merges `condition` into the conditions and records `generation` as observed.
    fn set_ready(&mut self, condition: Condition, generation: Option<i64>);
}

impl ReadyStatus for ListenerRegistrationStatus {
    fn set_ready(&mut self, condition: Condition, generation: Option<i64>) {
        self.conditions = conditions::merge(&self.conditions, condition);
        self.observed_generation = generation;
    }
}

impl ReadyStatus for GatekeepingRuleStatus {
    fn set_ready(&mut self, condition: Condition, generation: Option<i64>) {
        self.conditions = conditions::merge(&self.conditions, condition);
        self.observed_generation = generation;
    }
}

/// Reports `outcome` in `status` (as the sync step left it; `in_sync` is the Ready
/// message on success) and decides what comes next: a user error waits for a change, a
/// transient one is retried with backoff. The status is written only when it differs
/// from the latest one known (`own` is the object's status as watched).
pub async fn report<K, S>(
    object: &K,
    own: Option<&S>,
    ctx: &Context,
    api: &Api<K>,
    mut status: S,
    outcome: Result<Sync, Error>,
    in_sync: &str,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: ReadyStatus,
{
    let generation = object.meta().generation;
    let condition = match &outcome {
        Ok(Sync::Done) => {
            conditions::ready(true, conditions::REASON_RECONCILED, in_sync, generation)
        }
        Ok(Sync::Blocked(reason, message)) => {
            conditions::ready(false, reason, message.clone(), generation)
        }
        Err(e) => conditions::ready(false, e.reason(), e.to_string(), generation),
    };
    status.set_ready(condition, generation);
    if Some(&status) != ctx.latest_status(object, own).as_ref() {
        ctx.write_status(api, object, &status).await?;
    }
    let reference = object.object_ref(&());
    match outcome {
        Ok(Sync::Done) => Ok(Action::await_change()),
        Ok(Sync::Blocked(reason, message)) => {
            ctx.event(&reference, true, reason, "Reconcile", message)
                .await;
            Ok(Action::await_change())
        }
        Err(e) if e.is_transient() => Err(e),
        Err(e) => {
            ctx.event(&reference, true, e.reason(), "Reconcile", e.to_string())
                .await;
            Ok(Action::await_change())
        }
    }
}
