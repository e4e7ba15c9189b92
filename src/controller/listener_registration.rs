//! ListenerRegistration: gathers the facts (the newest status, the annotations, the
//! credentials, what the framework last showed), asks [`reconcile::listener_registration`]
//! for the next step, and acts on it. The guarantees are written in [`crate::reconcile`].

use kube::api::Api;
use kube::{Resource, ResourceExt};
use tracing::info;

use super::context::Context;
use super::error::Error;
use super::finalizer;
use super::framework_object::framework_object;
use super::outcome::Done;
use super::secrets;
use super::state::ConnectionState;
use crate::desired::{credentials, listener_registration as desired};
use crate::framework::model::{self, ListenerAuth};
use crate::reconcile::listener_registration::{
    self as planner, Cleanup, CleanupFacts, Facts, Plan,
};
use crate::reconcile::{Read, Seen};
use crate::resources::listener_registration::{
    ListenerRegistration, ListenerRegistrationStatus, PendingCreate, RegistrationMethod,
};
use crate::resources::{
    EXTERNAL_ID_ANNOTATION, PENDING_CREATE_ANNOTATION, annotation, conditions, is_abandoned,
};

/// Name of this controller in metrics.
pub const CONTROLLER: &str = "listener_registration";

/// Most plan-and-act rounds in one reconcile (reads, an adoption, then the write).
const MAX_STEPS: usize = 6;

framework_object!(
    ListenerRegistration,
    ListenerRegistrationStatus,
    CONTROLLER,
    "the framework registration matches"
);

/// Plans and acts until the registration matches or must wait.
async fn apply(
    registration: &ListenerRegistration,
    ctx: &Context,
    api: &Api<ListenerRegistration>,
    connection: &ConnectionState,
    status: &mut ListenerRegistrationStatus,
) -> Result<Done, Error> {
    let namespace = registration.namespace().unwrap_or_default();
    secrets::ensure_cached(
        &ctx.client,
        &ctx.stores.secrets,
        &namespace,
        registration.secret_refs(),
    )
    .await?;
    let auth = read_auth(registration, &ctx.stores.secrets, &namespace)?;
    let hash = credentials::hash(
        &ctx.credentials_key,
        &registration.uid().unwrap_or_default(),
        auth.as_ref(),
    );
    let want = desired::desired(&registration.spec, auth);
    let pending = pending_marker(registration)?;
    let adopt_id = annotation(&registration.metadata, EXTERNAL_ID_ANNOTATION);
    let claims = |id: &str| holder(ctx, registration, id);
    let mut candidates: Option<Vec<model::ListenerRegistration>> = None;
    let mut confirmed: Vec<(String, Option<model::ListenerRegistration>)> = Vec::new();
    let mut object = registration.clone();
    for _ in 0..MAX_STEPS {
        let seen = |id: &str| match confirmed.iter().find(|(c, _)| c == id) {
            Some((_, Some(found))) => Seen::Present(found.clone()),
            Some((_, None)) => Seen::Gone,
            None => connection.seen(id),
        };
        let matching = || {
            let probe = desired::pending_create(&want, Vec::new(), None);
            connection.with::<model::ListenerRegistration, _>(|all| {
                all.map(|all| {
                    all.values()
                        .filter(|r| desired::matches_pending(&probe, r))
                        .filter_map(|r| r.id.clone())
                        .collect()
                })
            })
        };
        let plan = planner::plan(&Facts {
            generation: registration.meta().generation,
            status,
            adopt_id,
            pending: pending.as_ref(),
            want: &want,
            credentials_hash: &hash,
            seen: &seen,
            matching: &matching,
            claims: &claims,
            candidates: candidates.as_deref(),
        });
        let (pending, gone) = match plan {
            Plan::Create(pending) => (pending, None),
            Plan::Recreate { gone, pending } => (pending, Some(gone)),
            Plan::Read(Read::List) => {
                connection.fill::<model::ListenerRegistration>().await?;
                continue;
            }
            Plan::Read(Read::Get(id)) => {
                let found = connection.admin.get_registration(&id).await?;
                connection.record(&id, found.clone());
                confirmed.push((id, found));
                continue;
            }
            Plan::Read(Read::Candidates) => {
                let url = &want.listener_locality.external_listener.listener_url;
                let listed = connection
                    .admin
                    .list_registrations(&[("listener-url", url.as_str())])
                    .await?;
                candidates = Some(listed);
                continue;
            }
            Plan::Adopt { id, lost_create } => {
                object = finalizer::ensure(api, object).await?;
                if let Some(found) = candidates
                    .iter()
                    .flatten()
                    .find(|r| r.id.as_deref() == Some(&id))
                {
                    connection.record(&id, Some(found.clone()));
                    confirmed.push((id.clone(), Some(found.clone())));
                }
                status.external_id = Some(id.clone());
                let note = if lost_create {
                    // What the lost create sent may be older than the Secrets: send again.
                    status.credentials_hash = None;
                    format!("found registration {id} from an earlier create whose answer was lost")
                } else {
                    format!("took registration {id} in charge ({EXTERNAL_ID_ANNOTATION})")
                };
                ctx.event(registration, false, "Adopted", "Adopt", note);
                continue;
            }
            Plan::Patch { id, patch, drift } => {
                finalizer::ensure(api, object).await?;
                connection.admin.patch_registration(&id, &patch).await?;
                let mut now = want.clone();
                now.id = Some(id.clone());
                connection.record(&id, Some(now));
                status.credentials_hash = Some(hash);
                let (reason, note) = if drift {
                    ctx.metrics
                        .resources
                        .drift_corrected("ListenerRegistration");
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
                ctx.event(registration, drift, reason, "Update", note);
                return Ok(Done::Synced);
            }
            Plan::InSync(_) => {
                finalizer::ensure(api, object).await?;
                status.credentials_hash = Some(hash);
                return Ok(Done::Synced);
            }
            Plan::Wait(wait) => return Ok(Done::Wait(wait)),
        };
        let creation = Creation {
            registration,
            object: &object,
            api,
            connection,
            want: &want,
            hash: &hash,
        };
        return creation.send(ctx, status, pending, gone).await;
    }
    Err(Error::undecided(MAX_STEPS))
}

/// What a create needs.
struct Creation<'a> {
    registration: &'a ListenerRegistration,
    object: &'a ListenerRegistration,
    api: &'a Api<ListenerRegistration>,
    connection: &'a ConnectionState,
    want: &'a model::ListenerRegistration,
    hash: &'a str,
}

impl Creation<'_> {
    /// Records the pending create with the finalizer (one write, conditional on the
    /// object's version), sends the create (of a replacement for `gone`), and records
    /// the id in `status`.
    async fn send(
        self,
        ctx: &Context,
        status: &mut ListenerRegistrationStatus,
        pending: PendingCreate,
        gone: Option<String>,
    ) -> Result<Done, Error> {
        let Self {
            registration,
            object,
            api,
            connection,
            want,
            hash,
        } = self;
        if let Some(gone) = &gone {
            ctx.metrics
                .resources
                .drift_corrected("ListenerRegistration");
            ctx.event(
                registration,
                true,
                "Drift",
                "Create",
                format!("registration {gone} was deleted on the framework (confirmed by a read): creating it again"),
            );
        }
        let marker = serde_json::to_string(&pending).expect("a pending create serializes");
        finalizer::mark(api, object, Some((PENDING_CREATE_ANNOTATION, marker))).await?;
        if let Some(gone) = &gone {
            connection.record::<model::ListenerRegistration>(gone, None);
        }
        let admin = &connection.admin;
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
                    // The id is recorded before the credentials are sent: if that fails, the
                    // status written with the failure keeps it.
                    status.external_id = Some(id.clone());
                    status.credentials_hash = None;
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
            return Ok(Done::Wait(crate::reconcile::Wait::user(
                conditions::REASON_REJECTED,
                "the framework answered the create without an id",
            )));
        };
        status.external_id = Some(id.clone());
        status.credentials_hash = Some(hash.to_owned());
        let mut now = want.clone();
        now.id = Some(id.clone());
        connection.record(&id, Some(now));
        let namespace = registration.namespace().unwrap_or_default();
        info!(registration = %registration.name_any(), %namespace, id, "created");
        ctx.event(
            registration,
            false,
            "Created",
            "Create",
            format!("created registration {id}"),
        );
        Ok(Done::Synced)
    }
}

/// Annotation `cxf.dev/pending-create`, read.
fn pending_marker(registration: &ListenerRegistration) -> Result<Option<PendingCreate>, Error> {
    registration.pending_create().map_err(Error::InvalidState)
}

/// Another ListenerRegistration of the store holding framework id `id`, if any.
fn holder(ctx: &Context, registration: &ListenerRegistration, id: &str) -> Option<String> {
    let namespace = registration.namespace();
    ctx.stores
        .registrations
        .find(|other| {
            other.namespace() == namespace
                && other.connection_name() == registration.connection_name()
                && other.name_any() != registration.name_any()
                && other.external_id() == Some(id)
        })
        .map(|other| {
            format!(
                "{}/{}",
                other.namespace().unwrap_or_default(),
                other.name_any()
            )
        })
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
                client_secret: Some(secrets::read(cache, namespace, &oidc.client_secret)?),
                scope: oidc.scope.clone(),
            },
        )));
    }
    if let Some(basic) = &auth.basic {
        return Ok(Some(ListenerAuth::Basic(model::BasicAuth {
            username: secrets::read_value(cache, namespace, &basic.username)?,
            password: Some(secrets::read(cache, namespace, &basic.password)?),
        })));
    }
    Ok(None)
}

/// Deletes what the resource created or adopted (policy Delete), or lets it go, then
/// removes the finalizer. `live` was just read.
async fn cleanup(
    live: &ListenerRegistration,
    ctx: &Context,
    api: &Api<ListenerRegistration>,
    status: &mut ListenerRegistrationStatus,
) -> Result<Done, Error> {
    let namespace = live.namespace().unwrap_or_default();
    let pending = pending_marker(live)?;
    let claims = |id: &str| holder(ctx, live, id);
    let mut candidates: Option<Vec<model::ListenerRegistration>> = None;
    for _ in 0..MAX_STEPS {
        let plan = planner::cleanup(&CleanupFacts {
            status,
            adopt_id: annotation(&live.metadata, EXTERNAL_ID_ANNOTATION),
            pending: pending.as_ref(),
            policy: live.spec.deletion_policy,
            abandoned: is_abandoned(&live.metadata),
            claims: &claims,
            candidates: candidates.as_deref(),
        });
        match plan {
            Cleanup::Read(_) => {
                let connection = ctx.cleanup_connection(&namespace, live.connection_name())?;
                let url = &live.spec.listener_url;
                candidates = Some(
                    connection
                        .admin
                        .list_registrations(&[("listener-url", url.as_str())])
                        .await?,
                );
            }
            Cleanup::Delete(ids) => {
                let connection = ctx.cleanup_connection(&namespace, live.connection_name())?;
                for id in &ids {
                    match live.spec.registration_method {
                        RegistrationMethod::AdminApi => {
                            connection.admin.delete_registration(id).await?
                        }
                        RegistrationMethod::Hub => {
                            let api_ref = &live.spec.affiliated_apis[0];
                            connection
                                .admin
                                .unsubscribe_hub(&api_ref.api_name, &api_ref.api_version, id)
                                .await?;
                        }
                    }
                    connection.record::<model::ListenerRegistration>(id, None);
                    info!(registration = %live.name_any(), %namespace, id, "deleted");
                }
                ctx.event(
                    live,
                    false,
                    "Deleted",
                    "Delete",
                    format!("deleted registration {}", ids.join(", ")),
                );
                finalizer::remove(api, live).await?;
                return Ok(Done::Synced);
            }
            Cleanup::Release(note) => {
                if let Some(note) = note {
                    ctx.event(live, false, "Orphaned", "Delete", note);
                }
                finalizer::remove(api, live).await?;
                return Ok(Done::Synced);
            }
            Cleanup::Wait(wait) => return Ok(Done::Wait(wait)),
        }
    }
    Err(Error::undecided(MAX_STEPS))
}
