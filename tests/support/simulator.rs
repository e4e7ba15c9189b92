//! `cxf-operator simulator` as a child process, for every test binary that starts one.
//! Included by `tests/support/mod.rs` and, on its own, by `tests/simulator`.

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
