//! The webhook's self-managed certificate against a real API server: created on first
//! start, shared by replicas that start together, rotated before expiry, served
//! without a restart, with the caBundle following.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::support::{self, TestNamespace};
use cxf_operator::webhook::cert_secret::{self, NOT_AFTER_ANNOTATION};
use cxf_operator::webhook::{self, CertPolicy, CertResolver, CertSource, Validator};

fn policy(namespace: &str, lifetime: u64, renew_before: u64) -> CertPolicy {
    CertPolicy {
        namespace: namespace.to_owned(),
        secret: "webhook-cert".into(),
        hosts: vec!["127.0.0.1".into()],
        lifetime: Duration::from_secs(lifetime),
        renew_before: Duration::from_secs(renew_before),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_share_one_certificate() {
    let client = support::control_plane().client().await;
    let ns = TestNamespace::create(&client, "cert-shared").await;
    let policy = policy(ns.name(), 3600, 600);
    let (a, b, c) = tokio::join!(
        cert_secret::ensure(&client, &policy),
        cert_secret::ensure(&client, &policy),
        cert_secret::ensure(&client, &policy)
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert_eq!(a, b);
    assert_eq!(b, c);
    let secret = Api::<Secret>::namespaced(client.clone(), ns.name())
        .get("webhook-cert")
        .await
        .unwrap();
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    let data = secret.data.unwrap();
    assert_eq!(data["tls.crt"].0, a.cert_pem.as_bytes());
    assert_eq!(data["ca.crt"].0, a.ca_pem.as_bytes());
    // Not due: a later start reads the same certificate.
    assert_eq!(cert_secret::ensure(&client, &policy).await.unwrap(), a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_is_rotated_before_expiry_and_served_without_restart() {
    let client = support::control_plane().client().await;
    let ns = TestNamespace::create(&client, "cert-rotation").await;
    // Lives 12 s, renewed 8 s before its end: a new certificate about every 4 s.
    let policy = policy(ns.name(), 12, 8);
    let config = format!("cxf-rotation-{}", ns.name());
    let registration: ValidatingWebhookConfiguration = serde_json::from_value(serde_json::json!({
        "metadata": {"name": config},
        "webhooks": [{
            "name": "validate.cxf.dev", "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "clientConfig": {"url": "https://127.0.0.1:1/validate"},
            "rules": [{"apiGroups": ["cxf.dev"], "apiVersions": ["v1alpha1"], "operations": ["CREATE"], "resources": ["nothing"]}],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns.name()}},
        }],
    }))
    .unwrap();
    let configs = Api::<ValidatingWebhookConfiguration>::all(client.clone());
    configs
        .create(&PostParams::default(), &registration)
        .await
        .unwrap();

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let resolver = Arc::new(CertResolver::default());
    let source = CertSource::SelfManaged {
        policy: policy.clone(),
        config_name: Some(config.clone()),
    };
    let keeper = tokio::spawn(webhook::keep_certificate(
        client.clone(),
        source,
        resolver.clone(),
        Duration::from_secs(1),
    ));
    let server = tokio::spawn(webhook::serve(
        listener,
        resolver,
        Validator::default(),
        std::future::pending(),
    ));

    let secrets = Api::<Secret>::namespaced(client.clone(), ns.name());
    let first = support::eventually("the certificate Secret to be created", || async {
        secrets.get_opt("webhook-cert").await.unwrap()
    })
    .await;
    let first_cert = String::from_utf8(first.data.as_ref().unwrap()["tls.crt"].0.clone()).unwrap();
    let first_ca = String::from_utf8(first.data.as_ref().unwrap()["ca.crt"].0.clone()).unwrap();
    let not_after: u64 = first.metadata.annotations.as_ref().unwrap()[NOT_AFTER_ANNOTATION]
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 5..=now + 13).contains(&not_after),
        "not_after {not_after}, now {now}"
    );

    let served = support::eventually("the first certificate to be served", || {
        served_certificate(port, &first_ca)
    })
    .await;
    assert_eq!(served, der(&first_cert));

    let renewed = support::eventually("the certificate to be renewed", || async {
        let secret = secrets.get("webhook-cert").await.unwrap();
        let cert = String::from_utf8(secret.data.as_ref().unwrap()["tls.crt"].0.clone()).unwrap();
        (cert != first_cert).then_some(secret)
    })
    .await;
    let data = renewed.data.unwrap();
    let (cert, ca) = (
        String::from_utf8(data["tls.crt"].0.clone()).unwrap(),
        String::from_utf8(data["ca.crt"].0.clone()).unwrap(),
    );
    assert_eq!(
        ca.matches("BEGIN CERTIFICATE").count(),
        2,
        "the new CA, then the previous one"
    );
    assert!(
        ca.ends_with(&first_ca),
        "the previous CA stays trusted during the rotation"
    );

    // Served without a restart, and trusted through the new caBundle.
    support::eventually("the renewed certificate to be served", || {
        let (ca, expected) = (ca.clone(), der(&cert));
        async move {
            served_certificate(port, &ca)
                .await
                .filter(|served| *served == expected)
        }
    })
    .await;
    support::eventually("the caBundle to follow", || async {
        let config = configs.get(&config).await.unwrap();
        let bundle = config.webhooks.unwrap()[0]
            .client_config
            .ca_bundle
            .clone()?;
        let bundle = String::from_utf8(bundle.0).unwrap();
        bundle
            .contains(ca.split("-----END CERTIFICATE-----").next().unwrap())
            .then_some(())
    })
    .await;

    keeper.abort();
    server.abort();
    configs.delete(&config, &Default::default()).await.unwrap();
}

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

/// The certificate served on `port`, trusted through `ca_pem`; `None` if the TLS
/// handshake fails (not served yet, or not trusted).
async fn served_certificate(port: u16, ca_pem: &str) -> Option<Vec<u8>> {
    let mut builder = reqwest::Client::builder().tls_info(true).use_rustls_tls();
    for ca in reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes()).unwrap() {
        builder = builder.add_root_certificate(ca);
    }
    let client = builder.build().unwrap();
    let response = client
        .post(format!("https://127.0.0.1:{port}/validate"))
        .json(&serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}))
        .send()
        .await
        .ok()?;
    let info = response.extensions().get::<reqwest::tls::TlsInfo>()?;
    info.peer_certificate().map(<[u8]>::to_vec)
}

/// Replicas that start together all write the same caBundle; each one's patch is
/// guarded by the resourceVersion it read, so all but one fail the guard. A replica
/// serves its certificate only once its write succeeds (else a rotation could serve a
/// certificate the API server does not trust yet), so a failed guard must be retried at
/// once: seen on a node, the loser was Ready behind the Service without a certificate
/// for the 10 s of its retry, and the API server got `tls: access denied`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_all_write_the_ca_bundle() {
    let client = support::control_plane().client().await;
    let ns = TestNamespace::create(&client, "ca-bundle-race").await;
    let config = format!("cxf-race-{}", ns.name());
    let registration: ValidatingWebhookConfiguration = serde_json::from_value(serde_json::json!({
        "metadata": {"name": config},
        "webhooks": [{
            "name": "validate.cxf.dev", "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "clientConfig": {"url": "https://127.0.0.1:1/validate"},
            "rules": [{"apiGroups": ["cxf.dev"], "apiVersions": ["v1alpha1"], "operations": ["CREATE"], "resources": ["nothing"]}],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns.name()}},
        }],
    }))
    .unwrap();
    let configs = Api::<ValidatingWebhookConfiguration>::all(client.clone());
    configs
        .create(&PostParams::default(), &registration)
        .await
        .unwrap();
    let shared = cert_secret::ensure(&client, &policy(ns.name(), 3600, 600))
        .await
        .unwrap();
    let write = || cert_secret::write_ca_bundle(&client, &config, &shared.ca_pem);
    let writes = futures::future::join_all([write(), write(), write(), write(), write()]).await;
    for result in writes {
        result.expect("every replica's caBundle write succeeds");
    }
    let written = configs.get(&config).await.unwrap().webhooks.unwrap()[0]
        .client_config
        .ca_bundle
        .clone()
        .unwrap();
    assert_eq!(written.0, shared.ca_pem.as_bytes());
    configs.delete(&config, &Default::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_cert_manager_the_mounted_files_are_served_and_reloaded() {
    let client = support::control_plane().client().await;
    let dir = tempfile::tempdir().unwrap();
    let write = |cert: &webhook::certs::ServingCert| {
        std::fs::write(dir.path().join("tls.crt"), &cert.cert_pem).unwrap();
        std::fs::write(dir.path().join("tls.key"), &cert.key_pem).unwrap();
    };
    let hosts = ["127.0.0.1".to_owned()];
    let first =
        webhook::certs::ServingCert::issue(&hosts, Duration::from_secs(3600), None).unwrap();
    write(&first);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let resolver = Arc::new(CertResolver::default());
    let source = CertSource::Directory(dir.path().to_owned());
    let keeper = tokio::spawn(webhook::keep_certificate(
        client,
        source,
        resolver.clone(),
        Duration::from_secs(1),
    ));
    let server = tokio::spawn(webhook::serve(
        listener,
        resolver,
        Validator::default(),
        std::future::pending(),
    ));

    let served = support::eventually("the mounted certificate to be served", || {
        served_certificate(port, &first.ca_pem)
    })
    .await;
    assert_eq!(served, der(&first.cert_pem));

    // cert-manager renews: the Secret's files change under the mount.
    let second =
        webhook::certs::ServingCert::issue(&hosts, Duration::from_secs(3600), None).unwrap();
    write(&second);
    support::eventually("the renewed files to be served", || {
        let expected = der(&second.cert_pem);
        let ca = second.ca_pem.clone();
        async move {
            served_certificate(port, &ca)
                .await
                .filter(|served| *served == expected)
        }
    })
    .await;

    keeper.abort();
    server.abort();
}
