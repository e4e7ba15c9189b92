//! Running the built binary (or a tool) with bytes on its stdin.

use std::io::{ErrorKind, Write};
use std::process::{Command, Output, Stdio};

/// Spawns `command` with piped stdio, writes `stdin` to it, and waits for its output.
///
/// A child may exit before it reads all of its input (an invalid argument is refused
/// before the event or manifests are read): a broken pipe is then its answer, not a
/// failure of the test, whatever the size of `stdin` against the pipe buffer.
pub fn output_with_stdin(command: &mut Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {:?}: {e}", command.get_program()));
    let mut input = child.stdin.take().expect("piped stdin");
    match input.write_all(stdin) {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => {
            panic!("writing stdin of {:?}: {e}", command.get_program())
        }
        _ => drop(input),
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {:?}: {e}", command.get_program()))
}
