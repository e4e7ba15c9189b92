//! The node test's world: a control plane and a node started by `scripts/node.sh`, images
//! built by `scripts/image.sh`, a simulator on the node's address, and the commands that
//! drive them. Every wait is bounded; a missing tool fails the test with the command to
//! install it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
pub const OPERATOR: &str = env!("CARGO_BIN_EXE_cxf-operator");

/// Runs `command`; fails the test, naming `step` and showing the output, unless it succeeds.
pub fn run(command: &mut Command, step: &str) -> String {
    match try_run(command) {
        Ok(stdout) => stdout,
        Err(failure) => panic!("{step}: {failure}"),
    }
}

/// Runs `command`: its stdout if it succeeds, else what it printed.
pub fn try_run(command: &mut Command) -> Result<String, String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    outcome(&output)
        .map_err(|printed| format!("{command:?} failed ({}):\n{printed}", output.status))
}

fn outcome(output: &Output) -> Result<String, String> {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// A script of the repository, `scripts/NAME`.
pub fn script(name: &str) -> Command {
    Command::new(Path::new(MANIFEST_DIR).join("scripts").join(name))
}

/// Polls `check` every 500 ms until it returns `Some`; fails the test, naming `what`,
/// after `timeout`.
pub fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A copy of the test's operator binary without its debug sections (the image then
/// weighs tens of megabytes, not hundreds), in `dir`.
pub fn stripped_operator(dir: &Path) -> PathBuf {
    let binary = dir.join("cxf-operator");
    run(
        Command::new("objcopy")
            .arg("--strip-debug")
            .arg(OPERATOR)
            .arg(&binary),
        "copying the operator binary without debug sections (objcopy, Debian package binutils)",
    );
    binary
}

/// Builds the operator's image from the Dockerfile (`scripts/image.sh build`) into a
/// docker-archive, with a throwaway image store under `dir`.
pub fn build_operator_image(binary: &Path, tag: &str, dir: &Path) -> PathBuf {
    let archive = dir.join(format!("{}.tar", tag.replace(['/', ':'], "_")));
    run(
        script("image.sh")
            .args(["build", "--tag", tag])
            .arg("--binary")
            .arg(binary)
            .arg("--archive")
            .arg(&archive)
            .arg("--storage")
            .arg(dir.join("storage")),
        &format!("building the image {tag} (scripts/image.sh build)"),
    );
    archive
}

/// A control plane and a node, stopped (and their directory removed) when dropped, or
/// by `scripts/node.sh`'s watchdog when the test binary exits.
pub struct Node {
    dir: PathBuf,
    kubeconfig: PathBuf,
    bin_dir: PathBuf,
    /// The node's address: where the apiserver listens and pods reach the machine.
    pub ip: String,
}

impl Node {
    pub fn start() -> Self {
        let bin_dir = PathBuf::from(
            run(
                script("control-plane.sh").arg("bin-dir"),
                "control-plane.sh bin-dir",
            )
            .trim(),
        );
        let dir = tempfile::Builder::new()
            .prefix("cxf-node-")
            .tempdir()
            .expect("creating a directory for the node")
            .keep();
        let mut node = Self {
            kubeconfig: dir.join("cp/kubeconfig"),
            ip: String::new(),
            dir,
            bin_dir,
        };
        let started = Instant::now();
        let up = script("node.sh")
            .arg("up")
            .arg(&node.dir)
            .args(["--owner", &std::process::id().to_string()])
            .stdin(Stdio::null())
            .output()
            .expect("running scripts/node.sh up");
        if !up.status.success() {
            // Its logs, since node.sh leaves them when it fails.
            let logs = node.log_tails(&["containerd", "kubelet", "kube-proxy", "kube-scheduler"]);
            panic!(
                "starting the node (scripts/node.sh up) failed ({}):\n{}{logs}",
                up.status,
                outcome(&up).unwrap_err()
            );
        }
        eprintln!("node ready in {:.0?}", started.elapsed());
        let ip = std::fs::read_to_string(node.dir.join("node-ip")).expect("node.sh writes node-ip");
        node.ip = ip.trim().to_owned();
        node
    }

    /// A command for a tool built with the control plane (`kubectl`, `helm`), as the admin.
    pub fn command(&self, tool: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(tool));
        command.env("KUBECONFIG", &self.kubeconfig);
        command
    }

    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    pub fn kubectl(&self, args: &[&str]) -> String {
        run(
            self.command("kubectl").args(args),
            &format!("kubectl {args:?}"),
        )
    }

    pub fn try_kubectl(&self, args: &[&str]) -> Result<String, String> {
        try_run(self.command("kubectl").args(args))
    }

    pub fn kubectl_json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl(&args)).expect("kubectl -o json prints JSON")
    }

    pub fn helm(&self, args: &[&str]) -> String {
        run(self.command("helm").args(args), &format!("helm {args:?}"))
    }

    /// Until `stop`: server-side dry-run creates of a ListenerRegistration in `namespace`,
    /// back to back (each one calls the webhook and stores nothing). Returns how many
    /// were admitted, and each refusal.
    pub fn admission_probe(
        &self,
        namespace: &str,
        stop: Arc<AtomicBool>,
    ) -> JoinHandle<(usize, Vec<String>)> {
        let kubeconfig = self.kubeconfig.clone();
        let namespace = namespace.to_owned();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the admission probe");
            runtime.block_on(async move {
                let kubeconfig = Kubeconfig::read_from(&kubeconfig).expect("the admin kubeconfig");
                let config =
                    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                        .await
                        .expect("a client configuration from the admin kubeconfig");
                let client = Client::try_from(config).expect("an admin client");
                let gvk = GroupVersionKind::gvk("cxf.dev", "v1alpha1", "ListenerRegistration");
                let api: Api<DynamicObject> =
                    Api::namespaced_with(client, &namespace, &ApiResource::from_gvk(&gvk));
                let listener: DynamicObject = serde_json::from_value(serde_json::json!({
                    "apiVersion": "cxf.dev/v1alpha1",
                    "kind": "ListenerRegistration",
                    "metadata": { "name": "admission-probe" },
                    "spec": {
                        "registrationMethod": "Hub",
                        "affiliatedApis": [{
                            "apiName": "party",
                            "apiVersion": "v4",
                            "query": "/eventType eq \"OrganizationCreateEvent\"",
                        }],
                        "listenerUrl": "http://admission-probe.example:8080/listener",
                    },
                }))
                .expect("a ListenerRegistration");
                let dry_run = PostParams {
                    dry_run: true,
                    ..PostParams::default()
                };
                let (mut admitted, mut refused) = (0, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    match api.create(&dry_run, &listener).await {
                        Ok(_) => admitted += 1,
                        Err(e) => refused.push(e.to_string()),
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (admitted, refused)
            })
        })
    }

    /// Imports docker-archive images into the node's containerd.
    pub fn load(&self, archives: &[&Path]) {
        run(
            script("node.sh").arg("load").arg(&self.dir).args(archives),
            "importing images into the node (scripts/node.sh load)",
        );
    }

    /// The last lines of the named components' logs, and of every container's.
    pub fn log_tails(&self, components: &[&str]) -> String {
        let mut files: Vec<PathBuf> = components
            .iter()
            .map(|name| self.dir.join(format!("{name}.log")))
            .collect();
        let mut containers = Vec::new();
        collect_files(&self.dir.join("pod-logs"), &mut containers);
        containers.sort();
        files.extend(containers);
        let mut tails = String::new();
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            tails.push_str(&format!("\n--- last lines of {}\n", file.display()));
            for line in &lines[lines.len().saturating_sub(20)..] {
                tails.push_str(line);
                tails.push('\n');
            }
        }
        tails
    }

    /// What a person debugging a failure looks at first.
    pub fn diagnose(&self) -> String {
        let mut report = String::new();
        for args in [
            &[
                "get",
                "nodes,pods,services,endpointslices,leases",
                "-A",
                "-o",
                "wide",
            ][..],
            &["get", "events", "-A", "--sort-by=.lastTimestamp"][..],
            &["get", "cxf", "-A"][..],
        ] {
            report.push_str(&format!("\n--- kubectl {}\n", args.join(" ")));
            report.push_str(&self.try_kubectl(args).unwrap_or_else(|e| e));
        }
        report + &self.log_tails(&["kubelet", "containerd"])
    }
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, files);
        } else {
            files.push(path);
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Err(e) = try_run(script("node.sh").arg("down").arg(&self.dir)) {
            eprintln!("stopping the node: {e}");
        }
    }
}

/// `cxf-operator simulator` listening on `address:0`, killed on drop.
pub struct Simulator {
    child: Child,
    /// `http://ADDRESS:PORT`.
    pub url: String,
}

impl Simulator {
    pub fn start(address: &str, client_id: &str, client_secret: &str) -> Self {
        let mut child = Command::new(OPERATOR)
            .args(["simulator", "--listen", &format!("{address}:0")])
            .args(["--client-id", client_id, "--client-secret", client_secret])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the simulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("reading the simulator's first line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the simulator printed {line:?}, not its address"))
            .to_owned();
        Self { child, url }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
