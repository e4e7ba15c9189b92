//! GatekeepingRule: gathers the facts (the newest status, the claims of the store, the
//! listener ids, the connection's rules), asks [`reconcile::gatekeeping_rule`] for the
//! next step, and acts on it. The guarantees are written in [`crate::reconcile`].

use std::collections::HashMap;
use std::sync::Arc;

use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::info;

use super::context::{Context, apply_external_id};
use super::error::Error;
use super::finalizer;
use super::framework_object::framework_object;
use super::outcome::Done;
use super::state::ConnectionState;
use crate::framework::model;
use crate::reconcile::gatekeeping_rule::{
    self as planner, Claimant, Cleanup, CleanupFacts, Facts, Plan,
};
use crate::resources::gatekeeping_rule::{GatekeepingRule, GatekeepingRuleStatus};
use crate::resources::listener_registration::ListenerRegistration;
use crate::resources::{EXTERNAL_ID_ANNOTATION, annotation, is_abandoned};

/// Name of this controller in metrics.
pub const CONTROLLER: &str = "gatekeeping_rule";

/// Most plan-and-act rounds in one reconcile.
const MAX_STEPS: usize = 4;

framework_object!(
    GatekeepingRule,
    GatekeepingRuleStatus,
    CONTROLLER,
    "the framework rule matches"
);

/// Plans and acts until the rule matches or must wait.
async fn apply(
    rule: &GatekeepingRule,
    ctx: &Context,
    api: &Api<GatekeepingRule>,
    connection: &ConnectionState,
    status: &mut GatekeepingRuleStatus,
) -> Result<Done, Error> {
    let namespace = rule.namespace().unwrap_or_default();
    let name = format!("{namespace}/{}", rule.name_any());
    let others = claimants(ctx, rule);
    let claims: Vec<Claimant> = others
        .iter()
        .map(|(name, created, other)| Claimant {
            name,
            created: created.as_deref(),
            id: other.external_id(),
            endpoint: other.spec.selector.endpoint_name.as_deref(),
        })
        .collect();
    let listener_ids = listener_ids(ctx, rule, &namespace);
    let mut object = rule.clone();
    for _ in 0..MAX_STEPS {
        let plan = connection.with::<model::GatekeepingRule, _>(|rules| {
            planner::plan(&Facts {
                name: &name,
                generation: rule.meta().generation,
                spec: &rule.spec,
                status,
                pinned_id: annotation(&rule.metadata, EXTERNAL_ID_ANNOTATION),
                rules,
                claimants: &claims,
                listener_ids: listener_ids.clone(),
            })
        });
        match plan {
            Plan::Read(_) => connection.fill::<model::GatekeepingRule>().await?,
            Plan::Capture {
                id,
                endpoint,
                original,
            } => {
                object = finalizer::ensure(api, object).await?;
                status.external_id = Some(id.clone());
                status.endpoint_name = Some(endpoint);
                status.original_rule = Some(original);
                // Saved before anything is written: a later pass never captures a rule
                // this resource already changed.
                ctx.write_status(api, rule, &*status).await?;
                if annotation(&rule.metadata, EXTERNAL_ID_ANNOTATION) != Some(id.as_str()) {
                    apply_external_id(api, &rule.name_any(), &id).await?;
                }
            }
            Plan::Update {
                id,
                rule: want,
                drift,
            } => {
                finalizer::ensure(api, object).await?;
                connection.admin.update_rule(&id, &want).await?;
                connection.record(&id, Some(*want));
                let (reason, note) = if drift {
                    ctx.metrics.resources.drift_corrected("GatekeepingRule");
                    (
                        "Drift",
                        format!("rule {id} was changed on the framework: put back"),
                    )
                } else {
                    ("Updated", format!("updated rule {id}"))
                };
                info!(rule = %rule.name_any(), %namespace, id, reason, "rule written");
                ctx.event(rule, drift, reason, "Update", note);
                return Ok(Done::Synced);
            }
            Plan::InSync(_) => {
                finalizer::ensure(api, object).await?;
                return Ok(Done::Synced);
            }
            Plan::Wait(wait) => return Ok(Done::Wait(wait)),
        }
    }
    Err(Error::undecided(MAX_STEPS))
}

/// The resources of the store that may claim a rule on the same connection: every one
/// not being deleted, and those being deleted until their cleanup is done (a Restore
/// still to come must not be captured as another resource's original).
fn claimants(
    ctx: &Context,
    rule: &GatekeepingRule,
) -> Vec<(String, Option<String>, Arc<GatekeepingRule>)> {
    let namespace = rule.namespace();
    ctx.stores
        .rules
        .state_filter(|other| {
            other.namespace() == namespace
                && other.connection_name() == rule.connection_name()
                && (other.meta().deletion_timestamp.is_none() || finalizer::has(other))
        })
        .into_iter()
        .map(|other| {
            (
                format!(
                    "{}/{}",
                    other.namespace().unwrap_or_default(),
                    other.name_any()
                ),
                other
                    .meta()
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0.to_string()),
                other,
            )
        })
        .collect()
}

/// The listener ids of the references, or the name of one not registered yet.
fn listener_ids(
    ctx: &Context,
    rule: &GatekeepingRule,
    namespace: &str,
) -> Result<Vec<String>, String> {
    let mut ids = Vec::new();
    for reference in rule.spec.listener_registration_refs.iter().flatten() {
        match (&reference.id, &reference.name) {
            (Some(id), _) => ids.push(id.clone()),
            (None, Some(name)) => {
                let found = ctx
                    .stores
                    .registrations
                    .get(&ObjectRef::<ListenerRegistration>::new(name).within(namespace));
                match found.as_deref().and_then(ListenerRegistration::external_id) {
                    Some(id) => ids.push(id.to_owned()),
                    None => return Err(format!("{namespace}/{name}")),
                }
            }
            (None, None) => {}
        }
    }
    Ok(ids)
}

/// Restores the original rule (policy Restore) if the framework would take it, or
/// lets go, then removes the finalizer. `live` was just read.
async fn cleanup(
    live: &GatekeepingRule,
    ctx: &Context,
    api: &Api<GatekeepingRule>,
    status: &mut GatekeepingRuleStatus,
) -> Result<Done, Error> {
    let namespace = live.namespace().unwrap_or_default();
    for _ in 0..MAX_STEPS {
        let connection = ctx
            .cleanup_connection(&namespace, live.connection_name())
            .ok();
        let plan = |rules: Option<&HashMap<String, model::GatekeepingRule>>| {
            planner::cleanup(&CleanupFacts {
                status,
                policy: live.spec.deletion_policy,
                abandoned: is_abandoned(&live.metadata),
                rules,
            })
        };
        let plan = match &connection {
            Some(connection) => connection.with::<model::GatekeepingRule, _>(plan),
            None => plan(None),
        };
        match plan {
            Cleanup::Read(_) => {
                ctx.cleanup_connection(&namespace, live.connection_name())?
                    .fill::<model::GatekeepingRule>()
                    .await?
            }
            Cleanup::Restore { id, original } => {
                let connection = ctx.cleanup_connection(&namespace, live.connection_name())?;
                connection.admin.update_rule(&id, &original).await?;
                connection.record(&id, Some(*original));
                ctx.event(
                    live,
                    false,
                    "Restored",
                    "Delete",
                    format!("put back rule {id} as it was first taken in charge"),
                );
                finalizer::remove(api, live).await?;
                return Ok(Done::Synced);
            }
            Cleanup::Release => {
                finalizer::remove(api, live).await?;
                return Ok(Done::Synced);
            }
            Cleanup::Wait(wait) => return Ok(Done::Wait(wait)),
        }
    }
    Err(Error::undecided(MAX_STEPS))
}
