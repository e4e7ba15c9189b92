//! The reconcile planner: what to do next for one resource, as a pure function of what
//! is known. No I/O here: the controllers gather the facts (the resource as last
//! written, its annotations, what the framework last showed, what a list found), ask
//! [`listener_registration::plan`] or [`gatekeeping_rule::plan`] (and their `cleanup`)
//! for ONE decision, act on it, and ask again until the decision is final.
//!
//! # Expected flow
//! A new ListenerRegistration: the plan is `Create`; the controller writes the finalizer
//! and the `cxf.dev/pending-create` marker in one write (conditional on the object's
//! `resourceVersion`), sends the create, and writes the id with `Ready` in one status
//! write. Later passes find the registration in what the framework last showed and
//! plan `Patch` (only what differs) or `InSync`. A GatekeepingRule is never created: the
//! plan is `Capture` (the id and the original rule saved to status before any write),
//! then `Update` or `InSync`.
//!
//! # Guarantees
//! - **Never create twice.** A create is planned only when no framework object is known
//!   for the resource: no id in status, no adoption annotation, no unsettled pending
//!   marker whose result could exist. The marker is written before the create and the
//!   write is conditional on the object's current `resourceVersion`, so a pass that
//!   planned from an outdated copy of the object fails instead of creating.
//! - **Adopt a lost create.** While a marker is unsettled (its `replaces` is still the
//!   id in status), the plan lists by listener URL and adopts the one registration that
//!   matches what was sent, was not among the matches recorded `before` the create, and
//!   is not held by another resource. Several such: `Wait(AmbiguousCreate)`, never a
//!   guess. None: the create never arrived, and it is planned again.
//! - **Absence is confirmed.** A registration missing from a list is read by id; only a
//!   404 leads to `Recreate`. A short, partial or empty list therefore never recreates
//!   anything.
//! - **Cleanup tolerates a reconcile that never ran, or ran halfway.** It works from the
//!   live object (re-read, not the watch copy): the id in status, the adoption
//!   annotation, and an unsettled marker's result are all deleted; nothing known is
//!   leaked by removing the finalizer.
//! - **Never overwritten:** a framework object held by another resource of the store
//!   (it is refused, `Conflict`); a rule's fields the spec leaves out (they keep the
//!   framework's values); `status.originalRule` once captured; a rule while another
//!   resource still holds it, including during that resource's cleanup.
//!
//! # Assumptions
//! - One active operator per resource (leader election): the planner rules out races
//!   between passes of one process, not between two writers of the framework.
//! - The framework answers a create with the new id, or not at all; it lists what it
//!   holds (a list may be partial: that only costs reads), and `GET /{id}` answers 404
//!   only for an object that does not exist.
//!
//! # Caveats
//! - If the framework holds a registration matching a lost create that appeared after
//!   the operator's last list and before the create, the plan cannot tell the two
//!   apart: it waits with `AmbiguousCreate` and names both ids.
//! - Changes made on the framework between two drift lists are put back only at the
//!   next list; changes to credentials cannot be seen at all (they are write-only).
//! - `deletionPolicy: Restore` refuses (in a condition) an original rule the framework
//!   would refuse; `cxf.dev/abandon: "true"` then lets the resource go.

pub mod gatekeeping_rule;
pub mod listener_registration;

use std::fmt;

/// What the framework last showed of one object, as far as a plan needs it.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen<T> {
    /// The connection's objects were never listed: a list is needed.
    Unknown,
    /// The last list did not have it (it may be partial): a read by id is needed.
    Absent,
    /// A read by id answered 404: it does not exist.
    Gone,
    /// Listed, read or written, like this.
    Present(T),
}

/// A read the plan needs before it can decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// List the connection's objects of this kind (once, shared by every resource).
    List,
    /// Read one object by id (404 confirms it is gone).
    Get(String),
    /// List the registrations matching a pending create (by listener URL).
    Candidates,
}

/// Whether a wait ends by itself or needs a change from the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Retried with backoff: the cause may go away on its own.
    Backoff,
    /// Waits for a change of the resource (or of what it refers to, which is watched).
    OnChange,
}

/// Why nothing more can be done now: the `Ready=False` reason and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    /// A reason of [`crate::resources::conditions`].
    pub reason: &'static str,
    /// What is wrong and what to do.
    pub message: String,
    /// How the wait ends.
    pub retry: Retry,
}

impl Wait {
    /// A wait the user must end by changing something.
    pub fn user(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retry: Retry::OnChange,
        }
    }

    /// A wait retried with backoff.
    pub fn retry(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retry: Retry::Backoff,
        }
    }
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
