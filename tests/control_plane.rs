//! The test control plane itself: a real apiserver that stores objects and enforces CRD
//! schemas and RBAC, a controller-manager that finalizes namespaces and collects
//! garbage, and kubectl and helm at the pinned versions.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams,
};
use kube::config::AuthInfo;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use serde_json::json;
use support::{TestNamespace, control_plane, eventually, pinned_version};

fn named(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        ..ObjectMeta::default()
    }
}

fn widget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": "widgets.test.cxf.dev" },
        "spec": {
            "group": "test.cxf.dev",
            "scope": "Namespaced",
            "names": { "plural": "widgets", "singular": "widget", "kind": "Widget" },
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": { "spec": {
                        "type": "object",
                        "required": ["size"],
                        "properties": { "size": { "type": "integer", "minimum": 1 } }
                    }}
                }}
            }]
        }
    }))
    .expect("the Widget CRD is a valid CustomResourceDefinition")
}

fn widget_resource() -> ApiResource {
    ApiResource {
        group: "test.cxf.dev".into(),
        version: "v1".into(),
        api_version: "test.cxf.dev/v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
    }
}

#[tokio::test]
async fn stores_and_returns_a_namespace_a_secret_and_a_custom_resource() {
    let client = control_plane().client().await;
    let ns = TestNamespace::create(&client, "objects").await;

    let namespace = Api::<Namespace>::all(client.clone())
        .get(ns.name())
        .await
        .unwrap();
    assert_eq!(
        namespace.status.and_then(|s| s.phase).as_deref(),
        Some("Active")
    );

    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns.name());
    let secret = Secret {
        metadata: named("credentials"),
        string_data: Some(BTreeMap::from([("client-secret".into(), "s3cret".into())])),
        ..Secret::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let stored = secrets.get("credentials").await.unwrap();
    assert_eq!(stored.data.unwrap()["client-secret"].0, b"s3cret");

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let apply = PatchParams::apply("cxf-control-plane-test").force();
    crds.patch("widgets.test.cxf.dev", &apply, &Patch::Apply(widget_crd()))
        .await
        .unwrap();
    let established = await_condition(
        crds,
        "widgets.test.cxf.dev",
        conditions::is_crd_established(),
    );
    tokio::time::timeout(Duration::from_secs(60), established)
        .await
        .expect("the Widget CRD is established within 60s")
        .unwrap();

    let resource = widget_resource();
    let widgets: Api<DynamicObject> = Api::namespaced_with(client, ns.name(), &resource);
    let gear = DynamicObject::new("gear", &resource).data(json!({ "spec": { "size": 3 } }));
    widgets.create(&PostParams::default(), &gear).await.unwrap();
    let stored = widgets.get("gear").await.unwrap();
    assert_eq!(stored.data["spec"]["size"], 3);

    let invalid = DynamicObject::new("broken", &resource).data(json!({ "spec": { "size": 0 } }));
    match widgets.create(&PostParams::default(), &invalid).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 422, "{status:?}"),
        other => panic!("the CRD schema should reject size 0, got {other:?}"),
    }
}

#[tokio::test]
async fn authorizes_with_rbac() {
    let control_plane = control_plane();
    let client = control_plane.client().await;
    let ns = TestNamespace::create(&client, "rbac").await;

    let accounts: Api<ServiceAccount> = Api::namespaced(client, ns.name());
    let account = ServiceAccount {
        metadata: named("reader"),
        ..ServiceAccount::default()
    };
    accounts
        .create(&PostParams::default(), &account)
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
        .create_token_request("reader", &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .and_then(|status| status.token)
        .expect("a TokenRequest answer holds a token");

    let mut config = control_plane.config().await;
    config.auth_info = AuthInfo {
        token: Some(token.into()),
        ..AuthInfo::default()
    };
    let as_reader = Client::try_from(config).unwrap();
    match Api::<Secret>::namespaced(as_reader, ns.name())
        .list(&Default::default())
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{status:?}");
            let user = format!("system:serviceaccount:{}:reader", ns.name());
            assert!(status.message.contains(&user), "{status:?}");
        }
        other => panic!("a service account without roles must not list secrets, got {other:?}"),
    }
}

#[tokio::test]
async fn finalizes_namespaces_and_collects_garbage() {
    let client = control_plane().client().await;
    let ns = TestNamespace::create(&client, "controllers").await;

    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns.name());
    eventually("the default service account of a new namespace", || async {
        accounts.get_opt("default").await.unwrap()
    })
    .await;

    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    let owner = config_maps
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: named("owner"),
                ..ConfigMap::default()
            },
        )
        .await
        .unwrap();
    let dependent = ConfigMap {
        metadata: ObjectMeta {
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: "owner".into(),
                uid: owner.metadata.uid.expect("a created object has a uid"),
                ..OwnerReference::default()
            }]),
            ..named("dependent")
        },
        ..ConfigMap::default()
    };
    config_maps
        .create(&PostParams::default(), &dependent)
        .await
        .unwrap();
    config_maps
        .delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    eventually("the garbage collector to delete the dependent", || async {
        config_maps
            .get_opt("dependent")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;

    let namespaces: Api<Namespace> = Api::all(client);
    namespaces
        .delete(ns.name(), &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "the namespace controller to finalize the namespace",
        || async {
            namespaces
                .get_opt(ns.name())
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn serves_the_pinned_versions_to_kubectl_and_helm() {
    let kubernetes_version = pinned_version("kubernetes", "k8s.io/kubernetes");
    let helm_version = pinned_version("helm", "helm.sh/helm/v3");
    let control_plane = control_plane();
    let client = control_plane.client().await;
    assert_eq!(
        client.apiserver_version().await.unwrap().git_version,
        kubernetes_version
    );

    let versions: serde_json::Value =
        serde_json::from_str(&control_plane.kubectl(&["version", "--output=json"]).await).unwrap();
    assert_eq!(versions["clientVersion"]["gitVersion"], kubernetes_version);
    assert_eq!(versions["serverVersion"]["gitVersion"], kubernetes_version);

    let helm = control_plane.helm(&["version", "--short"]).await;
    assert!(
        helm.starts_with(&helm_version),
        "helm version --short printed {helm:?}"
    );
}
