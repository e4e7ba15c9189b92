#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/fuzz_targets: `parse`, the criteria parser; `admission_review`,
# the webhook's AdmissionReview decoding and verdict) for SECONDS each (default 25), from
# the kept corpus fuzz/corpus/<target> and the seeds fuzz/seeds/<target>. New inputs go to a
# temporary directory: the checked-in corpus is not modified (to grow it, run libFuzzer
# with fuzz/corpus/<target> as the first directory, then shrink it with -set_cover_merge=1).
#
# Usage: scripts/fuzz.sh [SECONDS]
# Needs the nightly toolchain (cargo-fuzz builds with -Zsanitizer=address), a C++ compiler
# (libfuzzer-sys builds libFuzzer) and cargo-fuzz, which this script installs from
# crates.io if it is missing. The first build takes minutes (every dependency, with the
# sanitizer); later ones rebuild only what changed. Fails on any crash, any
# input running longer than 10 s (a hang), or more than 2 GiB of memory.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-25}
die() { echo "fuzz.sh: $*" >&2; exit 1; }

rustup toolchain list | grep -q '^nightly' ||
	die "the nightly toolchain is missing: rustup toolchain install nightly --profile minimal"
command -v c++ >/dev/null ||
	die "a C++ compiler is missing (libfuzzer-sys builds libFuzzer): apt-get install g++"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
	echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
	cargo install cargo-fuzz --locked --version 0.13.2 || die "installing cargo-fuzz failed"
fi

# Its own target dir (nightly, sanitizer flags): never shared with the stable build.
# Kept under $HOME/.cache so fresh clones (CI) reuse the sanitizer build of the dependencies.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/cxf-operator/fuzz-target}"
scratch=$(mktemp -d)
for target in parse admission_review; do
	mkdir -p "$scratch/$target"
	if ! (cd fuzz && cargo +nightly fuzz run "$target" "$scratch/$target" "corpus/$target" "seeds/$target" -- \
		-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix="$scratch/") >"$scratch/$target.log" 2>&1; then
		tail -n 40 "$scratch/$target.log" >&2
		die "fuzz target $target failed (crash, hang or out of memory; see above); log and input in $scratch"
	fi
	echo "fuzz.sh: $target: $(grep -E '^Done' "$scratch/$target.log")"
done
rm -rf "$scratch"
