//! Drift detection: per connection and interval, ONE list call per kind in use, compared
//! with what the operator last saw; the resources whose framework object changed or
//! disappeared are reconciled (which puts it back, with an Event).

use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::context::{Context, key};
use super::observed::{Known, by_id};
use crate::admin::AdminClient;
use crate::desired::listener_registration::drifted;
use crate::resources::{GatekeepingRule, ListenerRegistration};

/// How often the loop looks for connections whose check is due.
const TICK: Duration = Duration::from_secs(1);

/// Where the loop sends the resources to reconcile.
pub struct Triggers {
    /// ListenerRegistrations.
    pub registrations: UnboundedSender<ObjectRef<ListenerRegistration>>,
    /// GatekeepingRules.
    pub rules: UnboundedSender<ObjectRef<GatekeepingRule>>,
}

/// Runs forever.
pub async fn run(ctx: Arc<Context>, triggers: Triggers) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for (namespace, name, admin) in due(&ctx) {
            check(&ctx, &triggers, &namespace, &name, &admin).await;
        }
    }
}

/// The connections whose check is due (their next check is scheduled now), after
/// forgetting those whose FrameworkConnection is gone.
fn due(ctx: &Context) -> Vec<(String, String, Arc<AdminClient>)> {
    let live: Vec<String> = ctx
        .stores
        .connections
        .state()
        .iter()
        .map(|c| key(&c.namespace().unwrap_or_default(), &c.name_any()))
        .collect();
    let now = Instant::now();
    let mut connections = ctx.connections.lock().expect("connections lock");
    connections.retain(|k, _| live.contains(k));
    connections
        .iter_mut()
        .filter(|(_, c)| c.next_drift <= now)
        .filter_map(|(k, c)| {
            c.next_drift = now + c.drift_interval;
            let (namespace, name) = k.split_once('/')?;
            Some((namespace.to_owned(), name.to_owned(), Arc::clone(&c.admin)))
        })
        .collect()
}

async fn check(
    ctx: &Context,
    triggers: &Triggers,
    namespace: &str,
    name: &str,
    admin: &AdminClient,
) {
    let registrations = ctx.stores.registrations.state_filter(|r| {
        r.namespace().as_deref() == Some(namespace)
            && r.connection_name() == name
            && r.meta().deletion_timestamp.is_none()
    });
    if !registrations.is_empty() {
        let writes = ctx.with_observed(namespace, name, |o| o.writes);
        match admin.list_registrations(&[]).await {
            Ok(listed) => {
                let listed = by_id(listed, |r| r.id.as_ref());
                ctx.with_observed(namespace, name, |observed| {
                    if Some(observed.writes) != writes {
                        return; // a write raced the list: check again next interval
                    }
                    for registration in &registrations {
                        let Some(id) = registration.external_id() else { continue };
                        let changed = match (observed.registration(id), listed.get(id)) {
                            (Known::Present(before), Some(now)) => drifted(&before, now),
                            (Known::Absent, None) => false,
                            _ => true,
                        };
                        if changed {
                            debug!(registration = %registration.name_any(), namespace, id, "framework registration changed");
                            let _ = triggers.registrations.unbounded_send(ObjectRef::from_obj(registration.as_ref()));
                        }
                    }
                    observed.registrations = Some(listed);
                });
            }
            Err(error) => {
                warn!(%error, connection = %key(namespace, name), "drift check: listing registrations failed")
            }
        }
    }
    let rules = ctx.stores.rules.state_filter(|r| {
        r.namespace().as_deref() == Some(namespace)
            && r.connection_name() == name
            && r.meta().deletion_timestamp.is_none()
    });
    if !rules.is_empty() {
        let writes = ctx.with_observed(namespace, name, |o| o.writes);
        match admin.list_rules().await {
            Ok(listed) => {
                let listed = by_id(listed, |r| r.id.as_ref());
                ctx.with_observed(namespace, name, |observed| {
                    if Some(observed.writes) != writes {
                        return; // a write raced the list: check again next interval
                    }
                    for rule in &rules {
                        let Some(id) = rule.status.as_ref().and_then(|s| s.external_id.as_deref()) else { continue };
                        let changed = match observed.rule(id) {
                            Known::Present(before) => listed.get(id) != Some(&before),
                            Known::Absent | Known::Unknown => true,
                        };
                        if changed {
                            debug!(rule = %rule.name_any(), namespace, id, "framework rule changed");
                            let _ = triggers.rules.unbounded_send(ObjectRef::from_obj(rule.as_ref()));
                        }
                    }
                    observed.rules = Some(listed);
                });
            }
            Err(error) => {
                warn!(%error, connection = %key(namespace, name), "drift check: listing rules failed")
            }
        }
    }
}
