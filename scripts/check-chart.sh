#!/usr/bin/env bash
# Checks of the Helm chart, the Argo CD health check and the examples:
#   1. argocd/test_health.py: health.lua in a real Lua 5.1 against status fixtures
#   2. the chart's CRDs are crds/ (scripts/sync-chart-crds.sh --check)
#   3. helm lint --strict; tests/chart/render_checks.py on `helm template` output;
#      `cxf-operator run` parses the Deployment's arguments; `cxf-operator validate` and
#      `criteria check` accept the examples
#   4. against a real control plane (scripts/control-plane.sh): server-side dry-run of
#      the rendered chart, PodSecurity restricted, helm install / upgrade / uninstall, an
#      upgrade that adds a CRD field, the operator's RBAC (kubectl auth can-i and a
#      TokenRequest token), the webhook failing closed, the operator run with the chart's
#      arguments and RBAC against the simulator (Lease, webhook certificate and TLS,
#      every example Ready, health.lua on live objects, no secret value leaked), the
#      examples applied, and the helm test's kubectl wait.
# Fails (never skips) when a tool is missing. Last line: "N passed, M failed".
#
#   scripts/check-chart.sh

# The commands given to `all` are single-quoted on purpose: it evaluates them later.
# shellcheck disable=SC2016
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

log() { printf '[check-chart] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

bin_dir=$(scripts/control-plane.sh bin-dir)
for tool in kubectl helm; do
	[[ -x $bin_dir/$tool ]] || die "$tool missing in $bin_dir: run scripts/control-plane.sh build"
done
export PATH="$bin_dir:$PATH"

if ! command -v lua5.1 >/dev/null; then
	log "installing lua5.1 (Debian package)"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lua5.1; } >/dev/null ||
		die "could not install lua5.1: apt-get install lua5.1"
fi
if ! python3 -c 'import yaml' 2>/dev/null; then
	log "installing PyYAML"
	python3 -m pip install --quiet pyyaml || die "could not install PyYAML: python3 -m pip install pyyaml"
fi

passed=0
failed=0
pass() {
	passed=$((passed + 1))
	echo "ok   $1"
}
fail() {
	failed=$((failed + 1))
	echo "FAIL $1"
	[[ -z ${2:-} ]] || printf '%s\n' "$2" | sed 's/^/     | /' | head -20
}
# expect_ok NAME CMD...: CMD must succeed.
expect_ok() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}
# expect_refused NAME PATTERN CMD...: CMD must fail, with PATTERN in its output.
expect_refused() {
	local name=$1 pattern=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		fail "$name" "succeeded: $out"
	elif grep -qiE -- "$pattern" <<<"$out"; then
		pass "$name"
	else
		fail "$name" "failed without /$pattern/: $out"
	fi
}
# suite NAME CMD...: a runner printing "N passed, M failed" last; its counts are added.
suite() {
	local name=$1 out status=0 last
	shift
	out=$("$@" 2>&1) || status=$?
	printf '%s\n' "$out" | grep -v '^ok ' || true
	last=$(printf '%s\n' "$out" | tail -n1)
	if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		passed=$((passed + BASH_REMATCH[1]))
		failed=$((failed + BASH_REMATCH[2]))
		((status == 0 || BASH_REMATCH[2] > 0)) || fail "$name exited $status"
		log "$name: $last"
	else
		fail "$name (no summary line, exit $status)" "$out"
	fi
}

chart=charts/cxf-operator
release=cxf
ns="cxf-system"
full="cxf-cxf-operator"
sa="system:serviceaccount:$ns:$full"

# 1-3: no cluster needed.
suite "argocd/test_health.py" python3 argocd/test_health.py
expect_ok "the chart's CRDs are crds/" scripts/sync-chart-crds.sh --check
expect_ok "helm lint --strict (defaults)" helm lint --strict "$chart"
expect_ok "helm lint --strict (watchNamespaces, cert-manager, ServiceMonitor, NetworkPolicy)" \
	helm lint --strict "$chart" --set 'watchNamespaces={team-a,team-b}' --set webhook.certs.mode=certManager \
	--set metrics.serviceMonitor.enabled=true --set networkPolicy.enabled=true
suite "tests/chart/render_checks.py" python3 tests/chart/render_checks.py "$(command -v helm)"

work=$(mktemp -d)
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	scripts/control-plane.sh down "$work/cp" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
# Every criteria expression of the examples parses (cxf-operator criteria check).
cargo build --quiet --locked --bin cxf-operator
cxf="${CARGO_TARGET_DIR:-$root/target}/debug/cxf-operator"
python3 - "$work/criteria" examples/*/*.yaml <<-'PY'
	import sys, yaml
	found = []
	def walk(node):
	    if isinstance(node, dict):
	        for key, value in node.items():
	            if key in ("query", "criteria") and isinstance(value, str):
	                found.append(value)
	            walk(value)
	    elif isinstance(node, list):
	        for value in node:
	            walk(value)
	for path in sys.argv[2:]:
	    for doc in yaml.safe_load_all(open(path)):
	        walk(doc)
	open(sys.argv[1], "w").write("".join(e + "\n" for e in found))
PY
expect_ok "the examples hold 5 criteria expressions" bash -c "[[ \$(wc -l <'$work/criteria') == 5 ]]"
while IFS= read -r expression; do
	expect_ok "criteria check: $expression" "$cxf" criteria check "$expression"
done <"$work/criteria"

# `cxf-operator run` knows every flag and value the Deployment passes, in every mode
# (flags are parsed before the trailing --help is acted on).
run_args_parse() { # helm --set arguments...
	local args
	mapfile -t args < <(helm template "$release" "$chart" --namespace "$ns" --kube-version 1.36.0 "$@" |
		python3 -c '
import sys, yaml
dep = [d for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] == "Deployment"][0]
print("\n".join(dep["spec"]["template"]["spec"]["containers"][0]["args"]))')
	"$cxf" "${args[@]}" --help >/dev/null
}
expect_ok "cxf-operator run accepts the chart's arguments (defaults)" run_args_parse
expect_ok "cxf-operator run accepts the chart's arguments (watchNamespaces, text logs)" \
	run_args_parse --set 'watchNamespaces={team-a,team-b}' --set logFormat=text --set driftInterval=90s
expect_ok "cxf-operator run accepts the chart's arguments (cert-manager)" run_args_parse --set webhook.certs.mode=certManager
expect_ok "cxf-operator run accepts the chart's arguments (webhook off)" run_args_parse --set webhook.enabled=false
expect_refused "cxf-operator run refuses an unknown flag (control)" "unexpected argument" \
	run_args_parse --set 'extraArgs={--no-such-flag}'

# cxf-operator validate (the webhook's checks, offline) accepts every example and the
# rendered chart, and refuses a listener with invalid criteria.
for kustomization in examples/*/kustomization.yaml; do
	dir=$(dirname "$kustomization")
	expect_ok "cxf-operator validate accepts $dir, without warnings" \
		bash -c "kubectl kustomize $dir | $cxf validate -f - 2>&1 | tee /dev/stderr | grep -q ' 0 error(s), 0 warning(s)'"
done
expect_ok "cxf-operator validate accepts the rendered chart" \
	bash -c "helm template $release $chart --namespace $ns --kube-version 1.36.0 | $cxf validate -f -"
cat >"$work/bad-listener.yaml" <<-'YAML'
	apiVersion: cxf.dev/v1alpha1
	kind: ListenerRegistration
	metadata: {name: bad-query, namespace: team-a}
	spec:
	  affiliatedApis: [{apiName: party, apiVersion: v4, query: 'familyName eq "abc"'}]
	  listenerUrl: http://127.0.0.1:9
YAML
expect_refused "cxf-operator validate refuses invalid criteria" "familyName|pointer" "$cxf" validate -f "$work/bad-listener.yaml"

# 4: a real control plane.
scripts/control-plane.sh up "$work/cp" --owner $$
eval "$(scripts/control-plane.sh env "$work/cp")"
kubectl create namespace "$ns" >/dev/null
server=$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$work/ca.crt"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
metrics_port=$(free_port)
webhook_port=$(free_port)
for n in team-a team-b team-c; do kubectl create namespace "$n" >/dev/null; done

# helm template assumes Kubernetes v1.20 unless told, which the chart's kubeVersion refuses.
kube_version=$(kubectl version -o json | python3 -c 'import json, sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')
render() { helm template "$release" "$chart" --namespace "$ns" --kube-version "$kube_version" "$@"; }
dry_run() { render "$@" | kubectl apply --dry-run=server -f -; }
expect_ok "server-side dry-run of the chart (defaults)" dry_run
expect_ok "server-side dry-run of the chart (watchNamespaces)" dry_run --set 'watchNamespaces={team-a,team-b}'
expect_ok "server-side dry-run of the chart (webhook off, PDB off, replicaCount 1)" \
	dry_run --set webhook.enabled=false --set podDisruptionBudget.enabled=false --set replicaCount=1

# The pods pass the restricted Pod Security Standard, enforced by the API server's
# PodSecurity admission on a namespace labelled for it (a negative control first).
kubectl create namespace psa-restricted >/dev/null
kubectl label namespace psa-restricted pod-security.kubernetes.io/enforce=restricted >/dev/null
render --set 'watchNamespaces={team-a,team-b}' >"$work/rendered.yaml"
python3 - "$work/rendered.yaml" "$work" <<-'PY'
	import copy, sys, yaml
	docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
	def pod(name, spec):
	    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "psa-restricted"}, "spec": spec}
	operator = [d for d in docs if d["kind"] == "Deployment"][0]["spec"]["template"]["spec"]
	test = [d for d in docs if d["kind"] == "Pod"][0]["spec"]
	yaml.safe_dump_all([pod("operator", operator), pod("helm-test", test)], open(sys.argv[2] + "/pods.yaml", "w"))
	bad = copy.deepcopy(operator)
	bad["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
	yaml.safe_dump(pod("escalating", bad), open(sys.argv[2] + "/bad-pod.yaml", "w"))
PY
expect_refused "PodSecurity restricted refuses a pod that allows privilege escalation" "violates PodSecurity" \
	kubectl apply --dry-run=server -f "$work/bad-pod.yaml"
expect_ok "the operator and helm test pods pass PodSecurity restricted" kubectl apply --dry-run=server -f "$work/pods.yaml"

# Ports free on this machine and 127.0.0.1 in the certificate, for the operator run below.
expect_ok "helm install" helm install "$release" "$chart" --namespace "$ns" \
	--set metrics.port="$metrics_port" --set webhook.port="$webhook_port" --set 'extraArgs={--webhook-host=127.0.0.1}'
expect_ok "the CRDs are established" kubectl wait --for=condition=Established --timeout=30s \
	crd/frameworkconnections.cxf.dev crd/listenerregistrations.cxf.dev crd/gatekeepingrules.cxf.dev

can() { kubectl auth can-i "$@" --as="$sa"; }
cannot() { ! kubectl auth can-i "$@" --as="$sa"; }
# all CMD...: every CMD (a shell string) must succeed; says which one did not.
all() {
	local c
	for c in "$@"; do
		eval "$c" || {
			echo "failed: $c"
			return 1
		}
	done
}
# Cluster-wide mode.
for kind in frameworkconnections listenerregistrations gatekeepingrules; do
	expect_ok "SA can list/watch/patch $kind in any namespace" \
		all 'can list $kind.cxf.dev -A' 'can watch $kind.cxf.dev -n team-c' 'can patch $kind.cxf.dev -n team-a'
	expect_ok "SA can patch $kind/status and update $kind/finalizers" \
		all 'can patch $kind.cxf.dev --subresource=status -n team-a' 'can update $kind.cxf.dev --subresource=finalizers -n team-a'
	expect_ok "SA cannot create or delete $kind" \
		all 'cannot create $kind.cxf.dev -n team-a' 'cannot delete $kind.cxf.dev -n team-a'
done
expect_ok "SA can read Secrets in every namespace" can list secrets -A
expect_ok "SA cannot write Secrets outside its own certificate Secret" cannot update secrets -n team-a
expect_ok "SA can create Events (core and events.k8s.io)" \
	all 'can create events -n team-a' 'can patch events.events.k8s.io -n team-b'
expect_ok "SA can use its Lease" all 'can create leases -n $ns' 'can update leases/$full -n $ns'
expect_ok "SA cannot touch another Lease" cannot update leases/other -n "$ns"
expect_ok "SA cannot use Leases outside its namespace" cannot create leases -n team-a
expect_ok "SA can patch its own ValidatingWebhookConfiguration" can patch "validatingwebhookconfigurations/$full-$ns"
expect_ok "SA cannot patch another ValidatingWebhookConfiguration" cannot patch validatingwebhookconfigurations/other
expect_ok "SA can write its webhook certificate Secret" can update "secrets/$full-webhook-cert" -n "$ns"
expect_ok "SA cannot read Pods, ConfigMaps or CRDs" \
	all 'cannot list pods -A' 'cannot get configmaps -n $ns' 'cannot get customresourcedefinitions'

fc() { # namespace: a FrameworkConnection named default
	cat <<-YAML
		apiVersion: cxf.dev/v1alpha1
		kind: FrameworkConnection
		metadata: {name: default, namespace: $1}
		spec:
		  gatewayUrl: http://127.0.0.1:8080
		  workspace: "01"
		  auth: {oauth2: {clientId: cxf-operator, clientSecret: {name: framework-credentials, key: client-secret}}}
	YAML
}
apply_fc() { fc "$1" | kubectl apply -f -; }
expect_refused "the webhook fails closed while the operator is not serving it" "failed calling webhook" \
	apply_fc team-a

# The operator itself, run on this machine (no kubelet runs pods here) with the
# Deployment's arguments and downward-API environment, authenticated with a token of
# the chart's ServiceAccount: the chart's RBAC must be enough for it to lead, manage its
# webhook certificate, serve the webhook, and reconcile an example.
kubectl create token "$full" --namespace "$ns" --duration=30m >"$work/op-token"
KUBECONFIG="$work/op.kubeconfig" kubectl config set-cluster cp --server="$server" --certificate-authority="$work/ca.crt" --embed-certs >/dev/null
KUBECONFIG="$work/op.kubeconfig" kubectl config set-credentials operator --token="$(cat "$work/op-token")" >/dev/null
KUBECONFIG="$work/op.kubeconfig" kubectl config set-context cp --cluster=cp --user=operator >/dev/null
KUBECONFIG="$work/op.kubeconfig" kubectl config use-context cp >/dev/null
helm get manifest "$release" --namespace "$ns" | python3 -c '
import sys, yaml
dep = [d for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] == "Deployment"][0]
print("\n".join(dep["spec"]["template"]["spec"]["containers"][0]["args"]))' >"$work/op-args"
mapfile -t op_args <"$work/op-args"
"$cxf" simulator --listen 127.0.0.1:0 --client-id cxf-operator --client-secret change-me >"$work/sim.out" 2>"$work/sim.log" &
pids+=($!)
for _ in $(seq 50); do
	if grep -q "listening on" "$work/sim.out"; then break; fi
	sleep 0.2
done
sim_url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/sim.out")
[[ -n $sim_url ]] || die "the simulator did not start: $(cat "$work/sim.log")"
KUBECONFIG="$work/op.kubeconfig" POD_NAMESPACE="$ns" POD_NAME="$full-local-0" RUST_LOG=info \
	"$cxf" "${op_args[@]}" >"$work/operator.log" 2>&1 &
op_pid=$!
pids+=("$op_pid")
wait_for() { # seconds command...: retry command every 0.5s
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.5
	done
}
operator_log() { echo "operator log:"; tail -20 "$work/operator.log"; }
if wait_for 60 curl -sf --noproxy '*' "http://127.0.0.1:$metrics_port/readyz"; then
	pass "the operator, with the chart's arguments and RBAC, serves /healthz and becomes ready"
else
	fail "the operator, with the chart's arguments and RBAC, serves /healthz and becomes ready" "$(operator_log)"
fi
expect_ok "the operator holds the chart's Lease" \
	bash -c "[[ \$(kubectl get lease $full -n $ns -o jsonpath='{.spec.holderIdentity}') == $full-local-0 ]]"
ca_bundle() { [[ -n $(kubectl get validatingwebhookconfiguration "$full-$ns" -o jsonpath='{.webhooks[0].clientConfig.caBundle}') ]]; }
expect_ok "the operator created its certificate Secret and wrote the webhook's caBundle" \
	all 'kubectl get secret $full-webhook-cert -n $ns' 'wait_for 30 ca_bundle'
# The API server cannot reach a Service without pods here: send it to 127.0.0.1 instead.
kubectl patch validatingwebhookconfiguration "$full-$ns" --type=json -p "[
	{\"op\": \"remove\", \"path\": \"/webhooks/0/clientConfig/service\"},
	{\"op\": \"add\", \"path\": \"/webhooks/0/clientConfig/url\", \"value\": \"https://127.0.0.1:$webhook_port/validate\"}]" >/dev/null
bad_listener() {
	kubectl apply -f - <<-YAML
		apiVersion: cxf.dev/v1alpha1
		kind: ListenerRegistration
		metadata: {name: bad-query, namespace: team-a}
		spec:
		  affiliatedApis: [{apiName: party, apiVersion: v4, query: 'familyName eq "abc"'}]
		  listenerUrl: http://127.0.0.1:9
	YAML
}
expect_refused "the webhook (TLS with the operator's CA) refuses a listener with invalid criteria" "denied the request" bad_listener
health() { # kind/name namespace want: health.lua on the live object
	kubectl get "$1" -n "$2" -o json >"$work/live.json"
	local got
	got=$(python3 argocd/test_health.py --eval "$work/live.json" | cut -f1)
	[[ $got == "$3" ]] || {
		echo "health.lua says $got, want $3"
		return 1
	}
}
# Every example, pointed at the simulator, is admitted and reconciled to Ready.
for kustomization in examples/*/kustomization.yaml; do
	example=$(basename "$(dirname "$kustomization")")
	cp -r "examples/$example" "$work/$example"
	sed -i "s|http://127.0.0.1:8080|$sim_url|" "$work/$example/framework-connection.yaml"
	expect_ok "the webhook admits examples/$example (pointed at the simulator)" kubectl apply -k "$work/$example"
done
for kustomization in examples/*/kustomization.yaml; do
	example=$(basename "$(dirname "$kustomization")")
	expect_ok "examples/$example: every resource becomes Ready" \
		kubectl wait --for=condition=Ready --timeout=60s -n "cxf-example-$example" \
		frameworkconnections.cxf.dev,listenerregistrations.cxf.dev,gatekeepingrules.cxf.dev --all
	for object in $(kubectl get frameworkconnections.cxf.dev,listenerregistrations.cxf.dev,gatekeepingrules.cxf.dev -n "cxf-example-$example" -o name); do
		expect_ok "health.lua: live $object of examples/$example is Healthy" health "$object" "cxf-example-$example" Healthy
	done
	# The operator writes only status and its finalizer: Git (and Argo CD) sees no drift.
	expect_ok "kubectl diff: examples/$example, reconciled, differs in nothing from its manifests" \
		kubectl diff -k "$work/$example"
done
registered() { kubectl get listenerregistrations.cxf.dev -A -o jsonpath='{range .items[*]}{.status.externalId}{"\n"}{end}' | grep -c .; }
expect_ok "the examples' 3 listeners have framework ids" all '[[ $(registered) == 3 ]]'
kubectl create secret generic wrong-credentials -n team-c --from-literal=client-secret=not-the-secret-4711 >/dev/null
fc team-c | sed "s|http://127.0.0.1:8080|$sim_url|; s|framework-credentials|wrong-credentials|" | kubectl apply -f - >/dev/null
expect_ok "a FrameworkConnection with a wrong secret gets Ready=False Unauthorized" \
	all 'kubectl wait --for=condition=Ready=false --timeout=60s -n team-c frameworkconnection.cxf.dev/default' \
	'[[ $(kubectl get frameworkconnection.cxf.dev default -n team-c -o jsonpath="{.status.conditions[?(@.type==\"Ready\")].reason}") == Unauthorized ]]'
expect_ok "health.lua: the live unauthorized FrameworkConnection is Degraded" health frameworkconnection.cxf.dev/default team-c Degraded
no_secret_values() {
	local where
	grep -q "serving /metrics" "$work/operator.log" || {
		echo "the operator log is not what this check expects"
		return 1
	}
	for where in "$work/operator.log" <(kubectl get events -A -o yaml) <(kubectl get cxf -A -o yaml); do
		if grep -F -e change-me -e OIDC_CLIENT_SECRET -e CRM_CLIENT_SECRET -e not-the-secret-4711 "$where"; then return 1; fi
	done
}
expect_ok "no secret value in the operator's log, Events or statuses" no_secret_values
expect_ok "deleting the examples' ListenerRegistrations and GatekeepingRule completes (the operator removes its finalizers)" \
	kubectl delete listenerregistrations.cxf.dev,gatekeepingrules.cxf.dev --all -A --timeout=60s
expect_ok "deleting the FrameworkConnections completes" \
	kubectl delete frameworkconnection.cxf.dev default -n team-c --timeout=60s
kill "$op_pid"
wait "$op_pid" 2>/dev/null || true
kubectl patch validatingwebhookconfiguration "$full-$ns" --type=json -p "[
	{\"op\": \"remove\", \"path\": \"/webhooks/0/clientConfig/url\"},
	{\"op\": \"add\", \"path\": \"/webhooks/0/clientConfig/service\", \"value\": {\"name\": \"$full\", \"namespace\": \"$ns\", \"path\": \"/validate\", \"port\": 443}}]" >/dev/null

# Namespaced mode, webhook off (nothing serves it here).
expect_ok "helm upgrade to watchNamespaces={team-a,team-b}, webhook off" \
	helm upgrade "$release" "$chart" --namespace "$ns" --set 'watchNamespaces={team-a,team-b}' --set webhook.enabled=false
expect_ok "no ClusterRole for the operator's watches remains" \
	bash -c "! kubectl get clusterrole $full-$ns"
expect_ok "SA can read Secrets and custom resources in team-a and team-b" \
	all 'can list secrets -n team-a' 'can watch secrets -n team-b' 'can list listenerregistrations.cxf.dev -n team-b'
expect_ok "SA cannot read Secrets in team-c or cluster-wide" \
	all 'cannot get secrets -n team-c' 'cannot list secrets -A' 'cannot list gatekeepingrules.cxf.dev -n team-c'

# The same, with a real token of the ServiceAccount (TokenRequest).
token=$(kubectl create token "$full" --namespace "$ns" --duration=10m)
as_sa() { kubectl --kubeconfig=/dev/null --server="$server" --certificate-authority="$work/ca.crt" --token="$token" "$@"; }
kubectl create secret generic probe --from-literal=k=v -n team-a >/dev/null
kubectl create secret generic probe --from-literal=k=v -n team-c >/dev/null
expect_ok "token of the SA reads a Secret in team-a" as_sa get secret probe -n team-a
expect_ok "token of the SA lists ListenerRegistrations in team-b" as_sa get listenerregistrations.cxf.dev -n team-b
expect_refused "token of the SA is refused a Secret in team-c" "forbidden" as_sa get secret probe -n team-c
expect_refused "token of the SA is refused Secrets cluster-wide" "forbidden" as_sa get secrets -A
expect_refused "token of the SA is refused deleting a Secret in team-a" "forbidden" as_sa delete secret probe -n team-a

# The examples, applied for real (schema and CEL validation by the API server).
for example in examples/*/kustomization.yaml; do
	dir=$(dirname "$example")
	expect_ok "$dir applies" kubectl apply -k "$dir"
done
expect_ok "the examples created 4 FrameworkConnections, 3 ListenerRegistrations, 1 GatekeepingRule" \
	bash -c '[[ $(kubectl get frameworkconnections.cxf.dev -A --no-headers | wc -l) == 4 && $(kubectl get listenerregistrations.cxf.dev -A --no-headers | wc -l) == 3 && $(kubectl get gatekeepingrules.cxf.dev -A --no-headers | wc -l) == 1 ]]'
# helm test: its RBAC and its kubectl wait, run here with the test ServiceAccount's token
# (no kubelet runs the test pod).
test_manifest=templates/tests/frameworkconnections-ready.yaml
render --set 'watchNamespaces={team-a,team-b}' --set tests.timeout=3s --show-only "$test_manifest" >"$work/test.yaml"
python3 - "$work/test.yaml" "$work" <<-'PY'
	import sys, yaml
	docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
	yaml.safe_dump_all([d for d in docs if d["kind"] != "Pod"], open(sys.argv[2] + "/test-rbac.yaml", "w"))
	pod = [d for d in docs if d["kind"] == "Pod"][0]
	with open(sys.argv[2] + "/test-args", "w") as f:
	    for c in pod["spec"]["containers"]:
	        f.write("\t".join(c["args"]) + "\n")
PY
expect_ok "helm test RBAC applies" kubectl apply -f "$work/test.yaml" --dry-run=server
kubectl apply -f "$work/test-rbac.yaml" >/dev/null
token=$(kubectl create token "$full-test" --namespace "$ns" --duration=10m)
helm_test() { # runs every container's kubectl command of the test pod as its SA
	local line args
	while IFS= read -r line; do
		IFS=$'\t' read -r -a args <<<"$line"
		as_sa "${args[@]}" || return 1
	done <"$work/test-args"
}
apply_fc team-a >/dev/null
apply_fc team-b >/dev/null
expect_refused "helm test fails while FrameworkConnections are not Ready" "timed out" helm_test
ready='{"status":{"observedGeneration":1,"conditions":[{"type":"Ready","status":"True","reason":"Connected","message":"ok","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}'
kubectl patch frameworkconnection.cxf.dev default -n team-a --subresource=status --type=merge -p "$ready" >/dev/null
expect_refused "helm test fails while one watched namespace's connection is not Ready" "timed out" helm_test
kubectl patch frameworkconnection.cxf.dev default -n team-b --subresource=status --type=merge -p "$ready" >/dev/null
expect_ok "helm test passes once every FrameworkConnection is Ready" helm_test
expect_refused "the test ServiceAccount cannot read Secrets" "forbidden" as_sa get secrets -n team-a
kubectl delete -f "$work/test-rbac.yaml" >/dev/null

# An upgrade that adds a CRD field applies it.
cp -r "$chart" "$work/chart-next"
python3 - "$work/chart-next" <<-'PY'
	import pathlib, sys, yaml
	chart = pathlib.Path(sys.argv[1])
	path = chart / "files/crds/frameworkconnections.cxf.dev.yaml"
	crd = yaml.safe_load(path.read_text())
	props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
	props["upgradeProbe"] = {"type": "string", "description": "Added by the chart upgrade test."}
	path.write_text(yaml.safe_dump(crd))
	meta = chart / "Chart.yaml"
	meta.write_text(meta.read_text().replace("version: 0.1.0", "version: 0.1.1"))
PY
expect_ok "helm upgrade to a chart whose CRD has a new field" \
	helm upgrade "$release" "$work/chart-next" --namespace "$ns" --set 'watchNamespaces={team-a,team-b}' --set webhook.enabled=false
expect_ok "the upgraded CRD has the new field" bash -c \
	"[[ \$(kubectl get crd frameworkconnections.cxf.dev -o jsonpath='{.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.upgradeProbe.type}') == string ]]"
expect_ok "the new field is kept by the API server" bash -c \
	"kubectl patch frameworkconnection.cxf.dev default -n team-a --type=merge -p '{\"spec\":{\"upgradeProbe\":\"x\"}}' >/dev/null && [[ \$(kubectl get frameworkconnection.cxf.dev default -n team-a -o jsonpath='{.spec.upgradeProbe}') == x ]]"
expect_ok "helm upgrade back to the chart" \
	helm upgrade "$release" "$chart" --namespace "$ns" --set 'watchNamespaces={team-a,team-b}' --set webhook.enabled=false
expect_ok "helm history shows install and three upgrades" \
	bash -c "[[ \$(helm history $release -n $ns -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') == 4 ]]"

# Uninstall keeps the CRDs (crds.keep) and with them the custom resources.
expect_ok "helm uninstall" helm uninstall "$release" --namespace "$ns"
expect_ok "the CRDs and custom resources survive helm uninstall" \
	bash -c 'kubectl get crd frameworkconnections.cxf.dev >/dev/null && kubectl get frameworkconnection.cxf.dev default -n team-a >/dev/null'
expect_ok "the operator's RBAC is gone after helm uninstall" \
	bash -c "! kubectl get role $full -n team-a 2>/dev/null && ! kubectl get rolebinding $full-self -n $ns 2>/dev/null"
expect_ok "helm install again adopts the kept CRDs" helm install "$release" "$chart" --namespace "$ns" --set webhook.enabled=false

echo "$passed passed, $failed failed"
((failed == 0))
