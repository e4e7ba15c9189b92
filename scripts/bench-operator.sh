#!/usr/bin/env bash
# The operator at scale (release build): a fresh control plane and simulator, the floor
# of the same run (N POSTs to the simulator plus N object writes to the apiserver, 16 at
# a time), N ListenerRegistrations created before the operator starts, then:
# start → first Ready, start → all Ready, the ratio to the floor, apiserver writes and
# admin calls per object (from apiserver_request_total and the simulator's
# /sim/requests), peak RSS (VmHWM), the admin calls of 60 s of steady state, and the warm
# case (N more applied while the operator runs).
#
#   scripts/bench-operator.sh [N]        N defaults to 1000
#
# Needs what the tests need: the control-plane binaries (scripts/control-plane.sh build),
# openssl and curl. The operator's log goes to $CXF_OPERATOR_LOG (default: none);
# $CXF_OPERATOR_ARGS adds flags to `cxf-operator run`, such as `--concurrency 32`;
# CXF_BENCH_COLD_ONLY=1 stops after the cold start.
set -euo pipefail

n=${1:-1000}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir == /* ]] || target_dir="$root/$target_dir"

log() { printf '[bench-operator] %s\n' "$*" >&2; }

cargo build --release --locked --quiet --bin cxf-operator
cargo bench --locked --quiet --bench operator --no-run
scripts/control-plane.sh build
work=$(mktemp -d)
trap 'scripts/control-plane.sh down "$work/control-plane" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
scripts/control-plane.sh up "$work/control-plane" --owner $$
eval "$(scripts/control-plane.sh env "$work/control-plane")"
for file in crds/*.yaml; do
	kubectl apply --server-side --force-conflicts -f "$file" >/dev/null
done
kubectl wait --for=condition=Established --timeout=60s crd --all >/dev/null
log "control plane up, CRDs installed; running the benchmark with N=$n"
CXF_CONTROL_PLANE_DIR="$work/control-plane" CXF_OPERATOR_BIN="$target_dir/release/cxf-operator" cargo bench --locked --quiet --bench operator -- "$n"
