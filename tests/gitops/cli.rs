//! Running `cxf-operator` subcommands, with the framework's credentials in the
//! environment (never in arguments), and a simulator process of their own.

use std::process::{Child, Command, Output};

use super::support::process::output_with_stdin;

use serde_json::Value;

/// The simulator's API client in these tests.
pub const CLIENT_ID: &str = "gitops";
pub const CLIENT_SECRET: &str = "gitops-s3cret";

/// Runs `cxf-operator ARGS` with the client's credentials in the environment and
/// `stdin` as its input.
pub fn run(args: &[&str], stdin: Option<&str>) -> Output {
    output_with_stdin(
        Command::new(env!("CARGO_BIN_EXE_cxf-operator"))
            .args(args)
            .env("CXF_CLIENT_ID", CLIENT_ID)
            .env("CXF_CLIENT_SECRET", CLIENT_SECRET),
        stdin.unwrap_or_default().as_bytes(),
    )
}

/// Stdout and stderr, for assertion messages.
pub fn shown(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Stdout as JSON, failing the test with everything shown if it is not.
pub fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", shown(output)))
}

/// A simulator process with one API client, killed on drop.
pub struct Simulator {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    http: reqwest::Client,
    token: String,
}

impl Simulator {
    pub async fn start() -> Self {
        let (child, base) = crate::support::simulator::spawn(&[
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--delivery-attempts",
            "1",
        ]);
        let http = reqwest::Client::new();
        let token = crate::support::simulator::token(&http, &base, CLIENT_ID, CLIENT_SECRET).await;
        Self {
            child,
            base,
            http,
            token,
        }
    }

    /// An admin or `/sim` call; the status and the JSON answer (null if none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
