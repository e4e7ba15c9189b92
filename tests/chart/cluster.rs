//! The chart on the test binary's control plane, as one scenario in order (each step
//! builds on the one before): server-side dry-run, PodSecurity restricted, helm install,
//! the operator's RBAC, the webhook failing closed, the operator run with the chart's
//! arguments and a token of its ServiceAccount (no kubelet runs pods here), every example
//! reconciled and judged Healthy by Argo CD's engine, namespaced mode, the helm test's
//! RBAC and wait, a CRD upgrade, uninstall keeping the CRDs, and install again.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use super::argocd::health_of_live;
use super::offline::examples;
use super::support::{self, eventually};
use super::{
    CHART, FULL, KINDS, NAMESPACE, RELEASE, both, cxf_operator, documents, kube_version, root,
    stdout,
};

/// The operator's ServiceAccount as RBAC names it.
fn service_account() -> String {
    format!("system:serviceaccount:{NAMESPACE}:{FULL}")
}

fn cluster_tool(tool: &str, args: &[&str]) -> Command {
    let mut command = support::control_plane().command(tool);
    command.current_dir(root()).args(args);
    command
}

fn kubectl(args: &[&str]) -> Command {
    cluster_tool("kubectl", args)
}

fn helm(args: &[&str]) -> Command {
    cluster_tool("helm", args)
}

async fn output(command: Command) -> Output {
    let what = format!("{command:?}");
    tokio::process::Command::from(command)
        .output()
        .await
        .unwrap_or_else(|e| panic!("running {what}: {e}"))
}

/// Runs `command` with `input` on stdin.
async fn output_with(mut command: Command, input: &str) -> Output {
    use tokio::io::AsyncWriteExt;
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = tokio::process::Command::from(command).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    child.wait_with_output().await.unwrap()
}

/// `command` must succeed; returns its stdout.
async fn expect_ok(what: &str, command: Command) -> String {
    let out = output(command).await;
    assert!(out.status.success(), "{what}: {}", both(&out));
    stdout(&out)
}

/// `command` must fail, saying `pattern` (case-insensitive).
async fn expect_refused(what: &str, pattern: &str, command: Command) {
    let out = output(command).await;
    let text = both(&out);
    assert!(
        !out.status.success() && text.to_lowercase().contains(&pattern.to_lowercase()),
        "{what}: expected a failure saying {pattern:?}, got {}: {text}",
        out.status
    );
}

/// Is the operator's ServiceAccount allowed `args` (`kubectl auth can-i ARGS`)?
async fn can(args: &str) -> bool {
    let mut words: Vec<&str> = vec!["auth", "can-i"];
    words.extend(args.split_whitespace());
    let sa = format!("--as={}", service_account());
    words.push(&sa);
    output(kubectl(&words)).await.status.success()
}

async fn assert_can(what: &str, checks: &[&str]) {
    for check in checks {
        assert!(can(check).await, "{what}: SA cannot {check}");
    }
}

async fn assert_cannot(what: &str, checks: &[&str]) {
    for check in checks {
        assert!(!can(check).await, "{what}: SA can {check}");
    }
}

fn render(sets: &[&str]) -> Command {
    let version = kube_version();
    let mut args = vec![
        "template",
        RELEASE,
        CHART,
        "--namespace",
        NAMESPACE,
        "--kube-version",
        &version,
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    helm(&args)
}

async fn rendered(sets: &[&str]) -> String {
    expect_ok(&format!("helm template {sets:?}"), render(sets)).await
}

async fn dry_run(what: &str, sets: &[&str]) {
    let manifests = rendered(sets).await;
    let out = output_with(
        kubectl(&["apply", "--dry-run=server", "-f", "-"]),
        &manifests,
    )
    .await;
    assert!(out.status.success(), "{what}: {}", both(&out));
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A FrameworkConnection named `default` in `namespace`.
fn connection(namespace: &str, url: &str, secret: &str) -> String {
    format!(
        "apiVersion: cxf.dev/v1alpha1
kind: FrameworkConnection
metadata: {{name: default, namespace: {namespace}}}
spec:
  gatewayUrl: {url}
  workspace: \"01\"
  auth: {{oauth2: {{clientId: cxf-operator, clientSecret: {{name: {secret}, key: client-secret}}}}}}
"
    )
}

async fn apply(what: &str, manifest: &str) -> Output {
    let out = output_with(kubectl(&["apply", "-f", "-"]), manifest).await;
    assert!(
        out.status.success() || what.is_empty(),
        "{what}: {}",
        both(&out)
    );
    out
}

/// Argo CD's health of every object of `resources` in `namespace`, live.
async fn live_health(resources: &str, namespace: &str) -> Vec<(String, super::argocd::Health)> {
    let list: Value = serde_json::from_str(
        &expect_ok(
            "kubectl get -o json",
            kubectl(&["get", resources, "-n", namespace, "-o", "json"]),
        )
        .await,
    )
    .unwrap();
    // A List for a kind, the object itself for kind/name.
    let items = match list["items"].as_array() {
        Some(items) => items.clone(),
        None => vec![list],
    };
    items
        .iter()
        .map(|item| {
            let name = format!(
                "{}/{}",
                item["kind"].as_str().unwrap(),
                item["metadata"]["name"].as_str().unwrap()
            );
            (name, health_of_live(item))
        })
        .collect()
}

async fn assert_live_health(
    what: &str,
    resource: &str,
    namespace: &str,
    status: &str,
    message: &str,
) {
    let found = live_health(resource, namespace).await;
    assert_eq!(found.len(), 1, "{what}: one {resource} in {namespace}");
    let (_, health) = &found[0];
    assert!(
        health.status == status && health.message.contains(message),
        "{what}: Argo CD says {health:?}, want {status} with {message:?}"
    );
}

const ALL_KINDS: &str =
    "frameworkconnections.cxf.dev,listenerregistrations.cxf.dev,gatekeepingrules.cxf.dev";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_installs_runs_upgrades_and_uninstalls_on_a_control_plane() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    expect_ok(
        "create namespace",
        kubectl(&["create", "namespace", NAMESPACE]),
    )
    .await;
    for n in ["team-a", "team-b", "team-c"] {
        expect_ok("create namespace", kubectl(&["create", "namespace", n])).await;
    }
    let server = expect_ok(
        "server",
        kubectl(&[
            "config",
            "view",
            "--raw",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ]),
    )
    .await;
    let ca = expect_ok(
        "CA",
        kubectl(&[
            "config",
            "view",
            "--raw",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.certificate-authority-data}",
        ]),
    )
    .await;
    let ca_file = work.join("ca.crt");
    {
        use base64::Engine;
        let pem = base64::engine::general_purpose::STANDARD
            .decode(ca.trim())
            .unwrap();
        std::fs::write(&ca_file, pem).unwrap();
    }
    let as_token = |token: &str, args: &[&str]| {
        let mut command = kubectl(&[
            "--kubeconfig=/dev/null",
            &format!("--server={server}"),
            &format!("--certificate-authority={}", ca_file.display()),
            &format!("--token={token}"),
        ]);
        command.args(args);
        command
    };

    // --- server-side dry-run and PodSecurity ------------------------------------------
    dry_run("server-side dry-run of the chart (defaults)", &[]).await;
    dry_run(
        "server-side dry-run of the chart (watchNamespaces)",
        &["watchNamespaces={team-a,team-b}"],
    )
    .await;
    dry_run(
        "server-side dry-run of the chart (webhook off, PDB off, replicaCount 1)",
        &[
            "webhook.enabled=false",
            "podDisruptionBudget.enabled=false",
            "replicaCount=1",
        ],
    )
    .await;

    // The pods pass the restricted Pod Security Standard, enforced by the API server's
    // PodSecurity admission on a namespace labelled for it (a negative control first).
    expect_ok(
        "create namespace",
        kubectl(&["create", "namespace", "psa-restricted"]),
    )
    .await;
    expect_ok(
        "label namespace",
        kubectl(&[
            "label",
            "namespace",
            "psa-restricted",
            "pod-security.kubernetes.io/enforce=restricted",
        ]),
    )
    .await;
    let docs = documents(&rendered(&["watchNamespaces={team-a,team-b}"]).await);
    let pod = |name: &str, spec: &Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "psa-restricted"}, "spec": spec});
    let operator_spec = &super::one(&docs, "Deployment")["spec"]["template"]["spec"];
    let test_spec = &super::one(&docs, "Pod")["spec"];
    let mut escalating = operator_spec.clone();
    escalating["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true);
    let bad = pod("escalating", &escalating).to_string();
    let out = output_with(kubectl(&["apply", "--dry-run=server", "-f", "-"]), &bad).await;
    assert!(
        !out.status.success() && both(&out).contains("violates PodSecurity"),
        "PodSecurity restricted refuses a pod that allows privilege escalation: {}",
        both(&out)
    );
    let pods = json!({"apiVersion": "v1", "kind": "List", "items": [pod("operator", operator_spec), pod("helm-test", test_spec)]});
    let out = output_with(
        kubectl(&["apply", "--dry-run=server", "-f", "-"]),
        &pods.to_string(),
    )
    .await;
    assert!(
        out.status.success(),
        "the operator and helm test pods pass PodSecurity restricted: {}",
        both(&out)
    );

    // --- helm install -----------------------------------------------------------------
    // tests/support installed crds/ before this test: mark them as the release's, as
    // Helm adopts existing objects, so that helm install takes them over.
    let crds: Vec<String> = KINDS.iter().map(|k| format!("crd/{k}.cxf.dev")).collect();
    let crd_args: Vec<&str> = crds.iter().map(String::as_str).collect();
    let mut label = vec!["label", "--overwrite"];
    label.extend(&crd_args);
    label.push("app.kubernetes.io/managed-by=Helm");
    expect_ok("label the CRDs for adoption", kubectl(&label)).await;
    let mut annotate = vec!["annotate", "--overwrite"];
    annotate.extend(&crd_args);
    let release_name = format!("meta.helm.sh/release-name={RELEASE}");
    let release_namespace = format!("meta.helm.sh/release-namespace={NAMESPACE}");
    annotate.extend([release_name.as_str(), release_namespace.as_str()]);
    expect_ok("annotate the CRDs for adoption", kubectl(&annotate)).await;

    // Ports free on this machine and 127.0.0.1 in the certificate, for the operator run.
    let (metrics_port, webhook_port) = (free_port(), free_port());
    expect_ok(
        "helm install",
        helm(&[
            "install",
            RELEASE,
            CHART,
            "--namespace",
            NAMESPACE,
            "--set",
            &format!("metrics.port={metrics_port}"),
            "--set",
            &format!("webhook.port={webhook_port}"),
            "--set",
            "extraArgs={--webhook-host=127.0.0.1}",
        ]),
    )
    .await;
    let mut wait = vec!["wait", "--for=condition=Established", "--timeout=30s"];
    wait.extend(&crd_args);
    expect_ok("the CRDs are established", kubectl(&wait)).await;

    // --- RBAC, cluster-wide mode -------------------------------------------------------
    for kind in KINDS {
        let r = format!("{kind}.cxf.dev");
        assert_can(
            &format!("SA can list/watch/patch {kind} in any namespace"),
            &[
                &format!("list {r} -A"),
                &format!("watch {r} -n team-c"),
                &format!("patch {r} -n team-a"),
            ],
        )
        .await;
        assert_can(
            &format!("SA can patch {kind}/status and update {kind}/finalizers"),
            &[
                &format!("patch {r} --subresource=status -n team-a"),
                &format!("update {r} --subresource=finalizers -n team-a"),
            ],
        )
        .await;
        assert_cannot(
            &format!("SA cannot create or delete {kind}"),
            &[
                &format!("create {r} -n team-a"),
                &format!("delete {r} -n team-a"),
            ],
        )
        .await;
    }
    assert_can(
        "SA can read Secrets in every namespace",
        &["list secrets -A"],
    )
    .await;
    assert_cannot(
        "SA cannot write Secrets outside its own certificate Secret",
        &["update secrets -n team-a"],
    )
    .await;
    assert_can(
        "SA can create Events (core and events.k8s.io)",
        &[
            "create events -n team-a",
            "patch events.events.k8s.io -n team-b",
        ],
    )
    .await;
    assert_can(
        "SA can use its Lease",
        &[
            &format!("create leases -n {NAMESPACE}"),
            &format!("update leases/{FULL} -n {NAMESPACE}"),
        ],
    )
    .await;
    assert_cannot(
        "SA cannot touch another Lease",
        &[&format!("update leases/other -n {NAMESPACE}")],
    )
    .await;
    assert_cannot(
        "SA cannot use Leases outside its namespace",
        &["create leases -n team-a"],
    )
    .await;
    let webhook_config = format!("{FULL}-{NAMESPACE}");
    assert_can(
        "SA can patch its own ValidatingWebhookConfiguration",
        &[&format!(
            "patch validatingwebhookconfigurations/{webhook_config}"
        )],
    )
    .await;
    assert_cannot(
        "SA cannot patch another ValidatingWebhookConfiguration",
        &["patch validatingwebhookconfigurations/other"],
    )
    .await;
    assert_can(
        "SA can write its webhook certificate Secret",
        &[&format!(
            "update secrets/{FULL}-webhook-cert -n {NAMESPACE}"
        )],
    )
    .await;
    assert_cannot(
        "SA cannot read Pods, ConfigMaps or CRDs",
        &[
            "list pods -A",
            &format!("get configmaps -n {NAMESPACE}"),
            "get customresourcedefinitions",
        ],
    )
    .await;

    let out = output_with(
        kubectl(&["apply", "-f", "-"]),
        &connection("team-a", "http://127.0.0.1:8080", "framework-credentials"),
    )
    .await;
    assert!(
        !out.status.success() && both(&out).contains("failed calling webhook"),
        "the webhook fails closed while the operator is not serving it: {}",
        both(&out)
    );

    // --- the operator, run here with the chart's arguments and RBAC --------------------
    // No kubelet runs pods here: the binary runs on this machine with the Deployment's
    // arguments and downward-API environment, authenticated with a token of the chart's
    // ServiceAccount, so the chart's RBAC must be enough to lead, manage its webhook
    // certificate, serve the webhook, and reconcile the examples.
    let token = expect_ok(
        "create token",
        kubectl(&[
            "create",
            "token",
            FULL,
            "--namespace",
            NAMESPACE,
            "--duration=30m",
        ]),
    )
    .await;
    let kubeconfig = work.join("operator.kubeconfig");
    write(
        &kubeconfig,
        &serde_json::to_string(&json!({
            "apiVersion": "v1", "kind": "Config", "current-context": "cp",
            "clusters": [{"name": "cp", "cluster": {"server": server, "certificate-authority-data": ca.trim()}}],
            "users": [{"name": "operator", "user": {"token": token.trim()}}],
            "contexts": [{"name": "cp", "context": {"cluster": "cp", "user": "operator"}}],
        }))
        .unwrap(),
    );
    let manifest = expect_ok(
        "helm get manifest",
        helm(&["get", "manifest", RELEASE, "--namespace", NAMESPACE]),
    )
    .await;
    let operator_args = super::deployment_args(&documents(&manifest));
    let simulator = Simulator::start().await;
    let operator_log = work.join("operator.log");
    let mut operator = tokio::process::Command::new(cxf_operator())
        .args(&operator_args)
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAMESPACE", NAMESPACE)
        .env("POD_NAME", format!("{FULL}-local-0"))
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(&operator_log).unwrap())
        .stderr(std::fs::File::create(work.join("operator.stderr")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the operator");
    let log_tail = || std::fs::read_to_string(&operator_log).unwrap_or_default();
    let http = reqwest::Client::new();
    let readyz = format!("http://127.0.0.1:{metrics_port}/readyz");
    support::eventually(
        "the operator, with the chart's arguments and RBAC, to serve /healthz and become ready",
        || async {
            http.get(&readyz)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        },
    )
    .await;
    eventually("the operator to hold the chart's Lease", || async {
        let holder = stdout(
            &output(kubectl(&[
                "get",
                "lease",
                FULL,
                "-n",
                NAMESPACE,
                "-o",
                "jsonpath={.spec.holderIdentity}",
            ]))
            .await,
        );
        (holder == format!("{FULL}-local-0")).then_some(())
    })
    .await;
    expect_ok(
        "the operator created its certificate Secret",
        kubectl(&[
            "get",
            "secret",
            &format!("{FULL}-webhook-cert"),
            "-n",
            NAMESPACE,
        ]),
    )
    .await;
    eventually("the operator to write the webhook's caBundle", || async {
        let bundle = stdout(
            &output(kubectl(&[
                "get",
                "validatingwebhookconfiguration",
                &webhook_config,
                "-o",
                "jsonpath={.webhooks[0].clientConfig.caBundle}",
            ]))
            .await,
        );
        (!bundle.is_empty()).then_some(())
    })
    .await;
    // The API server cannot reach a Service without pods here: send it to 127.0.0.1.
    let to_url = json!([
        {"op": "remove", "path": "/webhooks/0/clientConfig/service"},
        {"op": "add", "path": "/webhooks/0/clientConfig/url", "value": format!("https://127.0.0.1:{webhook_port}/validate")},
    ]);
    expect_ok(
        "point the webhook at 127.0.0.1",
        kubectl(&[
            "patch",
            "validatingwebhookconfiguration",
            &webhook_config,
            "--type=json",
            "-p",
            &to_url.to_string(),
        ]),
    )
    .await;
    let bad_listener = "apiVersion: cxf.dev/v1alpha1
kind: ListenerRegistration
metadata: {name: bad-query, namespace: team-a}
spec:
  affiliatedApis: [{apiName: party, apiVersion: v4, query: 'familyName eq \"abc\"'}]
  listenerUrl: http://127.0.0.1:9
";
    eventually(
        "the webhook (TLS with the operator's CA) to refuse a listener with invalid criteria",
        || async {
            let out = output_with(kubectl(&["apply", "-f", "-"]), bad_listener).await;
            (!out.status.success() && both(&out).contains("denied the request")).then_some(())
        },
    )
    .await;

    // Every example, pointed at the simulator, is admitted and reconciled to Ready.
    for example in examples() {
        let dir = work.join(&example);
        copy_dir(&root().join("examples").join(&example), &dir);
        let file = dir.join("framework-connection.yaml");
        let text = std::fs::read_to_string(&file).unwrap();
        write(
            &file,
            &text.replace("http://127.0.0.1:8080", &simulator.url),
        );
        expect_ok(
            &format!("the webhook admits examples/{example} (pointed at the simulator)"),
            kubectl(&["apply", "-k", dir.to_str().unwrap()]),
        )
        .await;
    }
    for example in examples() {
        let namespace = format!("cxf-example-{example}");
        let out = output(kubectl(&[
            "wait",
            "--for=condition=Ready",
            "--timeout=60s",
            "-n",
            &namespace,
            ALL_KINDS,
            "--all",
        ]))
        .await;
        assert!(
            out.status.success(),
            "examples/{example}: every resource becomes Ready: {}\noperator log:\n{}",
            both(&out),
            log_tail()
        );
        for (object, health) in live_health(ALL_KINDS, &namespace).await {
            assert_eq!(
                health.status, "Healthy",
                "Argo CD: live {object} of examples/{example} is Healthy: {health:?}"
            );
        }
        // The operator writes only status and its finalizer: Git (and Argo CD) sees no drift.
        expect_ok(
            &format!("kubectl diff: examples/{example}, reconciled, differs in nothing from its manifests"),
            kubectl(&["diff", "-k", work.join(&example).to_str().unwrap()]),
        )
        .await;
    }
    let ids = expect_ok(
        "external ids",
        kubectl(&[
            "get",
            "listenerregistrations.cxf.dev",
            "-A",
            "-o",
            "jsonpath={range .items[*]}{.status.externalId}{\"\\n\"}{end}",
        ]),
    )
    .await;
    assert_eq!(
        ids.lines().filter(|l| !l.is_empty()).count(),
        3,
        "the examples' 3 listeners have framework ids: {ids}"
    );

    // A wrong secret: Unauthorized, Degraded; what depends on it: Progressing.
    apply(
        "wrong-credentials Secret",
        "apiVersion: v1
kind: Secret
metadata: {name: wrong-credentials, namespace: team-c, labels: {cxf.dev/credentials: \"true\"}}
stringData: {client-secret: not-the-secret-4711}
",
    )
    .await;
    apply(
        "team-c connection",
        &connection("team-c", &simulator.url, "wrong-credentials"),
    )
    .await;
    expect_ok(
        "a FrameworkConnection with a wrong secret gets Ready=False",
        kubectl(&[
            "wait",
            "--for=condition=Ready=false",
            "--timeout=60s",
            "-n",
            "team-c",
            "frameworkconnection.cxf.dev/default",
        ]),
    )
    .await;
    let reason = expect_ok(
        "reason",
        kubectl(&[
            "get",
            "frameworkconnection.cxf.dev",
            "default",
            "-n",
            "team-c",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}",
        ]),
    )
    .await;
    assert_eq!(
        reason, "Unauthorized",
        "a FrameworkConnection with a wrong secret gets Ready=False Unauthorized"
    );
    assert_live_health(
        "Argo CD: the live unauthorized FrameworkConnection is Degraded",
        "frameworkconnections.cxf.dev",
        "team-c",
        "Degraded",
        "Unauthorized",
    )
    .await;
    apply(
        "team-c listener",
        "apiVersion: cxf.dev/v1alpha1
kind: ListenerRegistration
metadata: {name: waiting, namespace: team-c}
spec:
  affiliatedApis: [{apiName: party, apiVersion: v4}]
  listenerUrl: http://127.0.0.1:9/waiting
",
    )
    .await;
    apply("team-c rule", &rule("team-c", "waiting", "tmf632")).await;
    let rule_namespace = "cxf-example-tmf632-gatekeeping-rule";
    apply(
        "a rule for no endpoint",
        &rule(rule_namespace, "nowhere", "tmf999"),
    )
    .await;
    let listener_namespace = "cxf-example-tax-engine-listener";
    apply(
        "a listener whose Secret does not exist",
        &format!(
            "apiVersion: cxf.dev/v1alpha1
kind: ListenerRegistration
metadata: {{name: no-secret, namespace: {listener_namespace}}}
spec:
  affiliatedApis: [{{apiName: party, apiVersion: v4}}]
  listenerUrl: http://127.0.0.1:9/no-secret
  auth:
    oidcClientCredentials:
      identityUri: http://127.0.0.1:9/token
      clientId: {{value: no-secret}}
      clientSecret: {{name: missing, key: client-secret}}
"
        ),
    )
    .await;
    for (what, resource, namespace, status, message) in [
        (
            "a live listener whose connection is not Ready is Progressing",
            "listenerregistrations.cxf.dev",
            "team-c",
            "Progressing",
            "ConnectionNotReady",
        ),
        (
            "a live rule whose connection is not Ready is Progressing",
            "gatekeepingrules.cxf.dev",
            "team-c",
            "Progressing",
            "ConnectionNotReady",
        ),
        (
            "a live listener whose Secret does not exist is Degraded",
            "listenerregistrations.cxf.dev/no-secret",
            listener_namespace,
            "Degraded",
            "SecretNotFound",
        ),
    ] {
        eventually(what, || async {
            let found = live_health(resource, namespace).await;
            (found.len() == 1
                && found[0].1.status == status
                && found[0].1.message.contains(message))
            .then_some(())
        })
        .await;
    }
    eventually(
        "Argo CD: a live rule for an endpoint no rule has is Degraded",
        || async {
            let found = live_health("gatekeepingrules.cxf.dev/nowhere", rule_namespace).await;
            (found[0].1.status == "Degraded" && found[0].1.message.contains("RuleNotFound"))
                .then_some(())
        },
    )
    .await;

    let log = log_tail();
    assert!(
        log.contains("serving /metrics"),
        "the operator log is not what this check expects:\n{log}"
    );
    let events = expect_ok("events", kubectl(&["get", "events", "-A", "-o", "yaml"])).await;
    let statuses = expect_ok("statuses", kubectl(&["get", "cxf", "-A", "-o", "yaml"])).await;
    for (where_, text) in [
        ("the operator's log", &log),
        ("Events", &events),
        ("statuses", &statuses),
    ] {
        for secret in [
            "change-me",
            "OIDC_CLIENT_SECRET",
            "CRM_CLIENT_SECRET",
            "not-the-secret-4711",
        ] {
            assert!(
                !text.contains(secret),
                "no secret value in {where_}: found {secret}"
            );
        }
    }
    expect_ok(
        "deleting the examples' ListenerRegistrations and GatekeepingRules completes (the operator removes its finalizers)",
        kubectl(&["delete", "listenerregistrations.cxf.dev,gatekeepingrules.cxf.dev", "--all", "-A", "--timeout=60s"]),
    )
    .await;
    expect_ok(
        "deleting the FrameworkConnections completes",
        kubectl(&[
            "delete",
            "frameworkconnection.cxf.dev",
            "default",
            "-n",
            "team-c",
            "--timeout=60s",
        ]),
    )
    .await;
    operator.kill().await.unwrap();
    drop(simulator);
    let to_service = json!([
        {"op": "remove", "path": "/webhooks/0/clientConfig/url"},
        {"op": "add", "path": "/webhooks/0/clientConfig/service", "value": {"name": FULL, "namespace": NAMESPACE, "path": "/validate", "port": 443}},
    ]);
    expect_ok(
        "point the webhook back at the Service",
        kubectl(&[
            "patch",
            "validatingwebhookconfiguration",
            &webhook_config,
            "--type=json",
            "-p",
            &to_service.to_string(),
        ]),
    )
    .await;

    // --- namespaced mode, webhook off (nothing serves it here) --------------------------
    expect_ok(
        "helm upgrade to watchNamespaces={team-a,team-b}, webhook off",
        helm(&[
            "upgrade",
            RELEASE,
            CHART,
            "--namespace",
            NAMESPACE,
            "--set",
            "watchNamespaces={team-a,team-b}",
            "--set",
            "webhook.enabled=false",
        ]),
    )
    .await;
    let out = output(kubectl(&["get", "clusterrole", &webhook_config])).await;
    assert!(
        !out.status.success(),
        "no ClusterRole for the operator's watches remains"
    );
    assert_can(
        "SA can read Secrets and custom resources in team-a and team-b",
        &[
            "list secrets -n team-a",
            "watch secrets -n team-b",
            "list listenerregistrations.cxf.dev -n team-b",
        ],
    )
    .await;
    assert_cannot(
        "SA cannot read Secrets in team-c or cluster-wide",
        &[
            "get secrets -n team-c",
            "list secrets -A",
            "list gatekeepingrules.cxf.dev -n team-c",
        ],
    )
    .await;

    // The same, with a real token of the ServiceAccount (TokenRequest).
    let token = expect_ok(
        "create token",
        kubectl(&[
            "create",
            "token",
            FULL,
            "--namespace",
            NAMESPACE,
            "--duration=10m",
        ]),
    )
    .await;
    let token = token.trim();
    for n in ["team-a", "team-c"] {
        expect_ok(
            "probe Secret",
            kubectl(&[
                "create",
                "secret",
                "generic",
                "probe",
                "--from-literal=k=v",
                "-n",
                n,
            ]),
        )
        .await;
    }
    expect_ok(
        "token of the SA reads a Secret in team-a",
        as_token(token, &["get", "secret", "probe", "-n", "team-a"]),
    )
    .await;
    expect_ok(
        "token of the SA lists ListenerRegistrations in team-b",
        as_token(
            token,
            &["get", "listenerregistrations.cxf.dev", "-n", "team-b"],
        ),
    )
    .await;
    expect_refused(
        "token of the SA is refused a Secret in team-c",
        "forbidden",
        as_token(token, &["get", "secret", "probe", "-n", "team-c"]),
    )
    .await;
    expect_refused(
        "token of the SA is refused Secrets cluster-wide",
        "forbidden",
        as_token(token, &["get", "secrets", "-A"]),
    )
    .await;
    expect_refused(
        "token of the SA is refused deleting a Secret in team-a",
        "forbidden",
        as_token(token, &["delete", "secret", "probe", "-n", "team-a"]),
    )
    .await;

    // The examples, applied for real (schema and CEL validation by the API server).
    for example in examples() {
        expect_ok(
            &format!("examples/{example} applies"),
            kubectl(&["apply", "-k", &format!("examples/{example}")]),
        )
        .await;
    }
    let count = |resource: &'static str| async move {
        stdout(&output(kubectl(&["get", resource, "-A", "--no-headers"])).await)
            .lines()
            .count()
    };
    assert_eq!(
        (
            count("frameworkconnections.cxf.dev").await,
            count("listenerregistrations.cxf.dev").await,
            count("gatekeepingrules.cxf.dev").await
        ),
        (4, 3, 1),
        "the examples created 4 FrameworkConnections, 3 ListenerRegistrations, 1 GatekeepingRule"
    );

    // helm test: its RBAC and its kubectl wait, run here with the test ServiceAccount's
    // token (no kubelet runs the test pod).
    let version = kube_version();
    let test_manifest = expect_ok(
        "render the helm test",
        helm(&[
            "template",
            RELEASE,
            CHART,
            "--namespace",
            NAMESPACE,
            "--kube-version",
            &version,
            "--set",
            "watchNamespaces={team-a,team-b}",
            "--set",
            "tests.timeout=3s",
            "--show-only",
            "templates/tests/frameworkconnections-ready.yaml",
        ]),
    )
    .await;
    let test_docs = documents(&test_manifest);
    let out = output_with(
        kubectl(&["apply", "--dry-run=server", "-f", "-"]),
        &test_manifest,
    )
    .await;
    assert!(
        out.status.success(),
        "helm test RBAC applies: {}",
        both(&out)
    );
    let rbac: Vec<&Value> = test_docs
        .iter()
        .filter(|d| super::kind(d) != "Pod")
        .collect();
    let rbac_list = json!({"apiVersion": "v1", "kind": "List", "items": rbac}).to_string();
    apply("helm test RBAC", &rbac_list).await;
    let test_args: Vec<Vec<String>> = super::one(&test_docs, "Pod")["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    let test_token = expect_ok(
        "create token",
        kubectl(&[
            "create",
            "token",
            &format!("{FULL}-test"),
            "--namespace",
            NAMESPACE,
            "--duration=10m",
        ]),
    )
    .await;
    let test_token = test_token.trim();
    let helm_test = || async {
        let mut said = String::new();
        for args in &test_args {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = output(as_token(test_token, &args)).await;
            said.push_str(&both(&out));
            if !out.status.success() {
                return Err(said);
            }
        }
        Ok(said)
    };
    for n in ["team-a", "team-b"] {
        apply(
            "connection",
            &connection(n, "http://127.0.0.1:8080", "framework-credentials"),
        )
        .await;
    }
    assert_live_health(
        "Argo CD: a live FrameworkConnection no operator reconciled is Progressing",
        "frameworkconnections.cxf.dev",
        "team-a",
        "Progressing",
        "Waiting for the operator to reconcile this resource",
    )
    .await;
    let failed = helm_test().await;
    assert!(
        failed.as_ref().is_err_and(|e| e.contains("timed out")),
        "helm test fails while FrameworkConnections are not Ready: {failed:?}"
    );
    let ready = r#"{"status":{"observedGeneration":1,"conditions":[{"type":"Ready","status":"True","reason":"Connected","message":"ok","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#;
    let patch_ready = |n: &'static str| {
        kubectl(&[
            "patch",
            "frameworkconnection.cxf.dev",
            "default",
            "-n",
            n,
            "--subresource=status",
            "--type=merge",
            "-p",
            ready,
        ])
    };
    expect_ok("patch status", patch_ready("team-a")).await;
    let failed = helm_test().await;
    assert!(
        failed.as_ref().is_err_and(|e| e.contains("timed out")),
        "helm test fails while one watched namespace's connection is not Ready: {failed:?}"
    );
    expect_ok("patch status", patch_ready("team-b")).await;
    let passed = helm_test().await;
    assert!(
        passed.is_ok(),
        "helm test passes once every FrameworkConnection is Ready: {passed:?}"
    );
    expect_refused(
        "the test ServiceAccount cannot read Secrets",
        "forbidden",
        as_token(test_token, &["get", "secrets", "-n", "team-a"]),
    )
    .await;
    let out = output_with(kubectl(&["delete", "-f", "-"]), &rbac_list).await;
    assert!(
        out.status.success(),
        "delete helm test RBAC: {}",
        both(&out)
    );

    // --- an upgrade that adds a CRD field applies it ------------------------------------
    let next = work.join("chart-next");
    copy_dir(&root().join(CHART), &next);
    let crd_path = next.join("files/crds/frameworkconnections.cxf.dev.yaml");
    let mut crd = documents(&std::fs::read_to_string(&crd_path).unwrap()).remove(0);
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["upgradeProbe"] =
        json!({"type": "string", "description": "Added by the chart upgrade test."});
    write(&crd_path, &serde_yaml::to_string(&crd).unwrap());
    let meta = next.join("Chart.yaml");
    let chart_yaml = std::fs::read_to_string(&meta).unwrap();
    assert!(
        chart_yaml.contains("version: 0.1.0"),
        "Chart.yaml has version 0.1.0"
    );
    write(
        &meta,
        &chart_yaml.replace("version: 0.1.0", "version: 0.1.1"),
    );
    let next_chart = next.to_str().unwrap();
    expect_ok(
        "helm upgrade to a chart whose CRD has a new field",
        helm(&[
            "upgrade",
            RELEASE,
            next_chart,
            "--namespace",
            NAMESPACE,
            "--set",
            "watchNamespaces={team-a,team-b}",
            "--set",
            "webhook.enabled=false",
        ]),
    )
    .await;
    let field = expect_ok(
        "CRD field",
        kubectl(&[
            "get",
            "crd",
            "frameworkconnections.cxf.dev",
            "-o",
            "jsonpath={.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.upgradeProbe.type}",
        ]),
    )
    .await;
    assert_eq!(field, "string", "the upgraded CRD has the new field");
    expect_ok(
        "set the new field",
        kubectl(&[
            "patch",
            "frameworkconnection.cxf.dev",
            "default",
            "-n",
            "team-a",
            "--type=merge",
            "-p",
            r#"{"spec":{"upgradeProbe":"x"}}"#,
        ]),
    )
    .await;
    let kept = expect_ok(
        "read the new field",
        kubectl(&[
            "get",
            "frameworkconnection.cxf.dev",
            "default",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.spec.upgradeProbe}",
        ]),
    )
    .await;
    assert_eq!(kept, "x", "the new field is kept by the API server");
    expect_ok(
        "helm upgrade back to the chart",
        helm(&[
            "upgrade",
            RELEASE,
            CHART,
            "--namespace",
            NAMESPACE,
            "--set",
            "watchNamespaces={team-a,team-b}",
            "--set",
            "webhook.enabled=false",
        ]),
    )
    .await;
    let history: Value = serde_json::from_str(
        &expect_ok(
            "helm history",
            helm(&["history", RELEASE, "-n", NAMESPACE, "-o", "json"]),
        )
        .await,
    )
    .unwrap();
    assert_eq!(
        history.as_array().map(Vec::len),
        Some(4),
        "helm history shows install and three upgrades: {history}"
    );

    // --- uninstall keeps the CRDs (crds.keep) and with them the custom resources --------
    expect_ok(
        "helm uninstall",
        helm(&["uninstall", RELEASE, "--namespace", NAMESPACE]),
    )
    .await;
    expect_ok(
        "the CRDs survive helm uninstall",
        kubectl(&["get", "crd", "frameworkconnections.cxf.dev"]),
    )
    .await;
    expect_ok(
        "the custom resources survive helm uninstall",
        kubectl(&[
            "get",
            "frameworkconnection.cxf.dev",
            "default",
            "-n",
            "team-a",
        ]),
    )
    .await;
    let role = output(kubectl(&["get", "role", FULL, "-n", "team-a"])).await;
    let binding = output(kubectl(&[
        "get",
        "rolebinding",
        &format!("{FULL}-self"),
        "-n",
        NAMESPACE,
    ]))
    .await;
    assert!(
        !role.status.success() && !binding.status.success(),
        "the operator's RBAC is gone after helm uninstall"
    );
    expect_ok(
        "helm install again adopts the kept CRDs",
        helm(&[
            "install",
            RELEASE,
            CHART,
            "--namespace",
            NAMESPACE,
            "--set",
            "webhook.enabled=false",
        ]),
    )
    .await;
}

/// A GatekeepingRule `name` in `namespace` for the rule of `endpoint`.
fn rule(namespace: &str, name: &str, endpoint: &str) -> String {
    format!(
        "apiVersion: cxf.dev/v1alpha1
kind: GatekeepingRule
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{endpointName: {endpoint}}}
  gatekeepingApis:
    - apiId: tmf-632
      apiName: Party
      apiVersion: v4
      apiResources:
        - {{resourceName: Organization, criteria: \"*\", rank: 1}}
  deletionPolicy: Orphan
"
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `cxf-operator simulator` on a free port with the examples' credentials; killed on drop.
struct Simulator {
    url: String,
    _child: tokio::process::Child,
}

impl Simulator {
    async fn start() -> Self {
        let mut child = tokio::process::Command::new(cxf_operator())
            .args([
                "simulator",
                "--listen",
                "127.0.0.1:0",
                "--client-id",
                "cxf-operator",
                "--client-secret",
                "change-me",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting the simulator");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the simulator prints its address within 30s")
            .unwrap()
            .expect("the simulator prints a line");
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the simulator's first line: {first}"))
            .to_owned();
        // Keep reading stdout so the simulator never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { url, _child: child }
    }
}
