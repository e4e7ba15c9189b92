#!/usr/bin/env bash
# The local playground: a real Kubernetes control plane, the framework simulator and the
# operator (with its admission webhook) on this machine, with examples/ applied and
# reconciled. No cluster and no framework needed: only the Rust and Go toolchains (plus
# openssl and curl).
#
#   scripts/dev-cluster.sh up       build, start everything in .dev/, apply examples/, show them
#   scripts/dev-cluster.sh env      print the `export` lines that point kubectl at it
#   scripts/dev-cluster.sh status   what is running, and the cxf resources
#   scripts/dev-cluster.sh down     stop everything and remove .dev/
#
# The simulator listens on a free port and accepts the examples' client id and secret
# (cxf-operator / change-me); each example is applied through an overlay in .dev/examples/
# that points its FrameworkConnection at the simulator, and its listeners at 127.0.0.1.
# $CXF_DEV_DIR replaces .dev/; $CXF_OPERATOR_BIN names a built cxf-operator (no cargo build).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
dev=${CXF_DEV_DIR:-$root/.dev}
control_plane="$dev/control-plane"
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir == /* ]] || target_dir="$root/$target_dir"
operator_bin=${CXF_OPERATOR_BIN:-$target_dir/debug/cxf-operator}
bin_dir=$(scripts/control-plane.sh bin-dir)
# The credentials the examples' FrameworkConnections use (examples/README.md).
client_id=cxf-operator
client_secret=change-me
# The ValidatingWebhookConfiguration that sends cxf.dev objects to the local operator.
webhook_config=cxf-playground

log() { printf '[dev-cluster] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
skipped() { log "SKIPPED: $*"; }

kubectl() { KUBECONFIG="$control_plane/kubeconfig" "$bin_dir/kubectl" "$@"; }

# A path as a person at the repository root types it.
shown() { if [[ $1 == "$root/"* ]]; then echo "${1#"$root/"}"; else echo "$1"; fi; }

# Has the process started as NAME not exited? (Right after the start it may still be the
# shell or setsid before their exec: the PID is what counts, not the command line.)
alive() { # name
	local pid
	pid=$(cat "$dev/$1.pid" 2>/dev/null) || return 1
	kill -0 "$pid" 2>/dev/null
}

# Is the process in .dev/NAME.pid alive and `cxf-operator NAME`? (status, down: long
# after the start, this also guards against a reused PID)
running() { # name
	local pid args=()
	pid=$(cat "$dev/$1.pid" 2>/dev/null) || return 1
	{ mapfile -d '' -t args <"/proc/$pid/cmdline"; } 2>/dev/null || return 1
	[[ ${args[0]:-} == *cxf-operator && ${args[1]:-} == "$1" ]]
}

start_background() { # name args...
	local name=$1
	shift
	setsid "$operator_bin" "$name" "$@" >"$dev/$name.log" 2>&1 </dev/null &
	echo $! >"$dev/$name.pid"
}

# Waits until NAME's log has a line matching PATTERN, and prints the first match; fails
# when the process exits first or after 60 s.
wait_for_log() { # name pattern what
	local name=$1 pattern=$2 what=$3 deadline=$((SECONDS + 60)) found
	until found=$(grep -m1 -oE "$pattern" "$dev/$name.log"); do
		alive "$name" || {
			tail -n 20 "$dev/$name.log" >&2
			die "the $name process exited before $what (log above, $dev/$name.log)"
		}
		((SECONDS < deadline)) || die "no $what within 60s ($dev/$name.log)"
		sleep 0.2
	done
	echo "$found"
}

start_simulator() {
	# The examples' OAuth listeners get their tokens from the simulator too (their overlay
	# points identityUri at it), with their clients' example values.
	cat >"$dev/simulator-clients.yaml" <<-'YAML'
		- {id: tax-engine, secret: OIDC_CLIENT_SECRET}
		- {id: crm-listener, secret: CRM_CLIENT_SECRET}
	YAML
	start_background simulator --listen 127.0.0.1:0 --clients "$dev/simulator-clients.yaml" \
		--client-id "$client_id" --client-secret "$client_secret"
	local url
	url=$(wait_for_log simulator 'http://127\.0\.0\.1:[0-9]+' "the simulator printed its address")
	echo "$url" >"$dev/simulator.url"
	log "simulator listening on $url"
}

# Applies crds/*.yaml; prints nothing and returns 1 if there are none.
install_crds() {
	shopt -s nullglob
	local files=(crds/*.yaml)
	shopt -u nullglob
	((${#files[@]} > 0)) || return 1
	local file names=()
	for file in "${files[@]}"; do
		mapfile -t -O "${#names[@]}" names < <(kubectl apply --server-side --force-conflicts -o name -f "$file")
	done
	kubectl wait --for=condition=Established --timeout=60s "${names[@]}" >/dev/null ||
		die "the CRDs in crds/ did not become Established"
	log "installed ${#files[@]} CRD file(s) from crds/"
}

# The webhook configuration the chart renders, pointed at URL instead of a Service: the
# operator writes its caBundle (--webhook-config) from its self-managed CA.
webhook_configuration() { # url
	cat <<-YAML
		apiVersion: admissionregistration.k8s.io/v1
		kind: ValidatingWebhookConfiguration
		metadata:
		  name: $webhook_config
		webhooks:
		  - name: validate.cxf.dev
		    admissionReviewVersions: [v1]
		    sideEffects: None
		    failurePolicy: Fail
		    timeoutSeconds: 5
		    clientConfig:
		      url: $1
		    rules:
		      - apiGroups: [cxf.dev]
		        apiVersions: [v1alpha1]
		        operations: [CREATE, UPDATE]
		        resources: [frameworkconnections, listenerregistrations, gatekeepingrules]
		        scope: Namespaced
	YAML
}

# Files the printed "try next" commands use.
write_try_files() {
	mkdir -p "$dev/try"
	cat >"$dev/try/criteria-typo.yaml" <<-'YAML'
		# A listener whose criteria has a typo: the webhook refuses it with line and column.
		apiVersion: cxf.dev/v1alpha1
		kind: ListenerRegistration
		metadata:
		  name: typo
		  namespace: cxf-example-customer-events-listener
		spec:
		  listenerUrl: http://127.0.0.1:9/typo
		  affiliatedApis:
		    - apiName: customerManagement
		      apiVersion: v4
		      query: /eventType eq "CustomerCreateEvent" and "/event/customer/id" gt
	YAML
	# A customer creation event, as an application behind the framework publishes it.
	local id
	for id in 20001 42; do
		cat >"$dev/try/customer-$id-created.json" <<-JSON
			{"envelope": {"eventId": "customer-$id", "eventType": "CustomerCreateEvent",
			              "event": {"customer": {"id": $id, "name": "Customer $id"}}},
			 "ids": ["$id"], "op": "POST", "ms": "notification",
			 "api-name": "customerManagement", "api-version": "v4", "resource": "Customer"}
		JSON
	done
}

# Starts the operator with its webhook on a free port, points the webhook configuration
# at it, and waits until the API server calls it.
start_operator() {
	# A URL that nothing serves yet, until the operator's port is known.
	webhook_configuration https://127.0.0.1:1/validate | kubectl apply -f - >/dev/null
	# One replica: no leader election. Metrics and webhook on free loopback ports. The
	# certificate Secret goes to the namespace "default".
	KUBECONFIG="$control_plane/kubeconfig" start_background run \
		--no-leader-election --metrics-addr 127.0.0.1:0 \
		--webhook-addr 127.0.0.1:0 --webhook-host 127.0.0.1 \
		--webhook-namespace default --webhook-config "$webhook_config"
	local addr
	addr=$(wait_for_log run 'webhook: listening.*' "the webhook listened" | grep -oE '127\.0\.0\.1:[0-9]+')
	webhook_configuration "https://$addr/validate" | kubectl apply -f - >/dev/null
	log "operator running, webhook on https://$addr/validate (log: $dev/run.log)"
	# The typo, in a namespace that exists before the examples.
	sed 's/namespace: .*/namespace: default/' "$dev/try/criteria-typo.yaml" >"$dev/webhook-probe.yaml"
	local deadline=$((SECONDS + 60)) out
	until out=$(kubectl apply --dry-run=server -f "$dev/webhook-probe.yaml" 2>&1) ||
		[[ $out == *"denied the request"* ]]; do
		alive run || {
			tail -n 20 "$dev/run.log" >&2
			die "the operator exited at start (log above, $dev/run.log)"
		}
		((SECONDS < deadline)) || die "the API server did not call the webhook within 60s: $out"
		sleep 0.5
	done
	[[ $out == *"denied the request"* ]] || die "the webhook admitted the criteria typo: $out"
}

# One overlay per example: its FrameworkConnection points at the simulator, its listeners
# at 127.0.0.1 (port 9: nothing listens, deliveries fail fast and never leave the
# machine) and get their tokens from the simulator.
apply_examples() { # simulator-url
	local kustomization example name applied=0
	for kustomization in examples/*/kustomization.yaml; do
		[[ -e $kustomization ]] || continue
		example=$(dirname "$kustomization")
		name=$(basename "$example")
		mkdir -p "$dev/examples/$name"
		cat >"$dev/examples/$name/kustomization.yaml" <<-OVERLAY
			apiVersion: kustomize.config.k8s.io/v1beta1
			kind: Kustomization
			resources:
			  - $(realpath --relative-to="$dev/examples/$name" "$root/$example")
			patches:
			  - target: {group: cxf.dev, kind: FrameworkConnection}
			    patch: |-
			      - op: replace
			        path: /spec/gatewayUrl
			        value: $1
			  - target: {group: cxf.dev, kind: ListenerRegistration}
			    patch: |-
			      - op: replace
			        path: /spec/listenerUrl
			        value: http://127.0.0.1:9/$name
			  - target: {group: cxf.dev, kind: ListenerRegistration, name: tax-engine|crm-customer-events}
			    patch: |-
			      - op: replace
			        path: /spec/auth/oidcClientCredentials/identityUri
			        value: $1/oauth2/token
		OVERLAY
		kubectl apply -k "$dev/examples/$name" >&2 || die "applying $example failed"
		applied=$((applied + 1))
	done
	((applied > 0)) || return 1
	log "applied $applied example(s) from examples/"
}

# The cxf resources whose Ready condition is not True, with its message.
not_ready() {
	kubectl get cxf -A -o jsonpath='{range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}: {.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}{"\n"}{end}' |
		grep -v ': True ' || true
}

show() {
	log "cxf resources:"
	kubectl get cxf -A -o custom-columns='KIND:.kind,NAMESPACE:.metadata.namespace,NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,REASON:.status.conditions[?(@.type=="Ready")].reason,FRAMEWORK ID:.status.externalId' || true
}

# The commands to try next; each `$ ` line runs as printed from the repository root.
try_next() {
	local dev_dir script=scripts/dev-cluster.sh
	dev_dir=$(shown "$dev")
	[[ -z ${CXF_DEV_DIR:-} ]] || script="CXF_DEV_DIR=$dev_dir $script"
	cat <<-TRY

		Try next, in a shell at the repository root ($root):
		  $ eval "\$($script env)"
		  # A criteria typo is refused at apply, with its line and column:
		  $ kubectl apply -f $dev_dir/try/criteria-typo.yaml
		  # Rotate a Secret: the operator sends the new credentials to the framework (Event "Updated"):
		  $ kubectl -n cxf-example-tax-engine-listener patch secret tax-engine-oidc -p '{"stringData":{"client-secret":"rotated-1"}}'
		  $ kubectl -n cxf-example-tax-engine-listener get events --field-selector involvedObject.name=tax-engine
		  # Publish events: customer 20001 matches crm-customer-events' criteria (id gt 10000), customer 42 no listener's:
		  $ curl -s -H 'content-type: application/json' "\$CXF_SIMULATOR_URL/sim/01/events" -d @$dev_dir/try/customer-20001-created.json
		  $ curl -s -H 'content-type: application/json' "\$CXF_SIMULATOR_URL/sim/01/events" -d @$dev_dir/try/customer-42-created.json
		  # Which listener each event went to (listener-id, listener-url):
		  $ curl -s "\$CXF_SIMULATOR_URL/sim/01/deliveries"
		  # Logs: $dev_dir/run.log (operator), $dev_dir/simulator.log. Stop it all: scripts/dev-cluster.sh down
	TRY
}

cmd_up() {
	[[ ! -e $dev ]] || die "$dev exists: the playground is up (scripts/dev-cluster.sh status), or run scripts/dev-cluster.sh down"
	command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
	if [[ -z ${CXF_OPERATOR_BIN:-} ]]; then
		log "building cxf-operator (cargo build)"
		cargo build --locked --bin cxf-operator || die "cargo build failed"
	fi
	scripts/control-plane.sh build
	mkdir -p "$dev"
	trap '(($? == 0)) || log "what did start is still running: scripts/dev-cluster.sh status, or down"' EXIT
	scripts/control-plane.sh up "$control_plane"
	start_simulator
	write_try_files
	install_crds || die "no CRDs in crds/ (generate them: cxf-operator crds --output-dir crds)"
	start_operator
	apply_examples "$(cat "$dev/simulator.url")" || die "no examples in examples/*/kustomization.yaml"
	log "waiting for every cxf resource to be Ready (120s at most)"
	kubectl wait --for=condition=Ready --timeout=120s --all-namespaces --all cxf >&2 || {
		tail -n 20 "$dev/run.log" >&2
		log "not Ready (kind/namespace/name: status message):"
		not_ready >&2
		die "not everything became Ready (operator log above: $dev/run.log; the playground is still up)"
	}
	show
	try_next
}

cmd_env() {
	[[ -f $control_plane/kubeconfig && -f $dev/simulator.url ]] || die "the playground is not up (scripts/dev-cluster.sh up)"
	scripts/control-plane.sh env "$control_plane"
	echo "export CXF_SIMULATOR_URL=$(cat "$dev/simulator.url")"
}

cmd_status() {
	[[ -d $dev ]] || {
		log "down (no $dev)"
		return
	}
	local name
	for name in simulator run; do
		if running "$name"; then
			log "$name: running, pid $(cat "$dev/$name.pid"), log $dev/$name.log"
		else
			log "$name: not running"
		fi
	done
	if [[ -f $control_plane/kubeconfig ]] && kubectl get --raw /readyz >/dev/null 2>&1; then
		log "control plane: ready, $(cat "$control_plane/apiserver-url")"
		show
		cmd_env
	else
		log "control plane: not ready"
	fi
}

cmd_down() {
	[[ -d $dev ]] || {
		log "nothing to stop: no $dev"
		return
	}
	local name pid
	for name in run simulator; do
		running "$name" || continue
		pid=$(cat "$dev/$name.pid")
		kill "$pid" 2>/dev/null || true
		for _ in {1..50}; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
		log "stopped $name"
	done
	if [[ -d $control_plane ]]; then
		scripts/control-plane.sh down "$control_plane"
	fi
	rm -rf "$dev"
	log "down"
}

case "${1:-}" in
up) cmd_up ;;
env) cmd_env ;;
status) cmd_status ;;
down) cmd_down ;;
*)
	sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
