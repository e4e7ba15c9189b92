//! The operator at scale, against a real control plane and the simulator: the floor of
//! the same run, cold start with N existing ListenerRegistrations, steady state, and the
//! warm case (N more applied while the operator runs).
//!
//! Run it through `scripts/bench-operator.sh N`, which builds the release binary, starts
//! a control plane, installs the CRDs and runs `cargo bench --bench operator -- N` with
//! `KUBECONFIG` and `CXF_OPERATOR_BIN` set. Every figure comes from the servers' own
//! counters: the apiserver's `apiserver_request_total` and the simulator's
//! `/sim/requests`; the peak RSS is the operator's `VmHWM`. `CXF_OPERATOR_ARGS` adds flags
//! to `cxf-operator run` (such as `--concurrency 32`); `CXF_OPERATOR_LOG` keeps its log.
//! The CPU seconds each process used in a phase come from `/proc/PID/stat` (the control
//! plane's PIDs from `CXF_CONTROL_PLANE_DIR`); `CXF_BENCH_COLD_ONLY=1` stops after the
//! cold start.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use cxf_operator::resources::{FrameworkConnection, ListenerRegistration};

#[path = "support/proc.rs"]
mod proc;
use proc::cpu_seconds;

/// The simulator's client for the operator.
const CLIENT_ID: &str = "bench";
const CLIENT_SECRET: &str = "bench-s3cret";
const WORKSPACE: &str = "01";
/// Namespace the operator watches.
const NAMESPACE: &str = "bench";
/// Namespace of the floor's writes (not watched).
const FLOOR_NAMESPACE: &str = "bench-floor";
/// Concurrency of the floor and of the bench's own creates.
const WAYS: usize = 16;
/// Longest wait for every object to be Ready.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(1800);
/// Steady-state window.
const STEADY: Duration = Duration::from_secs(60);
/// The opt-in label of Secrets the operator may read.
const CREDENTIALS_LABEL: &str = "cxf.dev/credentials";

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Result<()> {
    // `cargo test --all-targets` runs benches once in test mode, without `--bench`: this
    // one needs a control plane and a release build, which scripts/bench-operator.sh sets up.
    if !std::env::args().any(|a| a == "--bench") {
        println!("bench-operator: test mode, nothing to run (scripts/bench-operator.sh N runs it)");
        return Ok(());
    }
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or(Ok(1000), |a| a.parse())?;
    let bin = std::env::var("CXF_OPERATOR_BIN")
        .map_err(|_| "CXF_OPERATOR_BIN is not set: run scripts/bench-operator.sh")?;
    let client = Client::try_default().await?;
    let load_before = load();
    println!(
        "bench-operator: N = {n}, {} CPUs, load average at start {load_before}",
        std::thread::available_parallelism().map_or(0, usize::from)
    );

    let sim = Simulator::start(&bin)?;
    let http = reqwest::Client::new();
    namespace(&client, NAMESPACE).await?;
    namespace(&client, FLOOR_NAMESPACE).await?;

    // The floor: N POSTs to the simulator plus N object writes to the apiserver.
    let mut processes = Processes::of_control_plane()?;
    processes.add("simulator", sim.child.id());
    processes.add("bench driver", std::process::id());
    let cpu = processes.cpu();
    let create = floor(&client, &http, &sim, n, Floor::Create).await?;
    println!(
        "floor: {:.2} s (N POSTs to the simulator + N creates)",
        create.as_secs_f64()
    );
    processes.print_since(&cpu, create);
    // The least any operator keeping the create-exactly-once contract does per object.
    let cpu = processes.cpu();
    let contract = floor(&client, &http, &sim, n, Floor::Contract).await?;
    println!(
        "floor of the contract: {:.2} s (N POSTs + per object a metadata PATCH before the POST and a status apply after; no Event, no watch)",
        contract.as_secs_f64()
    );
    processes.print_since(&cpu, contract);
    let floor = Floors {
        floor: create,
        contract,
    };
    sim.reset(&http).await?;

    // N ListenerRegistrations, then the operator.
    setup(&client, &sim).await?;
    let started = Instant::now();
    create_registrations(&client, "lr", n).await?;
    println!(
        "created {n} ListenerRegistrations in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let ready = ReadyWatch::start(client.clone()).await;
    let before = ApiCounts::read(&client).await?;
    let since = unix_ms();
    let cpu = processes.cpu();
    let operator = Operator::start(&bin)?;
    processes.add("operator", operator.child.id());
    let cold = ready.wait("lr-", n, operator.started).await?;
    let after = ApiCounts::read(&client).await?;
    let admin = sim.admin_calls(&http, since).await?;
    let rss_cold = operator.rss();
    println!("\ncold start: {n} existing objects, operator started");
    print_phase(&floor, &cold, &before.delta(&after), &admin, n);
    println!("peak RSS (VmHWM): {}", rss_cold.0);
    processes.print_since(&cpu, cold.all);
    events_written(&client, &before, n, operator.started).await?;
    if std::env::var_os("CXF_BENCH_COLD_ONLY").is_some() {
        return Ok(());
    }

    // Steady state.
    let since = unix_ms();
    tokio::time::sleep(STEADY).await;
    let steady = sim.admin_calls(&http, since).await?;
    println!(
        "\nsteady state: admin calls in {} s: {} ({})",
        STEADY.as_secs(),
        steady.values().sum::<usize>(),
        describe(&steady)
    );

    // The warm case: N more applied while the operator runs.
    let before = ApiCounts::read(&client).await?;
    let since = unix_ms();
    let cpu = processes.cpu();
    let started = Instant::now();
    create_registrations(&client, "warm", n).await?;
    let warm = ready.wait("warm-", n, started).await?;
    let after = ApiCounts::read(&client).await?;
    let admin = sim.admin_calls(&http, since).await?;
    println!("\nwarm: {n} objects applied while the operator runs (times from the first create)");
    print_phase(&floor, &warm, &before.delta(&after), &admin, n);
    events_written(&client, &before, n, started).await?;
    processes.print_since(&cpu, warm.all);
    let rss = operator.rss();
    println!("peak RSS (VmHWM): {}, RSS now (VmRSS): {}", rss.0, rss.1);
    println!("load average at the end: {}", load());
    drop(operator);
    Ok(())
}

/// Waits until the operator has written an Event per object since `before` (they are
/// written in the background, after Ready), and prints when.
async fn events_written(
    client: &Client,
    before: &ApiCounts,
    n: usize,
    start: Instant,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let written = before.delta(&ApiCounts::read(client).await?).event_writes;
        if written >= n {
            println!(
                "all {n} Events written {:.2} s after the start",
                start.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            println!("only {written} of {n} Events written after 300 s");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The two floors of the run.
struct Floors {
    /// N POSTs + N creates.
    floor: Duration,
    /// N POSTs + 2N updates.
    contract: Duration,
}

fn print_phase(
    floor: &Floors,
    times: &Times,
    api: &ApiDelta,
    admin: &BTreeMap<String, usize>,
    n: usize,
) {
    let per = |count: usize| count as f64 / n as f64;
    println!("start → first Ready: {:.2} s", times.first.as_secs_f64());
    println!(
        "start → all Ready: {:.2} s ({:.1}× the floor, {:.1}× the floor of the contract)",
        times.all.as_secs_f64(),
        times.all.as_secs_f64() / floor.floor.as_secs_f64(),
        times.all.as_secs_f64() / floor.contract.as_secs_f64()
    );
    println!(
        "apiserver writes per object by the operator: {:.2} ({})",
        per(api.registration_writes.values().sum()),
        describe(&api.registration_writes)
    );
    println!(
        "Event writes per object: {:.2}; apiserver 5xx answers: {}",
        per(api.event_writes),
        api.server_errors
    );
    println!(
        "admin calls per object: {:.2} ({})",
        per(admin.values().sum()),
        describe(admin)
    );
    // Every request of the phase, by anyone (this bench's readiness watch included),
    // that came at least once per 100 objects.
    let frequent: BTreeMap<String, usize> = api
        .all
        .iter()
        .filter(|(_, count)| **count * 100 >= n)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    println!(
        "apiserver requests (≥ 1 per 100 objects): {}",
        describe(&frequent)
    );
}

/// The processes whose CPU time the bench reports, by name.
struct Processes(Vec<(&'static str, u32)>);

impl Processes {
    /// The apiserver, etcd and controller manager of the control plane in `CXF_CONTROL_PLANE_DIR`.
    fn of_control_plane() -> Result<Self> {
        let dir = std::env::var("CXF_CONTROL_PLANE_DIR")
            .map_err(|_| "CXF_CONTROL_PLANE_DIR is not set: run scripts/bench-operator.sh")?;
        let mut processes = Self(Vec::new());
        for name in ["kube-apiserver", "etcd", "kube-controller-manager"] {
            let pid = std::fs::read_to_string(format!("{dir}/{name}.pid"))?;
            processes.add(name, pid.trim().parse()?);
        }
        Ok(processes)
    }

    fn add(&mut self, name: &'static str, pid: u32) {
        self.0.push((name, pid));
    }

    /// CPU seconds (user + system) used so far, per process.
    fn cpu(&self) -> Vec<f64> {
        self.0.iter().map(|(_, pid)| cpu_seconds(*pid)).collect()
    }

    /// The CPU seconds each process used since `before`, during `elapsed`.
    fn print_since(&self, before: &[f64], elapsed: Duration) {
        let now = self.cpu();
        let used: Vec<String> = self
            .0
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let spent = now[i] - before.get(i).copied().unwrap_or(0.0);
                format!("{name} {spent:.1}")
            })
            .collect();
        let available = elapsed.as_secs_f64()
            * std::thread::available_parallelism().map_or(1.0, |n| usize::from(n) as f64);
        println!(
            "CPU seconds: {} (of {available:.1} on all cores)",
            used.join(", ")
        );
    }
}

fn describe(counts: &BTreeMap<String, usize>) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

async fn namespace(client: &Client, name: &str) -> Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    Ok(())
}

/// Runs `f(i)` for `i` in `0..n`, `WAYS` at a time.
async fn in_parallel<F, Fut>(n: usize, f: F) -> Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    futures::stream::iter(0..n)
        .map(f)
        .buffer_unordered(WAYS)
        .try_collect::<Vec<()>>()
        .await
        .map(drop)
}

fn registration_body(name: &str) -> Result<ListenerRegistration> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "cxf.dev/v1alpha1",
        "kind": "ListenerRegistration",
        "metadata": {"name": name},
        "spec": {
            "affiliatedApis": [{"apiName": "taxCalculation", "apiNumber": "orcl-200", "apiVersion": "v1",
                "query": "/eventType eq \"TaxEvent1\""}],
            "listenerUrl": format!("http://{name}.bench.svc:8080/events"),
            "auth": {"oidcClientCredentials": {
                "identityUri": "https://idp.example/token",
                "clientId": {"value": "tax-client"},
                "clientSecret": {"name": "listener-credentials", "key": "client-secret"},
                "scope": "events"
            }},
            "type": "external"
        }
    }))?)
}

/// What a floor does per object.
#[derive(Clone, Copy)]
enum Floor {
    /// A POST to the simulator, then a create of the object.
    Create,
    /// A metadata PATCH of the (created) object, a POST to the simulator, a status
    /// apply: the requests the operator's create-exactly-once contract makes per new
    /// object (`reconcile::listener_registration`), without the Event.
    Contract,
}

/// N × `kind`'s requests, 16 objects at a time.
async fn floor(
    client: &Client,
    http: &reqwest::Client,
    sim: &Simulator,
    n: usize,
    kind: Floor,
) -> Result<Duration> {
    let token = sim.token(http).await?;
    let api: Api<ListenerRegistration> = Api::namespaced(client.clone(), FLOOR_NAMESPACE);
    let started = Instant::now();
    in_parallel(n, |i| {
        let (api, http, token) = (&api, http, &token);
        async move {
            let name = format!("floor-{i}");
            match kind {
                Floor::Create => {
                    sim.create(http, token, &format!("http://{name}.bench.svc:8080/events"))
                        .await?;
                    api.create(&PostParams::default(), &registration_body(&name)?)
                        .await?;
                }
                Floor::Contract => {
                    let url = format!("http://{name}.contract.svc:8080/events");
                    let marker =
                        json!({"metadata": {"annotations": {"bench.cxf.dev/pending": url}}});
                    api.patch(&name, &PatchParams::default(), &Patch::Merge(&marker))
                        .await?;
                    sim.create(http, token, &url).await?;
                    let status = json!({
                        "apiVersion": "cxf.dev/v1alpha1", "kind": "ListenerRegistration",
                        "status": {"externalId": format!("c{i}"), "observedGeneration": 1, "conditions": [{
                            "type": "Ready", "status": "True", "reason": "Synced", "message": "in sync",
                            "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]}
                    });
                    api.patch_status(
                        &name,
                        &PatchParams::apply("bench").force(),
                        &Patch::Apply(&status),
                    )
                    .await?;
                }
            }
            Ok(())
        }
    })
    .await?;
    Ok(started.elapsed())
}

/// The Secrets and the `default` FrameworkConnection of the bench namespace.
async fn setup(client: &Client, sim: &Simulator) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    for (name, key, value) in [
        ("framework-credentials", "client-secret", CLIENT_SECRET),
        ("listener-credentials", "client-secret", "listener-s3cret"),
    ] {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {CREDENTIALS_LABEL: "true"}},
            "stringData": {key: value}
        }))?;
        secrets.create(&PostParams::default(), &secret).await?;
    }
    let connection: FrameworkConnection = serde_json::from_value(json!({
        "apiVersion": "cxf.dev/v1alpha1",
        "kind": "FrameworkConnection",
        "metadata": {"name": "default"},
        "spec": {
            "gatewayUrl": sim.base,
            "workspace": WORKSPACE,
            "auth": {"oauth2": {"clientId": CLIENT_ID, "clientSecret": {"name": "framework-credentials", "key": "client-secret"}}},
            "driftCheckInterval": "30s",
            "requestsPerSecond": 1000
        }
    }))?;
    Api::<FrameworkConnection>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &connection)
        .await?;
    Ok(())
}

async fn create_registrations(client: &Client, prefix: &str, n: usize) -> Result<()> {
    let api: Api<ListenerRegistration> = Api::namespaced(client.clone(), NAMESPACE);
    in_parallel(n, |i| {
        let api = &api;
        async move {
            api.create(
                &PostParams::default(),
                &registration_body(&format!("{prefix}-{i}"))?,
            )
            .await?;
            Ok(())
        }
    })
    .await
}

/// Start → first Ready and start → all Ready of one phase.
struct Times {
    first: Duration,
    all: Duration,
}

/// The names of the Ready ListenerRegistrations of the bench namespace, kept by a watch.
struct ReadyWatch {
    ready: Arc<Mutex<HashSet<String>>>,
    first: Arc<Mutex<Vec<(String, Instant)>>>,
}

impl ReadyWatch {
    async fn start(client: Client) -> Self {
        let ready = Arc::new(Mutex::new(HashSet::new()));
        let first = Arc::new(Mutex::new(Vec::new()));
        let api: Api<ListenerRegistration> = Api::namespaced(client, NAMESPACE);
        let (set, log) = (Arc::clone(&ready), Arc::clone(&first));
        let (synced_tx, synced_rx) = tokio::sync::oneshot::channel();
        let mut synced_tx = Some(synced_tx);
        tokio::spawn(async move {
            let mut events = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(event) = events.next().await {
                let Ok(event) = event else { continue };
                if let watcher::Event::InitDone = event
                    && let Some(tx) = synced_tx.take()
                {
                    let _ = tx.send(());
                }
                if let watcher::Event::Apply(lr) | watcher::Event::InitApply(lr) = event {
                    let name = lr.name_any();
                    let is_ready = lr.status.as_ref().is_some_and(|s| {
                        s.conditions
                            .iter()
                            .any(|c| c.type_ == "Ready" && c.status == "True")
                    });
                    let mut set = set.lock().unwrap();
                    if is_ready && set.insert(name.clone()) {
                        log.lock().unwrap().push((name, Instant::now()));
                    } else if !is_ready {
                        set.remove(&name);
                    }
                }
            }
        });
        let _ = synced_rx.await;
        Self { ready, first }
    }

    /// Waits until the `n` objects named `prefix*` are Ready; times from `start`.
    async fn wait(&self, prefix: &str, n: usize, start: Instant) -> Result<Times> {
        let deadline = start + CONVERGE_TIMEOUT;
        let mut report = Instant::now();
        loop {
            let count = self
                .ready
                .lock()
                .unwrap()
                .iter()
                .filter(|k| k.starts_with(prefix))
                .count();
            if count >= n {
                let log = self.first.lock().unwrap();
                let mine = log.iter().filter(|(k, _)| k.starts_with(prefix));
                let first = mine.clone().map(|(_, t)| *t).min().unwrap_or(start);
                let all = mine.map(|(_, t)| *t).max().unwrap_or(start);
                return Ok(Times {
                    first: first.saturating_duration_since(start),
                    all: all.saturating_duration_since(start),
                });
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "only {count} of {n} {prefix}* Ready after {CONVERGE_TIMEOUT:?}"
                )
                .into());
            }
            if report.elapsed() > Duration::from_secs(10) {
                eprintln!(
                    "  {count}/{n} Ready after {:.0} s",
                    start.elapsed().as_secs_f64()
                );
                report = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `apiserver_request_total`, summed the way the figures need.
struct ApiCounts {
    /// `VERB` or `VERB/subresource` → count, for listenerregistrations.
    registrations: BTreeMap<String, f64>,
    events: BTreeMap<String, f64>,
    /// `VERB resource[/subresource]` → count, every resource.
    all: BTreeMap<String, f64>,
    server_errors: f64,
}

struct ApiDelta {
    registration_writes: BTreeMap<String, usize>,
    event_writes: usize,
    /// Every request of the phase, `VERB resource[/subresource]` → count.
    all: BTreeMap<String, usize>,
    server_errors: usize,
}

impl ApiCounts {
    async fn read(client: &Client) -> Result<Self> {
        let request = axum::http::Request::get("/metrics").body(Vec::new())?;
        let text = client.request_text(request).await?;
        let mut counts = Self {
            registrations: BTreeMap::new(),
            events: BTreeMap::new(),
            all: BTreeMap::new(),
            server_errors: 0.0,
        };
        for line in text
            .lines()
            .filter(|l| l.starts_with("apiserver_request_total{"))
        {
            let Some((labels, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let value: f64 = value.parse().unwrap_or(0.0);
            let label = |name: &str| {
                labels
                    .split(&format!("{name}=\""))
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .unwrap_or_default()
                    .to_owned()
            };
            if label("code").starts_with('5') {
                counts.server_errors += value;
            }
            let verb = label("verb");
            let subresource = label("subresource");
            let key = if subresource.is_empty() {
                verb
            } else {
                format!("{verb}/{subresource}")
            };
            let resource = label("resource");
            let path = if subresource.is_empty() {
                resource.clone()
            } else {
                format!("{resource}/{subresource}")
            };
            *counts
                .all
                .entry(format!("{} {path}", label("verb")))
                .or_default() += value;
            match resource.as_str() {
                "listenerregistrations" => *counts.registrations.entry(key).or_default() += value,
                "events" => *counts.events.entry(key).or_default() += value,
                _ => {}
            }
        }
        Ok(counts)
    }

    /// The writes between `self` and `later`, except the bench's own creates (POST).
    fn delta(&self, later: &Self) -> ApiDelta {
        const WRITES: [&str; 4] = ["PUT", "PATCH", "APPLY", "DELETE"];
        let is_write = |key: &str| WRITES.contains(&key.split('/').next().unwrap_or_default());
        let diff = |a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>, key: &str| {
            (b.get(key).copied().unwrap_or(0.0) - a.get(key).copied().unwrap_or(0.0)) as usize
        };
        let registration_writes = later
            .registrations
            .keys()
            .filter(|k| is_write(k))
            .map(|k| {
                (
                    k.clone(),
                    diff(&self.registrations, &later.registrations, k),
                )
            })
            .filter(|(_, v)| *v > 0)
            .collect();
        let event_writes = later
            .events
            .keys()
            .filter(|k| *k == "POST" || is_write(k))
            .map(|k| diff(&self.events, &later.events, k))
            .sum();
        let all = later
            .all
            .keys()
            .map(|k| (k.clone(), diff(&self.all, &later.all, k)))
            .filter(|(_, v)| *v > 0)
            .collect();
        ApiDelta {
            registration_writes,
            event_writes,
            all,
            server_errors: (later.server_errors - self.server_errors) as usize,
        }
    }
}

/// The simulator process, killed on drop.
struct Simulator {
    child: Child,
    base: String,
}

impl Simulator {
    fn start(bin: &str) -> Result<Self> {
        let mut child = Command::new(bin)
            .args([
                "simulator",
                "--listen",
                "127.0.0.1:0",
                "--client-id",
                CLIENT_ID,
                "--client-secret",
                CLIENT_SECRET,
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("unexpected first line {line:?}"))?
            .to_owned();
        Ok(Self { child, base })
    }

    async fn token(&self, http: &reqwest::Client) -> Result<String> {
        let answer: Value = http
            .post(format!("{}/oauth2/token", self.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ])
            .send()
            .await?
            .json()
            .await?;
        Ok(answer["access_token"]
            .as_str()
            .ok_or("no access_token")?
            .to_owned())
    }

    /// Creates a registration of `url` with the admin API, as the operator would.
    async fn create(&self, http: &reqwest::Client, token: &str, url: &str) -> Result<()> {
        let wire = json!({
            "affiliated-apis": [{"api-name": "taxCalculation", "api-number": "orcl-200", "api-version": "v1",
                "query": "/eventType eq \"TaxEvent1\""}],
            "listener-locality": {"external-listener": {"listener-url": url}},
            "type": "external"
        });
        let answer = http
            .post(format!(
                "{}/admin/{WORKSPACE}/listenerRegistrations",
                self.base
            ))
            .bearer_auth(token)
            .json(&wire)
            .send()
            .await?;
        if !answer.status().is_success() {
            return Err(format!("POST listenerRegistrations: {}", answer.status()).into());
        }
        Ok(())
    }

    async fn reset(&self, http: &reqwest::Client) -> Result<()> {
        http.post(format!("{}/sim/reset", self.base))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Admin and hub calls since `since` (Unix ms), by `METHOD route`; the token endpoint
    /// left out. The simulator keeps the last 10,000 requests: a full log is flagged.
    async fn admin_calls(
        &self,
        http: &reqwest::Client,
        since: u64,
    ) -> Result<BTreeMap<String, usize>> {
        let all: Vec<Value> = http
            .get(format!("{}/sim/requests", self.base))
            .send()
            .await?
            .json()
            .await?;
        let mut counts = BTreeMap::new();
        if all.len() >= 10_000
            && all.first().and_then(|r| r["time-ms"].as_u64()).unwrap_or(0) >= since
        {
            counts.insert("(log full: at least)".to_owned(), 0);
        }
        for request in all
            .iter()
            .filter(|r| r["time-ms"].as_u64().unwrap_or(0) >= since)
        {
            let path = request["path"].as_str().unwrap_or_default();
            if path.contains("oauth2") {
                continue;
            }
            let route = if path.ends_with("listenerRegistrations") {
                "listenerRegistrations"
            } else {
                "listenerRegistrations/{id}"
            };
            let status = request["status"].as_u64().unwrap_or(0);
            let key = format!(
                "{} {route} {status}",
                request["method"].as_str().unwrap_or("?")
            );
            *counts.entry(key).or_insert(0) += 1;
        }
        Ok(counts)
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cxf-operator run` watching the bench namespace, killed on drop.
struct Operator {
    child: Child,
    started: Instant,
}

impl Operator {
    fn start(bin: &str) -> Result<Self> {
        let log = std::fs::File::create(
            std::env::var("CXF_OPERATOR_LOG").unwrap_or_else(|_| "/dev/null".into()),
        )?;
        let extra = std::env::var("CXF_OPERATOR_ARGS").unwrap_or_default();
        let started = Instant::now();
        let child = Command::new(bin)
            .args([
                "run",
                "--no-leader-election",
                "--metrics-addr",
                "127.0.0.1:0",
                "--namespace",
                NAMESPACE,
            ])
            .args(extra.split_whitespace())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        Ok(Self { child, started })
    }

    /// (VmHWM, VmRSS) of the process.
    fn rss(&self) -> (String, String) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or_else(|| "?".to_owned(), |kb| format!("{:.0} MiB", kb / 1024.0))
        };
        (field("VmHWM:"), field("VmRSS:"))
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
