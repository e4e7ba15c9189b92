#!/usr/bin/env bash
# A real Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager),
# built from Go modules and run on free 127.0.0.1 ports, the way controller-runtime's
# envtest runs them. Also builds kubectl and helm from the same pinned modules, and the
# node's kubelet, kube-proxy and kube-scheduler (scripts/node.sh runs them).
#
#   scripts/control-plane.sh build                   build the binaries once (cached)
#   scripts/control-plane.sh bin-dir                 print where the binaries are
#   scripts/control-plane.sh versions                print the pinned versions (from the go.mod files)
#   scripts/control-plane.sh up DIR [--owner PID] [--node-ip IP]
#                                                    start a control plane whose state lives in DIR;
#                                                    with --owner, it is stopped when PID exits;
#                                                    with --node-ip, for a node (scripts/node.sh)
#   scripts/control-plane.sh env DIR                 print `export KUBECONFIG=... PATH=...` for it
#   scripts/control-plane.sh down DIR                stop it and remove DIR
#   scripts/control-plane.sh restart DIR NAME [SECS] stop component NAME (etcd, kube-apiserver), keep it
#                                                    down SECS seconds, start it with the same flags
#
# Binaries go to $CXF_K8S_BIN, else $HOME/.cache/cxf-operator/k8s-<version>/.
# The Go module versions are pinned by tests/control-plane/*/go.{mod,sum} (-mod=readonly).
# `up` waits at most $CXF_CONTROL_PLANE_TIMEOUT seconds (default 120) for readiness.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
modules="$here/../tests/control-plane"
# The versions are the ones the go.mod files pin: the one place that names them (the
# Rust tests read the same lines, tests/support/mod.rs `pinned_version`).
pinned() { # module-dir module-path
	local version
	version=$(awk -v m="$2" '$1 == m { print $2; exit }' "$modules/$1/go.mod")
	[[ -n $version ]] || {
		echo "[control-plane] error: $2 not found in tests/control-plane/$1/go.mod" >&2
		exit 1
	}
	echo "$version"
}
K8S_VERSION=$(pinned kubernetes k8s.io/kubernetes)
ETCD_VERSION=$(pinned etcd go.etcd.io/etcd/server/v3)
HELM_VERSION=$(pinned helm helm.sh/helm/v3)
bin_dir="${CXF_K8S_BIN:-$HOME/.cache/cxf-operator/k8s-$K8S_VERSION}"
binaries=(etcd kube-apiserver kube-controller-manager kubectl helm kubelet kube-proxy kube-scheduler)
# What `up` needs.
control_plane_binaries=(etcd kube-apiserver kube-controller-manager kubectl helm)
# Started in this order.
components=(etcd kube-apiserver kube-controller-manager)
service_cluster_ip_range=10.0.0.0/24
kubernetes_service_ip=10.0.0.1 # the first address of the range

log() { printf '[control-plane] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

missing_binaries() { # names...
	local b
	for b in "$@"; do
		[[ -x "$bin_dir/$b" ]] || echo "$b"
	done
}

# --- build -------------------------------------------------------------------------

go_build() { # module-dir output package ldflags
	local dir=$1 out=$2 pkg=$3 ldflags=${4:-}
	local started=$SECONDS
	log "building $out from $pkg (first build takes a while; later ones are cached)"
	(
		cd "$modules/$dir"
		CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly go build -trimpath \
			-ldflags "-s -w $ldflags" -o "$bin_dir/$out.tmp" "$pkg"
	) || die "go build of $pkg failed"
	mv "$bin_dir/$out.tmp" "$bin_dir/$out"
	log "built $out in $((SECONDS - started))s"
}

cmd_build() {
	command -v go >/dev/null || die "the Go toolchain is needed to build the control plane (go not on PATH)"
	mkdir -p "$bin_dir"
	# Concurrent builds (two terminals, a test run and the playground) wait for each other.
	exec 9>"$bin_dir/.build.lock"
	if ! flock -n 9; then
		log "another build of $bin_dir is running; waiting for it"
		flock 9
	fi
	local missing
	missing=$(missing_binaries "${binaries[@]}")
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
		kube-apiserver | kube-controller-manager | kubectl | kubelet | kube-proxy | kube-scheduler)
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

# --- up ----------------------------------------------------------------------------

# Ports with a listening TCP socket, from /proc (no ss/netstat needed).
listening_ports() {
	local f _ local_address _rest state
	for f in /proc/net/tcp /proc/net/tcp6; do
		[[ -r $f ]] || continue
		while read -r _ local_address _ state _rest; do
			[[ $state == 0A ]] && echo $((16#${local_address##*:}))
		done < <(tail -n +2 "$f")
	done
}

# Prints N distinct random ports in 20000-59999 that nothing listens on right now.
# Another process can still take one before we bind it: `up` retries on "address in use".
free_ports() {
	local n=$1 taken port chosen=()
	taken=" $(listening_ports | tr '\n' ' ') "
	while ((${#chosen[@]} < n)); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		[[ $taken == *" $port "* ]] && continue
		taken+="$port "
		chosen+=("$port")
	done
	echo "${chosen[@]}"
}

# Certificates: a throwaway CA, a serving cert for 127.0.0.1/localhost (and with a node,
# for the node IP and the `kubernetes` Service that pods call), client certs for the
# admin and the controller-manager (both in system:masters), and one RSA key that signs
# and verifies service-account tokens.
make_certs() { # pki [node-ip]
	local pki=$1 san=IP:127.0.0.1,DNS:localhost
	[[ -z ${2:-} ]] || san+=",IP:$2,IP:$kubernetes_service_ip,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
	mkdir -p "$pki"
	(
		cd "$pki"
		new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
		sign() { # name subject extensions
			new_key "$1.key"
			openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
			openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
				-days 365 -out "$1.crt" -extfile <(printf '%s\n' "$3") 2>/dev/null
			rm "$1.csr"
		}
		new_key ca.key
		openssl req -x509 -new -key ca.key -subj "/CN=cxf-test-ca" -days 365 -out ca.crt \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
		sign apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$san"
		local client="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
		sign admin "/O=system:masters/CN=cxf-test-admin" "$client"
		sign controller-manager "/O=system:masters/CN=system:kube-controller-manager" "$client"
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out service-account.key 2>/dev/null
	) || die "generating certificates in $pki failed (is openssl installed?)"
}

write_kubeconfig() { # file server client-name
	local file=$1 server=$2 name=$3 pki=$4
	cat >"$file" <<-KUBECONFIG
		apiVersion: v1
		kind: Config
		clusters:
		- name: cxf-test
		  cluster:
		    server: $server
		    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
		users:
		- name: $name
		  user:
		    client-certificate-data: $(base64 -w0 "$pki/$name.crt")
		    client-key-data: $(base64 -w0 "$pki/$name.key")
		contexts:
		- name: cxf-test
		  context:
		    cluster: cxf-test
		    user: $name
		current-context: cxf-test
	KUBECONFIG
}

start() { # dir name args...
	local dir=$1 name=$2
	shift 2
	# setsid: the processes outlive the shell that started them, and a Ctrl-C in that
	# terminal does not reach them; `down` (or the owner watchdog) stops them.
	setsid "$bin_dir/$name" "$@" >"$dir/$name.log" 2>&1 </dev/null &
	echo $! >"$dir/$name.pid"
}

# Is the PID in DIR/NAME.pid alive and still the NAME we started for DIR?
ours() { # dir name
	local pid cmdline
	pid=$(cat "$1/$2.pid" 2>/dev/null) || return 1
	{ cmdline=$(tr "\\0" " " <"/proc/$pid/cmdline"); } 2>/dev/null || return 1
	[[ $cmdline == */"$2 "* && $cmdline == *"$1/"* ]]
}

# Sends SIGTERM to the named components of DIR together, and waits (SIGKILL after 10 s).
stop_together() { # dir names...
	local dir=$1 name pids=() pid deadline=$((SECONDS + 10))
	shift
	for name in "$@"; do
		ours "$dir" "$name" || continue
		pid=$(cat "$dir/$name.pid")
		kill "$pid" 2>/dev/null && pids+=("$pid")
	done
	for pid in "${pids[@]}"; do
		while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	done
}

stop_components() { # dir
	# etcd last: the apiserver shuts down slowly once etcd is gone.
	stop_together "$1" kube-controller-manager kube-apiserver
	stop_together "$1" etcd
	local name
	for name in "${components[@]}"; do rm -f "$1/$name.pid"; done
}

# curl against the apiserver as the admin.
api() { # dir path
	local pki=$1/pki
	curl --noproxy "*" --silent --show-error --fail --max-time 5 --cacert "$pki/ca.crt" \
		--cert "$pki/admin.crt" --key "$pki/admin.key" "$(cat "$1/apiserver-url")$2"
}

# Waits until CHECK succeeds; fails if a component died or the deadline passed.
wait_for() { # dir deadline what check...
	local dir=$1 deadline=$2 what=$3 name
	shift 3
	until "$@" >/dev/null 2>&1; do
		for name in "${components[@]}"; do
			[[ -f $dir/$name.pid ]] || continue
			ours "$dir" "$name" || {
				echo "$name exited while waiting for $what"
				return 1
			}
		done
		((SECONDS < deadline)) || {
			echo "timed out waiting for $what"
			return 1
		}
		sleep 0.2
	done
}

show_logs() { # dir
	local name
	for name in "${components[@]}"; do
		[[ -f $1/$name.log ]] || continue
		log "--- last lines of $1/$name.log"
		tail -n 15 "$1/$name.log" >&2
	done
}

# Starts the three components once; returns 2 if a port was taken meanwhile (retry).
# With a node IP, the apiserver serves on that IP (where pods reach it through the
# `kubernetes` Service) and runs what pods on a node need: the ServiceAccount admission
# (token volumes), the Node authorizer, and the controllers of nodes (lifting the
# not-ready taint), Deployments, ReplicaSets, EndpointSlices and the kube-root-ca.crt
# ConfigMaps; it calls webhooks at their Service's endpoints (--enable-aggregator-routing).
start_components() { # dir [node-ip]
	local dir=$1 pki=$1/pki node_ip=${2:-} etcd_client etcd_peer apiserver_port reason
	read -r etcd_client etcd_peer apiserver_port < <(free_ports 3)
	local address=${node_ip:-127.0.0.1}
	local url="https://$address:$apiserver_port"
	local mode_flags=(--disable-admission-plugins=ServiceAccount --authorization-mode=RBAC
		--endpoint-reconciler-type=none)
	local controllers=namespace-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller,clusterrole-aggregation-controller
	if [[ -n $node_ip ]]; then
		mode_flags=(--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction
			--enable-aggregator-routing=true)
		controllers+=,node-lifecycle-controller,deployment-controller,replicaset-controller,endpointslice-controller,root-ca-certificate-publisher-controller,disruption-controller,pod-garbage-collector-controller
	fi
	echo "$url" >"$dir/apiserver-url"
	write_kubeconfig "$dir/kubeconfig" "$url" admin "$pki"
	write_kubeconfig "$dir/controller-manager.kubeconfig" "$url" controller-manager "$pki"
	local deadline=$((SECONDS + ${CXF_CONTROL_PLANE_TIMEOUT:-120}))

	start "$dir" etcd --name=cxf-test --data-dir="$dir/etcd" \
		--listen-client-urls="http://127.0.0.1:$etcd_client" \
		--advertise-client-urls="http://127.0.0.1:$etcd_client" \
		--listen-peer-urls="http://127.0.0.1:$etcd_peer" \
		--initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
		--initial-cluster="cxf-test=http://127.0.0.1:$etcd_peer" \
		--unsafe-no-fsync=true --log-level=warn
	reason=$(wait_for "$dir" "$deadline" "etcd to be healthy" \
		curl --noproxy "*" -sf --max-time 2 "http://127.0.0.1:$etcd_client/health") || {
		grep -q 'address already in use' "$dir/etcd.log" && return 2
		log "$reason"
		return 1
	}

	start "$dir" kube-apiserver \
		--etcd-servers="http://127.0.0.1:$etcd_client" \
		--bind-address="$address" --advertise-address="$address" \
		--secure-port="$apiserver_port" --cert-dir="$dir/apiserver-certs" \
		--tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
		--client-ca-file="$pki/ca.crt" \
		--service-cluster-ip-range="$service_cluster_ip_range" \
		--service-account-issuer="$url" \
		--service-account-key-file="$pki/service-account.key" \
		--service-account-signing-key-file="$pki/service-account.key" \
		--allow-privileged=true \
		"${mode_flags[@]}"
	reason=$(wait_for "$dir" "$deadline" "kube-apiserver /readyz" api "$dir" /readyz) || {
		grep -q 'address already in use' "$dir/kube-apiserver.log" && return 2
		log "$reason"
		return 1
	}

	# The namespace controller finalizes deleted namespaces, the garbage collector
	# follows owner references, the service-account controllers create `default`
	# service accounts and their token secrets, and aggregated cluster roles (admin, edit,
	# view) pick up rules labelled for aggregation. --secure-port=0: no serving port.
	start "$dir" kube-controller-manager \
		--kubeconfig="$dir/controller-manager.kubeconfig" \
		--controllers="$controllers" \
		--service-account-private-key-file="$pki/service-account.key" \
		--root-ca-file="$pki/ca.crt" \
		--use-service-account-credentials=false \
		--leader-elect=false --secure-port=0
	# The `default` service account appears once the controller-manager is working.
	reason=$(wait_for "$dir" "$deadline" "kube-controller-manager (the default service account)" \
		api "$dir" /api/v1/namespaces/default/serviceaccounts/default) || {
		log "$reason"
		return 1
	}
}

# Stops DIR's control plane when process OWNER exits (or when DIR is removed by `down`).
start_watchdog() { # dir owner
	# shellcheck disable=SC2016 # expanded by the watchdog shell, not this one
	setsid bash -c 'while kill -0 "$2" 2>/dev/null && [[ -d $1 ]]; do sleep 1; done
		[[ -d $1 ]] && exec bash "$0" down "$1"' "$here/control-plane.sh" "$1" "$2" \
		>"$1/watchdog.log" 2>&1 </dev/null &
}

cmd_up() {
	local dir=${1:-} owner= node_ip=
	[[ -n $dir ]] || die "usage: $0 up DIR [--owner PID] [--node-ip IP]"
	shift
	while (($#)); do
		case "$1" in
		--owner) owner=${2:?--owner needs a PID} ;;
		--node-ip) node_ip=${2:?--node-ip needs an address} ;;
		*) die "unknown argument to up: $1" ;;
		esac
		shift 2
	done
	local missing
	missing=$(missing_binaries "${control_plane_binaries[@]}")
	[[ -z $missing ]] || die "missing $(echo "$missing" | tr '\n' ' ')in $bin_dir: run scripts/control-plane.sh build (a cold build takes about 20 minutes on 2 cores)"
	command -v openssl >/dev/null || die "openssl is needed to generate certificates (apt-get install openssl)"
	command -v curl >/dev/null || die "curl is needed to wait for readiness (apt-get install curl)"
	[[ ! -e $dir/kubeconfig ]] || die "$dir already holds a control plane; run: $0 down $dir"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	local started=$SECONDS attempt status
	make_certs "$dir/pki" "$node_ip"
	for attempt in 1 2 3; do
		status=0
		start_components "$dir" "$node_ip" || status=$?
		((status == 2)) || break
		log "a port was taken while starting (attempt $attempt); retrying on other ports"
		stop_components "$dir"
		rm -rf "$dir/etcd"
	done
	if ((status != 0)); then
		show_logs "$dir"
		stop_components "$dir"
		die "the control plane in $dir did not come up (logs and state left in $dir)"
	fi
	[[ -z $owner ]] || start_watchdog "$dir" "$owner"
	log "ready in $((SECONDS - started))s: $(cat "$dir/apiserver-url"), kubeconfig $dir/kubeconfig"
}

cmd_down() {
	local dir=${1:?usage: $0 down DIR}
	[[ -d $dir ]] || {
		log "nothing to stop: $dir does not exist"
		return
	}
	dir=$(cd "$dir" && pwd)
	[[ -f $dir/apiserver-url ]] || die "$dir does not look like a control plane started by this script"
	stop_components "$dir"
	rm -rf "$dir"
	log "stopped and removed $dir"
}

cmd_restart() {
	local usage="usage: $0 restart DIR NAME [SECONDS]"
	local dir=${1:?$usage} name=${2:?$usage} down=${3:-0} pid args=()
	dir=$(cd "$dir" && pwd)
	ours "$dir" "$name" || die "$name of $dir is not running"
	pid=$(cat "$dir/$name.pid")
	mapfile -d '' args <"/proc/$pid/cmdline"
	stop_together "$dir" "$name"
	sleep "$down"
	cat "$dir/$name.log" >>"$dir/$name.log.before-restart"
	start "$dir" "$name" "${args[@]:1}"
	local reason
	reason=$(wait_for "$dir" $((SECONDS + ${CXF_CONTROL_PLANE_TIMEOUT:-120})) \
		"kube-apiserver /readyz after restarting $name" api "$dir" /readyz) || {
		show_logs "$dir"
		die "$reason"
	}
	log "restarted $name of $dir (down ${down}s)"
}

cmd_env() {
	local dir=${1:?usage: $0 env DIR}
	dir=$(cd "$dir" && pwd)
	[[ -f $dir/kubeconfig ]] || die "no control plane in $dir (start one with: $0 up $dir)"
	# shellcheck disable=SC2016 # $PATH is for the shell that evals this
	printf 'export KUBECONFIG=%q\nexport PATH=%q:"$PATH"\n' "$dir/kubeconfig" "$bin_dir"
}

case "${1:-}" in
build) cmd_build ;;
bin-dir) echo "$bin_dir" ;;
versions) printf 'kubernetes %s\netcd %s\nhelm %s\n' "$K8S_VERSION" "$ETCD_VERSION" "$HELM_VERSION" ;;
up) cmd_up "${@:2}" ;;
down) cmd_down "${@:2}" ;;
env) cmd_env "${@:2}" ;;
restart) cmd_restart "${@:2}" ;;
*)
	sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
