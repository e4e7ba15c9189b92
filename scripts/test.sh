#!/usr/bin/env bash
# The project's test command (CI runs it through .ci/run). On a machine with the Rust and
# Go toolchains it installs the few other tools it needs (with apt-get, as root), builds
# the control plane once (scripts/control-plane.sh build), then runs every check.
# Any failure, including a missing tool, fails the run: nothing is skipped.
#
#   scripts/test.sh
#
# Cargo builds into $CARGO_TARGET_DIR, default $HOME/.cache/cxf-operator/cargo-target, so
# fresh clones (CI) reuse compiled dependencies. Set it to ./target to share the IDE's.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cxf-operator/cargo-target}

log() { printf '[test] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

timings=()
step() { # name command...
	local name=$1 started=$SECONDS
	shift
	log "==> $name: $*"
	"$@" || die "step failed: $name (after $((SECONDS - started))s)"
	timings+=("$(printf '%5ss  %s' "$((SECONDS - started))" "$name")")
	log "ok: $name ($((SECONDS - started))s)"
}

# Command -> Debian package, for the tools the steps below use beyond Rust and Go.
declare -A packages=(
	[openssl]=openssl   # the control plane's certificates
	[curl]=curl         # control-plane readiness, the playground
	[flock]=util-linux  # serializes control-plane builds
	[setsid]=util-linux # control-plane processes and their watchdog
	# The chart on a real node (tests/node/: scripts/node.sh and scripts/image.sh).
	[buildah]=buildah                                    # images FROM scratch, no registry
	[containerd]=containerd                              # the node's container runtime (and ctr)
	[runc]=runc                                          # its OCI runtime (cgroup v1 too)
	[/usr/lib/cni/bridge]=containernetworking-plugins    # bridge, host-local, loopback
	[iptables]=iptables                                  # kube-proxy
	[ip]=iproute2                                        # the node's bridge
	[objcopy]=binutils                                   # the test image's binary without debug info
	[c++]=g++           # libFuzzer (scripts/fuzz.sh)
	[kill]=procps       # the torture tests signal processes
	# The CI snippets of docs/gitops.md, run as written (tests/gitops/ci_snippets.rs).
	[git]=git
	[jq]=jq
)

install_tools() {
	local command missing=()
	for command in "${!packages[@]}"; do
		command -v "$command" >/dev/null || missing+=("${packages[$command]}")
	done
	if ((${#missing[@]} == 0)); then return; fi
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	if ! command -v apt-get >/dev/null || ((EUID != 0)); then
		die "missing tools; install the packages ${missing[*]} (apt-get, as root)"
	fi
	log "installing ${missing[*]} with apt-get"
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

require_toolchains() {
	command -v cargo >/dev/null || die "cargo not found: install Rust (rustup.rs)"
	command -v go >/dev/null || die "go not found: install Go >= 1.26 (go.dev/dl)"
	cargo fmt --version >/dev/null || die "rustfmt missing: rustup component add rustfmt"
	cargo clippy --version >/dev/null || die "clippy missing: rustup component add clippy"
}

started=$SECONDS
step "tools" install_tools
step "toolchains" require_toolchains
step "control-plane and node binaries" scripts/node.sh build
step "Argo CD's health engine (tests/chart runs health.lua in it)" scripts/argocd-health.sh build
step "rustfmt" cargo fmt --check
step "clippy" cargo clippy --locked --all-targets -- -D warnings
step "cargo test (unit, integration, benches)" cargo test --locked --no-fail-fast --all-targets
step "doc tests" cargo test --locked --doc
step "fuzz: criteria parser, AdmissionReview (scripts/fuzz.sh 25)" scripts/fuzz.sh 25

# --- Further checks: one `step "<name>" <command>` line each, below this marker ---------
# (the CRD drift check, helm lint and the chart checks, the Lua tests, ...)

log "all checks passed in $((SECONDS - started))s:"
printf '%s\n' "${timings[@]}" >&2
