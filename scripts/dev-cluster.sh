#!/usr/bin/env bash
# The local playground: a real Kubernetes control plane, the framework simulator and the
# operator on this machine, with examples/ applied and reconciled. No cluster and no
# framework needed: only the Rust and Go toolchains (plus openssl and curl).
#
#   scripts/dev-cluster.sh up       build, start everything in .dev/, apply examples/, show them
#   scripts/dev-cluster.sh status   what is running, and the cxf resources
#   scripts/dev-cluster.sh down     stop everything and remove .dev/
#
# The simulator listens on a free port and accepts the examples' client id and secret
# (cxf-operator / change-me); each example is applied through an overlay in .dev/examples/
# that points its FrameworkConnection at that port.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
dev="$root/.dev"
control_plane="$dev/control-plane"
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir == /* ]] || target_dir="$root/$target_dir"
operator_bin="$target_dir/debug/cxf-operator"
bin_dir=$(scripts/control-plane.sh bin-dir)
# The credentials the examples' FrameworkConnections use (examples/README.md).
client_id=cxf-operator
client_secret=change-me

log() { printf '[dev-cluster] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
skipped() { log "SKIPPED: $*"; }

kubectl() { KUBECONFIG="$control_plane/kubeconfig" "$bin_dir/kubectl" "$@"; }

# Is the process in .dev/NAME.pid alive and still the operator binary?
running() { # name
	local pid
	pid=$(cat "$dev/$1.pid" 2>/dev/null) || return 1
	{ [[ $(tr '\0' ' ' <"/proc/$pid/cmdline") == "$operator_bin $1 "* ]]; } 2>/dev/null
}

start_background() { # name args...
	local name=$1
	shift
	setsid "$operator_bin" "$name" "$@" >"$dev/$name.log" 2>&1 </dev/null &
	echo $! >"$dev/$name.pid"
}

start_simulator() {
	start_background simulator --listen 127.0.0.1:0 \
		--client-id "$client_id" --client-secret "$client_secret"
	local deadline=$((SECONDS + 30)) url=
	until url=$(grep -m1 -o 'http://127\.0\.0\.1:[0-9]*' "$dev/simulator.log"); do
		running simulator || {
			tail -n 20 "$dev/simulator.log" >&2
			die "the simulator exited at start (log above, $dev/simulator.log)"
		}
		((SECONDS < deadline)) || die "the simulator printed no address within 30s ($dev/simulator.log)"
		sleep 0.2
	done
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

# One overlay per example, pointing its FrameworkConnection at the simulator.
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
			  - ../../../$example
			patches:
			  - target: {group: cxf.dev, kind: FrameworkConnection}
			    patch: |-
			      - op: replace
			        path: /spec/gatewayUrl
			        value: $1
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
	log "cxf resources (kubectl get cxf -A):"
	kubectl get cxf -A || true
	if [[ -f $dev/simulator.url ]]; then
		log "what the simulator holds (curl $(cat "$dev/simulator.url")/sim/state):"
		curl --noproxy "*" -sS --max-time 5 "$(cat "$dev/simulator.url")/sim/state" || true
		echo
	fi
}

cmd_up() {
	[[ ! -e $dev ]] || die "$dev exists: the playground is up (scripts/dev-cluster.sh status), or run scripts/dev-cluster.sh down"
	command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
	log "building cxf-operator (cargo build)"
	cargo build --locked --bin cxf-operator || die "cargo build failed"
	scripts/control-plane.sh build
	mkdir -p "$dev"
	trap '(($? == 0)) || log "what did start is still running: scripts/dev-cluster.sh status, or down"' EXIT
	scripts/control-plane.sh up "$control_plane"
	start_simulator

	local crds=yes operator=yes
	install_crds || {
		crds=
		skipped "no CRDs in crds/ (generate them: cxf-operator crds --output-dir crds)"
	}
	if "$operator_bin" run --help >/dev/null 2>&1; then
		# One replica: no leader election. Metrics on a free loopback port, not 0.0.0.0:8080.
		KUBECONFIG="$control_plane/kubeconfig" start_background run \
			--no-leader-election --metrics-addr 127.0.0.1:0
		sleep 1
		running run || {
			tail -n 20 "$dev/run.log" >&2
			die "the operator exited at start (log above, $dev/run.log)"
		}
		log "operator running (log: $dev/run.log)"
	else
		operator=
		skipped "this cxf-operator has no 'run' subcommand yet: the operator is not started"
	fi

	if [[ -z $crds ]]; then
		skipped "examples/ (they need the CRDs)"
	elif ! apply_examples "$(cat "$dev/simulator.url")"; then
		skipped "no examples in examples/*/kustomization.yaml"
	elif [[ -z $operator ]]; then
		skipped "waiting for the examples to be Ready (no operator)"
	else
		log "waiting for every cxf resource to be Ready (120s at most)"
		kubectl wait --for=condition=Ready --timeout=120s --all-namespaces --all cxf >&2 || {
			tail -n 20 "$dev/run.log" >&2
			log "not Ready (kind/namespace/name: status message):"
			not_ready >&2
			die "not everything became Ready (operator log above: $dev/run.log; the playground is still up)"
		}
	fi
	show
	log "up. To use it from your shell:"
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
		scripts/control-plane.sh env "$control_plane"
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
status) cmd_status ;;
down) cmd_down ;;
*)
	sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
