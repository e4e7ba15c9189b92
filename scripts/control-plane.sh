#!/usr/bin/env bash
# A real Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager),
# built from Go modules and run on free 127.0.0.1 ports, the way controller-runtime's
# envtest runs them. Also builds kubectl and helm from the same pinned modules.
#
#   scripts/control-plane.sh build          build the binaries once (cached)
#   scripts/control-plane.sh bin-dir        print where the binaries are
#   scripts/control-plane.sh up DIR         start a control plane whose state lives in DIR
#   scripts/control-plane.sh env DIR        print `export KUBECONFIG=...` for it
#   scripts/control-plane.sh down DIR       stop it and remove DIR
#
# Binaries go to $CXF_K8S_BIN, else $HOME/.cache/cxf-operator/k8s-<version>/.
# The Go module versions are pinned by tests/control-plane/*/go.{mod,sum}.
set -euo pipefail

K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.8
HELM_VERSION=v3.21.4

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
modules="$here/../tests/control-plane"
bin_dir="${CXF_K8S_BIN:-$HOME/.cache/cxf-operator/k8s-$K8S_VERSION}"
binaries=(etcd kube-apiserver kube-controller-manager kubectl helm)

log() { printf '[control-plane] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

missing_binaries() {
	local b
	for b in "${binaries[@]}"; do
		[[ -x "$bin_dir/$b" ]] || echo "$b"
	done
}

go_build() { # module-dir output package ldflags
	local dir=$1 out=$2 pkg=$3 ldflags=${4:-}
	local started=$SECONDS
	log "building $out from $pkg (first build takes a while; later ones are cached)"
	(
		cd "$modules/$dir"
		CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -trimpath \
			-ldflags "-s -w $ldflags" -o "$bin_dir/$out.tmp" "$pkg"
	) || die "go build of $pkg failed"
	mv "$bin_dir/$out.tmp" "$bin_dir/$out"
	log "built $out in $((SECONDS - started))s"
}

cmd_build() {
	command -v go >/dev/null || die "the Go toolchain is needed to build the control plane (go not on PATH)"
	mkdir -p "$bin_dir"
	local missing
	missing=$(missing_binaries)
	if [[ -z "$missing" ]]; then
		log "binaries present in $bin_dir"
		return
	fi
	local minor=${K8S_VERSION#v1.}
	minor=${minor%%.*}
	local kver="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
	local b
	for b in $missing; do
		case $b in
		etcd) go_build etcd etcd go.etcd.io/etcd/server/v3 ;;
		kube-apiserver | kube-controller-manager | kubectl)
			go_build kubernetes "$b" "k8s.io/kubernetes/cmd/$b" "$kver"
			;;
		helm)
			go_build helm helm helm.sh/helm/v3/cmd/helm \
				"-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
			;;
		esac
	done
	log "all binaries in $bin_dir (etcd $ETCD_VERSION, kubernetes $K8S_VERSION, helm $HELM_VERSION)"
}

case "${1:-}" in
build) cmd_build ;;
bin-dir) echo "$bin_dir" ;;
*)
	sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
