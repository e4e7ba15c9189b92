//! Every branch of the ListenerRegistration plan, as a table: the facts (status,
//! annotations, what the framework last showed, what a list found) and the decision.
//! Numbers refer to the scenarios of issue 10.

use std::collections::BTreeMap;

use super::*;
use crate::framework::model::{ListenerAuth, OidcClientCredentials, SecretValue};
use crate::reconcile::Retry;
use crate::resources::listener_registration::ListenerRegistrationSpec;

const URL: &str = "http://tax.example/events";
const HASH: &str = "hash-now";

fn want() -> model::ListenerRegistration {
    let spec: ListenerRegistrationSpec = serde_json::from_value(serde_json::json!({
        "affiliatedApis": [{"apiName": "taxCalculation", "apiVersion": "v1", "query": "*"}],
        "listenerUrl": URL,
    }))
    .unwrap();
    desired::desired(
        &spec,
        Some(ListenerAuth::OidcClientCredentials(OidcClientCredentials {
            identity_uri: "https://idp.example/token".into(),
            client_id: "tax".into(),
            client_secret: SecretValue::new("s"),
            scope: None,
        })),
    )
}

/// The registration `id` as the framework shows it (credentials masked).
fn on_framework(id: &str) -> model::ListenerRegistration {
    let mut r = want();
    r.id = Some(id.into());
    if let Some(ListenerAuth::OidcClientCredentials(o)) =
        &mut r.listener_locality.external_listener.listener_auth
    {
        o.client_secret = SecretValue::new("****");
    }
    r
}

/// Another listener's registration (does not match `want`).
fn unrelated(id: &str) -> model::ListenerRegistration {
    let mut r = on_framework(id);
    r.listener_locality.external_listener.listener_url = "http://other.example".into();
    r
}

fn marker(before: &[&str], replaces: Option<&str>) -> PendingCreate {
    pending_create(
        &want(),
        before.iter().map(|s| (*s).to_owned()).collect(),
        replaces.map(str::to_owned),
    )
}

/// One row's facts.
#[derive(Clone)]
struct Given {
    status_id: Option<&'static str>,
    hash: Option<&'static str>,
    observed_generation: Option<i64>,
    adopt: Option<&'static str>,
    pending: Option<PendingCreate>,
    /// `None`: never listed; else the ids listed.
    listed: Option<Vec<model::ListenerRegistration>>,
    /// Reads by id: `None` is a 404.
    read: Vec<(&'static str, Option<model::ListenerRegistration>)>,
    claims: Vec<(&'static str, &'static str)>,
    candidates: Option<Vec<model::ListenerRegistration>>,
}

fn new() -> Given {
    Given {
        status_id: None,
        hash: None,
        observed_generation: None,
        adopt: None,
        pending: None,
        listed: Some(Vec::new()),
        read: Vec::new(),
        claims: Vec::new(),
        candidates: None,
    }
}

fn in_charge(id: &'static str) -> Given {
    Given {
        status_id: Some(id),
        hash: Some(HASH),
        observed_generation: Some(1),
        listed: Some(vec![on_framework(id)]),
        ..new()
    }
}

fn plan_of(g: &Given) -> Plan {
    let status = ListenerRegistrationStatus {
        external_id: g.status_id.map(str::to_owned),
        credentials_hash: g.hash.map(str::to_owned),
        observed_generation: g.observed_generation,
        ..Default::default()
    };
    let want = want();
    let listed: Option<BTreeMap<String, model::ListenerRegistration>> =
        g.listed.as_ref().map(|l| {
            l.iter()
                .map(|r| (r.id.clone().unwrap(), r.clone()))
                .collect()
        });
    let seen = |id: &str| {
        if let Some((_, read)) = g.read.iter().find(|(r, _)| *r == id) {
            return read.clone().map_or(Seen::Gone, Seen::Present);
        }
        match &listed {
            None => Seen::Unknown,
            Some(all) => all.get(id).cloned().map_or(Seen::Absent, Seen::Present),
        }
    };
    let probe = pending_create(&want, Vec::new(), None);
    let matching = || {
        listed.as_ref().map(|all| {
            all.values()
                .filter(|r| desired::matches_pending(&probe, r))
                .filter_map(|r| r.id.clone())
                .collect()
        })
    };
    let claims = |id: &str| {
        g.claims
            .iter()
            .find(|(c, _)| *c == id)
            .map(|(_, holder)| (*holder).to_owned())
    };
    plan(&Facts {
        generation: Some(1),
        status: &status,
        adopt_id: g.adopt,
        pending: g.pending.as_ref(),
        want: &want,
        credentials_hash: HASH,
        seen: &seen,
        matching: &matching,
        claims: &claims,
        candidates: g.candidates.as_deref(),
    })
}

fn is_wait(plan: &Plan, reason: &str) -> bool {
    matches!(plan, Plan::Wait(w) if w.reason == reason)
}

#[test]
fn create_adopt_patch_recreate_or_wait() {
    type Check = fn(&Plan) -> bool;
    let rows: Vec<(&str, Given, Check)> = vec![
        (
            "a new resource is created, recording that nothing matched before",
            new(),
            |p| matches!(p, Plan::Create(m) if m.before.is_empty() && m.replaces.is_none()),
        ),
        (
            "a new resource on a cold cache lists first (one list for the connection)",
            Given {
                listed: None,
                ..new()
            },
            |p| p == &Plan::Read(Read::List),
        ),
        (
            "1: registrations that already match are recorded before the create",
            Given {
                listed: Some(vec![on_framework("x"), unrelated("u")]),
                ..new()
            },
            |p| matches!(p, Plan::Create(m) if m.before == ["x"]),
        ),
        (
            "lost create: an unsettled marker lists the candidates first",
            Given {
                pending: Some(marker(&[], None)),
                ..new()
            },
            |p| p == &Plan::Read(Read::Candidates),
        ),
        (
            "lost create: the one new match is adopted, credentials sent again",
            Given {
                pending: Some(marker(&[], None)),
                candidates: Some(vec![on_framework("b"), unrelated("u")]),
                ..new()
            },
            |p| {
                p == &Plan::Adopt {
                    id: "b".into(),
                    lost_create: true,
                }
            },
        ),
        (
            "1: a match that existed before the create is never adopted",
            Given {
                pending: Some(marker(&["x"], None)),
                candidates: Some(vec![on_framework("x")]),
                listed: Some(vec![on_framework("x")]),
                ..new()
            },
            |p| matches!(p, Plan::Create(m) if m.before == ["x"]),
        ),
        (
            "1: a match another resource holds is never adopted",
            Given {
                pending: Some(marker(&[], None)),
                candidates: Some(vec![on_framework("y")]),
                claims: vec![("y", "ns/other")],
                ..new()
            },
            |p| matches!(p, Plan::Create(m) if m.before == ["y"]),
        ),
        (
            "lost create: two new matches are never guessed between",
            Given {
                pending: Some(marker(&[], None)),
                candidates: Some(vec![on_framework("b"), on_framework("c")]),
                ..new()
            },
            |p| is_wait(p, conditions::REASON_AMBIGUOUS_CREATE),
        ),
        (
            "observed (a): a recreate whose answer was lost is adopted, not repeated",
            Given {
                pending: Some(marker(&[], Some("a"))),
                candidates: Some(vec![on_framework("b")]),
                listed: Some(vec![]),
                ..in_charge("a")
            },
            |p| {
                p == &Plan::Adopt {
                    id: "b".into(),
                    lost_create: true,
                }
            },
        ),
        (
            "observed (a): the unsettled recreate lists candidates before anything else",
            Given {
                pending: Some(marker(&[], Some("a"))),
                listed: Some(vec![]),
                ..in_charge("a")
            },
            |p| p == &Plan::Read(Read::Candidates),
        ),
        (
            "a settled marker (status names another id) is ignored",
            Given {
                pending: Some(marker(&[], Some("a"))),
                ..in_charge("b")
            },
            |p| p == &Plan::InSync("b".into()),
        ),
        ("in sync: nothing to send", in_charge("a"), |p| {
            p == &Plan::InSync("a".into())
        }),
        (
            "3: missing from a list is read by id before anything else",
            Given {
                listed: Some(vec![]),
                ..in_charge("a")
            },
            |p| p == &Plan::Read(Read::Get("a".into())),
        ),
        (
            "3: a list missing it but a read finding it: in sync, nothing recreated",
            Given {
                listed: Some(vec![]),
                read: vec![("a", Some(on_framework("a")))],
                ..in_charge("a")
            },
            |p| p == &Plan::InSync("a".into()),
        ),
        (
            "3: a confirmed 404 recreates, recording what it replaces",
            Given {
                listed: Some(vec![]),
                read: vec![("a", None)],
                ..in_charge("a")
            },
            |p| matches!(p, Plan::Recreate { gone, pending } if gone == "a" && pending.replaces.as_deref() == Some("a")),
        ),
        (
            "the status id on a cold cache lists first",
            Given {
                listed: None,
                ..in_charge("a")
            },
            |p| p == &Plan::Read(Read::List),
        ),
        (
            "a change on the framework is put back (drift)",
            Given {
                listed: Some(vec![{
                    let mut r = on_framework("a");
                    r.affiliated_apis[0].query = Some("(ID pr)".into());
                    r
                }]),
                ..in_charge("a")
            },
            |p| matches!(p, Plan::Patch { id, drift: true, .. } if id == "a"),
        ),
        (
            "rotated credentials are patched (not a drift)",
            Given {
                hash: Some("hash-before"),
                ..in_charge("a")
            },
            |p| matches!(p, Plan::Patch { drift: false, patch, .. } if patch.0.len() == 1),
        ),
        (
            "6: a hub id recorded before its credentials: the credentials are sent, nothing created",
            Given {
                hash: None,
                ..in_charge("a")
            },
            |p| matches!(p, Plan::Patch { id, .. } if id == "a"),
        ),
        (
            "the adoption annotation adopts an existing registration",
            Given {
                adopt: Some("x"),
                listed: Some(vec![on_framework("x")]),
                ..new()
            },
            |p| {
                p == &Plan::Adopt {
                    id: "x".into(),
                    lost_create: false,
                }
            },
        ),
        (
            "1: the adoption annotation never takes a registration another resource holds",
            Given {
                adopt: Some("x"),
                listed: Some(vec![on_framework("x")]),
                claims: vec![("x", "ns/first")],
                ..new()
            },
            |p| is_wait(p, conditions::REASON_CONFLICT),
        ),
        (
            "the adoption target absent from a list is read by id",
            Given {
                adopt: Some("x"),
                ..new()
            },
            |p| p == &Plan::Read(Read::Get("x".into())),
        ),
        (
            "the adoption target that does not exist waits for the user",
            Given {
                adopt: Some("x"),
                read: vec![("x", None)],
                ..new()
            },
            |p| matches!(p, Plan::Wait(w) if w.reason == conditions::REASON_ADOPT_TARGET_NOT_FOUND && w.retry == Retry::OnChange),
        ),
        (
            "observed (a): a stale adoption annotation never beats the status id",
            Given {
                adopt: Some("old"),
                ..in_charge("a")
            },
            |p| p == &Plan::InSync("a".into()),
        ),
    ];
    for (name, given, check) in rows {
        let plan = plan_of(&given);
        assert!(check(&plan), "{name}: got {plan:?}");
    }
}

fn cleanup_of(g: &Given, policy: ListenerDeletionPolicy, abandoned: bool) -> Cleanup {
    let status = ListenerRegistrationStatus {
        external_id: g.status_id.map(str::to_owned),
        ..Default::default()
    };
    let claims = |id: &str| {
        g.claims
            .iter()
            .find(|(c, _)| *c == id)
            .map(|(_, holder)| (*holder).to_owned())
    };
    cleanup(&CleanupFacts {
        status: &status,
        adopt_id: g.adopt,
        pending: g.pending.as_ref(),
        policy,
        abandoned,
        claims: &claims,
        candidates: g.candidates.as_deref(),
    })
}

#[test]
fn cleanup_deletes_everything_known_or_lets_go() {
    use ListenerDeletionPolicy::{Delete, Orphan};
    let rows: Vec<(&str, Given, ListenerDeletionPolicy, bool, Cleanup)> = vec![
        (
            "the id in status is deleted",
            in_charge("a"),
            Delete,
            false,
            Cleanup::Delete(vec!["a".into()]),
        ),
        (
            "a reconcile that never ran leaves nothing to delete",
            new(),
            Delete,
            false,
            Cleanup::Release(None),
        ),
        (
            "2: status lost, annotation present: still deleted",
            Given {
                adopt: Some("a"),
                ..new()
            },
            Delete,
            false,
            Cleanup::Delete(vec!["a".into()]),
        ),
        (
            "2: an annotation naming another resource's registration is not deleted",
            Given {
                adopt: Some("a"),
                claims: vec![("a", "ns/holder")],
                ..new()
            },
            Delete,
            false,
            Cleanup::Release(None),
        ),
        (
            "2: a delete racing a create lists the candidates",
            Given {
                pending: Some(marker(&[], None)),
                ..new()
            },
            Delete,
            false,
            Cleanup::Read(Read::Candidates),
        ),
        (
            "2: a crash after the POST: its result is deleted",
            Given {
                pending: Some(marker(&["x"], None)),
                candidates: Some(vec![on_framework("x"), on_framework("b")]),
                ..new()
            },
            Delete,
            false,
            Cleanup::Delete(vec!["b".into()]),
        ),
        (
            "2: a create that never arrived leaves nothing",
            Given {
                pending: Some(marker(&[], None)),
                candidates: Some(vec![]),
                ..new()
            },
            Delete,
            false,
            Cleanup::Release(None),
        ),
        (
            "2: a lost recreate: both the old id and the new one",
            Given {
                pending: Some(marker(&[], Some("a"))),
                candidates: Some(vec![on_framework("b")]),
                ..in_charge("a")
            },
            Delete,
            false,
            Cleanup::Delete(vec!["a".into(), "b".into()]),
        ),
        (
            "2: several candidates: the user chooses",
            Given {
                pending: Some(marker(&[], None)),
                candidates: Some(vec![on_framework("b"), on_framework("c")]),
                ..new()
            },
            Delete,
            false,
            Cleanup::Wait(ambiguous(&["b".into(), "c".into()])),
        ),
        (
            "Orphan leaves it, and says so",
            in_charge("a"),
            Orphan,
            false,
            Cleanup::Release(Some("left registration a on the framework".into())),
        ),
        (
            "abandon lets go without calling the framework",
            Given {
                pending: Some(marker(&[], None)),
                ..in_charge("a")
            },
            Delete,
            true,
            Cleanup::Release(Some("left registration a on the framework".into())),
        ),
    ];
    for (name, given, policy, abandoned, expected) in rows {
        assert_eq!(cleanup_of(&given, policy, abandoned), expected, "{name}");
    }
}
