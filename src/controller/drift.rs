//! Drift detection: per connection and interval, ONE list call per kind in use, compared
//! with what the operator last saw; the resources whose framework object changed or
//! disappeared are reconciled (which reads a missing one by id before creating it again,
//! and puts a changed one back, with an Event).
//!
//! The same lists tell when an unreachable framework is back. A call that fails for want
//! of an answer brings a check within [`PROBE`](super::state::PROBE); if its list fails
//! too, the framework is down and a check comes every `PROBE` until one is answered;
//! then every resource of the connection waiting out a retry for the framework
//! (`Ready=False`, reason `Unavailable`) is reconciled at once, instead of at the end of
//! its backoff. A probe that is answered after a failed call leaves the backoffs alone:
//! that call failed on its own (one object the framework cannot serve retries on its
//! schedule, and costs one list per failure, not one per `PROBE`).
//!
//! The connection tells an outage: its `Reachable` condition (the connection's reconcile
//! writes it, triggered from here on each change), a Warning Event
//! `FrameworkUnreachable` when its first list fails, a Normal Event `FrameworkReachable`
//! (how long it lasted, how many resources are retried) when one is answered again, and
//! the gauge `cxf_operator_framework_connections{reachable}`. Its `Ready` condition
//! stays as it is: it speaks for the credentials and settings, and the resources' own
//! conditions say `Unavailable`.

use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use kube::Resource;
use kube::runtime::reflector::ObjectRef;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::context::Context;
use super::framework_object::users;
use super::send;
use super::state::{ConnectionState, Kind, by_id};
use super::watch::Watched;
use crate::framework::model;
use crate::resources::{FrameworkConnection, GatekeepingRule, ListenerRegistration};

/// How often the loop looks for connections whose check is due.
const TICK: Duration = Duration::from_secs(1);

/// Runs forever.
pub async fn run(ctx: Arc<Context>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let connections = ctx.state.all(|c| ctx.stores.connections.get(c).is_some());
        for (connection, state) in &connections {
            if !state.drift_due(now) {
                continue;
            }
            let registrations = users(&ctx.stores.registrations, connection);
            let rules = users(&ctx.stores.rules, connection);
            let listed = [
                check::<_, model::ListenerRegistration>(
                    connection,
                    state,
                    live(&registrations),
                    ListenerRegistration::external_id,
                    &ctx.triggers.registrations,
                )
                .await,
                check::<_, model::GatekeepingRule>(
                    connection,
                    state,
                    live(&rules),
                    |r: &GatekeepingRule| r.status.as_ref().and_then(|s| s.external_id.as_deref()),
                    &ctx.triggers.rules,
                )
                .await,
            ];
            match reachable(&listed) {
                Heard::Unreachable(error) if state.list_unreachable(Instant::now(), error) => {
                    warn!(%connection, %error, "the framework does not answer: an outage begins");
                    announce(
                        &ctx,
                        connection,
                        true,
                        "FrameworkUnreachable",
                        format!(
                            "the admin API does not answer ({error}): the resources using this connection say Unavailable and are retried as soon as it answers"
                        ),
                    );
                }
                Heard::Answered => {
                    let Some(outage) = state.list_answered(Instant::now()) else {
                        continue;
                    };
                    let waiting = (
                        waiting_for_framework(&registrations),
                        waiting_for_framework(&rules),
                    );
                    info!(%connection, outage_seconds = outage.as_secs(), registrations = waiting.0.len(), rules = waiting.1.len(),
                    "the framework answers again: retrying the resources waiting for it");
                    announce(
                        &ctx,
                        connection,
                        false,
                        "FrameworkReachable",
                        format!(
                            "the admin API answers again after {} s: retrying {} ListenerRegistration(s) and {} GatekeepingRule(s) waiting for it",
                            outage.as_secs(),
                            waiting.0.len(),
                            waiting.1.len()
                        ),
                    );
                    send(&ctx.triggers.registrations, waiting.0);
                    send(&ctx.triggers.rules, waiting.1);
                }
                Heard::Unreachable(_) | Heard::Nothing => {}
            }
        }
        let down = connections
            .iter()
            .filter(|(_, s)| s.outage().is_some())
            .count();
        ctx.metrics
            .resources
            .framework_connections(connections.len() - down, down);
    }
}

/// An outage began or ended on `connection`: its reconcile writes its Reachable
/// condition, and an Event says so.
fn announce(
    ctx: &Context,
    connection: &ObjectRef<FrameworkConnection>,
    warning: bool,
    reason: &str,
    note: String,
) {
    send(&ctx.triggers.connections, vec![connection.clone()]);
    if let Some(object) = ctx.stores.connections.get(connection) {
        ctx.event(&*object, warning, reason, "DriftCheck", note);
    }
}

/// What a drift check's lists tell of the framework: unreachable if one list could not
/// reach it, reachable if one was answered, nothing if nothing was listed (or a list was
/// refused).
fn reachable(listed: &[Listed]) -> Heard<'_> {
    if let Some(error) = listed.iter().find_map(|l| match l {
        Listed::Unreachable(error) => Some(error.as_str()),
        _ => None,
    }) {
        Heard::Unreachable(error)
    } else if listed.contains(&Listed::Ok) {
        Heard::Answered
    } else {
        Heard::Nothing
    }
}

/// What a drift check heard of the framework.
#[derive(Debug, PartialEq, Eq)]
enum Heard<'a> {
    /// A list could not reach it: that list's error.
    Unreachable(&'a str),
    /// A list was answered.
    Answered,
    /// Nothing was listed, or a list was refused.
    Nothing,
}

/// What a drift check's list came to.
#[derive(Debug, PartialEq, Eq)]
enum Listed {
    /// No resource of the kind: nothing listed.
    Nothing,
    /// Listed.
    Ok,
    /// The framework could not be reached or answer: the error.
    Unreachable(String),
    /// It answered otherwise (a refusal): reachable, not listed.
    Failed,
}

/// The resources not being deleted.
fn live<K: Resource>(resources: &[Arc<K>]) -> Vec<Arc<K>> {
    resources
        .iter()
        .filter(|r| r.meta().deletion_timestamp.is_none())
        .cloned()
        .collect()
}

/// The resources whose last reconcile failed for want of the framework: `Ready=False`
/// with reason `Unavailable` (a deletion too).
fn waiting_for_framework<K: Watched>(resources: &[Arc<K>]) -> Vec<ObjectRef<K>> {
    resources
        .iter()
        .filter(|r| r.waiting_for_framework())
        .map(|r| ObjectRef::from_obj(r.as_ref()))
        .collect()
}

/// Lists the objects of kind `T` (if any resource uses one) and triggers the resources
/// whose object changed or is missing from the list.
async fn check<K, T>(
    connection: &ObjectRef<FrameworkConnection>,
    state: &ConnectionState,
    resources: Vec<Arc<K>>,
    id_of: impl Fn(&K) -> Option<&str>,
    trigger: &UnboundedSender<ObjectRef<K>>,
) -> Listed
where
    K: Resource<DynamicType = ()> + Clone + 'static,
    T: Kind,
{
    if resources.is_empty() {
        return Listed::Nothing;
    }
    let writes = state.writes();
    let listed = match T::list(&state.admin).await {
        Ok(listed) => by_id(listed),
        Err(error) => {
            warn!(%error, %connection, "drift check: listing failed");
            return if error.is_unreachable() {
                Listed::Unreachable(error.to_string())
            } else {
                Listed::Failed
            };
        }
    };
    let changed: Vec<ObjectRef<K>> = state.with::<T, _>(|before| {
        resources
            .iter()
            .filter(|r| {
                id_of(r).is_some_and(
                    |id| match (before.and_then(|b| b.get(id)), listed.get(id)) {
                        (Some(before), Some(now)) => T::differs(before, now),
                        (None, None) => before.is_none(),
                        _ => true,
                    },
                )
            })
            .map(|r| ObjectRef::from_obj(r.as_ref()))
            .collect()
    });
    if !state.refresh(listed.into_values().collect(), writes) {
        return Listed::Ok; // a write raced the list: check again next interval
    }
    for resource in &changed {
        debug!(name = %resource.name, %connection, "framework object changed");
    }
    send(trigger, changed);
    Listed::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_of_a_check_tell_whether_the_framework_is_reachable() {
        use Listed::{Failed, Nothing, Ok};
        let unreachable = || Listed::Unreachable("no answer".into());
        // (lists of registrations and rules) → heard
        let cases = [
            ([Nothing, Nothing], Heard::Nothing),
            ([Ok, Nothing], Heard::Answered),
            ([Nothing, Ok], Heard::Answered),
            ([Ok, unreachable()], Heard::Unreachable("no answer")),
            ([unreachable(), Nothing], Heard::Unreachable("no answer")),
            ([Failed, Nothing], Heard::Nothing),
            ([Failed, Ok], Heard::Answered),
        ];
        for (listed, want) in cases {
            assert_eq!(reachable(&listed), want, "{listed:?}");
        }
    }
}
