#!/usr/bin/env bash
# The torture tests (tests/torture) at full size, with their figures: the numbers in
# docs/reliability.md come from this script.
#
#   scripts/torture.sh [FILTER]      run every torture test, or those whose name has FILTER
#
# Sizes (environment; the defaults below are the full size, the test command uses small
# ones): CXF_TORTURE_RESOURCES (kill -9 run, 300), CXF_TORTURE_KILL_SECONDS (90),
# CXF_TORTURE_KILL_RPS (the connection's requestsPerSecond in that run, 4),
# CXF_TORTURE_FAILOVER_RESOURCES (100), CXF_TORTURE_RESTART_RESOURCES (100),
# CXF_TORTURE_PARTITION_RESOURCES (40), CXF_TORTURE_OUTAGE_SECONDS (90),
# CXF_TORTURE_ROTATION_RESOURCES (1000), CXF_TORTURE_ROTATION_RPS (200),
# CXF_TORTURE_SEED (random, printed: replays a run's kills and faults).
# CARGO_PROFILE=release builds optimized binaries (default: the dev profile).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."

export CXF_TORTURE_RESOURCES=${CXF_TORTURE_RESOURCES:-300}
export CXF_TORTURE_KILL_SECONDS=${CXF_TORTURE_KILL_SECONDS:-90}
export CXF_TORTURE_KILL_RPS=${CXF_TORTURE_KILL_RPS:-4}
export CXF_TORTURE_FAILOVER_RESOURCES=${CXF_TORTURE_FAILOVER_RESOURCES:-100}
export CXF_TORTURE_RESTART_RESOURCES=${CXF_TORTURE_RESTART_RESOURCES:-100}
export CXF_TORTURE_PARTITION_RESOURCES=${CXF_TORTURE_PARTITION_RESOURCES:-40}
export CXF_TORTURE_OUTAGE_SECONDS=${CXF_TORTURE_OUTAGE_SECONDS:-90}
export CXF_TORTURE_ROTATION_RESOURCES=${CXF_TORTURE_ROTATION_RESOURCES:-1000}
export CXF_TORTURE_ROTATION_RPS=${CXF_TORTURE_ROTATION_RPS:-200}

log=$(mktemp -t cxf-torture-XXXXXX.log)
started=$SECONDS
status=0
cargo test --profile "${CARGO_PROFILE:-dev}" --test torture -- --nocapture ${1:+"$1"} \
	2>&1 | tee "$log" || status=$?

echo
echo "== torture figures ($((SECONDS - started)) s, full log: $log)"
grep -E '^(seed|figure): ' "$log" | sed 's/^figure: //' || true
grep -E '^test .* \.\.\. (ok|FAILED)$' "$log" || true
exit "$status"
