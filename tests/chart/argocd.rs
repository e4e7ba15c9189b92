//! `argocd/health.lua` in Argo CD's own engine: `scripts/argocd-health.sh` builds
//! `tests/argocd-health`, a small Go command over the pinned Argo CD module that answers
//! what `argocd admin settings resource-overrides health` answers (argocd-cm read by
//! Argo CD's settings manager, the script run by gitops-engine's health check in Argo
//! CD's Lua VM), and what Argo CD's own `resource_customizations` test computes for a
//! built-in script. The cases are in Argo CD's layout, `argocd/health_test.yaml` and
//! `argocd/testdata/`, so the check can be contributed upstream as it is.
//!
//! `argocd/argocd-cm.yaml` is generated from `health.lua`: when it differs, run
//! `CXF_UPDATE_ARGOCD_CM=1 cargo test --test chart argocd_cm` to rewrite it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use super::{both, documents, root, run, stdout};

const KINDS: [&str; 3] = [
    "FrameworkConnection",
    "ListenerRegistration",
    "GatekeepingRule",
];
const KEY_PREFIX: &str = "resource.customizations.health.cxf.dev_";

/// A health as Argo CD reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Health {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub error: String,
}

/// One answer of the command: Argo CD's controller path and the built-in script path.
#[derive(Debug, Deserialize)]
struct Answer {
    file: String,
    controller: Health,
    builtin: Health,
}

fn argocd() -> PathBuf {
    root().join("argocd")
}

/// The built command (`scripts/argocd-health.sh build` makes it).
fn command() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let output = run(Command::new("bash")
            .arg(root().join("scripts/argocd-health.sh"))
            .arg("bin"));
        assert!(output.status.success(), "{}", both(&output));
        let bin = PathBuf::from(stdout(&output).trim());
        assert!(
            bin.is_file(),
            "{} is missing: run scripts/argocd-health.sh build",
            bin.display()
        );
        bin
    })
}

/// Argo CD's answers for the resources in `files` (YAML or JSON), in order, each checked
/// to agree between the controller path and the built-in path.
fn answers(files: &[PathBuf]) -> Vec<Answer> {
    let output = run(Command::new(command())
        .arg(argocd().join("argocd-cm.yaml"))
        .args(files));
    assert!(output.status.success(), "argocd-health: {}", both(&output));
    let answers: Vec<Answer> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("argocd-health prints JSON lines"))
        .collect();
    assert_eq!(answers.len(), files.len(), "one answer per file");
    answers
}

/// Argo CD's health of a live resource (such as `kubectl get -o json`), as its
/// application controller computes it; the built-in path must agree.
pub(crate) fn health_of_live(resource: &Value) -> Health {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), resource.to_string()).unwrap();
    let answer = answers(&[file.path().to_owned()]).remove(0);
    assert_eq!(
        answer.controller, answer.builtin,
        "Argo CD's controller and built-in paths agree on {resource}"
    );
    answer.controller
}

#[derive(Debug, Deserialize)]
struct Cases {
    tests: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    health_status: Expected,
    input_path: String,
}

#[derive(Debug, Deserialize)]
struct Expected {
    status: String,
    message: String,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(argocd().join("health_test.yaml")).unwrap();
    serde_yaml::from_str::<Cases>(&text).unwrap().tests
}

#[test]
fn argo_cds_engine_gives_every_case_of_health_test_yaml() {
    let cases = cases();
    let files: Vec<PathBuf> = cases.iter().map(|c| argocd().join(&c.input_path)).collect();
    let mut failures = Vec::new();
    for (case, answer) in cases.iter().zip(answers(&files)) {
        let want = Health {
            status: case.health_status.status.clone(),
            message: case.health_status.message.clone(),
            error: String::new(),
        };
        for (path, got) in [
            ("controller", &answer.controller),
            ("built-in", &answer.builtin),
        ] {
            if *got != want {
                failures.push(format!(
                    "{} ({path}): got {got:?}, want {want:?}",
                    answer.file
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} answers (of {} cases, each by two paths) differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_cases_cover_every_kind_in_every_state() {
    let mut seen = BTreeSet::new();
    for case in cases() {
        let input = std::fs::read_to_string(argocd().join(&case.input_path)).unwrap();
        let doc = documents(&input).remove(0);
        seen.insert((
            doc["kind"].as_str().unwrap().to_owned(),
            case.health_status.status,
        ));
    }
    for kind in KINDS {
        for status in ["Healthy", "Progressing", "Degraded"] {
            assert!(
                seen.contains(&(kind.to_owned(), status.to_owned())),
                "health_test.yaml has no {status} {kind}: {seen:?}"
            );
        }
    }
}

const CM_HEADER: &str = "\
# Argo CD health checks for the cxf-operator's resources. Merge these keys into the
# argocd-cm ConfigMap of your Argo CD installation (see docs/argocd.md), for example:
#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file argocd/argocd-cm.yaml
# Each value is argocd/health.lua verbatim: regenerate with
#   CXF_UPDATE_ARGOCD_CM=1 cargo test --test chart argocd_cm
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/part-of: argocd
data:
";

/// argocd-cm.yaml's text for the health script `script`.
fn argocd_cm(script: &str) -> String {
    let body: String = script
        .split_inclusive('\n')
        .map(|line| {
            if line.trim().is_empty() {
                line.to_owned()
            } else {
                format!("    {line}")
            }
        })
        .collect();
    let mut text = CM_HEADER.to_owned();
    for kind in KINDS {
        text.push_str(&format!("  {KEY_PREFIX}{kind}: |\n{body}"));
    }
    text
}

#[test]
fn argocd_cm_yaml_carries_health_lua_for_each_kind() {
    let script = std::fs::read_to_string(argocd().join("health.lua")).unwrap();
    let path = argocd().join("argocd-cm.yaml");
    if std::env::var_os("CXF_UPDATE_ARGOCD_CM").is_some() {
        std::fs::write(&path, argocd_cm(&script)).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let cm = documents(&text).remove(0);
    let data = cm["data"].as_object().expect("argocd-cm.yaml has data");
    for kind in KINDS {
        assert_eq!(
            data.get(&format!("{KEY_PREFIX}{kind}"))
                .and_then(Value::as_str),
            Some(script.as_str()),
            "argocd-cm.yaml {KEY_PREFIX}{kind} is health.lua"
        );
    }
    let keys: BTreeSet<&String> = data.keys().collect();
    let want: BTreeSet<String> = KINDS.iter().map(|k| format!("{KEY_PREFIX}{k}")).collect();
    assert!(
        keys.iter().all(|k| want.contains(*k)),
        "argocd-cm.yaml has no other keys: {keys:?}"
    );
    assert!(
        text == argocd_cm(&script),
        "argocd-cm.yaml is what the generator writes: run CXF_UPDATE_ARGOCD_CM=1 cargo test --test chart argocd_cm"
    );
    let docs = std::fs::read_to_string(root().join("docs/argocd.md")).unwrap();
    assert!(
        docs.contains(&format!("```yaml\n{text}```")),
        "docs/argocd.md shows argocd/argocd-cm.yaml unchanged"
    );
}

#[test]
fn health_lua_treats_as_progressing_only_reasons_the_operator_sets() {
    let script = std::fs::read_to_string(argocd().join("health.lua")).unwrap();
    let block = script
        .split_once("local progressingReasons = {")
        .and_then(|(_, rest)| rest.split_once("\n}"))
        .map(|(block, _)| block)
        .expect("health.lua has a progressingReasons table");
    let reasons: BTreeSet<&str> = block
        .lines()
        .filter_map(|line| line.trim().strip_suffix(" = true,"))
        .collect();
    assert!(!reasons.is_empty(), "health.lua names progressing reasons");
    let conditions = std::fs::read_to_string(root().join("src/resources/conditions.rs")).unwrap();
    let consts: BTreeSet<&str> = conditions
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("pub const REASON_")?;
            rest.split_once(": &str = \"")?.1.strip_suffix("\";")
        })
        .collect();
    let unknown: Vec<&&str> = reasons.difference(&consts).collect();
    assert!(
        unknown.is_empty(),
        "health.lua's progressing reasons are in src/resources/conditions.rs; unknown: {unknown:?}"
    );
}
