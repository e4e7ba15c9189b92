//! `cxf-operator plan` against the simulator: a create, a patch, a rule diff, an
//! adoption and a refusal; and, once the operator applied the same manifests, no change.

use cxf_operator::resources::{GatekeepingRule, ListenerRegistration};
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::shown;
use crate::env::{self, Env};
use crate::support;

fn registration(url: &str, query: &str) -> Value {
    json!({
        "affiliated-apis": [{"api-name": "Party", "api-version": "v4", "query": query}],
        "listener-locality": {"external-listener": {"listener-url": url}},
        "type": "external"
    })
}

/// Runs `plan -f FILES -o json` against the test's simulator.
fn plan(env: &Env, files: &[&std::path::Path]) -> (i32, Value) {
    plan_with(env, files, &[])
}

/// [`plan`] with more arguments, and the test cluster as the kubeconfig's.
fn plan_with(env: &Env, files: &[&std::path::Path], args: &[&str]) -> (i32, Value) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cxf-operator"));
    command
        .arg("plan")
        .args(args)
        .env("KUBECONFIG", support::control_plane().kubeconfig());
    for file in files {
        command.arg("-f").arg(file);
    }
    let output = command
        .args([
            "--gateway",
            &env.sim.base,
            "--workspace",
            "01",
            "-o",
            "json",
        ])
        .env("CXF_CLIENT_ID", env::CLIENT_ID)
        .env("CXF_CLIENT_SECRET", env::CLIENT_SECRET)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", shown(&output)));
    (output.status.code().unwrap(), report)
}

fn item<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"].as_str().unwrap().ends_with(&format!("/{name}")))
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

#[tokio::test]
async fn plan_shows_each_action_and_no_change_once_the_operator_applied() {
    let env = Env::start("gitops-plan", None).await;
    let ns = env.ns.name();
    let mut ids = Vec::new();
    for (url, query) in [
        ("http://127.0.0.1:9/adopted", "ID pr"),
        ("http://127.0.0.1:9/patched", "ID pr"),
    ] {
        let created: Value = env
            .sim
            .admin(
                Method::POST,
                "listenerRegistrations",
                Some(registration(url, query)),
            )
            .await
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    env.secret("crm-credentials", &[("client-secret", "s3cret-value")])
        .await;
    let dir = tempfile::tempdir().unwrap();
    let applied = dir.path().join("applied.yaml");
    std::fs::write(
        &applied,
        format!(
            r#"apiVersion: cxf.dev/v1alpha1
kind: ListenerRegistration
metadata: {{name: crm, namespace: {ns}}}
spec:
  affiliatedApis: [{{apiName: Party, apiVersion: v4, query: 'OP eq "POST"'}}]
  listenerUrl: http://127.0.0.1:9/crm
  auth:
    oidcClientCredentials:
      identityUri: https://idp.example/token
      clientId: {{value: crm}}
      clientSecret: {{name: crm-credentials, key: client-secret}}
---
apiVersion: cxf.dev/v1alpha1
kind: ListenerRegistration
metadata:
  name: adopted
  namespace: {ns}
  annotations: {{cxf.dev/external-id: {adopted}}}
spec:
  affiliatedApis: [{{apiName: Party, apiVersion: v4, query: ID pr}}]
  listenerUrl: http://127.0.0.1:9/adopted
---
apiVersion: cxf.dev/v1alpha1
kind: ListenerRegistration
metadata:
  name: patched
  namespace: {ns}
  annotations: {{cxf.dev/external-id: {patched}}}
spec:
  affiliatedApis: [{{apiName: Party, apiVersion: v4, query: '/event/individual/status eq "active"'}}]
  listenerUrl: http://127.0.0.1:9/patched
---
apiVersion: cxf.dev/v1alpha1
kind: GatekeepingRule
metadata: {{name: party, namespace: {ns}}}
spec:
  selector: {{endpointName: tmf632}}
  gatekeepingApis:
    - apiId: tmf-632
      apiName: Party
      apiVersion: v4
      apiResources:
        - {{resourceName: Individual, criteria: ID pr, rank: 2}}
        - {{resourceName: Organization, criteria: '*', rank: 1}}
"#,
            adopted = ids[0],
            patched = ids[1],
        ),
    )
    .unwrap();
    let refused = dir.path().join("refused.yaml");
    std::fs::write(
        &refused,
        format!(
            r#"apiVersion: cxf.dev/v1alpha1
kind: GatekeepingRule
metadata: {{name: customers, namespace: {ns}}}
spec:
  selector: {{endpointName: tmf629}}
  gatekeepingApis:
    - apiId: tmf-632
      apiName: Party
      apiVersion: v4
      apiResources: [{{resourceName: Individual, criteria: '*', rank: 5}}]
"#
        ),
    )
    .unwrap();
    let requests_before = env.sim.admin_requests().await.len();

    let (code, report) = plan(&env, &[&applied, &refused]);
    assert_eq!(code, 1, "a refusal fails the plan: {report}");
    let crm = item(&report, "crm");
    assert_eq!(crm["action"], "create", "{crm}");
    let oidc = &crm["payload"]["listener-locality"]["external-listener"]["listener-auth"]["oidc-client-credentials"];
    assert_eq!(
        oidc["client-secret"],
        format!("(from Secret {ns}/crm-credentials client-secret)")
    );
    assert_eq!(oidc["client-id"], "crm");
    let adopted = item(&report, "adopted");
    assert_eq!(adopted["action"], "adopt", "{adopted}");
    assert_eq!(adopted["id"], ids[0].as_str());
    let patched = item(&report, "patched");
    assert_eq!(patched["action"], "update", "{patched}");
    assert_eq!(
        patched["patch"],
        json!([{"op": "replace", "path": "/affiliated-apis/0/query", "value": "/event/individual/status eq \"active\""}])
    );
    let party = item(&report, "party");
    assert_eq!(party["action"], "rule-write", "{party}");
    assert_eq!(
        party["changes"],
        json!([
            {"field": "gatekeeping-apis[0].api-resources[0].gatekeeping-criteria.criteria",
             "before": "(ID pr or /event/individual/familyName pr or /event/individual/id pr or /event/organization/tradingName pr or /event/organization/id pr)",
             "after": "ID pr"},
            {"field": "gatekeeping-apis[0].api-resources[0].gatekeeping-criteria.rank", "before": 1, "after": 2}
        ])
    );
    let customers = item(&report, "customers");
    assert_eq!(customers["action"], "refused", "{customers}");
    assert!(
        customers["message"]
            .as_str()
            .unwrap()
            .contains("API tmf-629 v4 cannot be removed"),
        "{customers}"
    );
    let reads_only = env.sim.admin_requests().await[requests_before..]
        .iter()
        .all(|r| r["method"] == "GET");
    assert!(reads_only, "plan only reads");

    let (code, report) = plan(&env, &[&applied]);
    assert_eq!(code, 2, "changes without refusal: {report}");
    assert_eq!(report["changes"], true);

    support::control_plane()
        .kubectl(&["apply", "-f", applied.to_str().unwrap()])
        .await;
    for name in ["crm", "adopted", "patched"] {
        env.wait_ready::<ListenerRegistration>(name).await;
    }
    env.wait_ready::<GatekeepingRule>("party").await;

    let (code, report) = plan(&env, &[&applied]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["changes"], false);
    assert_eq!(item(&report, "crm")["action"], "nothing-to-do", "{report}");
    assert_eq!(
        item(&report, "party")["action"],
        "nothing-to-do",
        "{report}"
    );
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .ends_with("No change on the framework."),
        "{report}"
    );

    // A second registration with crm's URL and APIs, made by hand: matching by URL +
    // APIs cannot tell which is crm's; the cluster's status can.
    env.sim
        .admin(
            Method::POST,
            "listenerRegistrations",
            Some(registration("http://127.0.0.1:9/crm", "ID pr")),
        )
        .await;
    let (code, report) = plan(&env, &[&applied]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(item(&report, "crm")["action"], "refused", "{report}");
    let (code, report) = plan_with(&env, &[&applied], &["--cluster"]);
    assert_eq!(code, 0, "{report}");
    let crm = item(&report, "crm");
    assert_eq!(
        (&crm["action"], &crm["matched_by"]),
        (&json!("nothing-to-do"), &json!("status")),
        "{report}"
    );

    // A new manifest whose URL and APIs match a registration made by hand: taken as
    // its own without the cluster, but the operator creates one (it adopts by URL +
    // APIs only after a create whose answer it lost), as plan says with --cluster.
    let by_hand: Value = env
        .sim
        .admin(
            Method::POST,
            "listenerRegistrations",
            Some(registration("http://127.0.0.1:9/fresh", "ID pr")),
        )
        .await
        .json()
        .await
        .unwrap();
    let fresh = dir.path().join("fresh.yaml");
    std::fs::write(
        &fresh,
        format!(
            r#"apiVersion: cxf.dev/v1alpha1
kind: ListenerRegistration
metadata: {{name: fresh, namespace: {ns}}}
spec:
  affiliatedApis: [{{apiName: Party, apiVersion: v4, query: ID pr}}]
  listenerUrl: http://127.0.0.1:9/fresh
"#
        ),
    )
    .unwrap();
    let (code, report) = plan(&env, &[&fresh]);
    assert_eq!(
        (code, &item(&report, "fresh")["action"]),
        (0, &json!("nothing-to-do")),
        "{report}"
    );
    let (code, report) = plan_with(&env, &[&fresh], &["--cluster"]);
    assert_eq!(
        (code, &item(&report, "fresh")["action"]),
        (2, &json!("create")),
        "{report}"
    );
    support::control_plane()
        .kubectl(&["apply", "-f", fresh.to_str().unwrap()])
        .await;
    let applied_fresh = env.wait_ready::<ListenerRegistration>("fresh").await;
    assert_ne!(
        applied_fresh["status"]["externalId"], by_hand["id"],
        "the operator created, as plan --cluster said"
    );
}

/// `plan -f -` with `stdin`, against an address where no framework answers: what it
/// prints comes before any call, or is the failed call.
fn plan_unreachable(stdin: &str) -> std::process::Output {
    crate::cli::run(
        &[
            "plan",
            "-f",
            "-",
            "--gateway",
            "http://127.0.0.1:9",
            "--workspace",
            "01",
        ],
        Some(stdin),
    )
}

#[tokio::test]
async fn invalid_manifests_exit_1_with_the_validate_findings_before_any_call() {
    let manifest = r#"apiVersion: cxf.dev/v1alpha1
kind: ListenerRegistration
metadata: {name: broken}
spec:
  affiliatedApis: [{apiName: Party, apiVersion: v4, query: 'eventType=X'}]
  listenerUrl: http://127.0.0.1:9/x
"#;
    let output = plan_unreachable(manifest);
    assert_eq!(output.status.code(), Some(1), "{}", shown(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("ListenerRegistration/broken spec.affiliatedApis[0].query"),
        "{text}"
    );
}

#[tokio::test]
async fn an_input_without_a_document_is_an_error_not_an_empty_plan() {
    // What a failed `kustomize build | cxf-operator plan -f -` feeds it.
    for stdin in ["", "\n", "---\n# nothing rendered\n"] {
        let output = plan_unreachable(stdin);
        assert_eq!(output.status.code(), Some(1), "{}", shown(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with("error: no manifest in -: nothing to plan"),
            "{stdin:?}: {stderr}"
        );
    }
}
