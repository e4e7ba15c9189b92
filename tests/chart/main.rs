//! The Helm chart, the Argo CD health check, the examples and the playground, as users
//! meet them:
//!
//! - `render`: what `helm template` renders, checked document by document (restricted
//!   pod security, probes, the exact RBAC, the webhook's scope, the CRDs against
//!   `crds/`, each optional part, the values schema). No cluster.
//! - `offline`: `helm lint`, the chart's CRDs are `crds/`, `cxf-operator run` parses the
//!   Deployment's arguments, `cxf-operator validate` and `criteria check` accept the
//!   examples. No cluster.
//! - `argocd`: `argocd/health.lua` run by Argo CD's own engine (`scripts/argocd-health.sh`,
//!   the `util/lua` package of the pinned Argo CD module) on the cases of
//!   `argocd/health_test.yaml`; `argocd-cm.yaml` and `docs/argocd.md` carry it unchanged.
//! - `cluster`: on the test binary's control plane (`tests/support`), in order: server-side
//!   dry-run, PodSecurity restricted, helm install, the operator's RBAC, the operator run
//!   with the chart's arguments and a token of its ServiceAccount (Lease, webhook
//!   certificate, every example Ready, Argo CD health of the live objects, no secret
//!   leaked), namespaced mode, the helm test, a CRD upgrade, uninstall and install again.
//! - `playground`: `scripts/dev-cluster.sh up`, then every command it prints, as printed.
//!
//! Another module may run the chart on a real node (`mod node;`): the `cluster` test holds
//! fixed, cluster-wide names (release `cxf` in `cxf-system`, a webhook for every namespace)
//! on this binary's control plane, so a node test needs a control plane of its own.

#[path = "../support/mod.rs"]
mod support;

mod argocd;
mod cluster;
mod offline;
mod playground;
mod render;

use std::path::Path;
use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::Value;

/// The chart, and the release every test renders or installs.
const CHART: &str = "charts/cxf-operator";
const RELEASE: &str = "cxf";
const NAMESPACE: &str = "cxf-system";
/// The chart's full name for release `cxf`.
const FULL: &str = "cxf-cxf-operator";
/// The three kinds, as plural resource names.
const KINDS: [&str; 3] = [
    "frameworkconnections",
    "listenerregistrations",
    "gatekeepingrules",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cxf_operator() -> &'static str {
    env!("CARGO_BIN_EXE_cxf-operator")
}

/// The Kubernetes version the control plane is built at, without the `v` (`1.36.3`):
/// `helm template` assumes v1.20 unless told, which the chart's `kubeVersion` refuses.
fn kube_version() -> String {
    support::pinned_version("kubernetes", "k8s.io/kubernetes")
        .trim_start_matches('v')
        .to_owned()
}

/// A tool of [`support::tools_dir`], run in the repository root, without a cluster.
fn tool(name: &str) -> Command {
    let mut command = Command::new(support::tools_dir().join(name));
    command
        .current_dir(root())
        .env("KUBECONFIG", "/dev/null")
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("cxf-chart-helm-cache"),
        );
    command
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Both streams, for failure messages and pattern checks.
fn both(output: &Output) -> String {
    format!("{}{}", stdout(output), stderr(output))
}

/// `helm template cxf charts/cxf-operator --namespace cxf-system` with `--set` values.
fn helm_template(sets: &[&str]) -> Output {
    let mut command = tool("helm");
    command.args([
        "template",
        RELEASE,
        CHART,
        "--namespace",
        NAMESPACE,
        "--kube-version",
        &kube_version(),
    ]);
    for set in sets {
        command.args(["--set", set]);
    }
    run(&mut command)
}

/// The documents of a YAML stream (empty ones dropped), as JSON values.
fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("valid YAML"))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// What the chart renders with `sets`; fails the test if helm fails.
fn render(sets: &[&str]) -> Vec<Value> {
    let output = helm_template(sets);
    assert!(
        output.status.success(),
        "helm template {sets:?} failed:\n{}",
        stderr(&output)
    );
    documents(&stdout(&output))
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or_default()
}

/// Documents of `kind`.
fn find<'a>(docs: &'a [Value], kind_: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| kind(d) == kind_).collect()
}

/// The one document of `kind`.
fn one<'a>(docs: &'a [Value], kind_: &str) -> &'a Value {
    let found = find(docs, kind_);
    assert_eq!(
        found.len(),
        1,
        "one {kind_} expected, found {}",
        found.len()
    );
    found[0]
}

fn is_hook(doc: &Value) -> bool {
    doc["metadata"]["annotations"]["helm.sh/hook"].is_string()
}

/// The operator container's arguments in the rendered Deployment.
fn deployment_args(docs: &[Value]) -> Vec<String> {
    one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("the container has args")
        .iter()
        .map(|a| a.as_str().expect("string args").to_owned())
        .collect()
}
