//! `cxf-operator validate`: every check, the output formats, and the exit codes.

use std::process::{Command, Output};

use super::support::process::output_with_stdin;
use super::{manifests, testdata};

fn validate(args: &[&str], stdin: Option<&str>) -> Output {
    output_with_stdin(
        Command::new(env!("CARGO_BIN_EXE_cxf-operator"))
            .arg("validate")
            .args(args),
        stdin.unwrap_or_default().as_bytes(),
    )
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(output)))
}

#[test]
fn every_invalid_manifest_is_refused_with_its_message() {
    for (file, expected) in manifests("invalid") {
        let output = validate(&["-f", file.to_str().unwrap()], None);
        let text = stdout(&output);
        assert_eq!(output.status.code(), Some(1), "{}: {text}", file.display());
        assert!(
            !expected.validate.is_empty(),
            "{} states no expectation",
            file.display()
        );
        for message in &expected.validate {
            assert!(
                text.contains(message),
                "{}: expected {message:?} in:\n{text}",
                file.display()
            );
        }
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            text.starts_with(&format!("{}:1 ", file.display())),
            "{name}: {text}"
        );
    }
}

#[test]
fn valid_manifests_pass_and_their_references_resolve_across_files() {
    let dir = testdata("valid");
    let output = validate(&["-f", dir.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(
        stdout(&output),
        "",
        "every reference is among the inputs: no warning"
    );
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("3 resource(s) checked: 0 error(s), 0 warning(s)")
    );
}

#[test]
fn warnings_do_not_fail_and_name_the_field() {
    for (file, expected) in manifests("warnings") {
        let output = validate(&["-f", file.to_str().unwrap(), "--output", "json"], None);
        assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
        let report = json(&output);
        assert_eq!(report["valid"], true);
        let warnings: Vec<String> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "warning")
            .map(|f| {
                format!(
                    "{}: {}",
                    f["field"].as_str().unwrap(),
                    f["message"].as_str().unwrap()
                )
            })
            .collect();
        for message in &expected.warnings {
            assert!(
                warnings.iter().any(|w| w.contains(message)),
                "{}: {message:?} not in {warnings:?}",
                file.display()
            );
        }
    }
}

#[test]
fn criteria_errors_are_rendered_with_a_caret() {
    let file = testdata("invalid").join("listener-query-syntax.yaml");
    let text = stdout(&validate(&["-f", file.to_str().unwrap()], None));
    let lines: Vec<&str> = text.lines().collect();
    let source = lines
        .iter()
        .position(|l| l.contains("1 | /eventType eq"))
        .expect(&text);
    let caret = lines[source + 1];
    assert_eq!(
        caret.find('^').unwrap() - caret.find('|').unwrap() - 2,
        63,
        "{text}"
    );
}

#[test]
fn stdin_multi_documents_and_lists_are_read() {
    let listener =
        std::fs::read_to_string(testdata("valid").join("listener-registration.yaml")).unwrap();
    let rule = std::fs::read_to_string(testdata("valid").join("gatekeeping-rule.yaml")).unwrap();
    let both = format!("{listener}---\n{rule}");
    let output = validate(&["-f", "-"], Some(&both));
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        "",
        "the rule's listener is in the same stream"
    );

    let output = validate(&["-f", "-"], Some(&rule));
    assert_eq!(
        output.status.code(),
        Some(0),
        "a missing listener is a warning only"
    );
    assert!(stdout(&output).contains("-:3 GatekeepingRule/tmf632 spec.listenerRegistrationRefs[0].name: warning: ListenerRegistration 'customer-listener' does not exist"));

    let bad =
        std::fs::read_to_string(testdata("invalid").join("rule-duplicate-rank.yaml")).unwrap();
    let items: serde_json::Value = serde_yaml::from_str(&bad).unwrap();
    let list =
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [items]}).to_string();
    let output = validate(&["-f", "-", "-o", "json"], Some(&list));
    assert_eq!(output.status.code(), Some(1));
    let report = json(&output);
    assert_eq!(
        (report["valid"].as_bool(), report["errors"].as_u64()),
        (Some(false), Some(1))
    );
    assert_eq!(report["findings"][0]["kind"], "GatekeepingRule");
    assert_eq!(
        report["findings"][0]["field"],
        "spec.gatekeepingApis[0].apiResources[1].rank"
    );
}

#[test]
fn a_directory_is_searched_recursively_and_every_file_is_reported() {
    let output = validate(&["-f", testdata("").to_str().unwrap(), "-o", "json"], None);
    assert_eq!(output.status.code(), Some(1));
    let report = json(&output);
    let files: std::collections::BTreeSet<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), manifests("invalid").len(), "{files:?}");
    assert!(files.iter().all(|f| f.contains("/invalid/")));
}

#[test]
fn a_resource_defined_twice_is_an_error() {
    let connection =
        std::fs::read_to_string(testdata("valid").join("framework-connection.yaml")).unwrap();
    let output = validate(
        &["-f", "-"],
        Some(&format!("{connection}---\n{connection}")),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("-:2 FrameworkConnection/default metadata.name: FrameworkConnection default is defined twice (also at -:1)"));
}

#[test]
fn unreadable_input_exits_2() {
    let output = validate(&["-f", "/nonexistent/manifest.yaml"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).contains("error: reading /nonexistent/manifest.yaml"));

    let output = validate(&["-f", "-"], Some("kind: [unclosed\n"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stdout(&output).contains("error: parsing -, document 1"),
        "{}",
        stdout(&output)
    );

    let output = validate(&["-f", "-", "-o", "json"], Some("a: 1\n---\nb: [\n"));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(json(&output)["valid"], false);
}

#[test]
fn paths_may_also_be_given_without_f_and_one_is_required() {
    let valid = testdata("valid");
    let invalid = testdata("invalid").join("rule-missing-rank.yaml");
    let output = validate(
        &[
            valid.join("framework-connection.yaml").to_str().unwrap(),
            invalid.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("rule-missing-rank.yaml:1 GatekeepingRule/rule-missing-rank"));
    let output = validate(&[], None);
    assert_eq!(output.status.code(), Some(2), "clap's usage error");
}

#[test]
fn other_kinds_are_ignored() {
    let output = validate(
        &["-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {criteria: '(('}\n"),
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stderr).contains("0 resource(s) checked"));
}
