//! GatekeepingRule: takes charge of one framework-generated rule and keeps it as the spec
//! says, refusing (in a condition) what the framework forbids.

use std::sync::Arc;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::info;

use super::context::{Context, FINALIZER, apply_external_id};
use super::error::Error;
use super::observed::by_id;
use super::outcome::{self, Sync};
use crate::admin::AdminClient;
use crate::desired::gatekeeping_rule::{self as desired, SelectError};
use crate::framework::model;
use crate::framework::rule_checks;
use crate::resources::gatekeeping_rule::{
    GatekeepingRule, GatekeepingRuleStatus, RuleDeletionPolicy,
};
use crate::resources::listener_registration::ListenerRegistration;
use crate::resources::{
    ABANDON_ANNOTATION, EXTERNAL_ID_ANNOTATION, annotation, conditions, is_abandoned,
};

/// Name of this controller in metrics.
pub const CONTROLLER: &str = "gatekeeping_rule";

/// Reconciles one GatekeepingRule, behind the finalizer.
pub async fn reconcile(rule: Arc<GatekeepingRule>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconcile.reconciled(CONTROLLER);
    let namespace = rule.namespace().unwrap_or_default();
    let api: Api<GatekeepingRule> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, rule, |event| async {
        match event {
            Finalizer::Apply(r) => apply(&r, &ctx, &api).await,
            Finalizer::Cleanup(r) => report_cleanup(&r, &ctx, &api).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

async fn apply(
    rule: &GatekeepingRule,
    ctx: &Context,
    api: &Api<GatekeepingRule>,
) -> Result<Action, Error> {
    let mut status = ctx
        .latest_status(rule, rule.status.as_ref())
        .unwrap_or_default();
    let result = sync(rule, ctx, api, &mut status).await;
    outcome::report(
        rule,
        rule.status.as_ref(),
        ctx,
        api,
        status,
        result,
        "the framework rule matches",
    )
    .await
}

async fn sync(
    rule: &GatekeepingRule,
    ctx: &Context,
    api: &Api<GatekeepingRule>,
    status: &mut GatekeepingRuleStatus,
) -> Result<Sync, Error> {
    let namespace = rule.namespace().unwrap_or_default();
    let connection = rule.connection_name();
    let admin = ctx.admin(&namespace, connection)?;
    let rules = observed_rules(ctx, &admin, &namespace, connection).await?;
    let selected = match annotation(&rule.metadata, EXTERNAL_ID_ANNOTATION)
        .or(status.external_id.as_deref())
    {
        Some(id) => rules
            .iter()
            .find(|r| r.id.as_deref() == Some(id))
            .ok_or_else(|| SelectError::NotFound(format!("id '{id}'"))),
        None => desired::select(&rule.spec.selector, &rules),
    };
    let observed = match selected {
        Ok(observed) => observed.clone(),
        Err(e @ SelectError::NotFound(_)) => {
            return Ok(Sync::Blocked(
                conditions::REASON_RULE_NOT_FOUND,
                e.to_string(),
            ));
        }
        Err(e @ SelectError::Ambiguous { .. }) => {
            return Ok(Sync::Blocked(
                conditions::REASON_RULE_AMBIGUOUS,
                e.to_string(),
            ));
        }
    };
    let Some(id) = observed.id.clone() else {
        return Ok(Sync::Blocked(
            conditions::REASON_RULE_NOT_FOUND,
            "the framework's rule has no id".into(),
        ));
    };
    if let Some(holder) = claim_holder(ctx, rule, &namespace, &id, &observed.endpoint_name) {
        return Ok(Sync::Blocked(
            conditions::REASON_CONFLICT,
            format!(
                "GatekeepingRule {holder} already takes charge of rule {id}; this resource writes nothing"
            ),
        ));
    }
    let mut listener_ids = Vec::new();
    for reference in rule.spec.listener_registration_refs.iter().flatten() {
        match (&reference.id, &reference.name) {
            (Some(id), _) => listener_ids.push(id.clone()),
            (None, Some(name)) => {
                let found = ctx
                    .stores
                    .registrations
                    .get(&ObjectRef::<ListenerRegistration>::new(name).within(&namespace));
                match found.as_deref().and_then(ListenerRegistration::external_id) {
                    Some(id) => listener_ids.push(id.to_owned()),
                    None => {
                        return Ok(Sync::Blocked(
                            conditions::REASON_LISTENER_NOT_READY,
                            format!(
                                "ListenerRegistration {namespace}/{name} has no framework id yet"
                            ),
                        ));
                    }
                }
            }
            (None, None) => {}
        }
    }
    status.external_id = Some(id.clone());
    status.endpoint_name = Some(observed.endpoint_name.clone());
    if status.original_rule.is_none() {
        status.original_rule = Some(serde_json::to_string(&observed).expect("a rule serializes"));
        ctx.write_status(api, rule, &*status).await?;
    }
    let want = desired::desired(&rule.spec, &observed, listener_ids);
    let reference = rule.object_ref(&());
    if want != observed {
        let known: Vec<&str> = want
            .listener_registration_refs
            .iter()
            .map(String::as_str)
            .collect();
        if let Err(violations) =
            rule_checks::check_rule_update(&observed, &want, |l| known.contains(&l))
        {
            return Ok(Sync::Blocked(
                conditions::REASON_FORBIDDEN_CHANGE,
                format!("the framework forbids this change: {violations}"),
            ));
        }
        let drift = rule.meta().generation == status.observed_generation;
        admin.update_rule(&id, &want).await?;
        ctx.with_observed(&namespace, connection, |o| o.set_rule(&id, want.clone()));
        let (reason, note) = if drift {
            (
                "Drift",
                format!("rule {id} was changed on the framework: put back"),
            )
        } else {
            ("Updated", format!("updated rule {id}"))
        };
        info!(rule = %rule.name_any(), %namespace, id, reason, "rule written");
        ctx.event(&reference, drift, reason, "Update", note).await;
    }
    if annotation(&rule.metadata, EXTERNAL_ID_ANNOTATION) != Some(id.as_str()) {
        apply_external_id(api, &rule.name_any(), &id).await?;
    }
    Ok(Sync::Done)
}

/// The rules of the connection as last seen, listing once if never listed.
async fn observed_rules(
    ctx: &Context,
    admin: &AdminClient,
    namespace: &str,
    connection: &str,
) -> Result<Vec<model::GatekeepingRule>, Error> {
    if let Some(Some(rules)) = ctx.with_observed(namespace, connection, |o| {
        o.rules
            .as_ref()
            .map(|r| r.values().cloned().collect::<Vec<_>>())
    }) {
        return Ok(rules);
    }
    let writes = ctx.with_observed(namespace, connection, |o| o.writes);
    let listed = admin.list_rules().await?;
    ctx.with_observed(namespace, connection, |o| {
        if Some(o.writes) == writes {
            o.rules = Some(by_id(listed.clone(), |r| r.id.as_ref()));
        }
    });
    Ok(listed)
}

/// Another resource holding rule `id` (the oldest claim wins), if any.
fn claim_holder(
    ctx: &Context,
    rule: &GatekeepingRule,
    namespace: &str,
    id: &str,
    endpoint: &str,
) -> Option<String> {
    let claimants = ctx.stores.rules.state_filter(|other| {
        other.namespace().as_deref() == Some(namespace)
            && other.connection_name() == rule.connection_name()
            && other.meta().deletion_timestamp.is_none()
            && (other.name_any() == rule.name_any()
                || other.external_id() == Some(id)
                || other.spec.selector.endpoint_name.as_deref() == Some(endpoint))
    });
    let times: Vec<(Option<String>, String)> = claimants
        .iter()
        .map(|c| {
            (
                c.meta()
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0.to_string()),
                c.name_any(),
            )
        })
        .collect();
    let holder = desired::claim_holder(times.iter().map(|(t, n)| (t.as_deref(), n.as_str())))?;
    (holder != rule.name_any()).then(|| format!("{namespace}/{holder}"))
}

/// Runs the cleanup; a failure is reported in status, with the way out, since it blocks
/// the deletion.
async fn report_cleanup(
    rule: &GatekeepingRule,
    ctx: &Context,
    api: &Api<GatekeepingRule>,
) -> Result<Action, Error> {
    let outcome = cleanup(rule, ctx).await;
    if outcome.is_ok() {
        ctx.forget(rule);
    }
    if let Err(e) = &outcome {
        let mut status = ctx
            .latest_status(rule, rule.status.as_ref())
            .unwrap_or_default();
        let message = format!(
            "deleting: {e}; to let go without calling the framework, set annotation {ABANDON_ANNOTATION}: \"true\""
        );
        let generation = rule.meta().generation;
        status.conditions = conditions::merge(
            &status.conditions,
            conditions::ready(false, e.reason(), message, generation),
        );
        status.observed_generation = generation;
        if Some(&status) != ctx.latest_status(rule, rule.status.as_ref()).as_ref() {
            ctx.write_status(api, rule, &status).await?;
        }
    }
    outcome
}

/// Restores the original rule (policy Restore), or lets it go.
async fn cleanup(rule: &GatekeepingRule, ctx: &Context) -> Result<Action, Error> {
    let reference = rule.object_ref(&());
    let status = ctx
        .latest_status(rule, rule.status.as_ref())
        .unwrap_or_default();
    let (Some(id), Some(original)) = (status.external_id, status.original_rule) else {
        return Ok(Action::await_change());
    };
    if is_abandoned(&rule.metadata) || rule.spec.deletion_policy == RuleDeletionPolicy::Orphan {
        return Ok(Action::await_change());
    }
    let namespace = rule.namespace().unwrap_or_default();
    let admin = ctx.admin(&namespace, rule.connection_name())?;
    let original: model::GatekeepingRule = serde_json::from_str(&original)
        .map_err(|e| Error::InvalidState(format!("status.originalRule cannot be read ({e}); set annotation cxf.dev/abandon: \"true\" to let go")))?;
    admin.update_rule(&id, &original).await?;
    ctx.with_observed(&namespace, rule.connection_name(), |o| {
        o.set_rule(&id, original)
    });
    ctx.event(
        &reference,
        false,
        "Restored",
        "Delete",
        format!("put back rule {id} as it was first taken in charge"),
    )
    .await;
    Ok(Action::await_change())
}
