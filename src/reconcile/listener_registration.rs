//! The plan of a ListenerRegistration: create (never twice), adopt, patch, recreate
//! (after a confirmed 404), or wait; and on deletion, what to delete or let go.

use crate::desired::listener_registration::{self as desired, pending_create};
use crate::framework::model;
use crate::resources::conditions;
use crate::resources::listener_registration::{
    ListenerDeletionPolicy, ListenerRegistrationStatus, PendingCreate,
};
use crate::resources::{EXTERNAL_ID_ANNOTATION, PENDING_CREATE_ANNOTATION};

use super::{Read, Seen, Wait};

/// The resource holding a framework id, other than the one planned for (`ns/name`).
pub type Claims<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What a plan is made from.
pub struct Facts<'a> {
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The newest status known (the one last written by this process, else the object's).
    pub status: &'a ListenerRegistrationStatus,
    /// Annotation `cxf.dev/external-id`: a registration to adopt.
    pub adopt_id: Option<&'a str>,
    /// Annotation `cxf.dev/pending-create`.
    pub pending: Option<&'a PendingCreate>,
    /// The registration the spec stands for, with the credentials read from Secrets.
    pub want: &'a model::ListenerRegistration,
    /// Keyed hash of those credentials.
    pub credentials_hash: &'a str,
    /// What the framework last showed of an id.
    pub seen: &'a dyn Fn(&str) -> Seen<model::ListenerRegistration>,
    /// Ids of the registrations that match `want` (listener URL and API names) in what
    /// the framework last showed; `None` if it was never listed. Asked only before a
    /// create.
    pub matching: &'a dyn Fn() -> Option<Vec<String>>,
    /// Who else holds an id.
    pub claims: Claims<'a>,
    /// The registrations a list by listener URL found, once read.
    pub candidates: Option<&'a [model::ListenerRegistration]>,
}

/// One decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Read this, then plan again.
    Read(Read),
    /// Record `pending` (with the finalizer, in one write), then create.
    Create(PendingCreate),
    /// The registration `gone` was deleted on the framework (a read answered 404):
    /// record `pending`, then create it again.
    Recreate {
        /// The id that is gone.
        gone: String,
        /// The marker to record first.
        pending: PendingCreate,
    },
    /// Take `id` in charge (record it in status), then plan again.
    Adopt {
        /// The framework id.
        id: String,
        /// Whether it is the result of a create whose answer was lost (its credentials
        /// are then sent again) or a user's `cxf.dev/external-id`.
        lost_create: bool,
    },
    /// Send this JSON Patch to `id`.
    Patch {
        /// The framework id.
        id: String,
        /// The minimal patch (carries secret values: never log it).
        patch: json_patch::Patch,
        /// Whether it puts back a change made on the framework (else it applies a
        /// change of the spec or of the credentials).
        drift: bool,
    },
    /// The framework matches: record the id and the credentials hash.
    InSync(String),
    /// Nothing can be done now.
    Wait(Wait),
}

/// The next step for a ListenerRegistration that is not being deleted.
pub fn plan(f: &Facts) -> Plan {
    let status_id = f.status.external_id.as_deref();
    if let Some(pending) = unsettled(f.pending, status_id) {
        let Some(candidates) = f.candidates else {
            return Plan::Read(Read::Candidates);
        };
        match created_by(pending, candidates, f.claims).as_slice() {
            [id] => {
                return Plan::Adopt {
                    id: id.clone(),
                    lost_create: true,
                };
            }
            [] => {} // the create never reached the framework: plan as if unsent
            ids => return Plan::Wait(ambiguous(ids)),
        }
    }
    match (status_id, f.adopt_id) {
        (Some(id), _) => keep(f, id),
        (None, Some(id)) => adopt(f, id),
        (None, None) => create(f, None),
    }
}

/// The marker, if its create may still be unaccounted for: no id recorded since, or the
/// id recorded is the one the create replaces.
fn unsettled<'a>(
    pending: Option<&'a PendingCreate>,
    status_id: Option<&str>,
) -> Option<&'a PendingCreate> {
    pending.filter(|p| status_id.is_none() || p.replaces.as_deref() == status_id)
}

/// The candidates that a pending create made: matching what was sent, not matching
/// before it, held by no other resource.
fn created_by(
    pending: &PendingCreate,
    candidates: &[model::ListenerRegistration],
    claims: Claims,
) -> Vec<String> {
    candidates
        .iter()
        .filter(|r| desired::matches_pending(pending, r))
        .filter_map(|r| r.id.clone())
        .filter(|id| !pending.before.contains(id) && claims(id).is_none())
        .collect()
}

fn ambiguous(ids: &[String]) -> Wait {
    Wait::user(
        conditions::REASON_AMBIGUOUS_CREATE,
        format!(
            "an earlier create may have succeeded and registrations {} all match it: set annotation {EXTERNAL_ID_ANNOTATION} to the one to keep, remove annotation {PENDING_CREATE_ANNOTATION} (and delete the others on the framework)",
            ids.join(", ")
        ),
    )
}

/// The registration in status: patch it, or confirm it is gone and create it again.
fn keep(f: &Facts, id: &str) -> Plan {
    match (f.seen)(id) {
        Seen::Unknown => Plan::Read(Read::List),
        Seen::Absent => Plan::Read(Read::Get(id.to_owned())),
        Seen::Gone => create(f, Some(id)),
        Seen::Present(observed) => {
            let send_credentials = f.status.credentials_hash.as_deref() != Some(f.credentials_hash);
            let patch = desired::patch(f.want, &observed, send_credentials);
            if patch.0.is_empty() {
                Plan::InSync(id.to_owned())
            } else {
                Plan::Patch {
                    id: id.to_owned(),
                    patch,
                    drift: f.generation == f.status.observed_generation && !send_credentials,
                }
            }
        }
    }
}

/// The registration the user named: adopt it if it exists and nobody else holds it.
fn adopt(f: &Facts, id: &str) -> Plan {
    if let Some(holder) = (f.claims)(id) {
        return Plan::Wait(Wait::user(
            conditions::REASON_CONFLICT,
            format!(
                "registration {id} is held by ListenerRegistration {holder}: this resource adopts nothing"
            ),
        ));
    }
    match (f.seen)(id) {
        Seen::Unknown => Plan::Read(Read::List),
        Seen::Absent => Plan::Read(Read::Get(id.to_owned())),
        Seen::Gone => Plan::Wait(Wait::user(
            conditions::REASON_ADOPT_TARGET_NOT_FOUND,
            format!(
                "annotation {EXTERNAL_ID_ANNOTATION} names registration {id}, which the framework does not have"
            ),
        )),
        Seen::Present(_) => Plan::Adopt {
            id: id.to_owned(),
            lost_create: false,
        },
    }
}

/// A create (or, replacing `gone`, a recreate), recording which ids already match.
fn create(f: &Facts, gone: Option<&str>) -> Plan {
    let before = match f.candidates {
        Some(candidates) => {
            let probe = pending_create(f.want, Vec::new(), None);
            candidates
                .iter()
                .filter(|r| desired::matches_pending(&probe, r))
                .filter_map(|r| r.id.clone())
                .collect()
        }
        None => match (f.matching)() {
            Some(matching) => matching,
            None => return Plan::Read(Read::List),
        },
    };
    let pending = pending_create(f.want, before, gone.map(str::to_owned));
    match gone {
        None => Plan::Create(pending),
        Some(gone) => Plan::Recreate {
            gone: gone.to_owned(),
            pending,
        },
    }
}

/// What a cleanup is made from: the live object, re-read.
pub struct CleanupFacts<'a> {
    /// Its status.
    pub status: &'a ListenerRegistrationStatus,
    /// Annotation `cxf.dev/external-id`.
    pub adopt_id: Option<&'a str>,
    /// Annotation `cxf.dev/pending-create`.
    pub pending: Option<&'a PendingCreate>,
    /// `spec.deletionPolicy`.
    pub policy: ListenerDeletionPolicy,
    /// Annotation `cxf.dev/abandon: "true"`.
    pub abandoned: bool,
    /// Who else holds an id.
    pub claims: Claims<'a>,
    /// The registrations a list by listener URL found, once read.
    pub candidates: Option<&'a [model::ListenerRegistration]>,
}

/// One cleanup decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Cleanup {
    /// Read this, then plan again.
    Read(Read),
    /// Delete these registrations (a 404 counts as deleted), then let go.
    Delete(Vec<String>),
    /// Let go without calling the framework; the note says what is left there, if
    /// anything.
    Release(Option<String>),
    /// Nothing can be done now.
    Wait(Wait),
}

/// What deleting the resource does on the framework.
pub fn cleanup(f: &CleanupFacts) -> Cleanup {
    let status_id = f.status.external_id.as_deref();
    let mut ids: Vec<String> = status_id.map(str::to_owned).into_iter().collect();
    if let Some(id) = f.adopt_id
        && Some(id) != status_id
        && (f.claims)(id).is_none()
    {
        ids.push(id.to_owned());
    }
    if let Some(pending) = unsettled(f.pending, status_id) {
        if f.abandoned || f.policy == ListenerDeletionPolicy::Orphan {
            ids.push("(the result of a create whose answer was lost, if any)".into());
        } else {
            let Some(candidates) = f.candidates else {
                return Cleanup::Read(Read::Candidates);
            };
            match created_by(pending, candidates, f.claims).as_slice() {
                [] => {}
                [id] => ids.push(id.clone()),
                many => return Cleanup::Wait(ambiguous(many)),
            }
        }
    }
    if f.abandoned || f.policy == ListenerDeletionPolicy::Orphan {
        let note = (!ids.is_empty())
            .then(|| format!("left registration {} on the framework", ids.join(", ")));
        return Cleanup::Release(note);
    }
    if ids.is_empty() {
        Cleanup::Release(None)
    } else {
        Cleanup::Delete(ids)
    }
}

#[cfg(test)]
mod tests;
