//! `cxf-operator run` serves the webhook: the binary, started from its flags against
//! the real control plane, makes its certificate, writes the caBundle, and refuses an
//! invalid manifest.

use std::process::Stdio;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};

use super::support::{self, TestNamespace};
use super::testdata;
use super::webhook::{kubectl, registration, stderr, wait_until_called};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cxf_operator_run_serves_the_webhook() {
    let control_plane = support::control_plane();
    let client = control_plane.client().await;
    let ns = TestNamespace::create(&client, "run-webhook").await;
    let (port, metrics_port) = (free_port(), free_port());
    let config = format!("cxf-run-{}", ns.name());
    let configs = Api::<ValidatingWebhookConfiguration>::all(client.clone());
    configs
        .create(
            &PostParams::default(),
            &registration(&config, port, ns.name()),
        )
        .await
        .unwrap();

    let mut operator = tokio::process::Command::new(env!("CARGO_BIN_EXE_cxf-operator"))
        .args([
            "run",
            "--no-leader-election",
            "--namespace",
            ns.name(),
            "--webhook-host=127.0.0.1",
            "--webhook-cert-refresh=1s",
        ])
        .arg(format!("--metrics-addr=127.0.0.1:{metrics_port}"))
        .arg(format!("--webhook-addr=127.0.0.1:{port}"))
        .arg(format!("--webhook-namespace={}", ns.name()))
        .arg(format!("--webhook-config={config}"))
        .env("KUBECONFIG", control_plane.kubeconfig())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting cxf-operator run");

    wait_until_called(ns.name()).await;
    let file = testdata("invalid").join("rule-duplicate-rank.yaml");
    let output = kubectl(&["apply", "-n", ns.name(), "-f", file.to_str().unwrap()]).await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("denied the request: spec.gatekeepingApis[0].apiResources[1].rank: rank 1 is already used"),
        "{}",
        stderr(&output)
    );
    let secret = Api::<Secret>::namespaced(client.clone(), ns.name())
        .get("cxf-operator-webhook-cert")
        .await
        .unwrap();
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));

    operator.kill().await.unwrap();
    configs.delete(&config, &Default::default()).await.unwrap();
}
