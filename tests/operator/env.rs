//! One test's world: a namespace, a simulator, a `default` FrameworkConnection to it,
//! and the controllers running in-process.

use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

use cxf_operator::controller::{self, Settings};
use cxf_operator::metrics::Metrics;
use cxf_operator::resources::FrameworkConnection;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::support::{self, TestNamespace};

/// The simulator's API client for the operator.
pub const CLIENT_ID: &str = "operator";
pub const CLIENT_SECRET: &str = "operator-s3cret";
/// Workspace used by the tests.
pub const WORKSPACE: &str = "01";

/// The requests of `requests` (`/sim/requests` entries) with `method` whose path holds
/// `path_part`.
pub fn count(requests: &[Value], method: &str, path_part: &str) -> usize {
    requests
        .iter()
        .filter(|r| {
            r["method"] == method && r["path"].as_str().unwrap_or_default().contains(path_part)
        })
        .count()
}

/// A simulator process, killed on drop.
pub struct Simulator {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    http: reqwest::Client,
}

impl Simulator {
    fn start(faults: Option<&str>) -> Self {
        let mut args = vec!["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET];
        if let Some(faults) = faults {
            args.extend(["--faults", faults]);
        }
        let (child, base) = support::simulator::spawn(&args);
        Self {
            child,
            base,
            http: reqwest::Client::new(),
        }
    }

    /// `GET /sim/state`'s workspace.
    pub async fn workspace(&self) -> Value {
        let state: Value = self
            .http
            .get(format!("{}/sim/state", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        state["workspaces"][WORKSPACE].clone()
    }

    /// The registrations of the workspace, by id.
    pub async fn registrations(&self) -> serde_json::Map<String, Value> {
        self.workspace().await["listener-registrations"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    /// The rule `id`.
    pub async fn rule(&self, id: &str) -> Value {
        self.workspace().await["gatekeeping-rules"][id].clone()
    }

    /// `GET /sim/requests`, only admin and hub calls (not the token endpoint).
    pub async fn admin_requests(&self) -> Vec<Value> {
        let all: Vec<Value> = self
            .http
            .get(format!("{}/sim/requests", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        all.into_iter()
            .filter(|r| !r["path"].as_str().unwrap_or_default().contains("oauth2"))
            .collect()
    }

    /// Replaces the simulator's fault rules (`POST /sim/faults`).
    pub async fn set_faults(&self, rules: Value) {
        let answer = self
            .http
            .post(format!("{}/sim/faults", self.base))
            .json(&rules)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{}", answer.status());
    }

    /// A call to the admin API with a fresh token (to change the framework behind the
    /// operator's back).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let token =
            support::simulator::token(&self.http, &self.base, CLIENT_ID, CLIENT_SECRET).await;
        let mut request = self
            .http
            .request(method, format!("{}/admin/{WORKSPACE}/{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test's namespace, simulator, connection and running controllers.
pub struct Env {
    pub client: Client,
    pub sim: Simulator,
    pub ns: TestNamespace,
    controllers: Option<tokio::task::JoinHandle<()>>,
}

fn controllers(client: &Client, namespace: &str) -> tokio::task::JoinHandle<()> {
    let settings = Settings {
        namespaces: vec![namespace.to_owned()],
        drift_interval: Duration::from_secs(60),
        credentials_key: cxf_operator::desired::credentials::HashKey::generate(),
        concurrency: controller::watch::DEFAULT_CONCURRENCY,
    };
    tokio::spawn(controller::run(
        client.clone(),
        settings,
        Arc::new(Metrics::default()),
    ))
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(controllers) = &self.controllers {
            controllers.abort();
        }
    }
}

impl Env {
    /// Starts everything; `faults` go to the simulator's `--faults`.
    pub async fn start(test: &str, faults: Option<&str>) -> Self {
        let env = Self::start_with(test, faults, true).await;
        env.wait_ready::<FrameworkConnection>("default").await;
        env
    }

    /// Like [`Env::start`]; with `in_process` false, no controllers run in the test (a
    /// `cxf-operator run` process is the test's to start).
    pub async fn start_with(test: &str, faults: Option<&str>, in_process: bool) -> Self {
        let client = support::control_plane().client().await;
        let ns = TestNamespace::create(&client, test).await;
        let sim = Simulator::start(faults);
        let controllers = in_process.then(|| controllers(&client, ns.name()));
        let env = Self {
            controllers,
            client,
            sim,
            ns,
        };
        env.secret("operator-credentials", &[("client-secret", CLIENT_SECRET)])
            .await;
        env.create::<FrameworkConnection>(json!({
            "metadata": {"name": "default"},
            "spec": {
                "gatewayUrl": env.sim.base,
                "workspace": WORKSPACE,
                "auth": {"oauth2": {"clientId": CLIENT_ID, "clientSecret": {"name": "operator-credentials", "key": "client-secret"}}},
                "driftCheckInterval": "2s",
                "requestsPerSecond": 50
            }
        }))
        .await;
        env
    }

    /// Stops the in-process controllers (as a killed operator would: nothing more is
    /// written).
    pub async fn stop_controllers(&mut self) {
        if let Some(running) = self.controllers.take() {
            running.abort();
            let _ = running.await;
        }
    }

    /// Starts the controllers again (a new operator process: nothing remembered).
    pub fn start_controllers(&mut self) {
        assert!(self.controllers.is_none(), "the controllers already run");
        self.controllers = Some(controllers(&self.client, self.ns.name()));
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), self.ns.name())
    }

    /// Creates or replaces the Secret `name` with `data`, labelled for the operator to
    /// read it (`cxf.dev/credentials: "true"`).
    pub async fn secret(&self, name: &str, data: &[(&str, &str)]) {
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        let body = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "labels": {"cxf.dev/credentials": "true"}}, "stringData": data});
        self.api::<Secret>()
            .patch(
                name,
                &PatchParams::apply("test").force(),
                &Patch::Apply(body),
            )
            .await
            .unwrap();
    }

    /// Creates a resource of kind `K` from `body` (apiVersion and kind added).
    pub async fn create<K>(&self, body: Value)
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let mut body = body;
        body["apiVersion"] = json!(K::api_version(&()));
        body["kind"] = json!(K::kind(&()));
        let object: K = serde_json::from_value(body).unwrap();
        self.api::<K>()
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    }

    /// Merge-patches the spec of `name`.
    pub async fn patch_spec<K>(&self, name: &str, spec: Value)
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        self.api::<K>()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": spec})),
            )
            .await
            .unwrap();
    }

    /// Deletes `name` and waits until it is gone.
    pub async fn delete<K>(&self, name: &str)
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api = self.api::<K>();
        api.delete(name, &DeleteParams::default()).await.unwrap();
        support::eventually(&format!("{name} to be gone"), || async {
            api.get_opt(name).await.unwrap().is_none().then_some(())
        })
        .await;
    }

    /// The object's JSON.
    pub async fn get<K>(&self, name: &str) -> Value
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        serde_json::to_value(self.api::<K>().get(name).await.unwrap()).unwrap()
    }

    /// Waits for `Ready` to have `reason`, and returns the object.
    pub async fn wait_reason<K>(&self, name: &str, reason: &str) -> Value
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        support::eventually(
            &format!("{} {name} to be {reason}", K::kind(&())),
            || async {
                let object = self.get::<K>(name).await;
                let ready = object["status"]["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == "Ready")?
                    .clone();
                let current = object["metadata"]["generation"].clone();
                (ready["reason"] == reason && ready["observedGeneration"] == current)
                    .then_some(object)
            },
        )
        .await
    }

    /// Waits for `Ready=True`.
    pub async fn wait_ready<K>(&self, name: &str) -> Value
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let reason = if K::kind(&()) == "FrameworkConnection" {
            "Connected"
        } else {
            "Reconciled"
        };
        self.wait_reason::<K>(name, reason).await
    }
}

/// A ListenerRegistration body with OIDC credentials from Secret `listener-credentials`.
pub fn listener(name: &str, url: &str, query: &str, extra: Value) -> Value {
    let mut body = json!({
        "metadata": {"name": name},
        "spec": {
            "affiliatedApis": [{"apiName": "taxCalculation", "apiNumber": "orcl-200", "apiVersion": "v1", "query": query}],
            "listenerUrl": url,
            "auth": {"oidcClientCredentials": {
                "identityUri": "https://idp.example/token",
                "clientId": {"value": "tax-client"},
                "clientSecret": {"name": "listener-credentials", "key": "client-secret"},
                "scope": "events"
            }},
            "type": "external"
        }
    });
    if let (Value::Object(spec), Value::Object(extra)) = (&mut body["spec"], extra) {
        spec.extend(extra);
    }
    body
}

/// The framework id in a resource's status.
pub fn external_id(object: &Value) -> String {
    object["status"]["externalId"]
        .as_str()
        .expect("status.externalId")
        .to_owned()
}

/// An HTTP listener recording the `Authorization` header of every delivery; stopped on
/// drop.
pub struct Listener {
    /// `http://127.0.0.1:PORT/events`.
    pub url: String,
    received: Arc<std::sync::Mutex<Vec<String>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Listener {
    pub async fn start() -> Self {
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let app = axum::Router::new().route(
            "/events",
            axum::routing::post(move |headers: axum::http::HeaderMap| {
                let log = Arc::clone(&log);
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    log.lock().unwrap().push(auth);
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", socket.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(socket, app).await.unwrap() });
        Self {
            url,
            received,
            server,
        }
    }

    /// The `Authorization` headers received, in order.
    pub fn authorizations(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Simulator {
    /// Publishes a `taxCalculation v1` event and waits for its deliveries.
    pub async fn publish_tax_event(&self) -> Value {
        let body = json!({
            "envelope": {"eventId": "e1", "eventType": "TaxEvent1", "event": {"tax": {"id": "T1"}}},
            "api-name": "taxCalculation",
            "api-version": "v1"
        });
        let answer = self
            .http
            .post(format!("{}/sim/{WORKSPACE}/events?wait=true", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        answer.json().await.unwrap()
    }
}
