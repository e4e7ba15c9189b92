//! The simulator's objects: one [`Workspace`] per workspace path segment, each with its
//! listener registrations and gatekeeping rules.

use std::collections::BTreeMap;

use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::framework::model::{GatekeepingRule, ListenerRegistration};

/// Key of the workspace served without a workspace segment (`/admin/...`, the FA API
/// Gateway form). It is a workspace of its own, separate from every named one.
pub const GATEWAY: &str = "";

/// What a masked credential reads as in every answer and log.
pub const MASK: &str = "****";

/// The objects of one workspace.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Workspace {
    /// Listener registrations (hub subscriptions included), by id.
    #[serde(default)]
    pub listener_registrations: BTreeMap<String, ListenerRegistration>,
    /// Gatekeeping rules, by id.
    #[serde(default)]
    pub gatekeeping_rules: BTreeMap<String, GatekeepingRule>,
}

/// Every workspace, created on first use with a copy of the initial rules.
#[derive(Debug)]
pub struct Store {
    workspaces: BTreeMap<String, Workspace>,
    initial_rules: Vec<GatekeepingRule>,
    ids: StdRng,
    revision: u64,
}

impl Store {
    /// A store whose new workspaces start with `initial_rules` (each with an `id`),
    /// holding the `loaded` workspaces (from the state file) as they are.
    pub fn new(
        initial_rules: Vec<GatekeepingRule>,
        loaded: BTreeMap<String, Workspace>,
        ids: StdRng,
    ) -> Self {
        Self {
            workspaces: loaded,
            initial_rules,
            ids,
            revision: 0,
        }
    }

    /// The workspace `name`, created with the initial rules if new.
    pub fn workspace(&mut self, name: &str) -> &mut Workspace {
        let initial_rules = &self.initial_rules;
        self.workspaces
            .entry(name.to_owned())
            .or_insert_with(|| Workspace {
                listener_registrations: BTreeMap::new(),
                gatekeeping_rules: initial_rules
                    .iter()
                    .map(|rule| (rule.id.clone().unwrap_or_default(), rule.clone()))
                    .collect(),
            })
    }

    /// Every workspace created so far.
    pub fn workspaces(&self) -> &BTreeMap<String, Workspace> {
        &self.workspaces
    }

    /// Forgets every workspace: they start again from the initial rules.
    pub fn reset(&mut self) {
        self.workspaces.clear();
        self.revision += 1;
    }

    /// Records that a change was made; returns the new revision, used to write state
    /// files in order.
    pub fn changed(&mut self) -> u64 {
        self.revision += 1;
        self.revision
    }

    /// The revision of the last change.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// A fresh listener registration id in `workspace`, such as
    /// `listener-registration9tx8k` (the form the seed shows).
    pub fn new_listener_id(&mut self, workspace: &str) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        loop {
            let suffix: String = (0..5)
                .map(|_| ALPHABET[self.ids.random_range(0..ALPHABET.len())] as char)
                .collect();
            let id = format!("listener-registration{suffix}");
            if !self
                .workspace(workspace)
                .listener_registrations
                .contains_key(&id)
            {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn listener_ids_have_the_seed_form_and_repeat_with_the_seed() {
        let mut a = Store::new(Vec::new(), BTreeMap::new(), StdRng::seed_from_u64(7));
        let mut b = Store::new(Vec::new(), BTreeMap::new(), StdRng::seed_from_u64(7));
        let id = a.new_listener_id("01");
        assert_eq!(id, b.new_listener_id("01"));
        let suffix = id.strip_prefix("listener-registration").unwrap();
        assert_eq!(suffix.len(), 5);
        assert!(
            suffix
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn new_workspaces_start_with_the_initial_rules() {
        let rule: GatekeepingRule = serde_json::from_value(serde_json::json!({
            "id": "r1", "rule-name": "n", "endpoint-name": "e", "gatekeeping-apis": []
        }))
        .unwrap();
        let mut store = Store::new(vec![rule], BTreeMap::new(), StdRng::seed_from_u64(1));
        assert!(store.workspace("01").gatekeeping_rules.contains_key("r1"));
        store.workspace("01").gatekeeping_rules.clear();
        assert!(
            store
                .workspace(GATEWAY)
                .gatekeeping_rules
                .contains_key("r1")
        );
        assert!(store.workspace("01").gatekeeping_rules.is_empty());
    }
}
