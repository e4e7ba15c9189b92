//! The chart and the examples against the tools, without a cluster: `helm lint`, the
//! chart's CRDs are `crds/`, `cxf-operator run` knows every flag the Deployment passes,
//! `cxf-operator validate` and `criteria check` accept the examples.

use std::process::Command;

use serde_json::Value;

use super::support::process::output_with_stdin;
use super::{
    CHART, both, cxf_operator, deployment_args, documents, render, root, run, stdout, tool,
};

#[test]
fn the_charts_crds_are_the_crds_dir() {
    let output = run(Command::new("bash")
        .arg(root().join("scripts/sync-chart-crds.sh"))
        .arg("--check"));
    assert!(
        output.status.success(),
        "the chart's CRDs are crds/: {}",
        both(&output)
    );
}

#[test]
fn helm_lint_strict_passes_with_defaults_and_every_option() {
    let defaults = run(tool("helm").args(["lint", "--strict", CHART]));
    assert!(
        defaults.status.success(),
        "helm lint --strict (defaults): {}",
        both(&defaults)
    );
    let options = run(tool("helm").args([
        "lint",
        "--strict",
        CHART,
        "--set",
        "watchNamespaces={team-a,team-b}",
        "--set",
        "webhook.certs.mode=certManager",
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.prometheusRule.enabled=true",
        "--set",
        "networkPolicy.enabled=true",
    ]));
    assert!(
        options.status.success(),
        "helm lint --strict (watchNamespaces, cert-manager, ServiceMonitor, PrometheusRule, NetworkPolicy): {}",
        both(&options)
    );
}

/// Every `query` and `criteria` string under `value`.
fn criteria(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if let (true, Some(s)) = (key == "query" || key == "criteria", v.as_str()) {
                    found.push(s.to_owned());
                }
                criteria(v, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| criteria(v, found)),
        _ => {}
    }
}

/// The example folders (`examples/<name>/kustomization.yaml`), sorted.
pub(crate) fn examples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("kustomization.yaml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 4, "four examples: {names:?}");
    names
}

#[test]
fn every_criteria_expression_of_the_examples_parses() {
    let mut found = Vec::new();
    for example in examples() {
        for entry in std::fs::read_dir(root().join("examples").join(example)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                for doc in documents(&std::fs::read_to_string(&path).unwrap()) {
                    criteria(&doc, &mut found);
                }
            }
        }
    }
    assert_eq!(
        found.len(),
        5,
        "the examples hold 5 criteria expressions: {found:?}"
    );
    for expression in found {
        let output = run(Command::new(cxf_operator()).args(["criteria", "check", &expression]));
        assert!(
            output.status.success(),
            "criteria check: {expression}: {}",
            both(&output)
        );
    }
}

/// `cxf-operator <the Deployment's args> --help`: flags are parsed before the trailing
/// `--help` is acted on.
fn run_accepts_the_charts_arguments(sets: &[&str]) -> std::process::Output {
    let args = deployment_args(&render(sets));
    run(Command::new(cxf_operator()).args(&args).arg("--help"))
}

#[test]
fn cxf_operator_run_accepts_the_charts_arguments_in_every_mode() {
    for (what, sets) in [
        ("defaults", &[][..]),
        (
            "watchNamespaces, text logs",
            &[
                "watchNamespaces={team-a,team-b}",
                "logFormat=text",
                "driftInterval=90s",
            ][..],
        ),
        ("cert-manager", &["webhook.certs.mode=certManager"][..]),
        ("webhook off", &["webhook.enabled=false"][..]),
    ] {
        let output = run_accepts_the_charts_arguments(sets);
        assert!(
            output.status.success(),
            "cxf-operator run accepts the chart's arguments ({what}): {}",
            both(&output)
        );
    }
    // The control: an unknown flag is refused, so the checks above can fail.
    let output = run_accepts_the_charts_arguments(&["extraArgs={--no-such-flag}"]);
    assert!(
        !output.status.success() && both(&output).contains("unexpected argument"),
        "cxf-operator run refuses an unknown flag (control): {}",
        both(&output)
    );
}

/// `cxf-operator validate -f -` of `input`.
fn validate(input: &str) -> std::process::Output {
    output_with_stdin(
        Command::new(cxf_operator()).args(["validate", "-f", "-"]),
        input.as_bytes(),
    )
}

#[test]
fn cxf_operator_validate_accepts_the_examples_and_the_chart_and_refuses_a_typo() {
    for example in examples() {
        let built = run(tool("kubectl").args(["kustomize", &format!("examples/{example}")]));
        assert!(
            built.status.success(),
            "kubectl kustomize examples/{example}: {}",
            both(&built)
        );
        let output = validate(&stdout(&built));
        assert!(
            output.status.success() && both(&output).contains(" 0 error(s), 0 warning(s)"),
            "cxf-operator validate accepts examples/{example}, without warnings: {}",
            both(&output)
        );
    }
    let chart = super::helm_template(&[]);
    let output = validate(&stdout(&chart));
    assert!(
        chart.status.success() && output.status.success(),
        "cxf-operator validate accepts the rendered chart: {}",
        both(&output)
    );
    let output = validate(
        r#"apiVersion: cxf.dev/v1alpha1
kind: ListenerRegistration
metadata: {name: bad-query, namespace: team-a}
spec:
  affiliatedApis: [{apiName: party, apiVersion: v4, query: 'familyName eq "abc"'}]
  listenerUrl: http://127.0.0.1:9
"#,
    );
    let text = both(&output);
    assert!(
        !output.status.success() && (text.contains("familyName") || text.contains("pointer")),
        "cxf-operator validate refuses invalid criteria: {text}"
    );
}

/// The copies of the pinned Kubernetes version that cannot read it from the go.mod:
/// the helm test's kubectl image (a chart default) and the crate's k8s-openapi feature.
#[test]
fn the_chart_and_the_crate_follow_the_pinned_kubernetes_version() {
    let version = super::support::pinned_version("kubernetes", "k8s.io/kubernetes");
    let values =
        documents(&std::fs::read_to_string(root().join(CHART).join("values.yaml")).unwrap())
            .remove(0);
    assert_eq!(
        values["tests"]["image"],
        format!("registry.k8s.io/kubectl:{version}"),
        "the helm test's kubectl is the pinned Kubernetes version"
    );
    let minor = version.trim_start_matches("v1.").split('.').next().unwrap();
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!("features = [\"v1_{minor}\"")),
        "k8s-openapi's feature is v1_{minor}, the pinned minor version"
    );
}
