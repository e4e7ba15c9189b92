//! What the operator holds of each framework: per FrameworkConnection (keyed by its
//! `ObjectRef`), the admin client, the drift schedule, a connection-wide slow-down after
//! a 429, whether the framework is reachable ([`Reachability`]: a call that finds it
//! unreachable brings a drift check within [`PROBE`]; a check whose list fails too keeps
//! them coming every [`PROBE`], and its first list answered after that tells the
//! framework is back), and the framework's objects as last listed, read or written. A
//! reconcile plans against this, so a resource in sync costs no admin API call; a cold
//! cache is filled by ONE list per connection and kind, shared by every reconcile
//! waiting for it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::reflector::ObjectRef;
use tokio::time::Instant;

use crate::admin::{AdminClient, AdminError};
use crate::desired::listener_registration::drifted;
use crate::framework::model::{GatekeepingRule, ListenerRegistration};
use crate::reconcile::Seen;
use crate::resources::FrameworkConnection;

/// A kind of framework object the state holds.
pub trait Kind: Clone + Send + Sync + 'static {
    /// The framework id.
    fn id(&self) -> Option<&String>;
    /// Whether `now` differs from `before` in what the operator manages.
    fn differs(before: &Self, now: &Self) -> bool;
    /// Lists every object of this kind.
    fn list(admin: &AdminClient) -> impl Future<Output = Result<Vec<Self>, AdminError>> + Send;
    /// The table of this kind.
    fn table(objects: &mut Objects) -> &mut Option<HashMap<String, Self>>;
    /// The lock held by the one list filling the table.
    fn fill_lock(state: &ConnectionState) -> &tokio::sync::Mutex<()>;
}

impl Kind for ListenerRegistration {
    fn id(&self) -> Option<&String> {
        self.id.as_ref()
    }
    fn differs(before: &Self, now: &Self) -> bool {
        drifted(before, now)
    }
    fn list(admin: &AdminClient) -> impl Future<Output = Result<Vec<Self>, AdminError>> + Send {
        admin.list_registrations(&[])
    }
    fn table(objects: &mut Objects) -> &mut Option<HashMap<String, Self>> {
        &mut objects.registrations
    }
    fn fill_lock(state: &ConnectionState) -> &tokio::sync::Mutex<()> {
        &state.fill_registrations
    }
}

impl Kind for GatekeepingRule {
    fn id(&self) -> Option<&String> {
        self.id.as_ref()
    }
    fn differs(before: &Self, now: &Self) -> bool {
        before != now
    }
    fn list(admin: &AdminClient) -> impl Future<Output = Result<Vec<Self>, AdminError>> + Send {
        admin.list_rules()
    }
    fn table(objects: &mut Objects) -> &mut Option<HashMap<String, Self>> {
        &mut objects.rules
    }
    fn fill_lock(state: &ConnectionState) -> &tokio::sync::Mutex<()> {
        &state.fill_rules
    }
}

/// The framework's objects of one connection.
#[derive(Default)]
pub struct Objects {
    registrations: Option<HashMap<String, ListenerRegistration>>,
    rules: Option<HashMap<String, GatekeepingRule>>,
    /// Counts the operator's own writes: a list that started before one is stale.
    writes: u64,
}

/// The longest wait between two drift checks of a connection whose framework is
/// unreachable: how soon its return is noticed (the drift interval, if shorter).
pub const PROBE: Duration = Duration::from_secs(5);

/// What the operator knows of the framework's reachability.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Reachability {
    /// Its last answers came.
    #[default]
    Reachable,
    /// A call found it unreachable: maybe the framework, maybe that one call; a probe
    /// tells.
    Suspect,
    /// A list found it unreachable at `since`, with `error`: it is down until a list is
    /// answered.
    Down { since: Instant, error: String },
}

/// One connection's client and what was observed through it.
pub struct ConnectionState {
    /// The admin API client.
    pub admin: Arc<AdminClient>,
    drift_interval: Mutex<Duration>,
    next_drift: Mutex<Instant>,
    reachability: Mutex<Reachability>,
    slow_until: Mutex<Option<Instant>>,
    objects: Mutex<Objects>,
    fill_registrations: tokio::sync::Mutex<()>,
    fill_rules: tokio::sync::Mutex<()>,
}

impl ConnectionState {
    /// A connection whose registrations were just listed (`registrations`).
    pub fn new(
        admin: Arc<AdminClient>,
        drift_interval: Duration,
        registrations: Vec<ListenerRegistration>,
    ) -> Self {
        Self {
            admin,
            drift_interval: Mutex::new(drift_interval),
            next_drift: Mutex::new(Instant::now() + drift_interval),
            reachability: Mutex::new(Reachability::Reachable),
            slow_until: Mutex::new(None),
            objects: Mutex::new(Objects {
                registrations: Some(by_id(registrations)),
                ..Objects::default()
            }),
            fill_registrations: tokio::sync::Mutex::new(()),
            fill_rules: tokio::sync::Mutex::new(()),
        }
    }

    /// Sets the drift-check interval.
    pub fn set_drift_interval(&self, interval: Duration) {
        *self.drift_interval.lock().expect("drift lock") = interval;
    }

    /// Whether the drift check is due now; if so, schedules the next one.
    pub fn drift_due(&self, now: Instant) -> bool {
        let mut next = self.next_drift.lock().expect("drift lock");
        if *next > now {
            return false;
        }
        *next = now + self.drift_period();
        true
    }

    /// The wait before the next drift check: the interval, at most [`PROBE`] while the
    /// framework is suspect or down.
    fn drift_period(&self) -> Duration {
        let interval = *self.drift_interval.lock().expect("drift lock");
        match *self.reachability.lock().expect("reachability lock") {
            Reachability::Reachable => interval,
            Reachability::Suspect | Reachability::Down { .. } => interval.min(PROBE),
        }
    }

    /// Sets the reachability to `to` at `now` and brings the next drift check within
    /// the period that follows.
    fn set_reachability(&self, to: Reachability, now: Instant) {
        *self.reachability.lock().expect("reachability lock") = to;
        let mut next = self.next_drift.lock().expect("drift lock");
        *next = (*next).min(now + self.drift_period());
    }

    /// A call found the framework unreachable at `now`: a drift check comes within
    /// [`PROBE`] (or its interval) to tell the framework from that call.
    pub fn call_unreachable(&self, now: Instant) {
        let reachable =
            *self.reachability.lock().expect("reachability lock") == Reachability::Reachable;
        if reachable {
            self.set_reachability(Reachability::Suspect, now);
        }
    }

    /// A drift list found the framework unreachable at `now`, with `error`: it is down,
    /// and a check comes every [`PROBE`] (or its interval) until a list is answered.
    /// Says whether that begins an outage (it was not down already; an outage keeps the
    /// time and error of its first failed list).
    pub fn list_unreachable(&self, now: Instant, error: &str) -> bool {
        let (down, begins) = match &*self.reachability.lock().expect("reachability lock") {
            down @ Reachability::Down { .. } => (down.clone(), false),
            Reachability::Reachable | Reachability::Suspect => (
                Reachability::Down {
                    since: now,
                    error: error.to_owned(),
                },
                true,
            ),
        };
        self.set_reachability(down, now);
        begins
    }

    /// A drift list was answered at `now`: how long the outage it ends lasted, if the
    /// framework was down (after a mere suspicion, the failed call was that call's own).
    pub fn list_answered(&self, now: Instant) -> Option<Duration> {
        let was = std::mem::take(&mut *self.reachability.lock().expect("reachability lock"));
        match was {
            Reachability::Down { since, .. } => Some(now.saturating_duration_since(since)),
            Reachability::Reachable | Reachability::Suspect => None,
        }
    }

    /// The error of the drift list that found the framework unreachable, while no list
    /// was answered since.
    pub fn outage(&self) -> Option<String> {
        match &*self.reachability.lock().expect("reachability lock") {
            Reachability::Down { error, .. } => Some(error.clone()),
            Reachability::Reachable | Reachability::Suspect => None,
        }
    }

    /// Slows the whole connection down until `until` (after a 429 or a Retry-After).
    pub fn slow_down(&self, until: Instant) {
        let mut slow = self.slow_until.lock().expect("slow lock");
        *slow = Some(slow.map_or(until, |s| s.max(until)));
    }

    /// How long the connection is still slowed down, if it is.
    pub fn slowed_for(&self, now: Instant) -> Option<Duration> {
        let slow = *self.slow_until.lock().expect("slow lock");
        slow.filter(|until| *until > now).map(|until| until - now)
    }

    /// Runs `f` on the objects of kind `T` (`None` if never listed).
    pub fn with<T: Kind, R>(&self, f: impl FnOnce(Option<&HashMap<String, T>>) -> R) -> R {
        let mut objects = self.objects.lock().expect("objects lock");
        f(T::table(&mut objects).as_ref())
    }

    /// What the framework last showed of `id`.
    pub fn seen<T: Kind>(&self, id: &str) -> Seen<T> {
        self.with::<T, _>(|all| match all {
            None => Seen::Unknown,
            Some(all) => all.get(id).cloned().map_or(Seen::Absent, Seen::Present),
        })
    }

    /// Records the operator's own write (or a read by id): `id` is now `object`, or is
    /// gone. A table never listed stays unknown.
    pub fn record<T: Kind>(&self, id: &str, object: Option<T>) {
        let mut objects = self.objects.lock().expect("objects lock");
        objects.writes += 1;
        if let Some(all) = T::table(&mut objects) {
            match object {
                Some(object) => all.insert(id.to_owned(), object),
                None => all.remove(id),
            };
        }
    }

    /// The write counter, to pass to [`ConnectionState::refresh`] after a list.
    pub fn writes(&self) -> u64 {
        self.objects.lock().expect("objects lock").writes
    }

    /// Replaces the objects of kind `T` by `listed`, unless the operator wrote since the
    /// list started (`writes_before`) and the table was already known: a list that
    /// started before a write may not show it. Says whether it replaced them.
    pub fn refresh<T: Kind>(&self, listed: Vec<T>, writes_before: u64) -> bool {
        let mut objects = self.objects.lock().expect("objects lock");
        let stale = objects.writes != writes_before;
        let table = T::table(&mut objects);
        if stale && table.is_some() {
            return false;
        }
        *table = Some(by_id(listed));
        true
    }

    /// Lists the objects of kind `T` if they never were; concurrent callers wait for
    /// the one list.
    pub async fn fill<T: Kind>(&self) -> Result<(), AdminError> {
        let _one_list = T::fill_lock(self).lock().await;
        if self.with::<T, _>(|all| all.is_some()) {
            return Ok(());
        }
        let before = self.writes();
        let listed = T::list(&self.admin).await?;
        self.refresh(listed, before);
        Ok(())
    }
}

/// Every connection's state, keyed by the FrameworkConnection.
#[derive(Default)]
pub struct FrameworkState {
    connections: Mutex<HashMap<ObjectRef<FrameworkConnection>, Arc<ConnectionState>>>,
}

impl FrameworkState {
    /// The state of `connection`, if its client was built.
    pub fn get(&self, connection: &ObjectRef<FrameworkConnection>) -> Option<Arc<ConnectionState>> {
        self.lock().get(connection).cloned()
    }

    /// Sets the state of `connection`.
    pub fn insert(&self, connection: ObjectRef<FrameworkConnection>, state: Arc<ConnectionState>) {
        self.lock().insert(connection, state);
    }

    /// Forgets `connection`.
    pub fn remove(&self, connection: &ObjectRef<FrameworkConnection>) {
        self.lock().remove(connection);
    }

    /// Every connection, after forgetting those `live` says are gone.
    pub fn all(
        &self,
        live: impl Fn(&ObjectRef<FrameworkConnection>) -> bool,
    ) -> Vec<(ObjectRef<FrameworkConnection>, Arc<ConnectionState>)> {
        let mut connections = self.lock();
        connections.retain(|k, _| live(k));
        connections
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect()
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<FrameworkConnection>, Arc<ConnectionState>>>
    {
        self.connections.lock().expect("connections lock")
    }
}

/// Indexes listed objects by id (objects without one are skipped).
pub fn by_id<T: Kind>(objects: Vec<T>) -> HashMap<String, T> {
    objects
        .into_iter()
        .filter_map(|o| o.id().cloned().map(|id| (id, o)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str) -> GatekeepingRule {
        serde_json::from_value(serde_json::json!({
            "id": id, "rule-name": "n", "endpoint-name": "e", "gatekeeping-apis": []
        }))
        .unwrap()
    }

    fn admin() -> Arc<AdminClient> {
        Arc::new(
            AdminClient::new(
                crate::admin::ClientConfig {
                    gateway_url: "http://127.0.0.1:9".into(),
                    workspace: None,
                    credentials: crate::admin::Credentials::Bearer(
                        crate::framework::model::SecretValue::new("t"),
                    ),
                    ca_bundle: None,
                    requests_per_second: 1,
                    rule_update_verb: Default::default(),
                },
                crate::metrics::Metrics::default().admin.clone(),
            )
            .unwrap(),
        )
    }

    #[test]
    fn unknown_until_listed_and_a_list_older_than_a_write_is_refused() {
        let mut objects = Objects::default();
        assert!(GatekeepingRule::table(&mut objects).is_none());
        let state = ConnectionState::new(admin(), Duration::from_secs(60), Vec::new());
        assert_eq!(state.seen::<GatekeepingRule>("r1"), Seen::Unknown);
        state.record("r1", Some(rule("r1")));
        assert_eq!(
            state.seen::<GatekeepingRule>("r1"),
            Seen::Unknown,
            "a write does not make a table known"
        );
        let before = state.writes();
        assert!(state.refresh(vec![rule("r1")], before));
        assert_eq!(state.seen("r1"), Seen::Present(rule("r1")));
        let before = state.writes();
        state.record::<GatekeepingRule>("r2", Some(rule("r2")));
        assert!(
            !state.refresh::<GatekeepingRule>(vec![], before),
            "a list that started before a write is stale"
        );
        assert_eq!(state.seen("r2"), Seen::Present(rule("r2")));
        state.record::<GatekeepingRule>("r2", None);
        assert_eq!(state.seen::<GatekeepingRule>("r2"), Seen::Absent);
        assert_eq!(state.seen::<ListenerRegistration>("l1"), Seen::Absent);

        let now = Instant::now();
        assert_eq!(state.slowed_for(now), None);
        state.slow_down(now + Duration::from_secs(5));
        state.slow_down(now + Duration::from_secs(1));
        assert_eq!(
            state.slowed_for(now),
            Some(Duration::from_secs(5)),
            "a 429 slows the whole connection, the longest wait holds"
        );
        assert_eq!(state.slowed_for(now + Duration::from_secs(6)), None);
    }

    #[test]
    fn a_failed_call_brings_a_probe_and_only_a_failed_probe_makes_a_recovery() {
        let interval = Duration::from_secs(60);
        let state = ConnectionState::new(admin(), interval, Vec::new());
        let start = Instant::now();
        assert!(
            !state.drift_due(start),
            "first check one interval after the start"
        );

        // One call finds the framework unreachable: a probe within PROBE.
        state.call_unreachable(start + Duration::from_secs(10));
        assert!(!state.drift_due(start + Duration::from_secs(14)));
        assert!(state.drift_due(start + Duration::from_secs(15)));
        // The probe is answered: that call's failure was its own (a 5xx on one object,
        // say). Nothing to report, and the interval is back: a resource failing for good
        // keeps its backoff and costs no list every PROBE.
        assert_eq!(
            state.list_answered(start + Duration::from_secs(15)),
            None,
            "not a recovery"
        );
        assert_eq!(state.outage(), None);
        assert!(
            state.drift_due(start + Duration::from_secs(20)),
            "scheduled while suspect"
        );
        assert!(!state.drift_due(start + Duration::from_secs(79)));
        assert!(state.drift_due(start + Duration::from_secs(80)));

        // A call fails, then the probe's list fails too: the framework is down. Probes
        // come every PROBE until a list is answered, which reports the recovery once.
        state.call_unreachable(start + Duration::from_secs(100));
        assert!(state.drift_due(start + Duration::from_secs(105)));
        assert!(
            state.list_unreachable(start + Duration::from_secs(105), "no answer"),
            "an outage begins"
        );
        assert_eq!(state.outage().as_deref(), Some("no answer"));
        assert!(!state.drift_due(start + Duration::from_secs(109)));
        assert!(state.drift_due(start + Duration::from_secs(110)));
        assert!(
            !state.list_unreachable(start + Duration::from_secs(110), "still none"),
            "the same outage"
        );
        assert_eq!(
            state.outage().as_deref(),
            Some("no answer"),
            "its first error"
        );
        assert!(state.drift_due(start + Duration::from_secs(115)));
        assert_eq!(
            state.list_answered(start + Duration::from_secs(115)),
            Some(Duration::from_secs(10)),
            "the framework is back after the 10 s since the first failed list"
        );
        assert_eq!(
            state.list_answered(start + Duration::from_secs(116)),
            None,
            "reported once"
        );
        assert_eq!(state.outage(), None);
        assert!(
            state.drift_due(start + Duration::from_secs(120)),
            "scheduled while down"
        );
        assert!(!state.drift_due(start + Duration::from_secs(179)));
        assert!(state.drift_due(start + Duration::from_secs(180)));

        // A drift list that fails at its interval makes the framework down at once.
        assert!(state.list_unreachable(start + Duration::from_secs(180), "no answer"));
        assert!(state.drift_due(start + Duration::from_secs(185)));
        assert_eq!(
            state.list_answered(start + Duration::from_secs(185)),
            Some(Duration::from_secs(5))
        );

        // With an interval shorter than PROBE, the interval stays.
        let fast = ConnectionState::new(admin(), Duration::from_secs(2), Vec::new());
        let now = Instant::now();
        fast.call_unreachable(now);
        assert!(!fast.drift_due(now + Duration::from_secs(1)));
        assert!(fast.drift_due(now + Duration::from_secs(2)));
    }
}
