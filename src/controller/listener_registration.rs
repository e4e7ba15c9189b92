//! ListenerRegistration: creates (never twice), patches (only what differs), adopts and
//! deletes the framework's listener registration.

use std::sync::Arc;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Resource, ResourceExt};
use tracing::info;

use super::context::{Context, FINALIZER, apply_external_id};
use super::error::Error;
use super::observed::{Known, by_id};
use super::outcome::{self, Sync};
use super::secrets;
use crate::admin::AdminClient;
use crate::desired::{credentials, listener_registration as desired};
use crate::framework::model::{self, ListenerAuth};
use crate::resources::listener_registration::{
    ListenerDeletionPolicy, ListenerRegistration, ListenerRegistrationStatus, RegistrationMethod,
};
use crate::resources::{
    ABANDON_ANNOTATION, EXTERNAL_ID_ANNOTATION, annotation, conditions, is_abandoned,
};

/// Name of this controller in metrics.
pub const CONTROLLER: &str = "listener_registration";

/// Reconciles one ListenerRegistration, behind the finalizer.
pub async fn reconcile(
    registration: Arc<ListenerRegistration>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    ctx.metrics.reconcile.reconciled(CONTROLLER);
    let namespace = registration.namespace().unwrap_or_default();
    let api: Api<ListenerRegistration> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, registration, |event| async {
        match event {
            Finalizer::Apply(r) => apply(&r, &ctx, &api).await,
            Finalizer::Cleanup(r) => report_cleanup(&r, &ctx, &api).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Runs the steps, then reports the outcome in status: a user error waits for a change,
/// a transient one is retried with backoff.
async fn apply(
    registration: &ListenerRegistration,
    ctx: &Context,
    api: &Api<ListenerRegistration>,
) -> Result<Action, Error> {
    let mut status = ctx
        .latest_status(registration, registration.status.as_ref())
        .unwrap_or_default();
    let result = sync(registration, ctx, api, &mut status).await;
    outcome::report(
        registration,
        registration.status.as_ref(),
        ctx,
        api,
        status,
        result,
        "the framework registration matches",
    )
    .await
}

async fn sync(
    registration: &ListenerRegistration,
    ctx: &Context,
    api: &Api<ListenerRegistration>,
    status: &mut ListenerRegistrationStatus,
) -> Result<Sync, Error> {
    let namespace = registration.namespace().unwrap_or_default();
    let connection = registration.connection_name();
    let admin = ctx.admin(&namespace, connection)?;
    let auth = read_auth(registration, &ctx.stores.secrets, &namespace)?;
    let uid = registration.uid().unwrap_or_default();
    let hash = credentials::hash(&uid, auth.as_ref());
    let want = desired::desired(&registration.spec, auth);
    let reference = registration.object_ref(&());

    let adopting = status.external_id.is_none();
    let id = match status
        .external_id
        .clone()
        .or_else(|| annotation(&registration.metadata, EXTERNAL_ID_ANNOTATION).map(str::to_owned))
    {
        Some(id) => id,
        None => match find_pending(&admin, status).await? {
            Pending::Found(found) => {
                let id = found.id.clone().unwrap_or_default();
                ctx.with_observed(&namespace, connection, |o| o.set_registration(&id, *found));
                ctx.event(
                    &reference,
                    false,
                    "Adopted",
                    "Create",
                    format!("found registration {id} from an earlier create"),
                )
                .await;
                status.credentials_hash = None;
                id
            }
            Pending::Ambiguous(ids) => {
                return Ok(Sync::Blocked(
                    conditions::REASON_AMBIGUOUS_CREATE,
                    format!(
                        "an earlier create may have succeeded and registrations {} all match it: set annotation {EXTERNAL_ID_ANNOTATION} to the one to keep (and delete the others on the framework)",
                        ids.join(", ")
                    ),
                ));
            }
            Pending::None => {
                return create(registration, ctx, api, &admin, status, &want, hash).await;
            }
        },
    };

    let observed = observed(ctx, &admin, &namespace, connection, &id, adopting).await?;
    let Some(observed) = observed else {
        if adopting
            && status.pending_create.is_none()
            && annotation(&registration.metadata, EXTERNAL_ID_ANNOTATION) == Some(id.as_str())
        {
            return Ok(Sync::Blocked(
                conditions::REASON_ADOPT_TARGET_NOT_FOUND,
                format!(
                    "annotation {EXTERNAL_ID_ANNOTATION} names registration {id}, which the framework does not have"
                ),
            ));
        }
        ctx.event(
            &reference,
            true,
            "Drift",
            "Create",
            format!("registration {id} was deleted on the framework: creating it again"),
        )
        .await;
        status.external_id = None;
        return create(registration, ctx, api, &admin, status, &want, hash).await;
    };
    if adopting {
        status.external_id = Some(id.clone());
        status.pending_create = None;
        ctx.event(
            &reference,
            false,
            "Adopted",
            "Adopt",
            format!("took registration {id} in charge"),
        )
        .await;
    }
    let send_credentials = status.credentials_hash.as_deref() != Some(hash.as_str());
    let patch = desired::patch(&want, &observed, send_credentials);
    if !patch.0.is_empty() {
        let in_sync_before =
            registration.meta().generation == status.observed_generation && !send_credentials;
        admin.patch_registration(&id, &patch).await?;
        let mut now = want.clone();
        now.id = Some(id.clone());
        ctx.with_observed(&namespace, connection, |o| o.set_registration(&id, now));
        let (reason, note) = if in_sync_before {
            (
                "Drift",
                format!("registration {id} was changed on the framework: put back"),
            )
        } else {
            (
                "Updated",
                format!("patched registration {id} ({} operations)", patch.0.len()),
            )
        };
        info!(registration = %registration.name_any(), %namespace, id, reason, "patched");
        ctx.event(&reference, in_sync_before, reason, "Update", note)
            .await;
    }
    status.credentials_hash = Some(hash);
    if annotation(&registration.metadata, EXTERNAL_ID_ANNOTATION) != Some(id.as_str()) {
        apply_external_id(api, &registration.name_any(), &id).await?;
    }
    Ok(Sync::Done)
}

/// The registration `id` as last seen, listing once if this connection was never listed
/// (or, when `adopting`, if the object was not seen yet: it may be new).
async fn observed(
    ctx: &Context,
    admin: &AdminClient,
    namespace: &str,
    connection: &str,
    id: &str,
    adopting: bool,
) -> Result<Option<model::ListenerRegistration>, Error> {
    match ctx
        .with_observed(namespace, connection, |o| o.registration(id))
        .unwrap_or(Known::Unknown)
    {
        Known::Present(r) => return Ok(Some(r)),
        Known::Absent if !adopting => return Ok(None),
        Known::Absent | Known::Unknown => {}
    }
    let writes = ctx.with_observed(namespace, connection, |o| o.writes);
    let all = by_id(admin.list_registrations(&[]).await?, |r| r.id.as_ref());
    let found = all.get(id).cloned();
    ctx.with_observed(namespace, connection, |o| {
        if Some(o.writes) == writes {
            o.registrations = Some(all);
        }
    });
    Ok(found)
}

enum Pending {
    None,
    Found(Box<model::ListenerRegistration>),
    Ambiguous(Vec<String>),
}

/// After an interrupted create, the registrations that match what was sent.
async fn find_pending(
    admin: &AdminClient,
    status: &ListenerRegistrationStatus,
) -> Result<Pending, Error> {
    let Some(pending) = &status.pending_create else {
        return Ok(Pending::None);
    };
    let listed = admin
        .list_registrations(&[("listener-url", pending.listener_url.as_str())])
        .await?;
    let mut matching: Vec<model::ListenerRegistration> = listed
        .into_iter()
        .filter(|r| r.id.is_some() && desired::matches_pending(pending, r))
        .collect();
    Ok(match matching.len() {
        0 => Pending::None,
        1 => Pending::Found(Box::new(matching.remove(0))),
        _ => Pending::Ambiguous(matching.into_iter().filter_map(|r| r.id).collect()),
    })
}

/// Records the pending create in status, then creates.
async fn create(
    registration: &ListenerRegistration,
    ctx: &Context,
    api: &Api<ListenerRegistration>,
    admin: &AdminClient,
    status: &mut ListenerRegistrationStatus,
    want: &model::ListenerRegistration,
    hash: String,
) -> Result<Sync, Error> {
    let name = registration.name_any();
    let namespace = registration.namespace().unwrap_or_default();
    status.pending_create = Some(desired::pending_create(want));
    ctx.write_status(api, registration, &*status).await?;
    let id = match registration.spec.registration_method {
        RegistrationMethod::AdminApi => admin.create_registration(want).await?.id,
        RegistrationMethod::Hub => {
            let api_ref = &registration.spec.affiliated_apis[0];
            let sub = admin
                .subscribe_hub(
                    &api_ref.api_name,
                    &api_ref.api_version,
                    &desired::hub_subscription(&registration.spec),
                )
                .await?;
            if let Some(id) = &sub.id {
                let mut bare = want.clone();
                bare.listener_locality.external_listener.listener_auth = None;
                let patch = desired::patch(want, &bare, true);
                if !patch.0.is_empty() {
                    admin.patch_registration(id, &patch).await?;
                }
            }
            sub.id
        }
    };
    let Some(id) = id else {
        return Ok(Sync::Blocked(
            conditions::REASON_REJECTED,
            "the framework answered the create without an id".into(),
        ));
    };
    status.external_id = Some(id.clone());
    status.pending_create = None;
    status.credentials_hash = Some(hash);
    let mut now = want.clone();
    now.id = Some(id.clone());
    ctx.with_observed(&namespace, registration.connection_name(), |o| {
        o.set_registration(&id, now)
    });
    info!(registration = %name, %namespace, id, "created");
    ctx.event(
        &registration.object_ref(&()),
        false,
        "Created",
        "Create",
        format!("created registration {id}"),
    )
    .await;
    apply_external_id(api, &name, &id).await?;
    Ok(Sync::Done)
}

/// The credentials, read from their Secrets.
fn read_auth(
    registration: &ListenerRegistration,
    cache: &kube::runtime::reflector::Store<k8s_openapi::api::core::v1::Secret>,
    namespace: &str,
) -> Result<Option<ListenerAuth>, Error> {
    let Some(auth) = &registration.spec.auth else {
        return Ok(None);
    };
    if let Some(oidc) = &auth.oidc_client_credentials {
        return Ok(Some(ListenerAuth::OidcClientCredentials(
            model::OidcClientCredentials {
                identity_uri: oidc.identity_uri.clone(),
                client_id: secrets::read_value(cache, namespace, &oidc.client_id)?,
                client_secret: secrets::read(cache, namespace, &oidc.client_secret)?,
                scope: oidc.scope.clone(),
            },
        )));
    }
    if let Some(basic) = &auth.basic {
        return Ok(Some(ListenerAuth::Basic(model::BasicAuth {
            username: secrets::read_value(cache, namespace, &basic.username)?,
            password: secrets::read(cache, namespace, &basic.password)?,
        })));
    }
    Ok(None)
}

/// Runs the cleanup; a failure is reported in status, with the way out, since it blocks
/// the deletion.
async fn report_cleanup(
    registration: &ListenerRegistration,
    ctx: &Context,
    api: &Api<ListenerRegistration>,
) -> Result<Action, Error> {
    let outcome = cleanup(registration, ctx).await;
    if outcome.is_ok() {
        ctx.forget(registration);
    }
    if let Err(e) = &outcome {
        let mut status = ctx
            .latest_status(registration, registration.status.as_ref())
            .unwrap_or_default();
        let message = format!(
            "deleting: {e}; to let go without calling the framework, set annotation {ABANDON_ANNOTATION}: \"true\""
        );
        let generation = registration.meta().generation;
        status.conditions = conditions::merge(
            &status.conditions,
            conditions::ready(false, e.reason(), message, generation),
        );
        status.observed_generation = generation;
        if Some(&status)
            != ctx
                .latest_status(registration, registration.status.as_ref())
                .as_ref()
        {
            ctx.write_status(api, registration, &status).await?;
        }
    }
    outcome
}

/// Deletes the framework registration (policy Delete), or lets it go (Orphan, or the
/// `cxf.dev/abandon` annotation).
async fn cleanup(registration: &ListenerRegistration, ctx: &Context) -> Result<Action, Error> {
    let namespace = registration.namespace().unwrap_or_default();
    let reference = registration.object_ref(&());
    let id = registration
        .status
        .as_ref()
        .and_then(|s| s.external_id.clone());
    let Some(id) = id else {
        return Ok(Action::await_change());
    };
    if is_abandoned(&registration.metadata)
        || registration.spec.deletion_policy == ListenerDeletionPolicy::Orphan
    {
        ctx.event(
            &reference,
            false,
            "Orphaned",
            "Delete",
            format!("left registration {id} on the framework"),
        )
        .await;
        return Ok(Action::await_change());
    }
    let admin = ctx.admin(&namespace, registration.connection_name())?;
    match registration.spec.registration_method {
        RegistrationMethod::AdminApi => admin.delete_registration(&id).await?,
        RegistrationMethod::Hub => {
            let api_ref = &registration.spec.affiliated_apis[0];
            admin
                .unsubscribe_hub(&api_ref.api_name, &api_ref.api_version, &id)
                .await?;
        }
    }
    ctx.with_observed(&namespace, registration.connection_name(), |o| {
        o.remove_registration(&id)
    });
    info!(registration = %registration.name_any(), %namespace, id, "deleted");
    ctx.event(
        &reference,
        false,
        "Deleted",
        "Delete",
        format!("deleted registration {id}"),
    )
    .await;
    Ok(Action::await_change())
}
