#!/usr/bin/env bash
# Argo CD's own health-check engine as a small command: tests/argocd-health/main.go,
# built from the pinned github.com/argoproj/argo-cd/v3 module (util/lua, util/settings,
# gitops-engine's health). The chart tests run argocd/health.lua through it.
#
#   scripts/argocd-health.sh build     build it once (cached; rebuilt when main.go or go.sum change)
#   scripts/argocd-health.sh bin       print the binary's path
#
# The binary goes to $HOME/.cache/cxf-operator/argocd-health-<hash of go.sum and main.go>/.
# A cold build compiles part of Argo CD's module graph: a few minutes on 2 cores.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
module="$here/../tests/argocd-health"

log() { printf '[argocd-health] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

bin() {
	local hash
	hash=$(cat "$module/go.mod" "$module/go.sum" "$module/main.go" | sha256sum | cut -c1-12)
	echo "$HOME/.cache/cxf-operator/argocd-health-$hash/argocd-health"
}

cmd_build() {
	command -v go >/dev/null || die "the Go toolchain is needed (go not on PATH)"
	local out dir started=$SECONDS
	out=$(bin)
	dir=$(dirname "$out")
	mkdir -p "$dir"
	exec 9>"$dir/.build.lock"
	flock 9
	if [[ -x $out ]]; then
		log "present: $out"
		return
	fi
	log "building $out (first build takes a few minutes; later ones are cached)"
	(
		cd "$module"
		CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly nice go build -trimpath \
			-ldflags "-s -w" -o "$out.tmp" .
	) || die "go build of tests/argocd-health failed"
	mv "$out.tmp" "$out"
	log "built in $((SECONDS - started))s"
}

case "${1:-}" in
build) cmd_build ;;
bin) bin ;;
*)
	sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
