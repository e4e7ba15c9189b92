//! One torture run's world: a namespace, the simulator as a process (with a state file,
//! so that it can be killed and started again on the same port), a `default`
//! FrameworkConnection to it, `cxf-operator run` processes, and the checks every
//! scenario ends with: all Ready, exactly one registration per resource, no secret value
//! anywhere it could leak.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cxf_operator::resources::secret_access::{CREDENTIALS_LABEL, CREDENTIALS_LABEL_VALUE};
use cxf_operator::resources::{FrameworkConnection, ListenerRegistration};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::support::{self, TestNamespace, control_plane, eventually_within};

/// The simulator's API client for the operator.
const CLIENT_ID: &str = "operator";
/// The framework workspace of the connection.
pub const WORKSPACE: &str = "01";
/// The Secret holding the listeners' client secret.
const LISTENER_SECRET: &str = "listener-credentials";

/// A fresh secret value, easy to grep for.
fn secret_value() -> String {
    format!("torture-secret-{:016x}", rand::random::<u64>())
}

/// How the FrameworkConnection is set up.
pub struct Connection {
    /// `spec.requestsPerSecond`.
    pub requests_per_second: u32,
    /// `spec.driftCheckInterval`, such as `2s`.
    pub drift_interval: &'static str,
    /// Whether the simulator keeps its state in a file (`--state`), to be restarted
    /// with it. Off by default: it writes the whole state on every change, which bounds
    /// its throughput at large sizes.
    pub persist: bool,
}

impl Default for Connection {
    fn default() -> Self {
        Self {
            requests_per_second: 200,
            drift_interval: "5s",
            persist: false,
        }
    }
}

/// The simulator process; killed on drop.
pub struct Simulator {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    args: Vec<String>,
    client_secret: String,
    log: PathBuf,
    http: reqwest::Client,
}

impl Simulator {
    fn start(
        dir: &Path,
        client_secret: &str,
        faults: Option<&str>,
        seed: u64,
        persist: bool,
    ) -> Self {
        let mut args: Vec<String> = ["simulator", "--client-id", CLIENT_ID, "--seed"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        args.push(seed.to_string());
        if persist {
            args.push("--state".to_owned());
            args.push(dir.join("sim-state.json").display().to_string());
        }
        if let Some(faults) = faults {
            args.extend(["--faults".to_owned(), faults.to_owned()]);
        }
        let mut sim = Self {
            child: None,
            base: String::new(),
            args,
            client_secret: client_secret.to_owned(),
            log: dir.join("simulator.log"),
            http: reqwest::Client::new(),
        };
        sim.spawn("127.0.0.1:0");
        sim
    }

    /// Starts the process on `listen`; the port may still be held by the process just
    /// killed, so a failed start is tried again for a while.
    fn spawn(&mut self, listen: &str) {
        for _ in 0..40 {
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .expect("opening the simulator log");
            let mut child = Command::new(env!("CARGO_BIN_EXE_cxf-operator"))
                .args(&self.args)
                .args(["--listen", listen])
                .env("CXF_SIM_CLIENT_SECRET", &self.client_secret)
                .stdout(Stdio::piped())
                .stderr(log)
                .spawn()
                .expect("the simulator starts");
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("piped stdout"))
                .read_line(&mut line)
                .expect("reading the simulator's first line");
            if let Some(base) = line.trim().strip_prefix("listening on ") {
                self.base = base.to_owned();
                self.child = Some(child);
                return;
            }
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "the simulator did not start on {listen}: see {}",
            self.log.display()
        );
    }

    /// Kills the process (SIGKILL): the framework becomes unreachable.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same port with the same state file (see
    /// [`Connection::persist`]).
    pub fn restart(&mut self) {
        self.kill();
        let listen = self
            .base
            .strip_prefix("http://")
            .expect("an http base")
            .to_owned();
        self.spawn(&listen);
    }

    /// `GET /sim/state`'s registrations of the workspace, by id.
    pub async fn registrations(&self) -> serde_json::Map<String, Value> {
        let state: Value = self.get("/sim/state").await;
        state["workspaces"][WORKSPACE]["listener-registrations"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    /// `GET /sim/requests`: every admin, hub and token request since the process started.
    pub async fn requests(&self) -> Vec<Value> {
        serde_json::from_value(self.get("/sim/requests").await).expect("a JSON array")
    }

    /// `GET path` of the simulator's control API.
    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `cxf-operator run` process watching the world's namespace; killed on drop.
pub struct Operator {
    child: Child,
    /// The replica's identity in the Lease.
    pub identity: String,
    /// `http://127.0.0.1:PORT` of `/metrics`.
    pub metrics: String,
}

impl Operator {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and waits (at most 30 s) for the process to exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        support::signal(self.pid(), "TERM");
        eventually_within(
            &format!("{} to exit after SIGTERM", self.identity),
            Duration::from_secs(30),
            || {
                let exited = self.child.try_wait().expect("waiting for the operator");
                async move { exited }
            },
        )
        .await
    }

    /// Its exit status, if it exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("waiting for the operator")
    }
}

/// `/metrics` at `base`, if it answers.
pub async fn metrics_text(base: &str) -> Option<String> {
    let answer = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    answer.text().await.ok()
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// An operator process started again whenever it exits (as its Deployment would), or
/// when the test kills it; stopped on drop.
pub struct Supervisor {
    current: Arc<Mutex<Operator>>,
    spawn: Arc<dyn Fn() -> Operator + Send + Sync>,
    exits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Supervisor {
    fn start(spawn: impl Fn() -> Operator + Send + Sync + 'static) -> Self {
        let spawn: Arc<dyn Fn() -> Operator + Send + Sync> = Arc::new(spawn);
        let current = Arc::new(Mutex::new(spawn()));
        let exits = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let (current, spawn, exits) =
                (Arc::clone(&current), Arc::clone(&spawn), Arc::clone(&exits));
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let mut operator = current.lock().expect("operator lock");
                    if operator.exited().is_some() {
                        exits.fetch_add(1, Ordering::SeqCst);
                        *operator = spawn();
                    }
                }
            }
        });
        Self {
            current,
            spawn,
            exits,
            task,
        }
    }

    /// SIGKILL, then a new process at once.
    pub fn kill9(&self) {
        let mut operator = self.current.lock().expect("operator lock");
        operator.kill9();
        *operator = (self.spawn)();
    }

    /// How often the process exited on its own (not killed by the test).
    pub fn exits(&self) -> usize {
        self.exits.load(Ordering::SeqCst)
    }

    /// `/metrics` of the current process.
    pub fn metrics_base(&self) -> String {
        self.current.lock().expect("operator lock").metrics.clone()
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.task.abort();
        self.current.lock().expect("operator lock").kill9();
    }
}

/// The sum of metric `name`'s samples in a Prometheus text exposition.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A test's namespace, simulator and connection, and the secret values it used.
pub struct World {
    pub client: Client,
    pub sim: Simulator,
    pub ns: TestNamespace,
    /// Logs, scraped metrics and the simulator's state file.
    pub dir: tempfile::TempDir,
    /// Every secret value put in a Secret of the namespace.
    secrets: Vec<String>,
}

impl World {
    /// A namespace, the simulator (with `faults` from the start, drawing from `seed`), the
    /// operator's credentials, the listeners' Secret and the `default` connection. No
    /// operator runs yet.
    pub async fn start(
        test: &str,
        faults: Option<&str>,
        seed: u64,
        connection: Connection,
    ) -> Self {
        let client = control_plane().client().await;
        let ns = TestNamespace::create(&client, test).await;
        let dir = tempfile::Builder::new()
            .prefix(&format!("cxf-torture-{test}-"))
            .tempdir()
            .expect("a temporary directory");
        let operator_secret = secret_value();
        let sim = Simulator::start(
            dir.path(),
            &operator_secret,
            faults,
            seed,
            connection.persist,
        );
        let mut world = Self {
            client,
            sim,
            ns,
            dir,
            secrets: Vec::new(),
        };
        world
            .put_secret("operator-credentials", &operator_secret)
            .await;
        let listener_secret = secret_value();
        world.put_secret(LISTENER_SECRET, &listener_secret).await;
        let body = json!({
            "apiVersion": "cxf.dev/v1alpha1",
            "kind": "FrameworkConnection",
            "metadata": {"name": "default"},
            "spec": {
                "gatewayUrl": world.sim.base,
                "workspace": WORKSPACE,
                "auth": {"oauth2": {"clientId": CLIENT_ID, "clientSecret": {"name": "operator-credentials", "key": "client-secret"}}},
                "driftCheckInterval": connection.drift_interval,
                "requestsPerSecond": connection.requests_per_second
            }
        });
        let mut body = body;
        body["apiVersion"] = json!(<FrameworkConnection as kube::Resource>::api_version(&()));
        let object: FrameworkConnection = serde_json::from_value(body).expect("a connection");
        world
            .api::<FrameworkConnection>()
            .create(&PostParams::default(), &object)
            .await
            .expect("creating the FrameworkConnection");
        world
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), self.ns.name())
    }

    /// Creates or replaces Secret `name` with key `client-secret` = `value`, and
    /// remembers the value for [`World::assert_no_secret_leaks`].
    pub async fn put_secret(&mut self, name: &str, value: &str) {
        self.secrets.push(value.to_owned());
        let body = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "labels": {CREDENTIALS_LABEL: CREDENTIALS_LABEL_VALUE}},
            "stringData": {"client-secret": value},
        });
        self.api::<Secret>()
            .patch(
                name,
                &PatchParams::apply("torture").force(),
                &Patch::Apply(body),
            )
            .await
            .unwrap_or_else(|e| panic!("writing Secret {name}: {e}"));
    }

    /// Every secret value used so far: the operator's client secret first, then the
    /// listeners' values in the order they were set.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// Gives the listeners' Secret a new value.
    pub async fn rotate_listener_secret(&mut self) {
        self.put_secret(LISTENER_SECRET, &secret_value()).await;
    }

    /// Starts `cxf-operator run` for the namespace (Lease in the namespace too), output
    /// appended to `operator-IDENTITY.log` in the world's directory.
    pub fn operator(&self, identity: &str, leader_election: bool) -> Operator {
        self.spawner(identity, leader_election, None)()
    }

    /// [`World::operator`] with leader election, through the Kubernetes API server that
    /// `kubeconfig` names.
    pub fn operator_with(&self, identity: &str, kubeconfig: &Path) -> Operator {
        self.spawner(identity, true, Some(kubeconfig.to_owned()))()
    }

    /// [`World::operator`], kept running by a [`Supervisor`] (with leader election).
    pub fn supervised(&self, identity: &str) -> Supervisor {
        Supervisor::start(self.spawner(identity, true, None))
    }

    /// What starts one operator process.
    fn spawner(
        &self,
        identity: &str,
        leader_election: bool,
        kubeconfig: Option<PathBuf>,
    ) -> impl Fn() -> Operator + Send + 'static {
        let namespace = self.ns.name().to_owned();
        let log = self.dir.path().join(format!("operator-{identity}.log"));
        let identity = identity.to_owned();
        let kubeconfig = kubeconfig.unwrap_or_else(|| control_plane().kubeconfig().to_owned());
        move || {
            let port = support::free_port();
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("opening the operator log");
            let mut command = Command::new(env!("CARGO_BIN_EXE_cxf-operator"));
            command
                .args(["run", "--namespace", &namespace])
                .args(["--lease-namespace", &namespace, "--identity", &identity])
                .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
                .args(["--log-format", "json", "--drift-interval", "1m"])
                .env("KUBECONFIG", &kubeconfig)
                .env("RUST_LOG", "info,cxf_operator=debug")
                .stdout(log.try_clone().expect("cloning a file handle"))
                .stderr(log);
            if !leader_election {
                command.arg("--no-leader-election");
            }
            Operator {
                child: command.spawn().expect("cxf-operator run starts"),
                identity: identity.clone(),
                metrics: format!("http://127.0.0.1:{port}"),
            }
        }
    }

    /// Keeps the `/metrics` at `base` in the world's directory (for the leak check).
    pub async fn save_metrics(&self, base: &str) {
        if let Some(text) = metrics_text(base).await {
            let n = rand::random::<u32>();
            std::fs::write(self.dir.path().join(format!("metrics-{n:08x}.txt")), text)
                .expect("writing metrics");
        }
    }

    /// The holder of the operator's Lease.
    pub async fn lease_holder(&self) -> Option<String> {
        self.api::<Lease>()
            .get_opt("cxf-operator")
            .await
            .expect("reading the Lease")?
            .spec?
            .holder_identity
            .filter(|h| !h.is_empty())
    }

    /// Creates ListenerRegistrations `l-<i>` for `range` (16 at a time).
    pub async fn create_listeners(&self, range: std::ops::Range<usize>) {
        let api = self.api::<ListenerRegistration>();
        futures::stream::iter(range)
            .map(|i| {
                let api = api.clone();
                async move {
                    let object: ListenerRegistration =
                        serde_json::from_value(listener(i)).expect("a listener");
                    api.create(&PostParams::default(), &object)
                        .await
                        .unwrap_or_else(|e| panic!("creating l-{i}: {e}"));
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
    }

    /// The ListenerRegistrations as JSON.
    pub async fn listeners(&self) -> Vec<Value> {
        let list = self
            .api::<ListenerRegistration>()
            .list(&ListParams::default())
            .await
            .expect("listing ListenerRegistrations");
        list.items
            .into_iter()
            .map(|r| serde_json::to_value(r).expect("JSON"))
            .collect()
    }

    /// How many ListenerRegistrations are Ready for their current generation, and the
    /// others' Ready reasons and messages (counted).
    pub async fn readiness(&self) -> (usize, BTreeMap<String, usize>) {
        let mut ready = 0;
        let mut others = BTreeMap::new();
        for object in self.listeners().await {
            match ready_condition(&object) {
                Some(c) if c["status"] == "True" => ready += 1,
                Some(c) => {
                    *others
                        .entry(format!(
                            "{}: {}",
                            c["reason"].as_str().unwrap_or(""),
                            c["message"].as_str().unwrap_or("")
                        ))
                        .or_insert(0) += 1;
                }
                None => *others.entry("no Ready condition".to_owned()).or_insert(0) += 1,
            }
        }
        (ready, others)
    }

    /// Waits until the `n` ListenerRegistrations are all Ready (at most `timeout`); the
    /// failure lists what the others say.
    pub async fn wait_all_ready(&self, n: usize, timeout: Duration) {
        self.wait_ready(n, n, timeout).await;
    }

    /// Waits until at least `at_least` of the `n` ListenerRegistrations are Ready (at
    /// most `timeout`); the failure lists what the others say.
    pub async fn wait_ready(&self, at_least: usize, n: usize, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (ready, others) = self.readiness().await;
            if ready >= at_least && (ready < n || others.is_empty()) {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                let listed = self.listeners().await;
                let waiting: Vec<&str> = listed
                    .iter()
                    .filter(|l| ready_condition(l).is_none_or(|c| c["status"] != "True"))
                    .filter_map(|l| l["metadata"]["name"].as_str())
                    .take(20)
                    .collect();
                panic!(
                    "after {timeout:?}, {ready} of {n} ListenerRegistrations are Ready, not {at_least} ({} listed; not Ready: {waiting:?}); they say: {others:#?}",
                    listed.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The framework's registrations by listener URL.
    pub async fn registrations_by_url(&self) -> BTreeMap<String, Vec<String>> {
        let mut by_url: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, registration) in self.sim.registrations().await {
            let url = registration["listener-locality"]["external-listener"]["listener-url"]
                .as_str()
                .unwrap_or("(none)")
                .to_owned();
            by_url.entry(url).or_default().push(id);
        }
        by_url
    }

    /// Exactly one framework registration for each of the `n` resources, none extra,
    /// and each resource's status names its own.
    pub async fn assert_one_registration_per_listener(&self, n: usize) {
        let by_url = self.registrations_by_url().await;
        let twice: Vec<_> = by_url.iter().filter(|(_, ids)| ids.len() > 1).collect();
        assert!(twice.is_empty(), "created more than once: {twice:#?}");
        let expected: Vec<String> = (0..n).map(listener_url).collect();
        let extra: Vec<_> = by_url.keys().filter(|u| !expected.contains(u)).collect();
        assert!(extra.is_empty(), "registrations of no resource: {extra:?}");
        let missing: Vec<_> = expected
            .iter()
            .filter(|u| !by_url.contains_key(*u))
            .collect();
        assert!(
            missing.is_empty(),
            "resources without a registration: {missing:?}"
        );
        for object in self.listeners().await {
            let url = object["spec"]["listenerUrl"].as_str().unwrap_or_default();
            let id = object["status"]["externalId"].as_str();
            assert_eq!(
                id,
                by_url.get(url).map(|ids| ids[0].as_str()),
                "status.externalId of {}",
                object["metadata"]["name"]
            );
        }
    }

    /// Deletes every ListenerRegistration (they go once their finalizer ran).
    pub async fn delete_all_listeners(&self) {
        self.api::<ListenerRegistration>()
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .expect("deleting the ListenerRegistrations");
    }

    /// Waits until no ListenerRegistration is left (at most `timeout`).
    pub async fn wait_no_listeners(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = self.listeners().await;
            if left.is_empty() {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                let mut said = BTreeMap::new();
                for object in &left {
                    let c = ready_condition(object).cloned().unwrap_or(Value::Null);
                    *said
                        .entry(format!(
                            "{}: {}",
                            c["reason"].as_str().unwrap_or(""),
                            c["message"].as_str().unwrap_or("")
                        ))
                        .or_insert(0) += 1;
                }
                panic!(
                    "after {timeout:?}, {} ListenerRegistrations are left; they say: {said:#?}",
                    left.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Looks for every secret value this world used in: the operators' logs, their
    /// scraped metrics, the simulator's log, request log, state and deliveries (as its
    /// API shows them; the state file itself is the framework's storage and holds
    /// credentials by design), the namespace's Events and every resource's status.
    pub async fn assert_no_secret_leaks(&self) {
        let mut sources: Vec<(String, String)> = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).expect("reading the world's directory") {
            let path = entry.expect("a directory entry").path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if name.starts_with("sim-state.json") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_default();
            sources.push((name, String::from_utf8_lossy(&bytes).into_owned()));
        }
        for path in [
            "/sim/requests",
            "/sim/state",
            &format!("/sim/{WORKSPACE}/deliveries"),
        ] {
            sources.push((path.to_owned(), self.sim.get(path).await.to_string()));
        }
        let events = self
            .api::<Event>()
            .list(&ListParams::default())
            .await
            .expect("listing Events");
        sources.push((
            "Events".into(),
            serde_json::to_string(&events.items).expect("JSON"),
        ));
        let connections = self
            .api::<FrameworkConnection>()
            .list(&ListParams::default())
            .await
            .expect("listing FrameworkConnections");
        sources.push((
            "FrameworkConnections".into(),
            serde_json::to_string(&connections.items).expect("JSON"),
        ));
        sources.push((
            "ListenerRegistrations".into(),
            serde_json::to_string(&self.listeners().await).expect("JSON"),
        ));

        let operator_logs: usize = sources
            .iter()
            .filter(|(name, _)| name.starts_with("operator-"))
            .map(|(_, text)| text.lines().count())
            .sum();
        assert!(
            operator_logs > 0,
            "the operators logged nothing: the leak check would prove nothing"
        );
        let mut hits = Vec::new();
        for secret in &self.secrets {
            for (name, text) in &sources {
                for line in text.lines().filter(|line| line.contains(secret.as_str())) {
                    hits.push(format!(
                        "{name}: {}",
                        line.chars().take(400).collect::<String>()
                    ));
                }
            }
        }
        let bytes: usize = sources.iter().map(|(_, text)| text.len()).sum();
        crate::figure(format_args!(
            "leak check: {} secret values searched in {} sources ({} bytes, {operator_logs} operator log lines): {} hits",
            self.secrets.len(),
            sources.len(),
            bytes,
            hits.len()
        ));
        assert!(hits.is_empty(), "secret values found:\n{}", hits.join("\n"));
    }
}

impl Drop for World {
    /// A failed test keeps its logs and metrics.
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Ok(empty) = tempfile::tempdir()
        {
            let dir = std::mem::replace(&mut self.dir, empty);
            eprintln!("the logs of this run are kept in {}", dir.keep().display());
        }
    }
}

/// The Ready condition of a resource, if it speaks for the current generation.
fn ready_condition(object: &Value) -> Option<&Value> {
    let condition = object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    (condition["observedGeneration"] == object["metadata"]["generation"]).then_some(condition)
}

/// The listener URL of resource `l-<i>` (unique: registrations are counted by it).
pub fn listener_url(i: usize) -> String {
    format!("http://127.0.0.1:9/listeners/l-{i}")
}

/// ListenerRegistration `l-<i>`, with the client secret from the shared Secret.
pub fn listener(i: usize) -> Value {
    json!({
        "apiVersion": <ListenerRegistration as kube::Resource>::api_version(&()),
        "kind": "ListenerRegistration",
        "metadata": {"name": format!("l-{i}")},
        "spec": {
            "affiliatedApis": [{"apiName": "taxCalculation", "apiNumber": "orcl-200", "apiVersion": "v1", "query": "*"}],
            "listenerUrl": listener_url(i),
            "auth": {"oidcClientCredentials": {
                "identityUri": "https://idp.example/token",
                "clientId": {"value": "tax-client"},
                "clientSecret": {"name": LISTENER_SECRET, "key": "client-secret"},
                "scope": "events"
            }},
            "type": "external"
        }
    })
}

/// The seed of a run's random draws: `CXF_TORTURE_SEED`, else a random one (printed, to
/// replay a run).
pub fn seed() -> u64 {
    let seed = crate::size("CXF_TORTURE_SEED", rand::random::<u32>().into());
    println!("seed: {seed} (replay with CXF_TORTURE_SEED={seed})");
    seed
}

/// The simulator faults of the torture runs: 10% 503, 5% 429 with Retry-After, 5% answers
/// dropped after the change was made, 150 ms latency on 30% of calls.
pub const FAULTS: &str = "kind=latency,ms=150,rate=0.3;kind=error,status=503,rate=0.1;kind=throttle,retry-after=1,rate=0.05;kind=drop,rate=0.05";
