//! `cxf-operator run` as a process: health and metrics endpoints, leader election with a
//! standby replica, and the controllers doing their work.

use std::process::{Child, Command, Stdio};

use cxf_operator::resources::{FrameworkConnection, ListenerRegistration};
use serde_json::json;

use crate::env::{Env, listener};
use crate::support::{control_plane, eventually};

/// A `cxf-operator run` process, killed on drop.
struct Operator {
    child: Child,
    base: String,
}

impl Operator {
    fn start(namespace: &str, identity: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_cxf-operator"))
            .args([
                "run",
                "--namespace",
                namespace,
                "--lease-namespace",
                namespace,
                "--identity",
                identity,
            ])
            .args([
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
                "--log-format",
                "json",
                "--drift-interval",
                "1m",
            ])
            .env("KUBECONFIG", control_plane().kubeconfig())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cxf-operator run starts");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn status(&self, path: &str) -> Option<u16> {
        reqwest::get(format!("{}{path}", self.base))
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_leader_reconciles_and_serves_metrics_while_a_standby_waits() {
    let env = Env::start_with("run-process", None, false).await;
    let leader = Operator::start(env.ns.name(), "replica-a");
    eventually("the leader to be ready", || async {
        (leader.status("/readyz").await == Some(200)).then_some(())
    })
    .await;
    let standby = Operator::start(env.ns.name(), "replica-b");
    eventually("the standby to serve", || async {
        (standby.status("/healthz").await == Some(200)).then_some(())
    })
    .await;
    assert_eq!(
        standby.status("/readyz").await,
        Some(200),
        "a standby serves the webhook, so it is ready"
    );

    env.wait_ready::<FrameworkConnection>("default").await;
    env.secret("listener-credentials", &[("client-secret", "s")])
        .await;
    env.create::<ListenerRegistration>(listener("tax", "http://127.0.0.1:9/tax", "*", json!({})))
        .await;
    env.wait_ready::<ListenerRegistration>("tax").await;
    assert_eq!(env.sim.registrations().await.len(), 1);

    let metrics = reqwest::get(format!("{}/metrics", leader.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"cxf_operator_reconciles_total{controller="listener_registration"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"cxf_operator_admin_requests_total{route="/admin/{ws}/listenerRegistrations",method="POST",status="201"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains("tax"), "never labelled by object name");
    let standby_metrics = reqwest::get(format!("{}/metrics", standby.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !standby_metrics
            .contains(r#"cxf_operator_reconciles_total{controller="listener_registration"}"#),
        "a standby reconciles nothing: {standby_metrics}"
    );
}
