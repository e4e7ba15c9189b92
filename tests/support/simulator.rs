//! `cxf-operator simulator` as a child process, for every test binary that starts one.
//! Included by `tests/support/mod.rs` and, on its own, by `tests/simulator`.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Starts `cxf-operator simulator --listen 127.0.0.1:0 ARGS` and waits for the line
/// with its address; returns the process (its stderr discarded) and
/// `http://127.0.0.1:PORT`.
pub fn spawn(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cxf-operator"))
        .args(["simulator", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the simulator starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("its stdout"))
        .read_line(&mut line)
        .expect("its address line");
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, base)
}

/// A token of the simulator at `base` for API client `id` (client credentials in the
/// form): a 200 with a Bearer token, or the test fails.
pub async fn token(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> String {
    let response = http
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .expect("the token endpoint answers");
    assert_eq!(response.status(), 200, "the token endpoint's status");
    let answer: serde_json::Value = response.json().await.expect("a JSON token answer");
    assert_eq!(answer["token_type"], "Bearer");
    answer["access_token"]
        .as_str()
        .expect("an access_token")
        .to_owned()
}
