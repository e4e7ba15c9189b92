//! The admission webhook and the CRD schema against a real control plane: the webhook
//! runs in-process on 127.0.0.1 from the flags of `cxf-operator run`, with a
//! self-managed certificate, registered with
//! `clientConfig.url` and the caBundle it writes itself (envtest style).

use std::process::Output;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::support::{self, TestNamespace};
use super::{manifests, testdata};
use clap::Parser;
use cxf_operator::webhook::{Webhook, WebhookArgs};

/// The flags of `cxf-operator run` that concern the webhook.
#[derive(Parser)]
struct RunFlags {
    #[command(flatten)]
    webhook: WebhookArgs,
}

/// The webhook of one test: served in-process, registered for the test's namespace
/// only; unregistered and stopped when dropped.
pub(crate) struct RunningWebhook {
    config: String,
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningWebhook {
    /// Starts the webhook the way `cxf-operator run` does, from its flags.
    pub(crate) async fn start(client: &Client, namespace: &str) -> Self {
        let config = format!("cxf-validation-{namespace}");
        let args = RunFlags::try_parse_from([
            "run",
            "--webhook-addr=127.0.0.1:0",
            "--webhook-host=127.0.0.1",
            "--webhook-cert-refresh=1s",
            &format!("--webhook-namespace={namespace}"),
            &format!("--webhook-config={config}"),
        ])
        .expect("parsing the webhook flags")
        .webhook;
        let webhook = Webhook::bind(&args)
            .expect("binding the webhook")
            .expect("the webhook is enabled");
        let port = webhook.local_addr().unwrap().port();
        let registration = registration(&config, port, namespace);
        Api::<ValidatingWebhookConfiguration>::all(client.clone())
            .create(&PostParams::default(), &registration)
            .await
            .expect("registering the webhook");
        let (stop, stopped) = oneshot::channel::<()>();
        let client = client.clone();
        let server = tokio::spawn(async move {
            webhook
                .serve(client, async {
                    let _ = stopped.await;
                })
                .await
                .expect("serving the webhook");
        });
        let running = Self {
            config,
            stop: Some(stop),
            tasks: vec![server],
        };
        wait_until_called(namespace).await;
        running
    }
}

impl Drop for RunningWebhook {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.tasks.iter().for_each(JoinHandle::abort);
        let _ = support::control_plane()
            .command("kubectl")
            .args([
                "delete",
                "validatingwebhookconfiguration",
                &self.config,
                "--ignore-not-found",
            ])
            .output();
    }
}

/// A ValidatingWebhookConfiguration named `config` sending the test namespace's
/// `cxf.dev` creates and updates to `https://127.0.0.1:<port>/validate` (no caBundle:
/// the webhook writes it).
pub(crate) fn registration(
    config: &str,
    port: u16,
    namespace: &str,
) -> ValidatingWebhookConfiguration {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": config},
        "webhooks": [{
            "name": "validate.cxf.dev",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "timeoutSeconds": 5,
            "matchPolicy": "Equivalent",
            "clientConfig": {"url": format!("https://127.0.0.1:{port}/validate")},
            "rules": [{
                "apiGroups": ["cxf.dev"], "apiVersions": ["v1alpha1"], "operations": ["CREATE", "UPDATE"],
                "resources": ["frameworkconnections", "listenerregistrations", "gatekeepingrules"], "scope": "Namespaced",
            }],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        }],
    }))
    .expect("a valid ValidatingWebhookConfiguration")
}

/// Waits until the API server calls the webhook of `namespace`: the caBundle is
/// written and the API server's informer has seen the configuration.
pub(crate) async fn wait_until_called(namespace: &str) {
    let probe = testdata("invalid").join("listener-query-syntax.yaml");
    support::eventually("the API server to call the webhook", || {
        let probe = probe.clone();
        async move {
            let output = kubectl(&[
                "apply",
                "--dry-run=server",
                "-n",
                namespace,
                "-f",
                probe.to_str().unwrap(),
            ])
            .await;
            stderr(&output).contains("denied the request").then_some(())
        }
    })
    .await;
}

pub(crate) async fn kubectl(args: &[&str]) -> Output {
    let mut command = tokio::process::Command::from(support::control_plane().command("kubectl"));
    command.args(args).output().await.expect("running kubectl")
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_refuses_every_invalid_manifest_with_its_message() {
    let client = support::control_plane().client().await;
    let ns = TestNamespace::create(&client, "webhook-invalid").await;
    let _webhook = RunningWebhook::start(&client, ns.name()).await;
    for (file, expected) in manifests("invalid") {
        let file = file.to_str().unwrap();
        for dry_run in [&["--dry-run=server"][..], &[]] {
            let mut args = vec!["apply", "-n", ns.name(), "-f", file];
            args.extend(dry_run);
            let output = kubectl(&args).await;
            let message = stderr(&output);
            assert!(!output.status.success(), "{file} {dry_run:?} was accepted");
            assert!(!expected.kubectl.is_empty(), "{file} states no expectation");
            for text in &expected.kubectl {
                assert!(
                    message.contains(text),
                    "{file} {dry_run:?}: expected {text:?} in:\n{message}"
                );
            }
        }
    }
    let stored = kubectl(&["get", "cxf", "-n", ns.name(), "-o", "name"]).await;
    assert_eq!(
        String::from_utf8_lossy(&stored.stdout),
        "",
        "nothing invalid was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_errors_say_where_in_the_expression() {
    let client = support::control_plane().client().await;
    let ns = TestNamespace::create(&client, "webhook-position").await;
    let _webhook = RunningWebhook::start(&client, ns.name()).await;
    let file = testdata("invalid").join("listener-query-syntax.yaml");
    let output = kubectl(&["apply", "-n", ns.name(), "-f", file.to_str().unwrap()]).await;
    let message = stderr(&output);
    assert!(
        message.contains(
            "admission webhook \"validate.cxf.dev\" denied the request: spec.affiliatedApis[0].query: line 1, column 64: expected a value, found `)`"
        ),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_manifests_are_accepted_and_missing_references_only_warn() {
    let client = support::control_plane().client().await;
    let ns = TestNamespace::create(&client, "webhook-valid").await;
    let _webhook = RunningWebhook::start(&client, ns.name()).await;
    let dir = testdata("valid");
    let dir = dir.to_str().unwrap();
    let dry = kubectl(&["apply", "--dry-run=server", "-n", ns.name(), "-f", dir]).await;
    assert!(dry.status.success(), "{}", stderr(&dry));
    let rule = testdata("valid").join("gatekeeping-rule.yaml");
    let output = kubectl(&["apply", "-n", ns.name(), "-f", rule.to_str().unwrap()]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("Warning: spec.listenerRegistrationRefs[0].name: ListenerRegistration 'customer-listener' does not exist"),
        "applied before its listener: {}",
        stderr(&output)
    );
    let output = kubectl(&["apply", "-n", ns.name(), "-f", dir]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    // Now everything it names exists: applying the rule again warns of nothing.
    let output = kubectl(&["apply", "-n", ns.name(), "-f", rule.to_str().unwrap()]).await;
    assert!(output.status.success());
    assert!(!stderr(&output).contains("Warning:"), "{}", stderr(&output));
    let stored = kubectl(&["get", "cxf", "-n", ns.name(), "-o", "name"]).await;
    assert_eq!(String::from_utf8_lossy(&stored.stdout).lines().count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lint_findings_are_printed_by_kubectl_as_warnings() {
    let client = support::control_plane().client().await;
    let ns = TestNamespace::create(&client, "webhook-warnings").await;
    let _webhook = RunningWebhook::start(&client, ns.name()).await;
    for (file, expected) in manifests("warnings") {
        let file = file.to_str().unwrap();
        for dry_run in [&["--dry-run=server"][..], &[]] {
            let mut args = vec!["apply", "-n", ns.name(), "-f", file];
            args.extend(dry_run);
            let output = kubectl(&args).await;
            assert!(output.status.success(), "{file}: {}", stderr(&output));
            for text in &expected.warnings {
                assert!(
                    stderr(&output).contains(&format!("Warning: {text}")),
                    "{file}: expected {text:?} in:\n{}",
                    stderr(&output)
                );
            }
        }
    }
}
