//! `cxf-operator route`: where an event goes, from manifests or from the live
//! framework, explained. The decision is [`cxf_operator::framework::routing::route`],
//! the code the simulator delivers by.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args as ClapArgs, ValueEnum};
use cxf_operator::criteria::Mismatch;
use cxf_operator::desired::{gatekeeping_rule as desired_rule, listener_registration};
use cxf_operator::framework::model::{GatekeepingRule, ListenerRegistration};
use cxf_operator::framework::routing::{self, CriteriaCache, Event, Route, Test, Verdict};
use cxf_operator::resources::{self, EXTERNAL_ID_ANNOTATION, annotation};
use cxf_operator::validation::{Decoded, Resource, decode};
use serde_json::{Value, json};

use super::framework_source::{FrameworkArgs, block_on, read_manifests, read_value};

/// Show which gatekeeping rule would gatekeep an event and which listener registrations
/// would receive it (and why the others would not), from manifests or from the live
/// framework. Exit status: 0 answered, 1 error.
#[derive(ClapArgs, Debug)]
#[command(
    after_help = "Examples:\n  cxf-operator route --event event.json -f deploy/\n  cxf-operator route --event envelope.json --api-name Party --api-version v4 --id SBL-1 --op POST \\\n      --connection prod.yaml --output mermaid\n\nThe event file is the body of the simulator's POST /sim/events, or just the envelope.\nSee docs/gitops.md."
)]
pub struct Args {
    /// The event: a JSON or YAML file (`-`: stdin), either
    /// `{"envelope": {...}, "api-name", "api-version", "ids", "op", "ms", "resource",
    /// "gatekeeper"}` or the envelope alone (then give --api-name and --api-version).
    #[arg(long, value_name = "FILE")]
    event: PathBuf,
    /// Manifests to route through (files, directories, `-`); instead of a framework.
    #[arg(short = 'f', long = "filename", value_name = "PATH", conflicts_with_all = ["connection", "gateway"])]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    framework: FrameworkArgs,
    /// The API that produced the event.
    #[arg(long)]
    api_name: Option<String>,
    /// Its version.
    #[arg(long)]
    api_version: Option<String>,
    /// A URL path id of the request that produced the event (keyword ID; repeatable).
    #[arg(long = "id", value_name = "ID")]
    ids: Vec<String>,
    /// The HTTP method of that request (keyword OP).
    #[arg(long)]
    op: Option<String>,
    /// The endpoint type of that request (keyword MS).
    #[arg(long)]
    ms: Option<String>,
    /// The resource, such as Individual (default: the single key of the envelope's event).
    #[arg(long)]
    resource: Option<String>,
    /// The emitting application: a rule id or endpoint name.
    #[arg(long)]
    gatekeeper: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// How the answer is printed.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    /// Readable lines.
    Text,
    /// The route as JSON.
    Json,
    /// A Mermaid flowchart, to paste into a pull request.
    Mermaid,
}

/// The rules and registrations to route through, registrations by id.
struct Routable {
    rules: Vec<GatekeepingRule>,
    registrations: BTreeMap<String, ListenerRegistration>,
}

impl Args {
    /// Runs the command.
    pub fn run(self) -> ExitCode {
        match self.answer() {
            Ok(text) => {
                let mut out = std::io::stdout().lock();
                match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("error: writing the answer: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    }

    fn answer(&self) -> anyhow::Result<String> {
        let event = self.event()?;
        let routable = if self.framework.is_given() {
            let listed = block_on(self.framework.list())??;
            Routable {
                rules: listed.rules,
                registrations: listed
                    .registrations
                    .into_iter()
                    .filter_map(|r| Some((r.id.clone()?, r)))
                    .collect(),
            }
        } else if !self.paths.is_empty() {
            from_manifests(&read_manifests(&self.paths)?)
        } else {
            anyhow::bail!(
                "nothing to route through: pass -f PATH, --connection FILE or --gateway URL"
            );
        };
        let route = routing::route(
            &routable.rules,
            routable
                .registrations
                .iter()
                .map(|(id, r)| (id.as_str(), r)),
            &event,
            &CriteriaCache::default(),
            true,
        )?;
        Ok(match self.output {
            Output::Text => text(&event, &route),
            Output::Json => {
                serde_json::to_string_pretty(&json!({"event": event, "route": route}))? + "\n"
            }
            Output::Mermaid => mermaid(&event, &route),
        })
    }

    /// The event file, completed and overridden by the flags.
    fn event(&self) -> anyhow::Result<Event> {
        let mut value = read_value(&self.event)?;
        if value.get("envelope").is_none() {
            value = json!({"envelope": value});
        }
        let object = value
            .as_object_mut()
            .context("the event file must hold a JSON object")?;
        let mut set = |key: &str, v: Option<Value>| {
            if let Some(v) = v {
                object.insert(key.to_owned(), v);
            }
        };
        set("api-name", self.api_name.clone().map(Value::from));
        set("api-version", self.api_version.clone().map(Value::from));
        set(
            "ids",
            (!self.ids.is_empty()).then(|| Value::from(self.ids.clone())),
        );
        set("op", self.op.clone().map(Value::from));
        set("ms", self.ms.clone().map(Value::from));
        set("resource", self.resource.clone().map(Value::from));
        set("gatekeeper", self.gatekeeper.clone().map(Value::from));
        serde_json::from_value(value).context(
            "reading the event (api-name and api-version are required: in the file or as --api-name/--api-version)",
        )
    }
}

/// Rules and registrations as the manifests describe them. A registration's id is its
/// `cxf.dev/external-id` annotation, else its name; a rule's id its annotation, else
/// its selector's id or endpoint name. References by name resolve to those ids.
fn from_manifests(documents: &[cxf_operator::validation::batch::Document]) -> Routable {
    let mut registrations = BTreeMap::new();
    let mut registration_ids: BTreeMap<String, String> = BTreeMap::new();
    let mut rule_resources = Vec::new();
    for document in documents {
        match decode(&document.value) {
            Decoded::Resource(Resource::ListenerRegistration(r)) => {
                let name = r.metadata.name.clone().unwrap_or_default();
                let id = annotation(&r.metadata, EXTERNAL_ID_ANNOTATION)
                    .map_or_else(|| name.clone(), str::to_owned);
                registration_ids.insert(name, id.clone());
                registrations.insert(id, listener_registration::desired(&r.spec, None));
            }
            Decoded::Resource(Resource::GatekeepingRule(r)) => rule_resources.push(r),
            _ => {}
        }
    }
    let rules = rule_resources
        .iter()
        .map(|r| rule_of(r, &registration_ids))
        .collect();
    Routable {
        rules,
        registrations,
    }
}

fn rule_of(
    resource: &resources::GatekeepingRule,
    registration_ids: &BTreeMap<String, String>,
) -> GatekeepingRule {
    let selector = &resource.spec.selector;
    let id = annotation(&resource.metadata, EXTERNAL_ID_ANNOTATION)
        .or(selector.id.as_deref())
        .or(selector.endpoint_name.as_deref())
        .or(resource.metadata.name.as_deref())
        .unwrap_or_default()
        .to_owned();
    let base = GatekeepingRule {
        id: Some(id.clone()),
        rule_name: resource.spec.rule_name.clone().unwrap_or_default(),
        endpoint_name: selector.endpoint_name.clone().unwrap_or(id),
        owner: None,
        external_event_emitter_identification: None,
        gatekeeping_apis: Vec::new(),
        listener_registration_refs: Vec::new(),
        destination_selection: Vec::new(),
        extra: Default::default(),
    };
    let listener_ids = resource
        .spec
        .listener_registration_refs
        .iter()
        .flatten()
        .filter_map(|reference| match (&reference.id, &reference.name) {
            (Some(id), _) => Some(id.clone()),
            (None, Some(name)) => Some(
                registration_ids
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| name.clone()),
            ),
            (None, None) => None,
        })
        .collect();
    desired_rule::desired(&resource.spec, &base, listener_ids)
}

fn describe_event(event: &Event, route: &Route) -> String {
    let mut line = format!(
        "{} ({} {}",
        event
            .envelope
            .get("eventType")
            .and_then(Value::as_str)
            .unwrap_or("event"),
        event.api_name,
        event.api_version
    );
    if let Some(resource) = &route.resource {
        let _ = write!(line, ", resource {resource}");
    }
    if !event.ids.is_empty() {
        let _ = write!(line, ", ID {}", event.ids.join(" "));
    }
    if let Some(op) = &event.op {
        let _ = write!(line, ", OP {op}");
    }
    if let Some(ms) = &event.ms {
        let _ = write!(line, ", MS {ms}");
    }
    if let Some(emitter) = &event.gatekeeper {
        let _ = write!(line, ", emitted by {emitter}");
    }
    line + ")"
}

/// `/a eq "b" is false: /a is "c"`.
fn why(test: &Test) -> String {
    match test {
        Test::Matched => "matched".into(),
        Test::Invalid => "does not parse: matches nothing".into(),
        Test::NotMatched(None) => "not matched".into(),
        Test::NotMatched(Some(mismatch)) => explain(mismatch),
    }
}

fn explain(mismatch: &Mismatch) -> String {
    let attr = mismatch
        .comparison
        .split_whitespace()
        .next()
        .unwrap_or_default();
    let actual = match mismatch.actual.as_slice() {
        [] => format!("{attr} is absent"),
        [one] => format!("{attr} is {one}"),
        many => format!("{attr} is {}", many.join(", ")),
    };
    if mismatch.negated {
        format!("not ({}) is false: {actual}", mismatch.comparison)
    } else {
        format!("{} is false: {actual}", mismatch.comparison)
    }
}

fn text(event: &Event, route: &Route) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Event: {}", describe_event(event, route));
    let _ = writeln!(
        out,
        "Published: {} ({})",
        if route.published { "yes" } else { "no" },
        route.reason
    );
    if route.rules_tried.is_empty() {
        let _ = writeln!(out, "Gatekeeping: no rule covers this API and resource");
    } else {
        let _ = writeln!(out, "Gatekeeping rules tried (lowest rank first):");
        for tried in &route.rules_tried {
            let rank = tried
                .rank
                .map_or_else(|| "none".to_owned(), |r| r.to_string());
            let _ = writeln!(
                out,
                "  rank {rank:<4} {} (endpoint {}) {}: {}\n             criteria {}",
                tried.rule,
                tried.endpoint_name,
                tried.resource_name,
                why(&tried.test),
                tried.criteria
            );
        }
    }
    if !route.published {
        return out;
    }
    let _ = writeln!(out, "Listener registrations:");
    let mut other_api = Vec::new();
    for listener in &route.listeners {
        let head = format!("{} {}", listener.id, listener.listener_url);
        match &listener.verdict {
            Verdict::Receives { query } => {
                let _ = writeln!(
                    out,
                    "  receives     {head} (query {})",
                    query.as_deref().unwrap_or("none")
                );
            }
            Verdict::QueryNotMatched { query, test } => {
                let _ = writeln!(
                    out,
                    "  not matched  {head}: {}\n               query {query}",
                    why(test)
                );
            }
            Verdict::EmittersOwn { rule } => {
                let _ = writeln!(
                    out,
                    "  left out     {head}: a listener of the emitting gatekeeper (rule {rule})"
                );
            }
            Verdict::OtherApi => other_api.push(listener.id),
        }
    }
    if !other_api.is_empty() {
        let _ = writeln!(
            out,
            "  other API    {} registration(s) do not listen to {} {}: {}",
            other_api.len(),
            event.api_name,
            event.api_version,
            other_api.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "{} listener(s) receive the event.",
        route.receivers().count()
    );
    out
}

/// A Mermaid label: quotes and angle brackets as entities.
fn label(text: &str) -> String {
    text.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

fn mermaid(event: &Event, route: &Route) -> String {
    let mut out = String::from("flowchart LR\n");
    let _ = writeln!(out, "  event[\"{}\"]", label(&describe_event(event, route)));
    let mut from = "event".to_owned();
    for (i, tried) in route.rules_tried.iter().enumerate() {
        let node = format!("rule{i}");
        let rank = tried
            .rank
            .map_or_else(|| "no rank".to_owned(), |r| format!("rank {r}"));
        let _ = writeln!(
            out,
            "  {node}{{\"{} {rank}<br/>{}\"}}",
            label(tried.rule),
            label(tried.criteria)
        );
        let _ = writeln!(out, "  {from} --> {node}");
        if tried.test == Test::Matched {
            from = node;
        } else {
            let _ = writeln!(
                out,
                "  {node} -. \"{}\" .-> dropped{i}((x))",
                label(&why(&tried.test))
            );
        }
    }
    if !route.published {
        let _ = writeln!(
            out,
            "  {from} --> unpublished[\"not published: {}\"]",
            label(&route.reason)
        );
        return out;
    }
    for (i, listener) in route.listeners.iter().enumerate() {
        let node = format!(
            "l{i}[\"{}<br/>{}\"]",
            label(listener.id),
            label(listener.listener_url)
        );
        match &listener.verdict {
            Verdict::Receives { .. } => {
                let _ = writeln!(out, "  {from} -->|receives| {node}");
            }
            Verdict::QueryNotMatched { test, .. } => {
                let _ = writeln!(out, "  {from} -. \"{}\" .-x {node}", label(&why(test)));
            }
            Verdict::EmittersOwn { .. } => {
                let _ = writeln!(
                    out,
                    "  {from} -. \"left out: the emitter's own\" .-x {node}"
                );
            }
            Verdict::OtherApi => {}
        }
    }
    out
}
