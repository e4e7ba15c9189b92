//! `cxf-operator import`: applied to a cluster with the operator running, its output
//! makes the operator adopt everything and write nothing to the framework but the
//! credentials a user fills in.

use std::collections::BTreeSet;

use cxf_operator::resources::{GatekeepingRule, ListenerRegistration};
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::shown;
use crate::env::{self, Env};
use crate::support;

/// Registration `i` of 20: every seventh with OAuth credentials, every seventh but one
/// with basic ones, the others without.
fn registration(i: usize) -> Value {
    let mut body = json!({
        "affiliated-apis": [{"api-name": "Party", "api-number": format!("tmf-{i}"), "api-version": "v4",
                             "query": format!("/event/individual/id eq \"P-{i}\"")}],
        "listener-locality": {"external-listener": {"listener-url": format!("http://127.0.0.1:9/listener-{i}")}},
        "type": "external"
    });
    let auth = match i % 7 {
        0 => Some(
            json!({"oidc-client-credentials": {"identity-uri": "https://idp.example/token",
            "client-id": format!("client-{i}"), "client-secret": "framework-side-secret", "scope": "events"}}),
        ),
        1 => Some(
            json!({"basic": {"username": format!("user-{i}"), "password": "framework-side-password"}}),
        ),
        _ => None,
    };
    if let Some(auth) = auth {
        body["listener-locality"]["external-listener"]["listener-auth"] = auth;
    }
    body
}

/// The framework writes (anything but GET) in the simulator's request log.
async fn writes(env: &Env) -> Vec<Value> {
    env.sim
        .admin_requests()
        .await
        .into_iter()
        .filter(|r| r["method"] != "GET")
        .collect()
}

#[tokio::test]
async fn an_import_applied_with_the_operator_running_writes_nothing_to_the_framework() {
    let env = Env::start("gitops-import", None).await;
    let mut with_credentials = BTreeSet::new();
    let mut ids = Vec::new();
    for i in 0..20 {
        let answer = env
            .sim
            .admin(Method::POST, "listenerRegistrations", Some(registration(i)))
            .await;
        assert_eq!(answer.status(), 201);
        let created: Value = answer.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        if i % 7 <= 1 {
            with_credentials.insert(id.clone());
        }
        ids.push(id);
    }
    // A tenant rule that names two of them as its own listeners.
    let mut rule: Value = env
        .sim
        .admin(Method::GET, "gatekeepingRules/gkr-siebel-accounts", None)
        .await
        .json()
        .await
        .unwrap();
    rule["listener-registration-refs"] = json!([ids[2], ids[3]]);
    let answer = env
        .sim
        .admin(
            Method::PATCH,
            "gatekeepingRules/gkr-siebel-accounts",
            Some(rule),
        )
        .await;
    assert_eq!(answer.status(), 202);
    let before = writes(&env).await.len();

    let dir = tempfile::tempdir().unwrap();
    let connection = dir.path().join("connection.yaml");
    std::fs::write(
        &connection,
        format!(
            "gatewayUrl: {}\nworkspace: \"01\"\nclientId: {}\n",
            env.sim.base,
            env::CLIENT_ID
        ),
    )
    .unwrap();
    let out = dir.path().join("framework");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cxf-operator"))
        .args(["import", "--connection"])
        .arg(&connection)
        .args(["--namespace", env.ns.name(), "-o"])
        .arg(&out)
        .env("CXF_CLIENT_SECRET", env::CLIENT_SECRET)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", shown(&output));
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("20 ListenerRegistration(s)"), "{summary}");
    assert!(summary.contains("3 GatekeepingRule(s)"), "{summary}");
    assert!(summary.contains("6 Secret stub(s)"), "{summary}");
    assert!(!summary.contains("warning"), "{summary}");
    let everything = std::fs::read_dir(out.join("secrets"))
        .unwrap()
        .chain(std::fs::read_dir(out.join("listener-registrations")).unwrap())
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(
        !everything.contains("framework-side"),
        "no credential value is written"
    );
    assert!(!everything.contains(env::CLIENT_SECRET));

    support::control_plane()
        .kubectl(&["apply", "-k", out.to_str().unwrap()])
        .await;
    let names = |dir: &str| -> Vec<String> {
        std::fs::read_dir(out.join(dir))
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .path()
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    };
    for name in names("gatekeeping-rules") {
        env.wait_ready::<GatekeepingRule>(&name).await;
    }
    let registrations = names("listener-registrations");
    for name in &registrations {
        if with_credentials.contains(name) {
            env.wait_reason::<ListenerRegistration>(name, "SecretNotFound")
                .await;
        } else {
            env.wait_ready::<ListenerRegistration>(name).await;
        }
    }
    assert_eq!(
        writes(&env).await[before..],
        [] as [Value; 0],
        "adopting the import writes nothing to the framework"
    );

    // The user fills in the credentials: each is sent once, and nothing else.
    for name in &with_credentials {
        let stub =
            std::fs::read_to_string(out.join(format!("secrets/{name}-credentials.yaml"))).unwrap();
        let key = if stub.contains("client-secret:") {
            "client-secret"
        } else {
            "password"
        };
        env.secret(&format!("{name}-credentials"), &[(key, "filled-in")])
            .await;
    }
    for name in &with_credentials {
        env.wait_ready::<ListenerRegistration>(name).await;
    }
    let patched: BTreeSet<String> = writes(&env).await[before..]
        .iter()
        .map(|w| {
            assert_eq!(w["method"], "PATCH", "{w}");
            w["path"]
                .as_str()
                .unwrap()
                .strip_prefix("/admin/01/listenerRegistrations/")
                .unwrap_or_else(|| panic!("only credentials are written: {w}"))
                .to_owned()
        })
        .collect();
    assert_eq!(patched, with_credentials);
    assert_eq!(writes(&env).await.len() - before, with_credentials.len());
}
