//! The chart on a real node, as a user meets it: `scripts/image.sh` builds the image from
//! the Dockerfile without any registry, `scripts/node.sh` starts a control plane and a
//! node on this machine (containerd, runc, the CNI bridge, kubelet, kube-proxy,
//! kube-scheduler), and `helm install` runs the chart's pods there with the chart's
//! defaults: only the images and the simulator's URL (in the examples) are set.
//!
//! Needs root and the Debian packages buildah, containerd, runc,
//! containernetworking-plugins, iptables and binutils (scripts/test.sh installs them);
//! a missing one fails the test. The node's binaries come from `scripts/node.sh build`.

mod harness;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use harness::{
    MANIFEST_DIR, Node, Simulator, build_operator_image, eventually, run, script, stripped_operator,
};
use serde_json::Value;

const RELEASE: &str = "cxf-operator";
const NAMESPACE: &str = "cxf-system";
/// The Deployment, ServiceAccount, Service and Lease are named after the release.
const FULLNAME: &str = "cxf-operator";
const REPOSITORY: &str = "localhost/cxf-operator";
const KUBECTL_IMAGE: &str = "localhost/kubectl:v1.36.3";
const PODS: &str = "app.kubernetes.io/name=cxf-operator,app.kubernetes.io/instance=cxf-operator";
/// The operator's Lease lasts 15 s and a standby retries every 5 s (src/controller/leader.rs).
const HANDOVER: Duration = Duration::from_secs(15 + 5 + 5);
/// Pods start in seconds; the margin is for a loaded machine.
const ROLLOUT: &str = "180s";

/// The image holds the binary, exactly the libraries `ldd` lists for it, CA
/// certificates and the non-root user, and nothing else (no shell, no package manager).
#[test]
fn the_image_is_the_binary_its_libraries_certificates_and_a_non_root_user() {
    let dir = tempfile::tempdir().unwrap();
    let binary = stripped_operator(dir.path());
    let archive = build_operator_image(&binary, "localhost/cxf-operator:image-test", dir.path());

    let tar = |args: &[&str]| {
        run(
            Command::new("tar").args(args).arg("-f").arg(&archive),
            "tar",
        )
    };
    let manifest: Value = serde_json::from_str(&tar(&["-xO", "manifest.json"])).unwrap();
    let config: Value =
        serde_json::from_str(&tar(&["-xO", manifest[0]["Config"].as_str().unwrap()])).unwrap();
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/usr/local/bin/cxf-operator"])
    );
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["run"]));
    let layers = manifest[0]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "FROM scratch and one COPY: {layers:?}");

    // The layer's files (directories aside).
    let layer = dir.path().join("layer.tar");
    let mut extract = Command::new("tar");
    extract
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .arg(layers[0].as_str().unwrap());
    run(&mut extract, "extracting the layer");
    std::fs::rename(dir.path().join(layers[0].as_str().unwrap()), &layer).unwrap();
    let files: BTreeSet<String> = run(
        Command::new("tar").arg("-tvf").arg(&layer),
        "listing the layer",
    )
    .lines()
    .filter(|line| !line.starts_with('d'))
    .map(|line| {
        line.rsplit(' ')
            .next()
            .unwrap()
            .trim_start_matches("./")
            .to_owned()
    })
    .collect();

    let ldd = run(Command::new("ldd").arg(&binary), "ldd");
    let mut expected: BTreeSet<String> = ldd
        .lines()
        .filter_map(|line| {
            let path = match line.split_whitespace().collect::<Vec<_>>()[..] {
                [_, "=>", path, _] | [path, _] => path,
                _ => return None,
            };
            path.strip_prefix('/').map(str::to_owned)
        })
        .collect();
    assert!(
        expected.iter().any(|lib| lib.contains("libc.so")),
        "ldd lists libc: {ldd}"
    );
    expected.extend(
        [
            "usr/local/bin/cxf-operator",
            "etc/ssl/certs/ca-certificates.crt",
            "etc/passwd",
            "etc/group",
            "etc/nsswitch.conf",
        ]
        .map(str::to_owned),
    );
    assert_eq!(files, expected, "the image's files");

    let passwd = run(
        Command::new("tar")
            .arg("-xOf")
            .arg(&layer)
            .arg("etc/passwd"),
        "reading /etc/passwd",
    );
    assert!(
        passwd.contains("nonroot:x:65532:65532:"),
        "user 65532 is named: {passwd}"
    );
}

/// `helm install` with the chart's defaults on a real node, then what users do next:
/// leader handover, `helm test`, `helm upgrade`, `helm uninstall`.
#[test]
fn the_chart_runs_on_a_node() {
    let started = Instant::now();
    let node = Node::start();
    let work = tempfile::tempdir().unwrap();
    let binary = stripped_operator(work.path());
    let first = build_operator_image(&binary, &format!("{REPOSITORY}:node-1"), work.path());
    let second = build_operator_image(&binary, &format!("{REPOSITORY}:node-2"), work.path());
    let kubectl_image = work.path().join("kubectl.tar");
    run(
        script("image.sh")
            .args(["static", "--tag", KUBECTL_IMAGE])
            .arg("--binary")
            .arg(node.bin_dir().join("kubectl"))
            .arg("--archive")
            .arg(&kubectl_image)
            .arg("--storage")
            .arg(work.path().join("storage")),
        "building the kubectl image of `helm test` (scripts/image.sh static)",
    );
    node.load(&[&first, &second, &kubectl_image]);
    let simulator = Simulator::start(&node.ip, "cxf-operator", "change-me");
    eprintln!(
        "node, images and simulator ready in {:.0?}",
        started.elapsed()
    );

    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        scenario(&node, &simulator, work.path());
    }));
    if let Err(panic) = outcome {
        eprintln!("{}", node.diagnose());
        std::panic::resume_unwind(panic);
    }
    eprintln!("the chart on a node: {:.0?} in all", started.elapsed());
}

fn scenario(node: &Node, simulator: &Simulator, work: &Path) {
    let chart = Path::new(MANIFEST_DIR).join("charts/cxf-operator");
    let chart = chart.to_str().unwrap();

    // Install: both replicas Running and Ready through their probes.
    let step = Instant::now();
    node.helm(&[
        "install",
        RELEASE,
        chart,
        "--namespace",
        NAMESPACE,
        "--create-namespace",
        "--set",
        &format!("image.repository={REPOSITORY}"),
        "--set",
        "image.tag=node-1",
        "--set",
        &format!("tests.image={KUBECTL_IMAGE}"),
        "--wait",
        "--timeout",
        ROLLOUT,
    ]);
    let pods = running_pods(node, "node-1");
    eprintln!("helm install: 2 pods Ready in {:.0?}", step.elapsed());

    // One replica holds the Lease; the operator got there with its ServiceAccount's
    // token (the pods have no other credentials), so its RBAC is proven by use.
    let leader = lease_holder(node, &pods);
    for pod in &pods {
        let spec = node.kubectl_json(&["get", "pod", pod, "-n", NAMESPACE]);
        assert_eq!(spec["spec"]["serviceAccountName"], FULLNAME);
    }

    // The webhook, served through its Service, refuses a typo with its position.
    let config_name = format!("{FULLNAME}-{NAMESPACE}");
    eventually(
        "the operator to write the webhook's caBundle",
        Duration::from_secs(60),
        || {
            let config =
                node.kubectl_json(&["get", "validatingwebhookconfiguration", &config_name]);
            let client = &config["webhooks"][0]["clientConfig"];
            assert_eq!(
                client["service"]["name"], FULLNAME,
                "served through the Service"
            );
            assert!(client.get("url").is_none(), "no URL: {client}");
            client["caBundle"]
                .as_str()
                .is_some_and(|ca| !ca.is_empty())
                .then_some(())
        },
    );
    assert_typo_refused(node, work);

    // The examples, pointed at the simulator, reconcile to Ready.
    let examples = apply_examples(node, simulator, work);
    for namespace in &examples {
        node.kubectl(&[
            "wait",
            "--for=condition=Ready",
            "--timeout=120s",
            "-n",
            namespace,
            "frameworkconnections.cxf.dev,listenerregistrations.cxf.dev,gatekeepingrules.cxf.dev",
            "--all",
        ]);
    }
    let ids = node.kubectl(&[
        "get",
        "listenerregistrations.cxf.dev",
        "-A",
        "-o",
        "jsonpath={range .items[*]}{.status.externalId}{\"\\n\"}{end}",
    ]);
    assert_eq!(
        ids.lines().filter(|id| !id.is_empty()).count(),
        3,
        "framework ids: {ids}"
    );

    // helm test: its kubectl pod waits for every FrameworkConnection to be Ready.
    node.helm(&[
        "test",
        RELEASE,
        "--namespace",
        NAMESPACE,
        "--timeout",
        ROLLOUT,
    ]);

    // Deleting the leader's pod hands the Lease over within the Lease's duration.
    let step = Instant::now();
    node.kubectl(&["delete", "pod", &leader, "-n", NAMESPACE, "--wait=false"]);
    let successor = eventually("another replica to take the Lease", HANDOVER, || {
        let holder = holder(node)?;
        (holder != leader).then_some(holder)
    });
    eprintln!(
        "leader {leader} deleted: {successor} leads after {:.1?}",
        step.elapsed()
    );
    node.kubectl(&[
        "rollout",
        "status",
        "deployment",
        FULLNAME,
        "-n",
        NAMESPACE,
        "--timeout",
        ROLLOUT,
    ]);
    let pods = running_pods(node, "node-1");
    assert!(pods.contains(&successor), "{successor} is one of {pods:?}");
    // The new leader reconciles: a listener created now gets registered.
    node.kubectl(&[
        "apply",
        "-n",
        &examples[0],
        "-f",
        work.join("listener-after-handover.yaml").to_str().unwrap(),
    ]);
    node.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "--timeout=60s",
        "-n",
        &examples[0],
        "listenerregistrations.cxf.dev/after-handover",
    ]);

    // helm upgrade to a new image rolls the pods one at a time: the webhook answers
    // every admission meanwhile (server-side dry runs, back to back, call it and store
    // nothing), also while a replaced pod stops.
    let step = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let probe = node.admission_probe(&examples[1], Arc::clone(&stop));
    node.helm(&[
        "upgrade",
        RELEASE,
        chart,
        "--namespace",
        NAMESPACE,
        "--reuse-values",
        "--set",
        "image.tag=node-2",
        "--wait",
        "--timeout",
        ROLLOUT,
    ]);
    node.kubectl(&[
        "rollout",
        "status",
        "deployment",
        FULLNAME,
        "-n",
        NAMESPACE,
        "--timeout",
        ROLLOUT,
    ]);
    stop.store(true, Ordering::Relaxed);
    let (admitted, refused) = probe.join().unwrap();
    assert!(
        refused.is_empty(),
        "refused during the upgrade: {refused:#?}"
    );
    assert!(admitted > 0, "no admission was tried during the upgrade");
    let pods = running_pods(node, "node-2");
    lease_holder(node, &pods);
    assert_typo_refused(node, work);
    eprintln!(
        "helm upgrade: rolled in {:.0?}, {admitted} admissions meanwhile, none refused",
        step.elapsed()
    );

    // helm uninstall keeps the CRDs, and with them the custom resources.
    node.helm(&[
        "uninstall",
        RELEASE,
        "--namespace",
        NAMESPACE,
        "--wait",
        "--timeout",
        ROLLOUT,
    ]);
    for crd in [
        "frameworkconnections.cxf.dev",
        "listenerregistrations.cxf.dev",
        "gatekeepingrules.cxf.dev",
    ] {
        node.kubectl(&["get", "crd", crd]);
    }
    let kept = node.kubectl(&["get", "cxf", "-A", "-o", "name"]);
    assert_eq!(
        kept.lines().count(),
        4 + 3 + 1 + 1,
        "resources kept: {kept}"
    );
}

/// Waits until the operator's pods are exactly two, Running and Ready with `tag`, and
/// checks they never restarted (the probes passed from the start). Returns their names.
fn running_pods(node: &Node, tag: &str) -> Vec<String> {
    let image = format!("{REPOSITORY}:{tag}");
    let pods = eventually(
        &format!("two Ready pods of {image}"),
        Duration::from_secs(180),
        || {
            let list = node.kubectl_json(&["get", "pods", "-n", NAMESPACE, "-l", PODS]);
            // The Deployment's (the helm test's pod carries the same labels).
            let pods: Vec<Value> = list["items"]
                .as_array()?
                .iter()
                .filter(|pod| pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet")
                .cloned()
                .collect();
            let ready = |pod: &Value| {
                pod["metadata"]["deletionTimestamp"].is_null()
                    && pod["status"]["phase"] == "Running"
                    && pod["status"]["containerStatuses"][0]["image"] == image.as_str()
                    && pod["status"]["conditions"].as_array().is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
            };
            (pods.len() == 2 && pods.iter().all(ready)).then_some(pods)
        },
    );
    pods.iter()
        .map(|pod| {
            let name = pod["metadata"]["name"].as_str().unwrap().to_owned();
            let restarts = &pod["status"]["containerStatuses"][0]["restartCount"];
            assert_eq!(restarts, 0, "{name} never restarted");
            name
        })
        .collect()
}

fn holder(node: &Node) -> Option<String> {
    node.try_kubectl(&[
        "get",
        "lease",
        FULLNAME,
        "-n",
        NAMESPACE,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ])
    .ok()
    .filter(|holder| !holder.is_empty())
}

/// Waits until one of `pods` holds the Lease; returns it.
fn lease_holder(node: &Node, pods: &[String]) -> String {
    eventually(
        &format!("one of {pods:?} to hold the Lease"),
        HANDOVER,
        || holder(node).filter(|holder| pods.contains(holder)),
    )
}

fn assert_typo_refused(node: &Node, work: &Path) {
    let file = work.join("typo.yaml");
    std::fs::write(
        &file,
        r#"apiVersion: cxf.dev/v1alpha1
kind: ListenerRegistration
metadata:
  name: typo
  namespace: default
spec:
  affiliatedApis:
    - apiName: party
      apiVersion: v4
      query: (/eventType eq "IndividualCreateEvent" or /eventType eq)
  listenerUrl: http://listener.example:8080
"#,
    )
    .unwrap();
    let refusal = node
        .try_kubectl(&["apply", "-f", file.to_str().unwrap()])
        .expect_err("kubectl apply of a criteria typo is refused");
    assert!(
        refusal.contains("admission webhook \"validate.cxf.dev\" denied the request")
            && refusal.contains("line 1, column"),
        "{refusal}"
    );
}

/// Copies every example, points its FrameworkConnection at the simulator, and applies
/// it; returns the examples' namespaces. Also writes `listener-after-handover.yaml`.
fn apply_examples(node: &Node, simulator: &Simulator, work: &Path) -> Vec<String> {
    let mut namespaces = Vec::new();
    let examples = Path::new(MANIFEST_DIR).join("examples");
    let mut folders: Vec<_> = std::fs::read_dir(&examples)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.join("kustomization.yaml").exists())
        .collect();
    folders.sort();
    for folder in folders {
        let name = folder.file_name().unwrap().to_str().unwrap().to_owned();
        let copy = work.join(&name);
        std::fs::create_dir_all(&copy).unwrap();
        for file in std::fs::read_dir(&folder).unwrap().flatten() {
            let text = std::fs::read_to_string(file.path()).unwrap();
            let text = text.replace("http://127.0.0.1:8080", &simulator.url);
            std::fs::write(copy.join(file.file_name()), text).unwrap();
        }
        node.kubectl(&["apply", "-k", copy.to_str().unwrap()]);
        namespaces.push(format!("cxf-example-{name}"));
    }
    assert_eq!(namespaces.len(), 4, "the four examples: {namespaces:?}");
    std::fs::write(
        work.join("listener-after-handover.yaml"),
        r#"apiVersion: cxf.dev/v1alpha1
kind: ListenerRegistration
metadata:
  name: after-handover
spec:
  registrationMethod: Hub
  affiliatedApis:
    - apiName: party
      apiVersion: v4
      query: /eventType eq "OrganizationCreateEvent"
  listenerUrl: http://after-handover.example:8080/listener
"#,
    )
    .unwrap();
    namespaces
}
