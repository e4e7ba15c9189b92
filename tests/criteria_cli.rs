//! `cxf-operator criteria`: the built binary's output and exit codes.

use std::process::{Command, Output};

#[path = "support/process.rs"]
mod process;

/// Runs `cxf-operator criteria <args>` with `stdin` piped in.
fn run(args: &[&str], stdin: &str) -> Output {
    process::output_with_stdin(
        Command::new(env!("CARGO_BIN_EXE_cxf-operator"))
            .arg("criteria")
            .args(args),
        stdin.as_bytes(),
    )
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn check_accepts_a_valid_expression() {
    let output = run(&["check", r#"/eventType eq "CustomerCreateEvent""#], "");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "ok\n");
    assert_eq!(stderr(&output), "");
}

#[test]
fn check_prints_warnings_rendered() {
    let output = run(&["check", "/a pr or /b pr and /c pr"], "");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "ok\n");
    let stderr = stderr(&output);
    assert!(
        stderr.starts_with("warning: `and` binds tighter"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 | /a pr or /b pr and /c pr\n  |                ^"),
        "{stderr}"
    );
}

#[test]
fn check_rejects_with_rendered_diagnostics() {
    let output = run(&["check", "/a pr and\n  familyName eq \"abc\""], "");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output),
        "error: `familyName` is not an attribute\n --> line 2, column 3\n  |\n2 |   familyName eq \"abc\"\n  |   ^\n  = hint: write a JSON Pointer into the event, e.g. `/event/<resource>/familyName`\n"
    );
}

#[test]
fn check_json_reports_validity_errors_and_warnings() {
    let output = run(
        &["check", "--json", r#"familyName eq "abc" and OP eq GET"#],
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(report["valid"], false);
    assert_eq!(report["warnings"], serde_json::json!([]));
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[1]["offset"], 30);
    assert_eq!(errors[1]["line"], 1);
    assert_eq!(errors[1]["column"], 31);
    assert_eq!(errors[1]["message"], "`GET` is not a value");
    assert_eq!(errors[1]["hint"], r#"quote it: "GET""#);

    let output = run(&["check", "--json", "/a pr or /b pr and /c pr"], "");
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(report["valid"], true);
    assert_eq!(report["errors"], serde_json::json!([]));
    assert_eq!(report["warnings"][0]["column"], 16);
    assert_eq!(stderr(&output), "");
}

#[test]
fn eval_prints_the_result() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("event.json");
    std::fs::write(
        &path,
        r#"{"eventType": "CustomerCreateEvent", "event": {"customer": {"id": "20000"}}}"#,
    )
    .expect("write event");
    let path = path.to_str().expect("UTF-8 path");
    let rule = r#"((/eventType eq "CustomerCreateEvent" or /eventType eq "CustomerDeleteEvent") and "/event/customer/id" gt 10000)"#;
    let output = run(&["eval", rule, "--event", path], "");
    assert_eq!(
        (output.status.code(), stdout(&output).as_str()),
        (Some(0), "true\n")
    );
    let output = run(
        &["eval", "/event/customer/id gt 30000", "--event", path],
        "",
    );
    assert_eq!(
        (output.status.code(), stdout(&output).as_str()),
        (Some(0), "false\n")
    );
}

#[test]
fn eval_reads_stdin_and_the_request_attributes() {
    let args = [
        "eval",
        r#"ID sw "NEW-" and OP eq "POST" and MS eq "notification""#,
        "--event",
        "-",
        "--id",
        "CDRM_1",
        "--id",
        "NEW-7",
        "--op",
        "POST",
        "--ms",
        "notification",
    ];
    let output = run(&args, "{}");
    assert_eq!(
        (output.status.code(), stdout(&output).as_str()),
        (Some(0), "true\n")
    );
    let output = run(&args[..8], "{}");
    assert_eq!(
        (output.status.code(), stdout(&output).as_str()),
        (Some(0), "false\n")
    );
}

#[test]
fn eval_exit_codes() {
    let output = run(&["eval", "OP eq GET", "--event", "-"], "{}");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    assert!(
        stderr(&output).contains("`GET` is not a value"),
        "{}",
        stderr(&output)
    );

    // The expression is checked before the event is read: a child that
    // exits without reading a stdin larger than a pipe buffer is its answer,
    // not a failure to write.
    let event = format!("{{\"pad\": \"{}\"}}", "x".repeat(1 << 20));
    let output = run(&["eval", "OP eq GET", "--event", "-"], &event);
    assert_eq!(output.status.code(), Some(1));

    let output = run(&["eval", "/a pr", "--event", "-"], "{not json");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout(&output), "");
    assert!(
        stderr(&output).starts_with("error: parsing the event from stdin as JSON"),
        "{}",
        stderr(&output)
    );

    let output = run(&["eval", "/a pr", "--event", "/nonexistent/event.json"], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with("error: reading the event from /nonexistent/event.json"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn fmt_prints_the_canonical_form() {
    let output = run(
        &[
            "fmt",
            r#"(/eventType EQ "A" or /eventType eq "B" AND "/event/x" pr)"#,
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        "/eventType eq \"A\" or (/eventType eq \"B\" and /event/x pr)\n"
    );
    let output = run(&["fmt", "*"], "");
    assert_eq!(stdout(&output), "*\n");
    let output = run(&["fmt", r#"""/event/customer/id" gt 10000""#], "");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    assert!(
        stderr(&output).contains("hint: drop the outer quotes"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn every_command_has_help_with_an_example() {
    for command in [&[][..], &["check"], &["eval"], &["fmt"]] {
        let mut args = command.to_vec();
        args.push("--help");
        let output = run(&args, "");
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        let help = stdout(&output);
        assert!(help.contains("cxf-operator criteria"), "{args:?}: {help}");
        assert!(help.contains("Example"), "{args:?}: {help}");
    }
}
