//! ListenerRegistration end to end.

use std::time::Duration;

use cxf_operator::resources::ListenerRegistration;
use reqwest::Method;
use serde_json::{Value, json};

use base64::Engine;

use crate::env::{Env, Listener, count, external_id, listener};
use crate::support::eventually;

#[tokio::test]
async fn a_registration_reaches_the_framework_and_an_edit_patches_only_the_query() {
    let env = Env::start("lr-create-edit", None).await;
    env.secret("listener-credentials", &[("client-secret", "first-secret")])
        .await;
    env.create::<ListenerRegistration>(listener(
        "tax",
        "http://127.0.0.1:9/tax",
        "(/eventType eq \"TaxEvent1\")",
        json!({}),
    ))
    .await;
    let object = env.wait_ready::<ListenerRegistration>("tax").await;
    let id = external_id(&object);

    let registrations = env.sim.registrations().await;
    let stored = &registrations[&id];
    assert_eq!(stored["affiliated-apis"][0]["api-name"], "taxCalculation");
    assert_eq!(stored["affiliated-apis"][0]["api-number"], "orcl-200");
    assert_eq!(
        stored["listener-locality"]["external-listener"]["listener-url"],
        "http://127.0.0.1:9/tax"
    );
    assert_eq!(stored["type"], "external");
    let oidc = &stored["listener-locality"]["external-listener"]["listener-auth"]["oidc-client-credentials"];
    assert_eq!(oidc["client-id"], "tax-client");
    assert_eq!(
        count(
            &env.sim.admin_requests().await,
            "POST",
            "listenerRegistrations"
        ),
        1
    );

    env.patch_spec::<ListenerRegistration>(
        "tax",
        json!({"affiliatedApis": [{"apiName": "taxCalculation", "apiNumber": "orcl-200", "apiVersion": "v1", "query": "(OP eq \"POST\")"}]}),
    )
    .await;
    env.wait_ready::<ListenerRegistration>("tax").await;
    eventually("the query to change on the framework", || async {
        let registrations = env.sim.registrations().await;
        (registrations[&id]["affiliated-apis"][0]["query"] == "(OP eq \"POST\")").then_some(())
    })
    .await;
    let requests = env.sim.admin_requests().await;
    assert_eq!(
        count(&requests, "PATCH", &format!("listenerRegistrations/{id}")),
        1
    );
    assert_eq!(
        count(&requests, "POST", "listenerRegistrations"),
        1,
        "no second create"
    );

    // Converged: only the periodic list (every 2 s) from now on.
    let before = requests.len();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let after = env.sim.admin_requests().await;
    let new = &after[before..];
    assert!(!new.is_empty(), "the drift check lists periodically");
    assert!(
        new.iter().all(|r| r["method"] == "GET"
            && r["path"]
                .as_str()
                .unwrap()
                .ends_with("/listenerRegistrations")),
        "only list calls after convergence: {new:?}"
    );
    assert!(
        new.len() <= 5,
        "one list per interval, not per resource: {}",
        new.len()
    );
}

#[tokio::test]
async fn a_rotated_secret_patches_the_credentials() {
    let env = Env::start("lr-rotate", None).await;
    env.secret("listener-credentials", &[("client-secret", "first-secret")])
        .await;
    env.create::<ListenerRegistration>(listener("tax", "http://127.0.0.1:9/tax", "*", json!({})))
        .await;
    let object = env.wait_ready::<ListenerRegistration>("tax").await;
    let id = external_id(&object);
    let hash = object["status"]["credentialsHash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !serde_json::to_string(&object)
            .unwrap()
            .contains("first-secret")
    );

    env.secret(
        "listener-credentials",
        &[("client-secret", "rotated-secret")],
    )
    .await;
    let object = eventually("the credentials hash to change", || async {
        let object = env.get::<ListenerRegistration>("tax").await;
        (object["status"]["credentialsHash"].as_str() != Some(hash.as_str())).then_some(object)
    })
    .await;
    assert!(
        !serde_json::to_string(&object)
            .unwrap()
            .contains("rotated-secret")
    );
    let requests = env.sim.admin_requests().await;
    assert_eq!(
        count(&requests, "PATCH", &format!("listenerRegistrations/{id}")),
        1,
        "one PATCH with the new credentials"
    );
}

#[tokio::test]
async fn deletion_policies_delete_or_orphan() {
    let env = Env::start("lr-delete", None).await;
    env.secret("listener-credentials", &[("client-secret", "s")])
        .await;
    env.create::<ListenerRegistration>(listener("deleted", "http://127.0.0.1:9/a", "*", json!({})))
        .await;
    env.create::<ListenerRegistration>(listener(
        "orphaned",
        "http://127.0.0.1:9/b",
        "*",
        json!({"deletionPolicy": "Orphan"}),
    ))
    .await;
    let deleted = external_id(&env.wait_ready::<ListenerRegistration>("deleted").await);
    let orphaned = external_id(&env.wait_ready::<ListenerRegistration>("orphaned").await);
    env.delete::<ListenerRegistration>("deleted").await;
    env.delete::<ListenerRegistration>("orphaned").await;
    let registrations = env.sim.registrations().await;
    assert!(
        !registrations.contains_key(&deleted),
        "policy Delete deletes"
    );
    assert!(
        registrations.contains_key(&orphaned),
        "policy Orphan leaves it"
    );
}

#[tokio::test]
async fn an_annotation_adopts_an_existing_registration() {
    let env = Env::start("lr-adopt", None).await;
    env.secret("listener-credentials", &[("client-secret", "s")])
        .await;
    let created: Value = env
        .sim
        .admin(
            Method::POST,
            "listenerRegistrations",
            Some(json!({
                "affiliated-apis": [{"api-name": "taxCalculation", "api-number": "orcl-200", "api-version": "v1", "query": "*"}],
                "listener-locality": {"external-listener": {"listener-url": "http://127.0.0.1:9/adopted"}},
                "type": "external"
            })),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let mut body = listener("adopted", "http://127.0.0.1:9/adopted", "*", json!({}));
    body["metadata"]["annotations"] = json!({"cxf.dev/external-id": id});
    env.create::<ListenerRegistration>(body).await;
    let object = env.wait_ready::<ListenerRegistration>("adopted").await;
    assert_eq!(external_id(&object), id);
    let requests = env.sim.admin_requests().await;
    assert_eq!(
        count(&requests, "POST", "listenerRegistrations"),
        1,
        "only the test's own create"
    );
    assert_eq!(
        count(&requests, "PATCH", &format!("listenerRegistrations/{id}")),
        1,
        "credentials added to the adopted object"
    );
    assert_eq!(env.sim.registrations().await.len(), 1);
}

#[tokio::test]
async fn a_lost_create_answer_leads_to_exactly_one_registration() {
    let env = Env::start(
        "lr-lost-create",
        Some("kind=drop,route=listenerRegistrations,method=POST,times=1"),
    )
    .await;
    env.secret("listener-credentials", &[("client-secret", "s")])
        .await;
    env.create::<ListenerRegistration>(listener("tax", "http://127.0.0.1:9/lost", "*", json!({})))
        .await;
    let object = env.wait_ready::<ListenerRegistration>("tax").await;
    let registrations = env.sim.registrations().await;
    assert_eq!(
        registrations.len(),
        1,
        "exactly one registration: {:?}",
        env.sim.admin_requests().await
    );
    assert!(registrations.contains_key(&external_id(&object)));
    assert_eq!(
        count(
            &env.sim.admin_requests().await,
            "POST",
            "listenerRegistrations"
        ),
        1,
        "the create was not repeated"
    );
}

#[tokio::test]
async fn a_registration_deleted_on_the_framework_is_recreated() {
    let env = Env::start("lr-drift-delete", None).await;
    env.secret("listener-credentials", &[("client-secret", "s")])
        .await;
    env.create::<ListenerRegistration>(listener("tax", "http://127.0.0.1:9/tax", "*", json!({})))
        .await;
    let first = external_id(&env.wait_ready::<ListenerRegistration>("tax").await);
    let answer = env
        .sim
        .admin(
            Method::DELETE,
            &format!("listenerRegistrations/{first}"),
            None,
        )
        .await;
    assert!(answer.status().is_success());
    let second = eventually("the registration to be created again", || async {
        let object = env.get::<ListenerRegistration>("tax").await;
        let id = object["status"]["externalId"].as_str()?.to_owned();
        (id != first && env.sim.registrations().await.contains_key(&id)).then_some(id)
    })
    .await;
    assert_eq!(
        env.sim.registrations().await.len(),
        1,
        "{second} replaces {first}"
    );
}

#[tokio::test]
async fn a_query_edited_on_the_framework_is_put_back() {
    let env = Env::start("lr-drift-edit", None).await;
    env.secret("listener-credentials", &[("client-secret", "s")])
        .await;
    env.create::<ListenerRegistration>(listener(
        "tax",
        "http://127.0.0.1:9/tax",
        "(ID pr)",
        json!({}),
    ))
    .await;
    let id = external_id(&env.wait_ready::<ListenerRegistration>("tax").await);
    let edit = json!([{"op": "replace", "path": "/affiliated-apis/0/query", "value": "*"}]);
    assert!(
        env.sim
            .admin(
                Method::PATCH,
                &format!("listenerRegistrations/{id}"),
                Some(edit)
            )
            .await
            .status()
            .is_success()
    );
    eventually("the query to be put back", || async {
        (env.sim.registrations().await[&id]["affiliated-apis"][0]["query"] == "(ID pr)")
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_rotated_password_is_what_the_framework_then_delivers_with() {
    let env = Env::start("lr-rotate-deliver", None).await;
    let server = Listener::start().await;
    env.secret("listener-credentials", &[("password", "before-rotation")])
        .await;
    let mut body = listener("tax", &server.url, "*", json!({}));
    body["spec"]["auth"] = json!({"basic": {"username": {"value": "tax"}, "password": {"name": "listener-credentials", "key": "password"}}});
    env.create::<ListenerRegistration>(body).await;
    let hash =
        env.wait_ready::<ListenerRegistration>("tax").await["status"]["credentialsHash"].clone();
    env.sim.publish_tax_event().await;
    let basic = |password: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("tax:{password}"))
        )
    };
    assert_eq!(server.authorizations(), vec![basic("before-rotation")]);

    env.secret("listener-credentials", &[("password", "after-rotation")])
        .await;
    eventually("the new credentials to be applied", || async {
        (env.get::<ListenerRegistration>("tax").await["status"]["credentialsHash"] != hash)
            .then_some(())
    })
    .await;
    env.sim.publish_tax_event().await;
    assert_eq!(
        server.authorizations().last(),
        Some(&basic("after-rotation"))
    );
}

#[tokio::test]
async fn a_hub_registration_gets_its_credentials_by_patch_and_unsubscribes_on_delete() {
    let env = Env::start("lr-hub", None).await;
    env.secret("listener-credentials", &[("client-secret", "s")])
        .await;
    let mut body = listener(
        "hub",
        "http://127.0.0.1:9/hub",
        "(ID pr)",
        json!({"registrationMethod": "Hub"}),
    );
    body["spec"]["affiliatedApis"][0]["apiNumber"] = Value::Null;
    env.create::<ListenerRegistration>(body).await;
    let id = external_id(&env.wait_ready::<ListenerRegistration>("hub").await);
    let requests = env.sim.admin_requests().await;
    assert_eq!(count(&requests, "POST", "/api/01/taxCalculation/v1/hub"), 1);
    assert_eq!(
        count(&requests, "PATCH", &format!("listenerRegistrations/{id}")),
        1
    );
    let stored = &env.sim.registrations().await[&id];
    assert_eq!(
        stored["listener-locality"]["external-listener"]["listener-auth"]["oidc-client-credentials"]
            ["client-id"],
        "tax-client"
    );
    assert_eq!(stored["affiliated-apis"][0]["query"], "(ID pr)");

    env.delete::<ListenerRegistration>("hub").await;
    assert!(!env.sim.registrations().await.contains_key(&id));
    assert_eq!(
        count(
            &env.sim.admin_requests().await,
            "DELETE",
            &format!("/hub/{id}")
        ),
        1
    );
}

#[tokio::test]
async fn the_abandon_annotation_lets_go_when_the_framework_fails() {
    let env = Env::start("lr-abandon", None).await;
    env.secret("listener-credentials", &[("client-secret", "s")])
        .await;
    env.create::<ListenerRegistration>(listener("tax", "http://127.0.0.1:9/tax", "*", json!({})))
        .await;
    let id = external_id(&env.wait_ready::<ListenerRegistration>("tax").await);
    // The framework fails every call on registrations: the cleanup cannot delete.
    env.sim
        .set_faults(json!([{"kind": "error", "status": 503, "route": "listenerRegistrations"}]))
        .await;

    let api = env.api::<ListenerRegistration>();
    api.delete("tax", &Default::default()).await.unwrap();
    let object = env
        .wait_reason::<ListenerRegistration>("tax", "Unavailable")
        .await;
    let message = object["status"]["conditions"][0]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("cxf.dev/abandon"), "{message}");
    let patch = json!({"metadata": {"annotations": {"cxf.dev/abandon": "true"}}});
    api.patch(
        "tax",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(patch),
    )
    .await
    .unwrap();
    eventually("the resource to be let go", || async {
        api.get_opt("tax").await.unwrap().is_none().then_some(())
    })
    .await;
    env.sim.set_faults(json!([])).await;
    assert!(
        env.sim.registrations().await.contains_key(&id),
        "abandoned, not deleted"
    );
}
