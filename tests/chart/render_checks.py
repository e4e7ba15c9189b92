#!/usr/bin/env python3
"""Checks what `helm template` renders from charts/cxf-operator, without a cluster:
the restricted pod security, probes, webhook scope, the exact RBAC of the operator (so
that any extra permission fails), the CRDs against crds/, and each optional part.

Usage: tests/chart/render_checks.py HELM
The last line is "N passed, M failed"; exit status 1 on any failure.
"""

import pathlib
import subprocess
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "cxf-operator"
RELEASE, NS = "cxf", "cxf-system"
FULL = "cxf-cxf-operator"
SA = FULL
KUBE_VERSION = "1.36.3"  # helm template assumes v1.20 otherwise, below the chart's kubeVersion
KINDS = ["frameworkconnections", "listenerregistrations", "gatekeepingrules"]

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   " + name)
    else:
        failed += 1
        print("FAIL " + name + (": " + str(detail) if detail != "" else ""))


def render(helm, *sets, expect_fail=False):
    args = [helm, "template", RELEASE, str(CHART), "--namespace", NS, "--kube-version", KUBE_VERSION]
    for s in sets:
        args += ["--set", s]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if expect_fail:
        return proc
    if proc.returncode != 0:
        raise SystemExit("helm template %s failed:\n%s" % (" ".join(sets), proc.stderr))
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def find(docs, kind, name=None, namespace=None):
    return [
        d
        for d in docs
        if d["kind"] == kind
        and (name is None or d["metadata"]["name"] == name)
        and (namespace is None or d["metadata"].get("namespace") == namespace)
    ]


def is_hook(doc):
    return "helm.sh/hook" in (doc["metadata"].get("annotations") or {})


def operator_permissions(docs):
    """Every (scope, apiGroup, resource, verb, resourceName) the operator's SA gets."""
    roles = {}
    for d in docs:
        if d["kind"] in ("Role", "ClusterRole") and not is_hook(d):
            roles[(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])] = d.get("rules", [])
    perms = set()
    for b in docs:
        if b["kind"] not in ("RoleBinding", "ClusterRoleBinding") or is_hook(b):
            continue
        if {"kind": "ServiceAccount", "name": SA, "namespace": NS} not in b["subjects"]:
            continue
        ns = b["metadata"].get("namespace")
        ref = b["roleRef"]
        rules = roles.get((ref["kind"], ns if ref["kind"] == "Role" else None, ref["name"]))
        if rules is None:
            raise SystemExit("binding %s refers to a role the chart does not render" % b["metadata"]["name"])
        scope = ns or "*"
        for r in rules:
            for g in r["apiGroups"]:
                for res in r["resources"]:
                    for v in r["verbs"]:
                        for n in r.get("resourceNames") or ["*"]:
                            perms.add((scope, g, res, v, n))
    return perms


def watch_permissions(scope):
    p = set()
    for k in KINDS:
        p |= {(scope, "cxf.dev", k, v, "*") for v in ("get", "list", "watch", "patch", "update")}
        p |= {(scope, "cxf.dev", k + "/status", v, "*") for v in ("patch", "update")}
        p.add((scope, "cxf.dev", k + "/finalizers", "update", "*"))
    p |= {(scope, "", "secrets", v, "*") for v in ("get", "list", "watch")}
    p |= {(scope, g, "events", v, "*") for g in ("", "events.k8s.io") for v in ("create", "patch")}
    return p


def self_permissions(webhook_certs, webhook=True):
    p = {(NS, "coordination.k8s.io", "leases", "create", "*")}
    p |= {(NS, "coordination.k8s.io", "leases", v, FULL) for v in ("get", "update", "patch")}
    p.add((NS, "", "secrets", "create", "*"))
    p.add((NS, "", "secrets", "get", FULL + "-credentials-hash-key"))
    if webhook:
        p.add(("*", "authorization.k8s.io", "subjectaccessreviews", "create", "*"))
    if webhook_certs:
        secret = FULL + "-webhook-cert"
        p |= {(NS, "", "secrets", v, secret) for v in ("get", "update", "patch")}
        p |= {("*", "admissionregistration.k8s.io", "validatingwebhookconfigurations", v, FULL + "-" + NS) for v in ("get", "patch")}
    return p


def strip_chart_metadata(crd):
    crd = yaml.safe_load(yaml.safe_dump(crd))
    for key in ("labels", "annotations"):
        crd["metadata"].pop(key, None)
    return crd


def main():
    helm = sys.argv[1]
    docs = render(helm)
    ops = [d for d in docs if not is_hook(d)]

    # What the default install holds.
    kinds = sorted(d["kind"] for d in ops)
    check(
        "default install renders the expected kinds",
        kinds
        == sorted(
            ["ServiceAccount", "ClusterRole", "ClusterRole", "ClusterRoleBinding", "ClusterRoleBinding", "Role", "RoleBinding",
             "Deployment", "Service", "ValidatingWebhookConfiguration", "PodDisruptionBudget"]
            + ["CustomResourceDefinition"] * 3
        ),
        kinds,
    )

    # Deployment: replicas, restricted security, probes, resources, args.
    dep = find(docs, "Deployment")[0]
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    check("2 replicas by default", dep["spec"]["replicas"] == 2)
    psc, csc = pod["securityContext"], c["securityContext"]
    check("pod runs as non-root with seccomp RuntimeDefault", psc.get("runAsNonRoot") is True and psc["seccompProfile"]["type"] == "RuntimeDefault")
    check(
        "container: no privilege escalation, read-only root, all capabilities dropped",
        csc.get("allowPrivilegeEscalation") is False and csc.get("readOnlyRootFilesystem") is True and csc["capabilities"]["drop"] == ["ALL"]
        and csc.get("runAsNonRoot") is True and csc["seccompProfile"]["type"] == "RuntimeDefault",
        csc,
    )
    check("liveness probe is GET /healthz", c["livenessProbe"]["httpGet"]["path"] == "/healthz")
    check("readiness probe is GET /readyz", c["readinessProbe"]["httpGet"]["path"] == "/readyz")
    check("resources have requests and a memory limit", c["resources"]["requests"] and "memory" in c["resources"]["limits"])
    check("the pod uses the operator's ServiceAccount", pod["serviceAccountName"] == SA)
    check("image defaults to the appVersion tag", c["image"] == "cxf-operator:0.1.0", c["image"])
    check("container runs `cxf-operator run`", c["args"][0] == "run", c["args"])
    check("no --namespace flag when watching every namespace", not any(a.startswith("--namespace") for a in c["args"]))

    # Webhook: our three kinds only, fail closed, no side effects, short timeout.
    vwc = find(docs, "ValidatingWebhookConfiguration")
    check("one ValidatingWebhookConfiguration named after release and namespace", [v["metadata"]["name"] for v in vwc] == [FULL + "-" + NS])
    hooks = vwc[0]["webhooks"]
    rules = [r for h in hooks for r in h["rules"]]
    check(
        "webhook rules cover exactly the three cxf.dev kinds",
        len(rules) == 1 and rules[0]["apiGroups"] == ["cxf.dev"] and sorted(rules[0]["resources"]) == sorted(KINDS)
        and sorted(rules[0]["operations"]) == ["CREATE", "UPDATE"],
        rules,
    )
    h = hooks[0]
    check("webhook failurePolicy Fail, sideEffects None, timeout <= 10s",
          h["failurePolicy"] == "Fail" and h["sideEffects"] == "None" and 1 <= h["timeoutSeconds"] <= 10, h)
    check("webhook calls /validate on the chart's Service",
          h["clientConfig"]["service"] == {"name": FULL, "namespace": NS, "path": "/validate", "port": 443})
    svc = find(docs, "Service")[0]
    check("Service exposes webhook (443) and metrics ports",
          sorted((p["name"], p["port"]) for p in svc["spec"]["ports"]) == [("metrics", 8080), ("webhook", 443)])

    pdb = find(docs, "PodDisruptionBudget")[0]
    check("PodDisruptionBudget allows one replica down", pdb["spec"].get("maxUnavailable") == 1)

    # RBAC, exactly.
    got = operator_permissions(docs)
    want = watch_permissions("*") | self_permissions(True)
    check("cluster-wide RBAC is exactly the expected permissions", got == want,
          "extra %s; missing %s" % (sorted(got - want), sorted(want - got)))

    # CRDs: the bytes of crds/ plus the chart's labels and keep annotation.
    source = {}
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        source[crd["metadata"]["name"]] = crd
    rendered = {d["metadata"]["name"]: d for d in find(docs, "CustomResourceDefinition")}
    check("the chart renders the CRDs of crds/", sorted(rendered) == sorted(source) and len(source) == 3, sorted(rendered))
    check("rendered CRDs equal crds/ apart from labels and annotations",
          all(strip_chart_metadata(rendered[n]) == source[n] for n in source if n in rendered))
    check("CRDs carry helm.sh/resource-policy: keep",
          all(d["metadata"].get("annotations", {}).get("helm.sh/resource-policy") == "keep" for d in rendered.values()))
    nokeep = find(render(helm, "crds.keep=false"), "CustomResourceDefinition")
    check("crds.keep=false drops the keep annotation",
          len(nokeep) == 3 and all("helm.sh/resource-policy" not in (d["metadata"].get("annotations") or {}) for d in nokeep))
    check("crds.install=false renders no CRD", not find(render(helm, "crds.install=false"), "CustomResourceDefinition"))

    # helm test: its own read-only RBAC and a kubectl wait.
    test_pods = [d for d in docs if is_hook(d) and d["kind"] == "Pod"]
    check("helm test pod waits for every FrameworkConnection to be Ready in all namespaces",
          len(test_pods) == 1 and [cc["args"] for cc in test_pods[0]["spec"]["containers"]]
          == [["wait", "--for=condition=Ready", "frameworkconnections.cxf.dev", "--all", "--all-namespaces", "--timeout=60s"]],
          test_pods and [cc["args"] for cc in test_pods[0]["spec"]["containers"]])
    test_roles = [d for d in docs if is_hook(d) and d["kind"] in ("Role", "ClusterRole")]
    check("helm test RBAC only reads FrameworkConnections",
          test_roles and all(d["rules"] == [{"apiGroups": ["cxf.dev"], "resources": ["frameworkconnections"], "verbs": ["get", "list", "watch"]}] for d in test_roles))

    # watchNamespaces: Roles per namespace, no cluster-wide access to Secrets.
    nsdocs = render(helm, "watchNamespaces={team-a,team-b}")
    got = operator_permissions(nsdocs)
    want = watch_permissions("team-a") | watch_permissions("team-b") | self_permissions(True)
    check("watchNamespaces RBAC is exactly per-namespace Roles plus its own", got == want,
          "extra %s; missing %s" % (sorted(got - want), sorted(want - got)))
    check("watchNamespaces: no cluster-wide Secret access",
          not any(p[0] == "*" and p[2] == "secrets" for p in got))
    args = find(nsdocs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    check("watchNamespaces become --namespace flags", [a for a in args if a.startswith("--namespace")] == ["--namespace=team-a", "--namespace=team-b"], args)
    sel = find(nsdocs, "ValidatingWebhookConfiguration")[0]["webhooks"][0].get("namespaceSelector")
    check("watchNamespaces limit the webhook to those namespaces",
          sel == {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a", "team-b"]}]}, sel)
    tp = [d for d in nsdocs if is_hook(d) and d["kind"] == "Pod"][0]
    check("helm test waits in each watched namespace",
          [[a for a in cc["args"] if a.startswith("--namespace")] for cc in tp["spec"]["containers"]] == [["--namespace=team-a"], ["--namespace=team-b"]])

    # Webhook off: no webhook, no webhook RBAC, no webhook port.
    off = render(helm, "webhook.enabled=false")
    check("webhook.enabled=false renders no ValidatingWebhookConfiguration", not find(off, "ValidatingWebhookConfiguration"))
    got = operator_permissions(off)
    want = watch_permissions("*") | self_permissions(False, webhook=False)
    check("webhook.enabled=false drops the webhook's RBAC", got == want, "extra %s; missing %s" % (sorted(got - want), sorted(want - got)))

    # cert-manager mode.
    cm = render(helm, "webhook.certs.mode=certManager")
    cert = find(cm, "Certificate")
    check("certManager mode renders a Certificate for the Service and a self-signed Issuer",
          len(cert) == 1 and cert[0]["spec"]["secretName"] == FULL + "-webhook-cert"
          and cert[0]["spec"]["dnsNames"][0] == "%s.%s.svc" % (FULL, NS) and len(find(cm, "Issuer")) == 1)
    ann = find(cm, "ValidatingWebhookConfiguration")[0]["metadata"].get("annotations", {})
    check("certManager mode has cainjector write the caBundle", ann.get("cert-manager.io/inject-ca-from") == "%s/%s-webhook" % (NS, FULL), ann)
    vols = find(cm, "Deployment")[0]["spec"]["template"]["spec"]["volumes"]
    check("certManager mode mounts the certificate Secret", any(v.get("secret", {}).get("secretName") == FULL + "-webhook-cert" for v in vols))
    got = operator_permissions(cm)
    check("certManager mode gives the operator no webhook-cert Secret or webhook-patching RBAC", got == watch_permissions("*") | self_permissions(False))
    issuer = render(helm, "webhook.certs.mode=certManager", "webhook.certs.certManager.issuerRef.name=corp-ca",
                    "webhook.certs.certManager.issuerRef.kind=ClusterIssuer")
    check("certManager issuerRef replaces the self-signed Issuer",
          not find(issuer, "Issuer") and find(issuer, "Certificate")[0]["spec"]["issuerRef"] == {"name": "corp-ca", "kind": "ClusterIssuer"})

    # Optional parts.
    opt = render(helm, "metrics.serviceMonitor.enabled=true", "networkPolicy.enabled=true")
    sm = find(opt, "ServiceMonitor")
    check("ServiceMonitor scrapes /metrics on the metrics port", len(sm) == 1 and sm[0]["spec"]["endpoints"][0]["port"] == "metrics")
    np = find(opt, "NetworkPolicy")
    check("NetworkPolicy admits only the webhook and metrics ports",
          len(np) == 1 and sorted(p["port"] for r in np[0]["spec"]["ingress"] for p in r["ports"]) == ["metrics", "webhook"])
    check("image digest wins over the tag",
          find(render(helm, "image.digest=sha256:" + "a" * 64), "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["image"]
          == "cxf-operator@sha256:" + "a" * 64)

    # values.schema.json refuses mistakes.
    for bad in ("logFormat=xml", "webhook.failurePolicy=Retry", "unknownKey=1", "webhook.timeoutSeconds=60",
                "watchNamespaces={Not_A_Namespace}", "driftInterval=5 minutes"):
        proc = render(helm, bad, expect_fail=True)
        check("values schema refuses " + bad, proc.returncode != 0 and "schema" in proc.stderr.lower(), proc.stderr.strip()[:200])

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
