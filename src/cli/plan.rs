//! `cxf-operator plan`: what applying manifests would do on the framework, resource by
//! resource, read-only (two list calls).
//!
//! The decision for each resource is [`decide`], pure: it matches a manifest to a
//! framework object (its `cxf.dev/external-id` annotation, else for a registration the
//! listener URL + API names, else for a rule its selector) and asks the controllers'
//! own planner, [`reconcile::listener_registration::plan`] and
//! [`reconcile::gatekeeping_rule::plan`], what it would do, with the two lists as what
//! the framework shows.
//!
//! Kubernetes is read only with `--cluster`: each manifest's resource, if the cluster
//! holds it, is then matched as the operator matches it (its `status.externalId`, its
//! pending create), and one the cluster does not hold is new (created unless its
//! annotation names an object). Without it, a manifest without the annotation that
//! matches by listener URL + APIs is taken as the object the operator created from it,
//! and one matched by its annotation and equal to the framework object is `adopt`
//! whether or not the operator already holds it. Secret values are never read:
//! credentials are shown as `(from Secret ns/name key)` and are resent only when the
//! operator sees their values change, which plan cannot.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args as ClapArgs, ValueEnum};
use cxf_operator::desired::listener_registration as desired;
use cxf_operator::framework::model::{self, SecretValue};
use cxf_operator::reconcile::gatekeeping_rule::{Claimant, Plan as RulePlan};
use cxf_operator::reconcile::listener_registration::Plan as LrPlan;
use cxf_operator::reconcile::{self, Seen};
use cxf_operator::resources::listener_registration::{
    ListenerRegistrationStatus, RegistrationMethod,
};
use cxf_operator::resources::secret_ref::{SecretKeyRef, ValueSource};
use cxf_operator::resources::{
    EXTERNAL_ID_ANNOTATION, GatekeepingRule, ListenerRegistration, annotation,
};
use cxf_operator::validation::Severity;
use cxf_operator::validation::batch::{Document, check_all};
use cxf_operator::validation::{Decoded, Resource, decode};
use serde::Serialize;
use serde_json::{Value, json};

use super::framework_source::{FrameworkArgs, FrameworkObjects, block_on, read_manifests};

/// Show what applying cxf.dev manifests would do on the framework: create (payload),
/// the JSON Patch of an update, a rule write (field diff), adopt, nothing, or refused
/// (the framework's rule check). Read-only: lists the framework's objects, nothing
/// else. Exit status: 0 nothing would change, 2 something would, 1 invalid or refused
/// manifests (or an error).
#[derive(ClapArgs, Debug)]
#[command(
    after_help = "Examples:\n  CXF_CLIENT_ID=ops CXF_CLIENT_SECRET=... cxf-operator plan -f deploy/ --gateway https://gw.example.com --workspace 01\n  kustomize build overlays/prod | cxf-operator plan -f - --connection prod.yaml --output json\n\nSee docs/gitops.md."
)]
pub struct Args {
    /// A file, a directory (searched recursively for .yaml, .yml and .json), or `-` for
    /// stdin. Repeatable; multi-document YAML and `kind: List` are read.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    framework: FrameworkArgs,
    /// Also read each manifest's resource from the cluster (the current kubeconfig
    /// context; GET on listenerregistrations and gatekeepingrules): match it as the
    /// operator does, by its status, and take one the cluster does not hold as new.
    #[arg(long)]
    cluster: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// How the plan is printed.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    /// A readable diff (colored on a terminal, unless NO_COLOR is set).
    Text,
    /// One JSON object.
    Json,
}

/// How a manifest was matched to a framework object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatchedBy {
    /// Its `cxf.dev/external-id` annotation.
    ExternalId,
    /// Its listener URL and API names (the adoption rule).
    ListenerUrlAndApis,
    /// Its `spec.selector`.
    Selector,
    /// The resource's status in the cluster (`--cluster`): the id the operator recorded,
    /// or the create it recorded as under way.
    Status,
}

impl MatchedBy {
    fn describe(self) -> &'static str {
        match self {
            Self::ExternalId => "by cxf.dev/external-id",
            Self::ListenerUrlAndApis => "by listener URL + APIs",
            Self::Selector => "by selector",
            Self::Status => "by its status in the cluster",
        }
    }
}

/// One field of a rule that a write changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// The field, such as `gatekeeping-apis[0].api-resources[1].gatekeeping-criteria.rank`.
    pub field: String,
    /// Its value now (`None`: absent).
    pub before: Option<Value>,
    /// Its value after the write (`None`: removed).
    pub after: Option<Value>,
}

/// What applying one manifest would do on the framework.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum Action {
    /// A new registration: the payload sent (credentials as Secret references).
    Create {
        /// `admin` (POST listenerRegistrations) or `hub` (the TMF hub, then a JSON Patch
        /// of the credentials).
        via: &'static str,
        /// The body.
        payload: Value,
    },
    /// A JSON Patch of an existing registration.
    Update {
        /// The framework id.
        id: String,
        /// How it was found.
        matched_by: MatchedBy,
        /// The RFC 6902 patch sent.
        patch: Value,
    },
    /// A write of the whole rule.
    RuleWrite {
        /// The framework id.
        id: String,
        /// How it was found.
        matched_by: MatchedBy,
        /// The fields that change.
        changes: Vec<FieldChange>,
    },
    /// The operator takes the object in charge and writes nothing.
    Adopt {
        /// The framework id.
        id: String,
        /// How it was found.
        matched_by: MatchedBy,
    },
    /// The framework object already is as the manifest says.
    #[serde(rename = "nothing-to-do")]
    Nothing {
        /// The framework id.
        id: String,
        /// How it was found.
        matched_by: MatchedBy,
    },
    /// The operator would refuse (and write nothing).
    Refused {
        /// Why: the framework's rule-check message, or why no object can be matched.
        message: String,
    },
}

impl Action {
    /// Whether this writes to the framework.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Self::Create { .. } | Self::Update { .. } | Self::RuleWrite { .. }
        )
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create",
            Self::Update { .. } => "update",
            Self::RuleWrite { .. } => "rule write",
            Self::Adopt { .. } => "adopt",
            Self::Nothing { .. } => "nothing to do",
            Self::Refused { .. } => "refused",
        }
    }
}

/// The plan of one manifest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Planned {
    /// `ListenerRegistration` or `GatekeepingRule`.
    pub kind: &'static str,
    /// `namespace/name`, or `name` without a namespace.
    pub name: String,
    /// What would happen.
    #[serde(flatten)]
    pub action: Action,
}

/// The manifests to plan.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    /// ListenerRegistrations, in input order.
    pub registrations: Vec<ListenerRegistration>,
    /// GatekeepingRules, in input order.
    pub rules: Vec<GatekeepingRule>,
}

/// A manifest's namespace (if it names one) and name.
type Key = (Option<String>, String);

fn key(meta: &kube::core::ObjectMeta) -> Key {
    (
        meta.namespace.clone(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// What the cluster holds of the manifests' resources (`--cluster`), by the manifests'
/// [`Key`]: a manifest missing here is not in the cluster.
#[derive(Clone, Debug, Default)]
pub struct Live {
    /// The ListenerRegistrations the cluster holds.
    pub registrations: BTreeMap<Key, ListenerRegistration>,
    /// The GatekeepingRules the cluster holds.
    pub rules: BTreeMap<Key, GatekeepingRule>,
}

/// Reads each manifest's resource from the cluster of the current kubeconfig context
/// (a manifest without a namespace is in the context's namespace).
async fn read_live(manifests: &Manifests) -> anyhow::Result<Live> {
    async fn get<K>(
        client: &kube::Client,
        meta: &kube::core::ObjectMeta,
    ) -> anyhow::Result<Option<K>>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let namespace = meta
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_owned());
        let name = meta.name.clone().unwrap_or_default();
        kube::Api::<K>::namespaced(client.clone(), &namespace)
            .get_opt(&name)
            .await
            .with_context(|| {
                format!(
                    "reading {} {namespace}/{name} from the cluster",
                    K::kind(&())
                )
            })
    }
    let client = kube::Client::try_default()
        .await
        .context("connecting to the cluster of the current kubeconfig context (--cluster)")?;
    let mut live = Live::default();
    for registration in &manifests.registrations {
        if let Some(object) = get(&client, &registration.metadata).await? {
            live.registrations
                .insert(key(&registration.metadata), object);
        }
    }
    for rule in &manifests.rules {
        if let Some(object) = get(&client, &rule.metadata).await? {
            live.rules.insert(key(&rule.metadata), object);
        }
    }
    Ok(live)
}

fn full_name(meta: &kube::core::ObjectMeta) -> String {
    let name = meta.name.clone().unwrap_or_default();
    match &meta.namespace {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name,
    }
}

/// `(from Secret ns/name key)`: what plan shows for a value held in a Secret.
fn from_secret(namespace: Option<&str>, secret: &SecretKeyRef) -> String {
    match namespace {
        Some(ns) => format!("(from Secret {ns}/{} {})", secret.name, secret.key),
        None => format!("(from Secret {} {})", secret.name, secret.key),
    }
}

fn value_of(namespace: Option<&str>, source: &ValueSource) -> String {
    match (&source.value, &source.secret_key_ref) {
        (Some(value), _) => value.clone(),
        (None, Some(secret)) => from_secret(namespace, secret),
        (None, None) => String::new(),
    }
}

/// The `listener-auth` the manifest asks for, Secret values replaced by references.
fn shown_auth(registration: &ListenerRegistration) -> Option<model::ListenerAuth> {
    let namespace = registration.metadata.namespace.as_deref();
    let auth = registration.spec.auth.as_ref()?;
    if let Some(oidc) = &auth.oidc_client_credentials {
        return Some(model::ListenerAuth::OidcClientCredentials(
            model::OidcClientCredentials {
                identity_uri: oidc.identity_uri.clone(),
                client_id: value_of(namespace, &oidc.client_id),
                client_secret: Some(SecretValue::new(from_secret(
                    namespace,
                    &oidc.client_secret,
                ))),
                scope: oidc.scope.clone(),
            },
        ));
    }
    let basic = auth.basic.as_ref()?;
    Some(model::ListenerAuth::Basic(model::BasicAuth {
        username: value_of(namespace, &basic.username),
        password: Some(SecretValue::new(from_secret(namespace, &basic.password))),
    }))
}

/// The field path of a JSON Pointer: `/a/0/b` → `a[0].b`.
fn field_of(pointer: &str) -> String {
    let mut field = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.parse::<usize>().is_ok() {
            field.push_str(&format!("[{segment}]"));
        } else {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(&segment);
        }
    }
    field
}

/// The field-level diff of a rule write.
fn rule_changes(
    observed: &model::GatekeepingRule,
    want: &model::GatekeepingRule,
) -> Vec<FieldChange> {
    let before = serde_json::to_value(observed).expect("a rule serializes");
    let after = serde_json::to_value(want).expect("a rule serializes");
    let patch =
        serde_json::to_value(json_patch::diff(&before, &after)).expect("a patch serializes");
    patch
        .as_array()
        .into_iter()
        .flatten()
        .map(|op| {
            let path = op["path"].as_str().unwrap_or_default();
            let old = before.pointer(path).cloned();
            let new = match op["op"].as_str() {
                Some("remove") => None,
                _ => Some(op["value"].clone()),
            };
            FieldChange {
                field: field_of(path),
                before: old,
                after: new,
            }
        })
        .collect()
}

/// Where a plan's reads are answered from: the two lists, taken as complete (plan makes
/// no other call), so an id they lack is gone.
fn seen_in<'a>(
    registrations: &'a BTreeMap<&'a str, &'a model::ListenerRegistration>,
) -> impl Fn(&str) -> Seen<model::ListenerRegistration> + 'a {
    move |id| match registrations.get(id) {
        Some(registration) => Seen::Present((*registration).clone()),
        None => Seen::Gone,
    }
}

/// What applying `manifests` would do on a framework holding `framework`: one
/// [`Planned`] per manifest, registrations first (rules refer to them), in input order.
///
/// Matching (which framework object a manifest stands for): with `live` (what the
/// cluster holds, `--cluster`), the operator's own, from the resource's status and
/// pending create (a resource the cluster does not hold has neither); without it, the
/// annotation, else for a registration the listener URL + API names, taken as the
/// object the operator created from this manifest. The decision is the operator's:
/// [`reconcile::listener_registration::plan`] and [`reconcile::gatekeeping_rule::plan`],
/// fed with what the lists show.
pub fn decide(
    manifests: &Manifests,
    framework: &FrameworkObjects,
    live: Option<&Live>,
) -> Vec<Planned> {
    let registrations_by_id: BTreeMap<&str, &model::ListenerRegistration> = framework
        .registrations
        .iter()
        .filter_map(|r| Some((r.id.as_deref()?, r)))
        .collect();
    let seen = seen_in(&registrations_by_id);
    let mut planned = Vec::new();
    // The framework id each ListenerRegistration manifest stands for (by namespace and
    // name), or a placeholder for one that would be created.
    let mut listener_ids: BTreeMap<Key, String> = BTreeMap::new();
    for registration in &manifests.registrations {
        let name = full_name(&registration.metadata);
        let want = desired::desired(&registration.spec, shown_auth(registration));
        let adopt_id = annotation(&registration.metadata, EXTERNAL_ID_ANNOTATION);
        let matching: Vec<String> = framework
            .registrations
            .iter()
            .filter(|r| {
                desired::matches_pending(&desired::pending_create(&want, Vec::new(), None), r)
            })
            .filter_map(|r| r.id.clone())
            .collect();
        let key = key(&registration.metadata);
        // What the operator knows of this resource: with --cluster, its status and
        // pending create (none for a resource the cluster does not hold); without,
        // plan takes the one registration with this URL and these APIs (and no
        // annotation) as the one the operator created from this manifest.
        let known = match live.map(|live| live.registrations.get(&key)) {
            Some(Some(held)) => held.pending_create().map(|pending| {
                let id = held.status.as_ref().and_then(|s| s.external_id.clone());
                let by = if id.is_some() || pending.is_some() {
                    MatchedBy::Status
                } else {
                    MatchedBy::ExternalId
                };
                (id, pending, by)
            }),
            Some(None) => Ok((None, None, MatchedBy::ExternalId)),
            None => match (adopt_id, matching.as_slice()) {
                (Some(_), _) | (None, []) => Ok((None, None, MatchedBy::ExternalId)),
                (None, [one]) => Ok((Some(one.clone()), None, MatchedBy::ListenerUrlAndApis)),
                (None, many) => Err(format!(
                    "registrations {} all have this listener URL and these APIs: set annotation {EXTERNAL_ID_ANNOTATION} to the one this manifest stands for",
                    many.join(", ")
                )),
            },
        };
        // Another resource of the cluster holding an id (--cluster).
        let claims = |id: &str| {
            live?
                .registrations
                .iter()
                .filter(|(other, _)| **other != key)
                .find(|(_, r)| r.status.as_ref().and_then(|s| s.external_id.as_deref()) == Some(id))
                .map(|(_, r)| full_name(&r.metadata))
        };
        let action = match known {
            Err(message) => Action::Refused { message },
            Ok((created, pending, matched_by)) => {
                let mut status = ListenerRegistrationStatus {
                    external_id: created,
                    // Secret values cannot be read here: taken as already applied.
                    credentials_hash: Some(UNSEEN_CREDENTIALS.to_owned()),
                    ..ListenerRegistrationStatus::default()
                };
                let mut adopted = false;
                let action = loop {
                    let facts = reconcile::listener_registration::Facts {
                        generation: None,
                        status: &status,
                        adopt_id,
                        pending: pending.as_ref(),
                        want: &want,
                        credentials_hash: UNSEEN_CREDENTIALS,
                        seen: &seen,
                        matching: &|| Some(matching.clone()),
                        claims: &claims,
                        // The whole list: the operator's list by listener URL is part
                        // of it, and the planner matches the URL itself.
                        candidates: live.map(|_| framework.registrations.as_slice()),
                    };
                    match reconcile::listener_registration::plan(&facts) {
                        LrPlan::Adopt { id, .. } if !adopted => {
                            adopted = true;
                            status.external_id = Some(id);
                        }
                        LrPlan::Create(_) | LrPlan::Recreate { .. } => {
                            break match registration.spec.registration_method {
                                RegistrationMethod::AdminApi => Action::Create {
                                    via: "admin",
                                    payload: serde_json::to_value(&want)
                                        .expect("a registration serializes"),
                                },
                                RegistrationMethod::Hub => Action::Create {
                                    via: "hub",
                                    payload: serde_json::to_value(desired::hub_subscription(
                                        &registration.spec,
                                    ))
                                    .expect("a subscription serializes"),
                                },
                            };
                        }
                        LrPlan::Patch { id, patch, .. } => {
                            break Action::Update {
                                id,
                                matched_by,
                                patch: serde_json::to_value(&patch).expect("a patch serializes"),
                            };
                        }
                        LrPlan::InSync(id) if adopted => break Action::Adopt { id, matched_by },
                        LrPlan::InSync(id) => break Action::Nothing { id, matched_by },
                        LrPlan::Wait(wait) => {
                            break Action::Refused {
                                message: wait.message,
                            };
                        }
                        other => {
                            break Action::Refused {
                                message: format!(
                                    "the operator's plan needs more than the lists: {other:?}"
                                ),
                            };
                        }
                    }
                };
                let id = match &action {
                    Action::Update { id, .. }
                    | Action::Adopt { id, .. }
                    | Action::Nothing { id, .. } => id.clone(),
                    _ => format!("(id of ListenerRegistration {name}, once created)"),
                };
                listener_ids.insert(key, id);
                action
            }
        };
        planned.push(Planned {
            kind: "ListenerRegistration",
            name,
            action,
        });
    }
    let rules: HashMap<String, model::GatekeepingRule> = framework
        .rules
        .iter()
        .filter_map(|r| Some((r.id.clone()?, r.clone())))
        .collect();
    for rule in &manifests.rules {
        planned.push(Planned {
            kind: "GatekeepingRule",
            name: full_name(&rule.metadata),
            action: decide_rule(
                rule,
                &rules,
                &listener_ids,
                live.and_then(|live| live.rules.get(&key(&rule.metadata))),
            ),
        });
    }
    planned
}

/// What plan takes as the credentials hash: values it cannot read are taken as applied.
const UNSEEN_CREDENTIALS: &str = "(not visible to plan)";

/// What applying one GatekeepingRule manifest would do; `held` is the resource the
/// cluster holds for it (`--cluster`), whose status says which rule it took in charge.
fn decide_rule(
    rule: &GatekeepingRule,
    rules: &HashMap<String, model::GatekeepingRule>,
    listener_ids: &BTreeMap<Key, String>,
    held: Option<&GatekeepingRule>,
) -> Action {
    let name = full_name(&rule.metadata);
    let pinned_id = annotation(&rule.metadata, EXTERNAL_ID_ANNOTATION);
    let mut status = held
        .and_then(|held| held.status.clone())
        .unwrap_or_default();
    let matched_by = if status.external_id.is_some() {
        MatchedBy::Status
    } else if pinned_id.is_some() {
        MatchedBy::ExternalId
    } else {
        MatchedBy::Selector
    };
    let ids: Result<Vec<String>, String> = rule
        .spec
        .listener_registration_refs
        .iter()
        .flatten()
        .filter_map(|reference| match (&reference.id, &reference.name) {
            (Some(id), _) => Some(Ok(id.clone())),
            (None, Some(listener)) => Some(
                listener_ids
                    .get(&(rule.metadata.namespace.clone(), listener.clone()))
                    .cloned()
                    .ok_or_else(|| format!("{listener} (not among the manifests)")),
            ),
            (None, None) => None,
        })
        .collect();
    let claimant = Claimant {
        name: &name,
        created: None,
        id: pinned_id.or(rule.spec.selector.id.as_deref()),
        endpoint: rule.spec.selector.endpoint_name.as_deref(),
    };
    for _ in 0..3 {
        let facts = reconcile::gatekeeping_rule::Facts {
            name: &name,
            generation: None,
            spec: &rule.spec,
            status: &status,
            pinned_id,
            rules: Some(rules),
            claimants: std::slice::from_ref(&claimant),
            listener_ids: ids.clone(),
        };
        match reconcile::gatekeeping_rule::plan(&facts) {
            RulePlan::Capture {
                id,
                endpoint,
                original,
            } => {
                status.external_id = Some(id);
                status.endpoint_name = Some(endpoint);
                status.original_rule = Some(original);
            }
            RulePlan::Update { id, rule: want, .. } => {
                let changes = rules.get(&id).map(|observed| rule_changes(observed, &want));
                return Action::RuleWrite {
                    id,
                    matched_by,
                    changes: changes.unwrap_or_default(),
                };
            }
            RulePlan::InSync(id) if matched_by == MatchedBy::ExternalId => {
                return Action::Adopt { id, matched_by };
            }
            RulePlan::InSync(id) => return Action::Nothing { id, matched_by },
            RulePlan::Wait(wait) => {
                return Action::Refused {
                    message: wait.message,
                };
            }
            RulePlan::Read(read) => {
                return Action::Refused {
                    message: format!("the operator's plan needs more than the lists: {read:?}"),
                };
            }
        }
    }
    Action::Refused {
        message: "the operator's plan did not settle in three steps".into(),
    }
}

/// ANSI colors, or none.
struct Paint(bool);

impl Paint {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

fn text(planned: &[Planned], paint: &Paint) -> String {
    let mut out = String::new();
    for item in planned {
        let (color, detail) = match &item.action {
            Action::Create { via, payload } => (
                "32",
                format!(
                    "via {}:\n{}",
                    if *via == "hub" {
                        "the TMF hub (then the credentials by JSON Patch)"
                    } else {
                        "POST listenerRegistrations"
                    },
                    indent(&serde_json::to_string_pretty(payload).unwrap_or_default())
                ),
            ),
            Action::Update {
                id,
                matched_by,
                patch,
            } => (
                "33",
                format!(
                    "{id} (matched {}), JSON Patch:\n{}",
                    matched_by.describe(),
                    indent(&serde_json::to_string_pretty(patch).unwrap_or_default())
                ),
            ),
            Action::RuleWrite {
                id,
                matched_by,
                changes,
            } => {
                let mut detail = format!("{id} (matched {}):\n", matched_by.describe());
                for change in changes {
                    let show = |v: &Option<Value>| {
                        v.as_ref()
                            .map_or_else(|| "(absent)".into(), Value::to_string)
                    };
                    let line = match (&change.before, &change.after) {
                        (None, Some(_)) => paint.paint(
                            "32",
                            &format!("+ {}: {}", change.field, show(&change.after)),
                        ),
                        (Some(_), None) => paint.paint(
                            "31",
                            &format!("- {}: {}", change.field, show(&change.before)),
                        ),
                        _ => paint.paint(
                            "33",
                            &format!(
                                "~ {}: {} -> {}",
                                change.field,
                                show(&change.before),
                                show(&change.after)
                            ),
                        ),
                    };
                    detail.push_str(&format!("    {line}\n"));
                }
                ("33", detail)
            }
            Action::Adopt { id, matched_by } | Action::Nothing { id, matched_by } => (
                if matches!(item.action, Action::Adopt { .. }) {
                    "36"
                } else {
                    "2"
                },
                format!(
                    "{id} (matched {}): nothing to write\n",
                    matched_by.describe()
                ),
            ),
            Action::Refused { message } => ("31", format!("{message}\n")),
        };
        out.push_str(&format!(
            "{} {} {}: {detail}",
            paint.paint(color, item.action.name()),
            item.kind,
            item.name
        ));
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out.push_str(&summary_line(planned));
    out
}

fn count(planned: &[Planned], name: &str) -> usize {
    planned.iter().filter(|p| p.action.name() == name).count()
}

fn summary_line(planned: &[Planned]) -> String {
    let writes = planned.iter().filter(|p| p.action.writes()).count();
    let refused = count(planned, "refused");
    let verdict = match (writes, refused) {
        (0, 0) => "No change on the framework.".to_owned(),
        (0, _) => {
            "Nothing would be written, and the operator would refuse some manifests.".to_owned()
        }
        (n, _) => format!("{n} write(s) on the framework."),
    };
    format!(
        "Plan: {} to create, {} to update, {} rule write(s), {} to adopt, {} unchanged, {} refused. {verdict}\n",
        count(planned, "create"),
        count(planned, "update"),
        count(planned, "rule write"),
        count(planned, "adopt"),
        count(planned, "nothing to do"),
        refused
    )
}

/// 1 refused, 2 writes, 0 nothing.
fn exit_code(planned: &[Planned]) -> u8 {
    if planned
        .iter()
        .any(|p| matches!(p.action, Action::Refused { .. }))
    {
        1
    } else if planned.iter().any(|p| p.action.writes()) {
        2
    } else {
        0
    }
}

impl Args {
    /// Runs the command.
    pub fn run(self) -> ExitCode {
        match self.plan() {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    }

    fn plan(&self) -> anyhow::Result<u8> {
        let documents = read_manifests(&self.paths)?;
        // A failed render piped in (`kustomize build ... | plan -f -`) is an empty
        // input: planned, it would say "no change" and pass a CI check.
        anyhow::ensure!(
            !documents.is_empty(),
            "no manifest in {}: nothing to plan (an empty input is what a failed render piped in looks like)",
            self.paths
                .iter()
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut out = std::io::stdout().lock();
        if let Some(findings) = invalid(&documents) {
            match self.output {
                Output::Text => out.write_all(findings.as_bytes())?,
                Output::Json => {
                    serde_json::to_writer_pretty(
                        &mut out,
                        &json!({"valid": false, "findings": findings.lines().collect::<Vec<_>>()}),
                    )?;
                    writeln!(out)?;
                }
            }
            return Ok(1);
        }
        let manifests = manifests_of(&documents);
        let framework = block_on(self.framework.list())??;
        let live = if self.cluster {
            Some(block_on(read_live(&manifests))??)
        } else {
            None
        };
        let planned = decide(&manifests, &framework, live.as_ref());
        match self.output {
            Output::Text => {
                let paint = Paint(out.is_terminal() && std::env::var_os("NO_COLOR").is_none());
                out.write_all(text(&planned, &paint).as_bytes())?;
            }
            Output::Json => {
                let report = json!({
                    "changes": planned.iter().any(|p| p.action.writes()),
                    "refused": count(&planned, "refused"),
                    "summary": summary_line(&planned).trim_end(),
                    "resources": planned,
                });
                serde_json::to_writer_pretty(&mut out, &report)?;
                writeln!(out)?;
            }
        }
        out.flush()?;
        Ok(exit_code(&planned))
    }
}

/// The validate findings, as `validate` prints them, if any is an error.
fn invalid(documents: &[Document]) -> Option<String> {
    let reports = check_all(documents);
    let errors = reports
        .iter()
        .flat_map(|r| &r.findings)
        .any(|f| f.severity == Severity::Error);
    errors.then(|| {
        let mut text = String::new();
        for report in &reports {
            for finding in report.findings.iter().filter(|f| f.is_error()) {
                text.push_str(&format!(
                    "{}:{} {}/{} {}: {}\n",
                    report.file,
                    report.index,
                    report.kind,
                    report.name,
                    finding.field,
                    finding.message
                ));
            }
        }
        text
    })
}

fn manifests_of(documents: &[Document]) -> Manifests {
    let mut manifests = Manifests::default();
    for document in documents {
        match decode(&document.value) {
            Decoded::Resource(Resource::ListenerRegistration(r)) => {
                manifests.registrations.push(*r)
            }
            Decoded::Resource(Resource::GatekeepingRule(r)) => manifests.rules.push(*r),
            _ => {}
        }
    }
    manifests
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framework() -> FrameworkObjects {
        FrameworkObjects {
            registrations: serde_json::from_value(json!([
                {"id": "lr-1", "type": "external",
                 "affiliated-apis": [{"api-name": "Party", "api-version": "v4", "query": "ID pr"}],
                 "listener-locality": {"external-listener": {"listener-url": "http://a"}}},
                {"id": "lr-2", "type": "external",
                 "affiliated-apis": [{"api-name": "Party", "api-version": "v4"}],
                 "listener-locality": {"external-listener": {"listener-url": "http://twice"}}},
                {"id": "lr-3", "type": "external",
                 "affiliated-apis": [{"api-name": "Party", "api-version": "v4"}],
                 "listener-locality": {"external-listener": {"listener-url": "http://twice"}}}
            ]))
            .unwrap(),
            rules: serde_json::from_value(json!([
                {"id": "gkr-1", "rule-name": "r", "endpoint-name": "app", "owner": "tenant",
                 "gatekeeping-apis": [{"api-id": "tmf-632", "api-name": "Party", "api-version": "v4",
                    "api-resources": [{"resource-name": "Individual", "gatekeeping-criteria": {"criteria": "*", "rank": 1}}]}]}
            ]))
            .unwrap(),
        }
    }

    fn registration(
        name: &str,
        url: &str,
        query: Option<&str>,
        external_id: Option<&str>,
    ) -> ListenerRegistration {
        let mut value = json!({
            "apiVersion": "cxf.dev/v1alpha1", "kind": "ListenerRegistration",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"affiliatedApis": [{"apiName": "Party", "apiVersion": "v4", "query": query}], "listenerUrl": url}
        });
        if let Some(id) = external_id {
            value["metadata"]["annotations"] = json!({EXTERNAL_ID_ANNOTATION: id});
        }
        serde_json::from_value(value).unwrap()
    }

    fn rule(name: &str, endpoint: &str, criteria: &str, refs: Value) -> GatekeepingRule {
        serde_json::from_value(json!({
            "apiVersion": "cxf.dev/v1alpha1", "kind": "GatekeepingRule",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"selector": {"endpointName": endpoint},
                "gatekeepingApis": [{"apiId": "tmf-632", "apiName": "Party", "apiVersion": "v4",
                    "apiResources": [{"resourceName": "Individual", "criteria": criteria, "rank": 1}]}],
                "listenerRegistrationRefs": refs}
        }))
        .unwrap()
    }

    fn action_of(manifests: Manifests) -> Vec<(String, &'static str)> {
        decide(&manifests, &framework(), None)
            .into_iter()
            .map(|p| (p.name, p.action.name()))
            .collect()
    }

    #[test]
    fn registrations_match_by_annotation_else_by_url_and_apis() {
        let manifests = Manifests {
            registrations: vec![
                registration("new", "http://new", None, None),
                registration("same", "http://a", Some("ID pr"), None),
                registration("edited", "http://a", Some("OP pr"), Some("lr-1")),
                registration("adopted", "http://a", Some("ID pr"), Some("lr-1")),
                registration("gone", "http://a", None, Some("lr-9")),
                registration("twice", "http://twice", None, None),
            ],
            rules: Vec::new(),
        };
        let ns = |n: &str| format!("ns/{n}");
        assert_eq!(
            action_of(manifests),
            [
                (ns("new"), "create"),
                (ns("same"), "nothing to do"),
                (ns("edited"), "update"),
                (ns("adopted"), "adopt"),
                (ns("gone"), "refused"),
                (ns("twice"), "refused"),
            ]
        );
    }

    #[test]
    fn with_the_cluster_registrations_match_as_the_operator_matches_them() {
        let held = |name: &str, url: &str, id: Option<&str>, pending: Option<Value>| {
            let mut object = registration(name, url, None, None);
            object.status = Some(ListenerRegistrationStatus {
                external_id: id.map(str::to_owned),
                ..ListenerRegistrationStatus::default()
            });
            if let Some(pending) = pending {
                object.metadata.annotations = Some(
                    [(
                        cxf_operator::resources::PENDING_CREATE_ANNOTATION.to_owned(),
                        pending.to_string(),
                    )]
                    .into(),
                );
            }
            object
        };
        let manifests = Manifests {
            registrations: vec![
                // Two registrations match by URL + APIs: the status says which is its.
                registration("twice", "http://twice", None, None),
                // Matches lr-1 by URL + APIs, but the cluster does not hold it: the
                // operator creates (it adopts by URL + APIs only after a lost answer).
                registration("same", "http://a", Some("ID pr"), None),
                // A create under way whose answer was lost: lr-1 is what it made.
                registration("lost", "http://a", Some("ID pr"), None),
                // The same marker, but lr-1 matched before the create: a new one.
                registration("before", "http://a", Some("ID pr"), None),
                // Its annotation names lr-1 and the cluster does not hold it: adopt.
                registration("annotated", "http://a", Some("ID pr"), Some("lr-1")),
            ],
            rules: Vec::new(),
        };
        let pending = |before: &[&str]| json!({"listenerUrl": "http://a", "apiNames": ["Party"], "before": before});
        let live = Live {
            registrations: [
                held("twice", "http://twice", Some("lr-3"), None),
                held("lost", "http://a", None, Some(pending(&[]))),
                held("before", "http://a", None, Some(pending(&["lr-1"]))),
            ]
            .into_iter()
            .map(|r| (key(&r.metadata), r))
            .collect(),
            rules: BTreeMap::new(),
        };
        let planned: Vec<(String, &str, Option<MatchedBy>)> =
            decide(&manifests, &framework(), Some(&live))
                .into_iter()
                .map(|p| {
                    let by = match &p.action {
                        Action::Nothing { matched_by, .. } | Action::Adopt { matched_by, .. } => {
                            Some(*matched_by)
                        }
                        _ => None,
                    };
                    (p.name, p.action.name(), by)
                })
                .collect();
        let ns = |n: &str| format!("ns/{n}");
        assert_eq!(
            planned,
            [
                (ns("twice"), "nothing to do", Some(MatchedBy::Status)),
                (ns("same"), "create", None),
                (ns("lost"), "adopt", Some(MatchedBy::Status)),
                (ns("before"), "create", None),
                (ns("annotated"), "adopt", Some(MatchedBy::ExternalId)),
            ]
        );
    }

    #[test]
    fn rules_are_written_refused_or_left() {
        let manifests = Manifests {
            registrations: vec![registration("new", "http://new", None, None)],
            rules: vec![
                rule("same", "app", "*", json!([])),
                rule("criteria", "app", "ID pr", json!([])),
                rule(
                    "unknown-listener",
                    "app",
                    "*",
                    json!([{"name": "elsewhere"}]),
                ),
                rule("new-listener", "app", "*", json!([{"name": "new"}])),
                // The operator writes literal ids as given (the framework answers for
                // them), so plan shows the write.
                rule("literal-id", "app", "*", json!([{"id": "lr-9"}])),
                rule("no-rule", "nobody", "*", json!([])),
            ],
        };
        let planned = decide(&manifests, &framework(), None);
        let actions: Vec<&str> = planned.iter().map(|p| p.action.name()).collect();
        assert_eq!(
            actions,
            [
                "create",
                "nothing to do",
                "rule write",
                "refused",
                "rule write",
                "rule write",
                "refused"
            ]
        );
        let Action::RuleWrite { changes, .. } = &planned[4].action else {
            unreachable!()
        };
        assert_eq!(
            changes[0].after,
            Some(json!(["(id of ListenerRegistration ns/new, once created)"]))
        );
        let Action::Refused { message } = &planned[6].action else {
            unreachable!()
        };
        assert!(message.contains("no gatekeeping rule has"), "{message}");
        let Action::Refused { message } = &planned[3].action else {
            unreachable!()
        };
        assert!(message.contains("elsewhere"), "{message}");
    }
}
