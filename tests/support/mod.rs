//! Integration-test support: a real Kubernetes control plane (etcd, kube-apiserver,
//! kube-controller-manager), one per test binary, and a fresh namespace per test.
//!
//! Use it from `tests/<name>.rs` with `mod support;`, or from `tests/<name>/main.rs` with
//! `#[path = "../support/mod.rs"] mod support;`:
//!
//! ```ignore
//! let cluster = support::control_plane();
//! let client = cluster.client().await;
//! let ns = support::TestNamespace::create(&client, "my-test").await;
//! ```
//!
//! The first call to [`control_plane`] runs `scripts/control-plane.sh up` in a fresh
//! temporary directory, passing this process as the owner: the script's watchdog stops
//! the control plane and removes the directory once the test binary exits (the test
//! harness never runs destructors of statics). It then installs the CRDs in `crds/`.
//! With `CXF_TEST_KUBECONFIG` set, the cluster it names is used instead (CRDs are still
//! applied). Missing binaries are a failure that says to run
//! `scripts/control-plane.sh build`, never a skip.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

pub mod process;
pub mod simulator;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// How long [`eventually`] waits before failing the test.
pub const EVENTUALLY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running control plane and the tools built with it.
#[derive(Debug)]
pub struct ControlPlane {
    kubeconfig: PathBuf,
    bin_dir: PathBuf,
}

/// The test binary's control plane, started (and the CRDs installed) on first use.
///
/// Panics with the reason if it cannot start; every later call panics the same way
/// instead of trying again.
pub fn control_plane() -> &'static ControlPlane {
    static CONTROL_PLANE: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
    match CONTROL_PLANE.get_or_init(ControlPlane::start) {
        Ok(control_plane) => control_plane,
        Err(error) => panic!("{error}"),
    }
}

/// Where `scripts/control-plane.sh build` put `kubectl`, `helm` and the control-plane
/// binaries (the cache), without starting anything. Panics, saying to run the build,
/// when `kubectl` or `helm` is not there: a missing tool is a failure, never a skip.
pub fn tools_dir() -> &'static Path {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(find_tools_dir) {
        Ok(dir) => dir,
        Err(error) => panic!("{error}"),
    }
}

fn find_tools_dir() -> Result<PathBuf, String> {
    let script = Path::new(MANIFEST_DIR).join("scripts/control-plane.sh");
    let dir = run_checked(Command::new("bash").arg(&script).arg("bin-dir"), "bin-dir")?;
    let dir = PathBuf::from(dir.trim());
    for tool in ["kubectl", "helm"] {
        if !dir.join(tool).is_file() {
            return Err(format!(
                "{tool} missing in {}: run scripts/control-plane.sh build",
                dir.display()
            ));
        }
    }
    Ok(dir)
}

impl ControlPlane {
    fn start() -> Result<Self, String> {
        let script = Path::new(MANIFEST_DIR).join("scripts/control-plane.sh");
        let bin_dir = find_tools_dir()?;
        let kubeconfig = match std::env::var_os("CXF_TEST_KUBECONFIG") {
            Some(kubeconfig) => PathBuf::from(kubeconfig),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("cxf-control-plane-")
                    .tempdir()
                    .map_err(|e| format!("creating a directory for the control plane: {e}"))?
                    // Removed by the script's watchdog when this process exits.
                    .keep();
                run_checked(
                    Command::new("bash")
                        .arg(&script)
                        .arg("up")
                        .arg(&dir)
                        .arg("--owner")
                        .arg(std::process::id().to_string()),
                    "starting the control plane (scripts/control-plane.sh up)",
                )
                .inspect_err(|_| {
                    // Only if empty: a failed start leaves its logs there.
                    let _ = std::fs::remove_dir(&dir);
                })?;
                dir.join("kubeconfig")
            }
        };
        let control_plane = Self {
            kubeconfig,
            bin_dir,
        };
        control_plane.install_crds()?;
        Ok(control_plane)
    }

    /// Applies every `crds/*.yaml` and waits until the CRDs are `Established`.
    fn install_crds(&self) -> Result<(), String> {
        let Ok(entries) = std::fs::read_dir(Path::new(MANIFEST_DIR).join("crds")) else {
            return Ok(());
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
            .collect();
        files.sort();
        let mut names = Vec::new();
        for file in &files {
            let applied = run_checked(
                self.command("kubectl")
                    .args([
                        "apply",
                        "--server-side",
                        "--force-conflicts",
                        "-o",
                        "name",
                        "-f",
                    ])
                    .arg(file),
                &format!("installing {}", file.display()),
            )?;
            names.extend(applied.lines().map(str::to_owned));
        }
        if names.is_empty() {
            return Ok(());
        }
        run_checked(
            self.command("kubectl")
                .args(["wait", "--for=condition=Established", "--timeout=60s"])
                .args(&names),
            "waiting for the CRDs in crds/ to be Established",
        )?;
        Ok(())
    }

    /// The admin kubeconfig (a client certificate in `system:masters`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Stops control-plane component `name` (`etcd`, `kube-apiserver`), keeps it down
    /// for `down`, starts it again with the same flags and waits until the apiserver is
    /// ready (`scripts/control-plane.sh restart`). Only for a control plane this test
    /// binary started (not one named by `CXF_TEST_KUBECONFIG`).
    pub async fn restart(&self, name: &str, down: Duration) {
        assert!(
            std::env::var_os("CXF_TEST_KUBECONFIG").is_none(),
            "restarting {name} needs a control plane started by the tests: unset CXF_TEST_KUBECONFIG"
        );
        let dir = self
            .kubeconfig
            .parent()
            .expect("the kubeconfig is in the state dir");
        let output = tokio::process::Command::new("bash")
            .arg(Path::new(MANIFEST_DIR).join("scripts/control-plane.sh"))
            .arg("restart")
            .arg(dir)
            .arg(name)
            .arg(down.as_secs().to_string())
            .output()
            .await
            .unwrap_or_else(|e| panic!("running control-plane.sh restart {name}: {e}"));
        stdout_if_success(&output, &format!("restarting {name}")).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Where `kubectl`, `helm` and the control-plane binaries are.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The admin client configuration; adjust it to connect as someone else.
    pub async fn config(&self) -> Config {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.kubeconfig.display()));
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap_or_else(|e| panic!("loading {}: {e}", self.kubeconfig.display()))
    }

    /// An admin client. Make one per test: a client belongs to the test's runtime.
    pub async fn client(&self) -> Client {
        Client::try_from(self.config().await).expect("building a client from the admin kubeconfig")
    }

    /// A command for a tool in the bin dir (`kubectl`, `helm`), with `KUBECONFIG` set and
    /// the bin dir first on `PATH`.
    pub fn command(&self, tool: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(tool));
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(
            std::iter::once(self.bin_dir.clone()).chain(std::env::split_paths(&path)),
        )
        .expect("the bin dir is a valid PATH entry");
        command
            .env("KUBECONFIG", &self.kubeconfig)
            .env("PATH", path);
        command
    }

    /// Runs `kubectl ARGS`, fails the test if it fails, and returns its stdout.
    pub async fn kubectl(&self, args: &[&str]) -> String {
        self.run_tool("kubectl", args).await
    }

    /// Runs `helm ARGS`, fails the test if it fails, and returns its stdout.
    pub async fn helm(&self, args: &[&str]) -> String {
        self.run_tool("helm", args).await
    }

    async fn run_tool(&self, tool: &str, args: &[&str]) -> String {
        let mut command = tokio::process::Command::from(self.command(tool));
        command.args(args);
        let output = command
            .output()
            .await
            .unwrap_or_else(|e| panic!("running {tool} {args:?}: {e}"));
        stdout_if_success(&output, &format!("{tool} {args:?}")).unwrap_or_else(|e| panic!("{e}"))
    }
}

fn run_checked(command: &mut Command, step: &str) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|e| format!("{step}: cannot run {command:?}: {e}"))?;
    stdout_if_success(&output, step)
}

fn stdout_if_success(output: &Output, step: &str) -> Result<String, String> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{step} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The version of `module` that `tests/control-plane/<dir>/go.mod` pins, such as
/// `pinned_version("kubernetes", "k8s.io/kubernetes")` = `"v1.36.3"`: the one place the
/// Kubernetes, etcd and helm versions are written (`scripts/control-plane.sh` reads the
/// same lines).
pub fn pinned_version(dir: &str, module: &str) -> String {
    let path = Path::new(MANIFEST_DIR).join(format!("tests/control-plane/{dir}/go.mod"));
    let go_mod = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    go_mod
        .lines()
        .find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(module)).then(|| words.next().map(str::to_owned))?
        })
        .unwrap_or_else(|| panic!("{} pins no version of {module}", path.display()))
}

/// A namespace of its own for one test, `test-<name>-<random>`, deleted when dropped
/// (also when the test fails).
#[derive(Debug)]
pub struct TestNamespace {
    name: String,
}

impl TestNamespace {
    /// Creates the namespace on [`control_plane`]. `test` names the test in the
    /// namespace's name; anything but ASCII letters and digits becomes `-`.
    pub async fn create(client: &Client, test: &str) -> Self {
        let name = namespace_name(test, rand::random());
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        Self { name }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // Synchronous on purpose: Drop cannot await, and the test's runtime may be gone.
        let result = control_plane()
            .command("kubectl")
            .args([
                "delete",
                "namespace",
                &self.name,
                "--wait=false",
                "--ignore-not-found",
            ])
            .output();
        match result {
            Ok(output) if output.status.success() => {}
            Ok(output) => eprintln!(
                "deleting namespace {}: {}",
                self.name,
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(e) => eprintln!("deleting namespace {}: {e}", self.name),
        }
    }
}

/// A valid namespace name (a DNS label) for a test.
fn namespace_name(test: &str, suffix: u32) -> String {
    let slug = cxf_operator::resources::dns_label(test, 40);
    format!("test-{slug}-{suffix:08x}")
}

/// Polls `check` every 250 ms until it returns `Some`, and returns that value; fails the
/// test, naming `what`, after [`EVENTUALLY_TIMEOUT`].
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, EVENTUALLY_TIMEOUT, check).await
}

/// [`eventually`] with its own timeout (for work whose size a test chooses).
pub async fn eventually_within<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Sends `signal` (`TERM`, `KILL`, ...) to process `pid` with kill(1).
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap_or_else(|e| panic!("running kill -{signal} {pid}: {e}"));
    assert!(status.success(), "kill -{signal} {pid}: {status}");
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}
