//! Leader election on a `coordination.k8s.io` Lease: one replica runs the controllers,
//! the others wait. The rules are client-go's `leaderelection` package's.
//!
//! # Guarantees
//! - **At most one leader, even with a hung renewal.** A leader counts its term from the
//!   moment it *sent* its last successful renewal (local monotonic clock) and stops
//!   leading [`Timing::renew_deadline`] later unless a renewal succeeded meanwhile; every
//!   renewal request is cut off at that deadline. A standby takes a Lease only
//!   [`Timing::lease_duration`] after it *saw* the Lease last change, which is after the
//!   leader sent that renewal, and `renew_deadline < lease_duration`.
//! - **No trust in another replica's clock.** Expiry is never computed from the Lease's
//!   `renewTime` (written with the holder's clock): a candidate notes, with its own
//!   monotonic clock, when the Lease's `resourceVersion` last changed ([`observe`]) and
//!   counts the holder's `leaseDurationSeconds` from there (client-go's `observedTime`).
//! - **A stopping leader hands over at once.** On SIGTERM the leader stops its
//!   controllers, then clears `holderIdentity` ([`LeaderElection::release`]); a standby
//!   takes a Lease without a holder on its next try, instead of waiting out the lease.
//! - **Racing candidates cannot both win.** Every write carries the `resourceVersion`
//!   read; the loser gets 409 and stays a candidate.
//!
//! # Assumptions
//! - Identities are unique per replica; a replica restarted with the same identity (a
//!   StatefulSet pod) takes its own Lease back at once.
//! - Local monotonic clocks of the replicas run at about the same rate (no trust in
//!   their wall clocks is needed).
//!
//! # Caveats
//! - A fresh standby has not seen the Lease change yet: after a leader's crash it waits
//!   a full `lease_duration` from its own first look, as client-go does.
//! - A leader that cannot renew for `renew_deadline` (apiserver down) stops leading;
//!   `cxf-operator run` then exits and is restarted by its Deployment.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::time::Instant;
use tracing::{info, warn};

/// The election's durations (client-go's names and defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long a standby waits, after it last saw the Lease change, before taking it.
    pub lease_duration: Duration,
    /// How long a leader keeps leading after it sent its last successful renewal.
    pub renew_deadline: Duration,
    /// How often the leader renews and a standby tries.
    pub retry_period: Duration,
}

/// The timing of `cxf-operator run`: client-go's defaults.
pub const TIMING: Timing = Timing {
    lease_duration: Duration::from_secs(15),
    renew_deadline: Duration::from_secs(10),
    retry_period: Duration::from_secs(2),
};

const _: () = assert!(TIMING.renew_deadline.as_millis() < TIMING.lease_duration.as_millis());
const _: () = assert!(TIMING.retry_period.as_millis() < TIMING.renew_deadline.as_millis());

/// The parts of a Lease the election decides on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `holderIdentity`; `None` when empty (released).
    pub holder: Option<String>,
    /// `leaseDurationSeconds`, if set.
    pub lease_duration: Option<Duration>,
    /// `metadata.resourceVersion`: any write changes it.
    pub version: String,
}

impl Record {
    fn of(lease: &Lease) -> Self {
        let spec = lease.spec.clone().unwrap_or_default();
        Self {
            holder: spec.holder_identity.filter(|h| !h.is_empty()),
            lease_duration: spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs),
            version: lease.metadata.resource_version.clone().unwrap_or_default(),
        }
    }
}

/// A Lease record and when (local monotonic clock) this candidate first saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The record.
    pub record: Record,
    /// When it was first seen in this state.
    pub since: Instant,
}

/// Notes `record`, seen `now`: the time of the previous observation is kept while the
/// record is unchanged, so that expiry counts from the last change this replica saw.
pub fn observe(previous: Option<Observation>, record: Record, now: Instant) -> Observation {
    match previous {
        Some(previous) if previous.record == record => previous,
        _ => Observation { record, since: now },
    }
}

/// What a candidate does with the Lease it observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Ours: write a new renew time.
    Renew,
    /// Free, released or expired: take it over.
    Take,
    /// Another replica holds it for at least this long.
    Wait(Duration),
}

/// The decision on an observed Lease (client-go's `tryAcquireOrRenew`). Expiry counts the
/// holder's `leaseDurationSeconds` (else `timing.lease_duration`) from when this replica
/// saw the record change, never from the Lease's `renewTime`.
pub fn decide(identity: &str, seen: &Observation, now: Instant, timing: &Timing) -> Decision {
    match seen.record.holder.as_deref() {
        None => Decision::Take,
        Some(holder) if holder == identity => Decision::Renew,
        Some(_) => {
            let duration = seen.record.lease_duration.unwrap_or(timing.lease_duration);
            let expires = seen.since + duration;
            if now >= expires {
                Decision::Take
            } else {
                Decision::Wait(expires - now)
            }
        }
    }
}

/// How long the next renewal may take, for a leader whose last successful renewal was
/// sent at `renewed`; `None` once the term is over (stop leading).
pub fn renewal_budget(renewed: Instant, now: Instant, timing: &Timing) -> Option<Duration> {
    (renewed + timing.renew_deadline)
        .checked_duration_since(now)
        .filter(|left| !left.is_zero())
}

/// One candidate for the Lease `name`.
pub struct LeaderElection {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: Timing,
    seen: std::sync::Mutex<Option<Observation>>,
}

/// Why a leader stopped leading.
#[derive(Debug, thiserror::Error)]
pub enum Lost {
    /// Another replica took the Lease.
    #[error("another replica holds the Lease")]
    TakenOver,
    /// No renewal succeeded within the renew deadline.
    #[error("no renewal succeeded within {deadline:?} (last error: {last})")]
    Deadline {
        /// The renew deadline.
        deadline: Duration,
        /// The last renewal's failure.
        last: String,
    },
}

impl LeaderElection {
    /// A candidate named `identity` (unique per replica, such as the pod name).
    pub fn new(client: kube::Client, namespace: &str, name: &str, identity: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            timing: TIMING,
            seen: std::sync::Mutex::new(None),
        }
    }

    /// Waits until this replica holds the Lease; returns when it was sent the winning
    /// write (the start of its term). Errors are logged and retried.
    pub async fn acquire(&self) -> Instant {
        let mut announced = false;
        loop {
            let sent = Instant::now();
            match self.try_acquire(sent).await {
                Ok(true) => {
                    info!(lease = %self.name, identity = %self.identity, "became the leader");
                    return sent;
                }
                Ok(false) if !announced => {
                    info!(lease = %self.name, "another replica leads: standing by");
                    announced = true;
                }
                Ok(false) => {}
                Err(error) => warn!(lease = %self.name, %error, "trying the leader Lease failed"),
            }
            tokio::time::sleep(self.timing.retry_period).await;
        }
    }

    /// Renews the Lease every retry period until the term ends: another replica took it,
    /// or no renewal succeeded within the renew deadline (each renewal is cut off there).
    /// `renewed` is when the term started (from [`LeaderElection::acquire`]).
    pub async fn hold(&self, mut renewed: Instant) -> Lost {
        let mut last = String::from("none");
        loop {
            tokio::time::sleep(self.timing.retry_period).await;
            let sent = Instant::now();
            let Some(budget) = renewal_budget(renewed, sent, &self.timing) else {
                return Lost::Deadline {
                    deadline: self.timing.renew_deadline,
                    last,
                };
            };
            match tokio::time::timeout(budget, self.try_acquire(sent)).await {
                Ok(Ok(true)) => renewed = sent,
                Ok(Ok(false)) => return Lost::TakenOver,
                Ok(Err(error)) => {
                    warn!(lease = %self.name, %error, "renewing the leader Lease failed");
                    last = error.to_string();
                }
                Err(_) => last = format!("a renewal hung for {budget:?}"),
            }
            // A renewal cut off at the deadline ends the term now, not a retry period later.
            if renewal_budget(renewed, Instant::now(), &self.timing).is_none() {
                return Lost::Deadline {
                    deadline: self.timing.renew_deadline,
                    last,
                };
            }
        }
    }

    /// Gives the Lease up (holder cleared) if this replica still holds it, so that a
    /// standby takes over on its next try. Call it only once the controllers stopped.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        let now = MicroTime(Timestamp::now());
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now.clone());
        spec.acquire_time = Some(now);
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await?;
        info!(lease = %self.name, identity = %self.identity, "released the leader Lease");
        Ok(())
    }

    /// Takes or renews the Lease if [`decide`] says so; `now` is when this try started.
    async fn try_acquire(&self, now: Instant) -> Result<bool, kube::Error> {
        let wall = MicroTime(Timestamp::now());
        let spec = |transitions: i32, acquired: Option<MicroTime>| LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: i32::try_from(self.timing.lease_duration.as_secs()).ok(),
            acquire_time: acquired.or_else(|| Some(wall.clone())),
            renew_time: Some(wall.clone()),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        };
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec(0, None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let seen = {
            let mut seen = self.seen.lock().expect("lease observation lock");
            let observation = observe(seen.take(), Record::of(&lease), now);
            *seen = Some(observation.clone());
            observation
        };
        let current = lease.spec.clone().unwrap_or_default();
        let ours = match decide(&self.identity, &seen, now, &self.timing) {
            Decision::Wait(_) => return Ok(false),
            Decision::Renew => true,
            Decision::Take => false,
        };
        let transitions = current.lease_transitions.unwrap_or(0) + i32::from(!ours);
        lease.spec = Some(spec(
            transitions,
            if ours { current.acquire_time } else { None },
        ));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn record(holder: Option<&str>, seconds: Option<u64>, version: &str) -> Record {
        Record {
            holder: holder.map(str::to_owned),
            lease_duration: seconds.map(Duration::from_secs),
            version: version.to_owned(),
        }
    }

    #[test]
    fn decisions_on_an_observed_lease() {
        let t0 = Instant::now();
        // (holder, leaseDurationSeconds, seen for, decision)
        let table: &[(Option<&str>, Option<u64>, Duration, Decision)] = &[
            (None, Some(15), Duration::ZERO, Decision::Take),
            (None, Some(1), Duration::ZERO, Decision::Take),
            (Some("me"), Some(15), Duration::ZERO, Decision::Renew),
            (Some("me"), Some(15), 100 * S, Decision::Renew),
            (
                Some("other"),
                Some(15),
                Duration::ZERO,
                Decision::Wait(15 * S),
            ),
            (Some("other"), Some(15), 14 * S, Decision::Wait(S)),
            (Some("other"), Some(15), 15 * S, Decision::Take),
            (Some("other"), Some(30), 20 * S, Decision::Wait(10 * S)),
            (Some("other"), None, 10 * S, Decision::Wait(5 * S)),
            (Some("other"), None, 15 * S, Decision::Take),
        ];
        for (holder, seconds, after, want) in table {
            let seen = Observation {
                record: record(*holder, *seconds, "1"),
                since: t0,
            };
            assert_eq!(
                decide("me", &seen, t0 + *after, &TIMING),
                *want,
                "holder {holder:?}, {seconds:?} s, seen for {after:?}"
            );
        }
    }

    #[test]
    fn expiry_counts_from_the_last_change_this_replica_saw_not_from_renew_time() {
        let t0 = Instant::now();
        let first = observe(None, record(Some("other"), Some(15), "7"), t0);
        // The same record 14 s later: the clock keeps running from the first sight.
        let same = observe(
            Some(first.clone()),
            record(Some("other"), Some(15), "7"),
            t0 + 14 * S,
        );
        assert_eq!(same.since, t0);
        assert_eq!(decide("me", &same, t0 + 16 * S, &TIMING), Decision::Take);
        // The holder renewed (new resourceVersion): the clock starts again, whatever
        // renewTime the holder's own clock wrote.
        let renewed = observe(
            Some(same),
            record(Some("other"), Some(15), "8"),
            t0 + 14 * S,
        );
        assert_eq!(renewed.since, t0 + 14 * S);
        assert_eq!(
            decide("me", &renewed, t0 + 16 * S, &TIMING),
            Decision::Wait(13 * S)
        );
        // A new holder is a change too.
        let moved = observe(
            Some(renewed),
            record(Some("third"), Some(15), "8"),
            t0 + 20 * S,
        );
        assert_eq!(moved.since, t0 + 20 * S);
    }

    #[test]
    fn a_leader_stops_before_a_standby_may_take_over() {
        let t0 = Instant::now();
        // (last renewal sent, now, budget)
        let table: &[(Duration, Duration, Option<Duration>)] = &[
            (Duration::ZERO, Duration::ZERO, Some(10 * S)),
            (Duration::ZERO, 2 * S, Some(8 * S)),
            (Duration::ZERO, 9 * S, Some(S)),
            (Duration::ZERO, 10 * S, None),
            (Duration::ZERO, 11 * S, None),
            (4 * S, 11 * S, Some(3 * S)),
        ];
        for (renewed, now, want) in table {
            assert_eq!(
                renewal_budget(t0 + *renewed, t0 + *now, &TIMING),
                *want,
                "renewed at {renewed:?}, now {now:?}"
            );
        }
        // The last moment a leader leads comes before the first moment a standby that saw
        // its renewal (at the earliest when it was sent) may take the Lease.
        let seen = observe(None, record(Some("leader"), Some(15), "9"), t0);
        let last_leading = t0 + TIMING.renew_deadline;
        assert!(renewal_budget(t0, last_leading, &TIMING).is_none());
        assert!(matches!(
            decide("standby", &seen, last_leading, &TIMING),
            Decision::Wait(_)
        ));
    }
}
