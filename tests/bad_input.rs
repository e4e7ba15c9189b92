//! Hostile input to the command-line doors: YAML bombs in `cxf-operator validate`,
//! deeply nested and oversized JSON events in `cxf-operator criteria eval`, oversized
//! manifests. Each gets a clear error and exit status 2.
//!
//! Bounded memory is what makes these pass, not a timer: the binary runs under an
//! address-space limit (`ulimit -v`, [`MEMORY_LIMIT_KIB`]) far below what the input
//! would expand to, so reading it all would abort instead of printing the error.

use std::process::{Command, Output};

#[path = "support/process.rs"]
mod process;

/// The binary's address-space limit: 1 GiB (a billion laughs expands to tens of GiB).
const MEMORY_LIMIT_KIB: u64 = 1024 * 1024;

/// Runs `cxf-operator <args>` under [`MEMORY_LIMIT_KIB`], with `stdin` piped in.
fn run(args: &[&str], stdin: &[u8]) -> Output {
    // The binary may stop reading early (that is the point).
    process::output_with_stdin(
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -v {MEMORY_LIMIT_KIB} && exec \"$0\" \"$@\""
            ))
            .arg(env!("CARGO_BIN_EXE_cxf-operator"))
            .args(args),
        stdin,
    )
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `validate` prints unreadable inputs with the findings, on stdout.
fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Nine levels of ten aliases: 10^9 strings once expanded, in 700 bytes.
fn billion_laughs() -> String {
    let mut bomb = String::from("apiVersion: cxf.dev/v1alpha1\nkind: GatekeepingRule\n");
    bomb.push_str("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..=9 {
        let aliases = vec![format!("*a{}", level - 1); 10].join(", ");
        bomb.push_str(&format!("a{level}: &a{level} [{aliases}]\n"));
    }
    bomb
}

#[test]
fn validate_refuses_a_billion_laughs() {
    let output = run(&["validate", "-f", "-"], billion_laughs().as_bytes());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("parsing -, document 1: expands to more than"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn validate_refuses_wide_aliases_of_a_large_node() {
    let mut bomb = format!("big: &b [{}]\n", vec!["x"; 50_000].join(", "));
    bomb.push_str(&format!("copies: [{}]\n", vec!["*b"; 20_000].join(", ")));
    let output = run(&["validate", "-f", "-"], bomb.as_bytes());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("expands to more than"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn validate_refuses_deep_nesting_and_oversized_input() {
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let output = run(&["validate", "-f", "-"], deep.as_bytes());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("recursion limit exceeded"),
        "{}",
        stdout(&output)
    );

    let huge = vec![b'#'; 64 * 1024 * 1024 + 1];
    let output = run(&["validate", "-f", "-"], &huge);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("reading -: larger than 67108864 bytes; split it"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn criteria_eval_refuses_a_deeply_nested_event() {
    for event in [
        format!("{}1{}", "[".repeat(1_000_000), "]".repeat(1_000_000)),
        format!(
            "{{\"event\": {}null{}}}",
            "{\"a\": ".repeat(200_000),
            "}".repeat(200_000)
        ),
    ] {
        let output = run(
            &["criteria", "eval", "/event pr", "--event", "-"],
            event.as_bytes(),
        );
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(
            stderr(&output).starts_with(
                "error: parsing the event from stdin as JSON: recursion limit exceeded"
            ),
            "{}",
            stderr(&output)
        );
    }
}

#[test]
fn criteria_eval_refuses_an_oversized_event_and_reads_a_deep_but_allowed_one() {
    let huge = vec![b' '; 64 * 1024 * 1024 + 1];
    let output = run(&["criteria", "eval", "*", "--event", "-"], &huge);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "error: reading the event from stdin: larger than 67108864 bytes\n"
    );

    // 100 levels is within serde_json's limit: evaluated, not refused.
    let event = format!(
        "{{\"event\": {}\"x\"{}}}",
        "{\"a\": ".repeat(100),
        "}".repeat(100)
    );
    let output = run(
        &["criteria", "eval", "/event/a/a pr", "--event", "-"],
        event.as_bytes(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "true\n");
}
