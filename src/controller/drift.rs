//! Drift detection: per connection and interval, ONE list call per kind in use, compared
//! with what the operator last saw; the resources whose framework object changed or
//! disappeared are reconciled (which reads a missing one by id before creating it again,
//! and puts a changed one back, with an Event).

use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use kube::Resource;
use kube::runtime::reflector::ObjectRef;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::context::Context;
use super::framework_object::users;
use super::state::{ConnectionState, Kind, by_id};
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
        for (connection, state) in connections {
            if !state.drift_due(now) {
                continue;
            }
            let mut registrations = users(&ctx.stores.registrations, &connection);
            registrations.retain(|r| r.meta().deletion_timestamp.is_none());
            check::<_, model::ListenerRegistration>(
                &connection,
                &state,
                registrations,
                ListenerRegistration::external_id,
                &ctx.triggers.registrations,
            )
            .await;
            let mut rules = users(&ctx.stores.rules, &connection);
            rules.retain(|r| r.meta().deletion_timestamp.is_none());
            check::<_, model::GatekeepingRule>(
                &connection,
                &state,
                rules,
                |r: &GatekeepingRule| r.status.as_ref().and_then(|s| s.external_id.as_deref()),
                &ctx.triggers.rules,
            )
            .await;
        }
    }
}

/// Lists the objects of kind `T` (if any resource uses one) and triggers the resources
/// whose object changed or is missing from the list.
async fn check<K, T>(
    connection: &ObjectRef<FrameworkConnection>,
    state: &ConnectionState,
    resources: Vec<Arc<K>>,
    id_of: impl Fn(&K) -> Option<&str>,
    trigger: &UnboundedSender<ObjectRef<K>>,
) where
    K: Resource<DynamicType = ()> + Clone + 'static,
    T: Kind,
{
    if resources.is_empty() {
        return;
    }
    let writes = state.writes();
    let listed = match T::list(&state.admin).await {
        Ok(listed) => by_id(listed),
        Err(error) => {
            warn!(%error, %connection, "drift check: listing failed");
            return;
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
        return; // a write raced the list: check again next interval
    }
    for resource in changed {
        debug!(name = %resource.name, %connection, "framework object changed");
        let _ = trigger.unbounded_send(resource);
    }
}
