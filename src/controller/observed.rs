//! The framework's objects as the operator last saw them, per connection: filled by one
//! list call, kept up to date by the operator's own writes and by the drift loop. A
//! reconcile compares against this, so a resource in sync costs no admin API call.

use std::collections::HashMap;

use crate::framework::model::{GatekeepingRule, ListenerRegistration};

/// What the operator knows of one framework.
#[derive(Default)]
pub struct Observed {
    /// Listener registrations by id; `None` until first listed.
    pub registrations: Option<HashMap<String, ListenerRegistration>>,
    /// Gatekeeping rules by id; `None` until first listed.
    pub rules: Option<HashMap<String, GatekeepingRule>>,
    /// Counts the operator's own writes: a list that started before a write is stale
    /// and must not replace what the write recorded.
    pub writes: u64,
}

/// What the operator knows of one object.
#[derive(Debug, PartialEq)]
pub enum Known<T> {
    /// Never listed: a list call is needed.
    Unknown,
    /// Listed, and absent.
    Absent,
    /// Listed or written, like this.
    Present(T),
}

impl Observed {
    /// The registration `id`.
    pub fn registration(&self, id: &str) -> Known<ListenerRegistration> {
        lookup(self.registrations.as_ref(), id)
    }

    /// The rule `id`.
    pub fn rule(&self, id: &str) -> Known<GatekeepingRule> {
        lookup(self.rules.as_ref(), id)
    }

    /// Records a registration as written or listed.
    pub fn set_registration(&mut self, id: &str, registration: ListenerRegistration) {
        self.writes += 1;
        self.registrations
            .get_or_insert_default()
            .insert(id.to_owned(), registration);
    }

    /// Records a registration as gone.
    pub fn remove_registration(&mut self, id: &str) {
        self.writes += 1;
        if let Some(all) = &mut self.registrations {
            all.remove(id);
        }
    }

    /// Records a rule as written or listed.
    pub fn set_rule(&mut self, id: &str, rule: GatekeepingRule) {
        self.writes += 1;
        self.rules
            .get_or_insert_default()
            .insert(id.to_owned(), rule);
    }
}

fn lookup<T: Clone>(all: Option<&HashMap<String, T>>, id: &str) -> Known<T> {
    match all {
        None => Known::Unknown,
        Some(all) => all.get(id).cloned().map_or(Known::Absent, Known::Present),
    }
}

/// Indexes listed objects by id (objects without one are skipped).
pub fn by_id<T>(objects: Vec<T>, id: impl Fn(&T) -> Option<&String>) -> HashMap<String, T> {
    objects
        .into_iter()
        .filter_map(|o| id(&o).cloned().map(|id| (id, o)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_until_listed_then_absent_or_present() {
        let mut observed = Observed::default();
        assert_eq!(observed.rule("r1"), Known::Unknown);
        observed.rules = Some(HashMap::new());
        assert_eq!(observed.rule("r1"), Known::Absent);
        let rule: GatekeepingRule = serde_json::from_value(serde_json::json!({
            "id": "r1", "rule-name": "n", "endpoint-name": "e", "gatekeeping-apis": []
        }))
        .unwrap();
        observed.set_rule("r1", rule.clone());
        assert_eq!(observed.rule("r1"), Known::Present(rule));
    }
}
