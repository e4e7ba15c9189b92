//! What `helm template` renders from `charts/cxf-operator`, without a cluster: the
//! restricted pod security, probes, webhook scope, the exact RBAC of the operator (any
//! extra permission fails), the CRDs against `crds/`, and each optional part.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{
    FULL, KINDS, NAMESPACE, deployment_args, documents, find, helm_template, is_hook, kind, name,
    one, render, root, stderr,
};

/// One permission: (namespace or `*`, apiGroup, resource, verb, resourceName or `*`).
type Permission = (String, String, String, String, String);

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every permission the operator's ServiceAccount gets through the chart's bindings.
fn operator_permissions(docs: &[Value]) -> BTreeSet<Permission> {
    let mut roles = BTreeMap::new();
    for d in docs {
        if matches!(kind(d), "Role" | "ClusterRole") && !is_hook(d) {
            let ns = d["metadata"]["namespace"].as_str().map(str::to_owned);
            roles.insert((kind(d).to_owned(), ns, name(d).to_owned()), &d["rules"]);
        }
    }
    let subject = json!({"kind": "ServiceAccount", "name": FULL, "namespace": NAMESPACE});
    let mut perms = BTreeSet::new();
    for b in docs {
        if !matches!(kind(b), "RoleBinding" | "ClusterRoleBinding") || is_hook(b) {
            continue;
        }
        if !b["subjects"]
            .as_array()
            .is_some_and(|s| s.contains(&subject))
        {
            continue;
        }
        let ns = b["metadata"]["namespace"].as_str().map(str::to_owned);
        let role_kind = b["roleRef"]["kind"].as_str().unwrap_or_default().to_owned();
        let role_ns = if role_kind == "Role" {
            ns.clone()
        } else {
            None
        };
        let role_name = b["roleRef"]["name"].as_str().unwrap_or_default().to_owned();
        let rules = roles
            .get(&(role_kind, role_ns, role_name))
            .unwrap_or_else(|| {
                panic!(
                    "binding {} refers to a role the chart does not render",
                    name(b)
                )
            });
        let scope = ns.unwrap_or_else(|| "*".to_owned());
        for rule in rules.as_array().into_iter().flatten() {
            let names = match strings(&rule["resourceNames"]) {
                names if names.is_empty() => vec!["*".to_owned()],
                names => names,
            };
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    for verb in strings(&rule["verbs"]) {
                        for n in &names {
                            perms.insert((
                                scope.clone(),
                                group.clone(),
                                resource.clone(),
                                verb.clone(),
                                n.clone(),
                            ));
                        }
                    }
                }
            }
        }
    }
    perms
}

fn perm(scope: &str, group: &str, resource: &str, verb: &str, name: &str) -> Permission {
    (
        scope.into(),
        group.into(),
        resource.into(),
        verb.into(),
        name.into(),
    )
}

/// What the operator needs where it watches `scope` (a namespace, or `*`).
fn watch_permissions(scope: &str) -> BTreeSet<Permission> {
    let mut p = BTreeSet::new();
    for k in KINDS {
        for v in ["get", "list", "watch", "patch", "update"] {
            p.insert(perm(scope, "cxf.dev", k, v, "*"));
        }
        for v in ["patch", "update"] {
            p.insert(perm(scope, "cxf.dev", &format!("{k}/status"), v, "*"));
        }
        p.insert(perm(
            scope,
            "cxf.dev",
            &format!("{k}/finalizers"),
            "update",
            "*",
        ));
    }
    for v in ["get", "list", "watch"] {
        p.insert(perm(scope, "", "secrets", v, "*"));
    }
    for g in ["", "events.k8s.io"] {
        for v in ["create", "patch"] {
            p.insert(perm(scope, g, "events", v, "*"));
        }
    }
    p
}

/// What the operator needs for itself: its Lease and its credentials-hash key Secret;
/// with the webhook, SubjectAccessReviews; with self-managed webhook certificates, their
/// Secret and its ValidatingWebhookConfiguration.
fn self_permissions(webhook: bool, webhook_certs: bool) -> BTreeSet<Permission> {
    let mut p = BTreeSet::from([perm(
        NAMESPACE,
        "coordination.k8s.io",
        "leases",
        "create",
        "*",
    )]);
    for v in ["get", "update", "patch"] {
        p.insert(perm(NAMESPACE, "coordination.k8s.io", "leases", v, FULL));
    }
    p.insert(perm(NAMESPACE, "", "secrets", "create", "*"));
    p.insert(perm(
        NAMESPACE,
        "",
        "secrets",
        "get",
        &format!("{FULL}-credentials-hash-key"),
    ));
    if webhook {
        p.insert(perm(
            "*",
            "authorization.k8s.io",
            "subjectaccessreviews",
            "create",
            "*",
        ));
    }
    if webhook_certs {
        let secret = format!("{FULL}-webhook-cert");
        for v in ["get", "update", "patch"] {
            p.insert(perm(NAMESPACE, "", "secrets", v, &secret));
        }
        for v in ["get", "patch"] {
            p.insert(perm(
                "*",
                "admissionregistration.k8s.io",
                "validatingwebhookconfigurations",
                v,
                &format!("{FULL}-{NAMESPACE}"),
            ));
        }
    }
    p
}

fn assert_permissions(what: &str, got: &BTreeSet<Permission>, want: &BTreeSet<Permission>) {
    assert!(
        got == want,
        "{what}: extra {:?}; missing {:?}",
        got.difference(want).collect::<Vec<_>>(),
        want.difference(got).collect::<Vec<_>>()
    );
}

fn container(docs: &[Value]) -> &Value {
    &one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn the_default_install_renders_the_expected_kinds() {
    let docs = render(&[]);
    let mut kinds: Vec<&str> = docs.iter().filter(|d| !is_hook(d)).map(kind).collect();
    kinds.sort_unstable();
    let mut want = vec![
        "ServiceAccount",
        "ClusterRole",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
        "ValidatingWebhookConfiguration",
        "PodDisruptionBudget",
        "CustomResourceDefinition",
        "CustomResourceDefinition",
        "CustomResourceDefinition",
    ];
    want.sort_unstable();
    assert_eq!(kinds, want, "default install renders the expected kinds");
}

#[test]
fn the_deployment_is_restricted_probed_and_runs_the_operator() {
    let docs = render(&[]);
    let dep = one(&docs, "Deployment");
    let pod = &dep["spec"]["template"]["spec"];
    let c = container(&docs);
    assert_eq!(dep["spec"]["replicas"], 2, "2 replicas by default");
    let (psc, csc) = (&pod["securityContext"], &c["securityContext"]);
    assert!(
        psc["runAsNonRoot"] == true && psc["seccompProfile"]["type"] == "RuntimeDefault",
        "pod runs as non-root with seccomp RuntimeDefault: {psc}"
    );
    assert!(
        csc["allowPrivilegeEscalation"] == false
            && csc["readOnlyRootFilesystem"] == true
            && csc["capabilities"]["drop"] == json!(["ALL"])
            && csc["runAsNonRoot"] == true
            && csc["seccompProfile"]["type"] == "RuntimeDefault",
        "container: no privilege escalation, read-only root, all capabilities dropped: {csc}"
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"]["path"], "/healthz",
        "liveness probe is GET /healthz"
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"]["path"], "/readyz",
        "readiness probe is GET /readyz"
    );
    let resources = &c["resources"];
    assert!(
        resources["requests"]
            .as_object()
            .is_some_and(|r| !r.is_empty())
            && resources["limits"]["memory"].is_string(),
        "resources have requests and a memory limit: {resources}"
    );
    assert_eq!(
        pod["serviceAccountName"], FULL,
        "the pod uses the operator's ServiceAccount"
    );
    assert_eq!(
        c["image"], "cxf-operator:0.1.0",
        "image defaults to the appVersion tag"
    );
    let args = deployment_args(&docs);
    assert_eq!(
        args[0], "run",
        "container runs `cxf-operator run`: {args:?}"
    );
    assert!(
        !args.iter().any(|a| a.starts_with("--namespace")),
        "no --namespace flag when watching every namespace: {args:?}"
    );
}

#[test]
fn the_webhook_covers_the_three_kinds_fails_closed_and_calls_the_service() {
    let docs = render(&[]);
    let vwc = find(&docs, "ValidatingWebhookConfiguration");
    assert_eq!(
        vwc.iter().map(|v| name(v)).collect::<Vec<_>>(),
        [format!("{FULL}-{NAMESPACE}")],
        "one ValidatingWebhookConfiguration named after release and namespace"
    );
    let hooks = vwc[0]["webhooks"].as_array().unwrap();
    let rules: Vec<&Value> = hooks
        .iter()
        .flat_map(|h| h["rules"].as_array().unwrap())
        .collect();
    let mut resources = strings(&rules[0]["resources"]);
    resources.sort();
    let mut kinds = KINDS.map(str::to_owned).to_vec();
    kinds.sort();
    let mut operations = strings(&rules[0]["operations"]);
    operations.sort();
    assert!(
        rules.len() == 1
            && rules[0]["apiGroups"] == json!(["cxf.dev"])
            && resources == kinds
            && operations == ["CREATE", "UPDATE"],
        "webhook rules cover exactly the three cxf.dev kinds: {rules:?}"
    );
    let h = &hooks[0];
    let timeout = h["timeoutSeconds"].as_i64().unwrap_or_default();
    assert!(
        h["failurePolicy"] == "Fail" && h["sideEffects"] == "None" && (1..=10).contains(&timeout),
        "webhook failurePolicy Fail, sideEffects None, timeout <= 10s: {h}"
    );
    assert_eq!(
        h["clientConfig"]["service"],
        json!({"name": FULL, "namespace": NAMESPACE, "path": "/validate", "port": 443}),
        "webhook calls /validate on the chart's Service"
    );
    let mut ports: Vec<(String, i64)> = one(&docs, "Service")["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["port"].as_i64().unwrap(),
            )
        })
        .collect();
    ports.sort();
    assert_eq!(
        ports,
        [("metrics".to_owned(), 8080), ("webhook".to_owned(), 443)],
        "Service exposes webhook (443) and metrics ports"
    );
    assert_eq!(
        one(&docs, "PodDisruptionBudget")["spec"]["maxUnavailable"],
        1,
        "PodDisruptionBudget allows one replica down"
    );
}

#[test]
fn cluster_wide_rbac_is_exactly_the_expected_permissions() {
    let docs = render(&[]);
    let want = &watch_permissions("*") | &self_permissions(true, true);
    assert_permissions(
        "cluster-wide RBAC is exactly the expected permissions",
        &operator_permissions(&docs),
        &want,
    );
}

/// A CRD without the chart's labels and annotations.
fn strip_chart_metadata(crd: &Value) -> Value {
    let mut crd = crd.clone();
    let metadata = crd["metadata"].as_object_mut().unwrap();
    metadata.remove("labels");
    metadata.remove("annotations");
    crd
}

/// `value` with every number as a float: YAML's `1000.0` (crds/) and helm's `1000` are
/// the same number to the API server.
fn numbers_as_floats(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.iter().map(numbers_as_floats).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), numbers_as_floats(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn the_chart_renders_the_crds_of_crds_dir_kept_on_uninstall() {
    let mut source = BTreeMap::new();
    let mut paths: Vec<_> = std::fs::read_dir(root().join("crds"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    for path in paths {
        let crd = documents(&std::fs::read_to_string(&path).unwrap()).remove(0);
        source.insert(name(&crd).to_owned(), crd);
    }
    let docs = render(&[]);
    let rendered: BTreeMap<String, &Value> = find(&docs, "CustomResourceDefinition")
        .into_iter()
        .map(|d| (name(d).to_owned(), d))
        .collect();
    assert!(
        rendered.keys().eq(source.keys()) && source.len() == 3,
        "the chart renders the CRDs of crds/: {:?}",
        rendered.keys()
    );
    for (n, crd) in &source {
        assert!(
            numbers_as_floats(&strip_chart_metadata(rendered[n])) == numbers_as_floats(crd),
            "rendered CRD {n} equals crds/ apart from labels and annotations"
        );
    }
    assert!(
        rendered
            .values()
            .all(|d| d["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"),
        "CRDs carry helm.sh/resource-policy: keep"
    );
    let nokeep = render(&["crds.keep=false"]);
    let nokeep = find(&nokeep, "CustomResourceDefinition");
    assert!(
        nokeep.len() == 3
            && nokeep
                .iter()
                .all(|d| d["metadata"]["annotations"]["helm.sh/resource-policy"].is_null()),
        "crds.keep=false drops the keep annotation"
    );
    assert!(
        find(&render(&["crds.install=false"]), "CustomResourceDefinition").is_empty(),
        "crds.install=false renders no CRD"
    );
}

/// The helm test pod's containers' arguments.
fn test_pod_args(docs: &[Value]) -> Vec<Vec<String>> {
    let pods: Vec<&Value> = docs
        .iter()
        .filter(|d| is_hook(d) && kind(d) == "Pod")
        .collect();
    assert_eq!(pods.len(), 1, "one helm test pod");
    pods[0]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| strings(&c["args"]))
        .collect()
}

#[test]
fn the_helm_test_waits_for_every_connection_with_read_only_rbac() {
    let docs = render(&[]);
    assert_eq!(
        test_pod_args(&docs),
        [[
            "wait",
            "--for=condition=Ready",
            "frameworkconnections.cxf.dev",
            "--all",
            "--all-namespaces",
            "--timeout=60s"
        ]],
        "helm test pod waits for every FrameworkConnection to be Ready in all namespaces"
    );
    let test_roles: Vec<&Value> = docs
        .iter()
        .filter(|d| is_hook(d) && matches!(kind(d), "Role" | "ClusterRole"))
        .collect();
    let read_only = json!([{"apiGroups": ["cxf.dev"], "resources": ["frameworkconnections"], "verbs": ["get", "list", "watch"]}]);
    assert!(
        !test_roles.is_empty() && test_roles.iter().all(|d| d["rules"] == read_only),
        "helm test RBAC only reads FrameworkConnections: {test_roles:?}"
    );
}

/// Whether `labels` carries every label of the selector `matched` (a `matchLabels` or a
/// Service's `selector`).
fn selected(matched: &Value, labels: &Value) -> bool {
    matched
        .as_object()
        .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| &labels[k] == v))
}

#[test]
fn only_the_operator_pods_match_the_service_pdb_and_network_policy() {
    let docs = render(&["networkPolicy.enabled=true"]);
    let deployment = one(&docs, "Deployment");
    let operator = &deployment["spec"]["template"]["metadata"]["labels"];
    let test_pod = docs
        .iter()
        .find(|d| is_hook(d) && kind(d) == "Pod")
        .expect("the helm test pod");
    let selectors = [
        ("Service", &one(&docs, "Service")["spec"]["selector"]),
        (
            "PodDisruptionBudget",
            &one(&docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        ),
        (
            "NetworkPolicy",
            &one(&docs, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"],
        ),
        ("Deployment", &deployment["spec"]["selector"]["matchLabels"]),
    ];
    for (what, selector) in selectors {
        assert!(
            selected(selector, operator),
            "{what} selects the operator pods"
        );
        // The helm test pod is no endpoint of the webhook Service, no replica the PDB
        // counts, and no pod the Deployment adopts.
        assert!(
            !selected(selector, &test_pod["metadata"]["labels"]),
            "{what} {selector} selects the helm test pod {}",
            test_pod["metadata"]["labels"]
        );
    }
}

#[test]
fn watch_namespaces_become_roles_flags_and_a_namespace_selector() {
    let docs = render(&["watchNamespaces={team-a,team-b}"]);
    let got = operator_permissions(&docs);
    let want = &(&watch_permissions("team-a") | &watch_permissions("team-b"))
        | &self_permissions(true, true);
    assert_permissions(
        "watchNamespaces RBAC is exactly per-namespace Roles plus its own",
        &got,
        &want,
    );
    assert!(
        !got.iter().any(|p| p.0 == "*" && p.2 == "secrets"),
        "watchNamespaces: no cluster-wide Secret access"
    );
    let args = deployment_args(&docs);
    let flags: Vec<&String> = args
        .iter()
        .filter(|a| a.starts_with("--namespace"))
        .collect();
    assert_eq!(
        flags,
        ["--namespace=team-a", "--namespace=team-b"],
        "watchNamespaces become --namespace flags"
    );
    let selector =
        &one(&docs, "ValidatingWebhookConfiguration")["webhooks"][0]["namespaceSelector"];
    assert_eq!(
        *selector,
        json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a", "team-b"]}]}),
        "watchNamespaces limit the webhook to those namespaces"
    );
    let namespaces: Vec<Vec<String>> = test_pod_args(&docs)
        .into_iter()
        .map(|args| {
            args.into_iter()
                .filter(|a| a.starts_with("--namespace"))
                .collect()
        })
        .collect();
    assert_eq!(
        namespaces,
        [["--namespace=team-a"], ["--namespace=team-b"]],
        "helm test waits in each watched namespace"
    );
}

#[test]
fn webhook_off_renders_no_webhook_and_drops_its_rbac() {
    let docs = render(&["webhook.enabled=false"]);
    assert!(
        find(&docs, "ValidatingWebhookConfiguration").is_empty(),
        "webhook.enabled=false renders no ValidatingWebhookConfiguration"
    );
    assert_permissions(
        "webhook.enabled=false drops the webhook's RBAC",
        &operator_permissions(&docs),
        &(&watch_permissions("*") | &self_permissions(false, false)),
    );
}

#[test]
fn cert_manager_mode_has_cert_manager_issue_and_inject_the_certificate() {
    let docs = render(&["webhook.certs.mode=certManager"]);
    let certs = find(&docs, "Certificate");
    assert!(
        certs.len() == 1
            && certs[0]["spec"]["secretName"] == format!("{FULL}-webhook-cert")
            && certs[0]["spec"]["dnsNames"][0] == format!("{FULL}.{NAMESPACE}.svc")
            && find(&docs, "Issuer").len() == 1,
        "certManager mode renders a Certificate for the Service and a self-signed Issuer"
    );
    let annotations = &one(&docs, "ValidatingWebhookConfiguration")["metadata"]["annotations"];
    assert_eq!(
        annotations["cert-manager.io/inject-ca-from"],
        format!("{NAMESPACE}/{FULL}-webhook"),
        "certManager mode has cainjector write the caBundle"
    );
    let volumes = &one(&docs, "Deployment")["spec"]["template"]["spec"]["volumes"];
    assert!(
        volumes
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| v["secret"]["secretName"] == format!("{FULL}-webhook-cert")),
        "certManager mode mounts the certificate Secret"
    );
    assert_permissions(
        "certManager mode gives the operator no webhook-cert Secret or webhook-patching RBAC",
        &operator_permissions(&docs),
        &(&watch_permissions("*") | &self_permissions(true, false)),
    );
    let issuer = render(&[
        "webhook.certs.mode=certManager",
        "webhook.certs.certManager.issuerRef.name=corp-ca",
        "webhook.certs.certManager.issuerRef.kind=ClusterIssuer",
    ]);
    assert!(
        find(&issuer, "Issuer").is_empty()
            && one(&issuer, "Certificate")["spec"]["issuerRef"]
                == json!({"name": "corp-ca", "kind": "ClusterIssuer"}),
        "certManager issuerRef replaces the self-signed Issuer"
    );
}

#[test]
fn optional_parts_render_as_asked() {
    let docs = render(&[
        "metrics.serviceMonitor.enabled=true",
        "networkPolicy.enabled=true",
    ]);
    let monitors = find(&docs, "ServiceMonitor");
    assert!(
        monitors.len() == 1 && monitors[0]["spec"]["endpoints"][0]["port"] == "metrics",
        "ServiceMonitor scrapes /metrics on the metrics port"
    );
    let policies = find(&docs, "NetworkPolicy");
    assert_eq!(policies.len(), 1, "one NetworkPolicy");
    let mut ports: Vec<&str> = policies[0]["spec"]["ingress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["ports"].as_array().unwrap())
        .map(|p| p["port"].as_str().unwrap_or_default())
        .collect();
    ports.sort_unstable();
    assert_eq!(
        ports,
        ["metrics", "webhook"],
        "NetworkPolicy admits only the webhook and metrics ports"
    );
    let digest = format!("sha256:{}", "a".repeat(64));
    let docs = render(&[&format!("image.digest={digest}")]);
    assert_eq!(
        container(&docs)["image"],
        format!("cxf-operator@{digest}"),
        "image digest wins over the tag"
    );
}

#[test]
fn the_values_schema_refuses_mistakes() {
    for bad in [
        "logFormat=xml",
        "webhook.failurePolicy=Retry",
        "unknownKey=1",
        "webhook.timeoutSeconds=60",
        "watchNamespaces={Not_A_Namespace}",
        "driftInterval=5 minutes",
    ] {
        let output = helm_template(&[bad]);
        assert!(
            !output.status.success() && stderr(&output).to_lowercase().contains("schema"),
            "values schema refuses {bad}: {}",
            stderr(&output)
        );
    }
}

/// The series the operator exports, each with its label names, as a query names them
/// (a counter `x` is `x_total`, a histogram `x_bucket`, `x_sum`, `x_count`): every
/// metric given one sample (a family without one is not encoded).
fn exported_series() -> BTreeMap<String, BTreeSet<String>> {
    use cxf_operator::metrics::{Metrics, ReadyLabels};
    let metrics = Metrics::default();
    metrics.reconcile.reconciled("listener_registration");
    metrics
        .reconcile
        .failed("listener_registration", "transient");
    metrics.admin.observe(
        "/admin/{ws}/listenerRegistrations",
        "POST",
        Some(503),
        std::time::Duration::from_millis(5),
    );
    metrics.events.dropped();
    metrics.resources.framework_connections(1, 0);
    metrics.resources.first_ready("ListenerRegistration", 1.0);
    metrics.resources.drift_corrected("ListenerRegistration");
    metrics
        .resources
        .queue::<String>("listener_registration")
        .requested("ns/a".into());
    metrics.resources.count(Box::new(|family| {
        family
            .get_or_create(&ReadyLabels {
                kind: "ListenerRegistration",
                ready: "False",
            })
            .set(1);
    }));
    let mut series: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in metrics.encode().lines().filter(|l| !l.starts_with('#')) {
        let (name, labels) = line.split_once('{').map_or(
            (line.split(' ').next().unwrap_or_default(), ""),
            |(n, rest)| (n, rest.rsplit_once('}').map_or("", |(labels, _)| labels)),
        );
        let names = labels
            .split(',')
            .filter_map(|pair| pair.split_once('=').map(|(label, _)| label.to_owned()));
        series.entry(name.to_owned()).or_default().extend(names);
    }
    series
}

/// The metrics an expression selects, and the labels it matches or aggregates by.
fn queried(
    expr: &promql_parser::parser::Expr,
    names: &mut Vec<String>,
    labels: &mut BTreeSet<String>,
) {
    use promql_parser::parser::Expr;
    let mut selector = |v: &promql_parser::parser::VectorSelector| {
        names.extend(v.name.clone());
        labels.extend(v.matchers.matchers.iter().map(|m| m.name.clone()));
    };
    match expr {
        Expr::Aggregate(e) => {
            if let Some(modifier) = &e.modifier {
                labels.extend(modifier.labels().labels.iter().cloned());
            }
            queried(&e.expr, names, labels);
            if let Some(param) = &e.param {
                queried(param, names, labels);
            }
        }
        Expr::Unary(e) => queried(&e.expr, names, labels),
        Expr::Binary(e) => {
            queried(&e.lhs, names, labels);
            queried(&e.rhs, names, labels);
        }
        Expr::Paren(e) => queried(&e.expr, names, labels),
        Expr::Subquery(e) => queried(&e.expr, names, labels),
        Expr::VectorSelector(v) => selector(v),
        Expr::MatrixSelector(m) => selector(&m.vs),
        Expr::Call(call) => call
            .args
            .args
            .iter()
            .for_each(|arg| queried(arg, names, labels)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

#[test]
fn the_alerts_parse_and_query_only_metrics_the_operator_exports() {
    assert!(
        find(&render(&[]), "PrometheusRule").is_empty(),
        "no PrometheusRule unless asked"
    );
    let docs = render(&[
        "metrics.prometheusRule.enabled=true",
        "metrics.prometheusRule.labels.release=prometheus",
        "metrics.prometheusRule.alertLabels.team=integration",
    ]);
    let rule = one(&docs, "PrometheusRule");
    assert_eq!(rule["metadata"]["labels"]["release"], "prometheus");
    let exported = exported_series();
    let mut alerts = Vec::new();
    for alert in rule["spec"]["groups"][0]["rules"].as_array().unwrap() {
        let name = alert["alert"].as_str().unwrap();
        let expr = alert["expr"].as_str().unwrap();
        let parsed = promql_parser::parser::parse(expr)
            .unwrap_or_else(|e| panic!("{name}: {expr:?} does not parse: {e}"));
        let (mut names, mut labels) = (Vec::new(), BTreeSet::new());
        queried(&parsed, &mut names, &mut labels);
        assert!(!names.is_empty(), "{name} queries no metric");
        let mut known = BTreeSet::new();
        for metric in &names {
            let metric_labels = exported.get(metric).unwrap_or_else(|| {
                panic!("{name} queries {metric}, which the operator does not export: {exported:?}")
            });
            known.extend(metric_labels.iter().cloned());
        }
        let unknown: Vec<&String> = labels.difference(&known).collect();
        assert!(
            unknown.is_empty(),
            "{name} uses labels {unknown:?} that {names:?} do not have"
        );
        assert_eq!(alert["labels"]["team"], "integration", "{name}");
        assert!(
            ["critical", "warning", "info"]
                .contains(&alert["labels"]["severity"].as_str().unwrap_or_default()),
            "{name}: severity"
        );
        let summary = alert["annotations"]["summary"].as_str().unwrap_or_default();
        assert!(!summary.is_empty(), "{name}: a summary");
        alerts.push(name);
    }
    assert_eq!(
        alerts,
        [
            "CxfFrameworkUnreachable",
            "CxfResourcesNotReady",
            "CxfAdminApiErrors",
            "CxfEventsDropped"
        ]
    );
}
