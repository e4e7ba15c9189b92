#!/usr/bin/env bash
# A Kubernetes node beside a control plane on this machine, so that the chart's pods run
# for real: containerd with runc and the CNI bridge, kubelet, kube-proxy (iptables) and
# kube-scheduler, built from the same pinned k8s.io/kubernetes module as the apiserver.
#
#   scripts/node.sh build                        build the binaries once (cached)
#   scripts/node.sh up DIR [--owner PID]         start a control plane and a node whose state
#                                                lives in DIR; with --owner, both are stopped
#                                                when PID exits
#   scripts/node.sh load DIR ARCHIVE...          import docker-archive images into the node
#                                                (scripts/image.sh build --archive makes one)
#   scripts/node.sh env DIR                      print `export KUBECONFIG=... PATH=...`
#   scripts/node.sh down DIR                     stop everything and remove DIR
#
# Needs root, and the Debian packages containerd, runc, containernetworking-plugins,
# iptables, iproute2 and buildah. One node per machine: the bridge cxf0 (10.244.0.1/24,
# the pods' range), kube-proxy's iptables chains and the cgroups under /cxf-node are the
# machine's. Traffic stays on this machine: pods get no default route, only routes to
# the bridge's subnet and to the Services' range 10.0.0.0/24, and IP forwarding stays off.
# The kubelet sets vm.overcommit_memory, kernel.panic and kernel.panic_on_oops as every
# node does; `down` puts the previous values back.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
control_plane=$here/control-plane.sh
bin_dir=$("$control_plane" bin-dir)
node_binaries=(kubelet kube-proxy kube-scheduler pause)

node_name=cxf-node
bridge=cxf0
pod_cidr=10.244.0.0/24
node_ip=10.244.0.1
service_cidr=10.0.0.0/24 # control-plane.sh's --service-cluster-ip-range
cgroup_root=/cxf-node
pause_image=localhost/cxf-pause:1.0
lock_file=/run/cxf-operator-node.lock
# Started in this order, stopped in the reverse one.
components=(containerd kubelet kube-proxy kube-scheduler)
kernel_tunables=(vm.overcommit_memory kernel.panic kernel.panic_on_oops)

log() { printf '[node] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# --- build -------------------------------------------------------------------------

cmd_build() {
	"$control_plane" build
	[[ -x $bin_dir/pause ]] && return
	log "building pause (tests/node/pause)"
	(
		cd "$here/../tests/node/pause"
		CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly go build -trimpath \
			-ldflags "-s -w" -o "$bin_dir/pause.tmp" .
	) || die "go build of the pause program failed"
	mv "$bin_dir/pause.tmp" "$bin_dir/pause"
}

# --- up ----------------------------------------------------------------------------

require_tools() {
	local tool package missing=()
	for tool in containerd:containerd ctr:containerd containerd-shim-runc-v2:containerd \
		runc:runc iptables:iptables ip:iproute2 buildah:buildah openssl:openssl curl:curl \
		flock:util-linux setsid:util-linux; do
		command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
	done
	for tool in bridge host-local loopback; do
		[[ -x /usr/lib/cni/$tool ]] || missing+=(containernetworking-plugins)
	done
	((${#missing[@]} == 0)) || die "missing tools: apt-get install $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
	((EUID == 0)) || die "a node needs root (network, cgroups, mounts)"
	for tool in "${node_binaries[@]}"; do
		[[ -x $bin_dir/$tool ]] || die "$tool missing in $bin_dir: run scripts/node.sh build"
	done
}

# Client certificates of the node's components, signed by the control plane's CA, and
# the kubelet's serving certificate.
make_node_certs() { # dir
	local dir=$1 ca=$1/cp/pki
	mkdir -p "$dir/pki"
	sign() { # name subject extensions
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/pki/$1.key" 2>/dev/null
		openssl req -new -key "$dir/pki/$1.key" -subj "$2" -out "$dir/pki/$1.csr"
		openssl x509 -req -in "$dir/pki/$1.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" \
			-CAcreateserial -days 365 -out "$dir/pki/$1.crt" -extfile <(printf '%s\n' "$3") 2>/dev/null
		rm "$dir/pki/$1.csr"
	}
	local client="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
	# The Node authorizer knows the kubelet by this name and group.
	sign kubelet "/O=system:nodes/CN=system:node:$node_name" "$client"
	# Bound by the apiserver's default RBAC (system:node-proxier, system:kube-scheduler).
	sign kube-proxy "/CN=system:kube-proxy" "$client"
	sign kube-scheduler "/CN=system:kube-scheduler" "$client"
	sign kubelet-serving "/CN=$node_name" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$node_ip,DNS:$node_name"
}

write_kubeconfig() { # file user
	local file=$1 user=$2 dir
	dir=$(dirname "$file")
	cat >"$file" <<-KUBECONFIG
		apiVersion: v1
		kind: Config
		clusters:
		- name: cxf-test
		  cluster:
		    server: $(cat "$dir/cp/apiserver-url")
		    certificate-authority: $dir/cp/pki/ca.crt
		users:
		- name: $user
		  user:
		    client-certificate: $dir/pki/$user.crt
		    client-key: $dir/pki/$user.key
		contexts:
		- name: cxf-test
		  context:
		    cluster: cxf-test
		    user: $user
		current-context: cxf-test
	KUBECONFIG
}

# N ports among 20000-59999 that nothing listens on (as control-plane.sh).
free_ports() {
	local n=$1 taken=" " port chosen=() f local_address state _
	for f in /proc/net/tcp /proc/net/tcp6; do
		while read -r _ local_address _ state _; do
			[[ $state == 0A ]] && taken+="$((16#${local_address##*:})) "
		done < <(tail -n +2 "$f")
	done
	while ((${#chosen[@]} < n)); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		[[ $taken == *" $port "* ]] && continue
		taken+="$port "
		chosen+=("$port")
	done
	echo "${chosen[@]}"
}

write_configs() { # dir
	local dir=$1 kubelet_port kubelet_healthz proxy_healthz proxy_metrics
	read -r kubelet_port kubelet_healthz proxy_healthz proxy_metrics < <(free_ports 4)
	mkdir -p "$dir/cni/net.d" "$dir/cni/ipam" "$dir/containerd" "$dir/kubelet" "$dir/pod-logs"
	cat >"$dir/containerd.toml" <<-TOML
		version = 2
		root = "$dir/containerd/root"
		state = "$dir/containerd/state"
		disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
		  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
		  "io.containerd.tracing.processor.v1.otlp"]
		[grpc]
		  address = "$dir/containerd/containerd.sock"
		[ttrpc]
		  address = "$dir/containerd/containerd.sock.ttrpc"
		[debug]
		  address = ""
		[metrics]
		  address = ""
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$dir/containerd/opt"
		[plugins."io.containerd.grpc.v1.cri"]
		  # Built here (scripts/image.sh static): no registry is needed for a pod.
		  sandbox_image = "$pause_image"
		  disable_apparmor = true
		  # Without CAP_SYS_RESOURCE (some sandboxes), a negative oom_score_adj (-998 for
		  # the pause container) is refused: keep it no lower than containerd's own.
		  restrict_oom_score_adj = true
		  netns_mounts_under_state_dir = true
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    snapshotter = "overlayfs"
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		        SystemdCgroup = false
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "/usr/lib/cni"
		    conf_dir = "$dir/cni/net.d"
	TOML
	# The bridge exists already with the node's address (isGateway false: the plugin
	# would turn on IP forwarding). Pods route only the Services' range through it.
	cat >"$dir/cni/net.d/10-cxf-node.conflist" <<-JSON
		{
		  "cniVersion": "1.0.0",
		  "name": "cxf-node",
		  "plugins": [{
		    "type": "bridge",
		    "bridge": "$bridge",
		    "isGateway": false,
		    "ipMasq": false,
		    "hairpinMode": true,
		    "ipam": {
		      "type": "host-local",
		      "ranges": [[{ "subnet": "$pod_cidr", "gateway": "$node_ip" }]],
		      "routes": [{ "dst": "$service_cidr" }],
		      "dataDir": "$dir/cni/ipam"
		    }
		  }]
		}
	JSON
	write_kubeconfig "$dir/kubelet.kubeconfig" kubelet
	write_kubeconfig "$dir/kube-proxy.kubeconfig" kube-proxy
	write_kubeconfig "$dir/kube-scheduler.kubeconfig" kube-scheduler
	cat >"$dir/kubelet.yaml" <<-YAML
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		# cgroup v1 (hybrid) machines: runc with the cgroupfs driver.
		cgroupDriver: cgroupfs
		failCgroupV1: false
		cgroupRoot: $cgroup_root
		containerRuntimeEndpoint: unix://$dir/containerd/containerd.sock
		address: $node_ip
		port: $kubelet_port
		readOnlyPort: 0
		healthzBindAddress: 127.0.0.1
		healthzPort: $kubelet_healthz
		tlsCertFile: $dir/pki/kubelet-serving.crt
		tlsPrivateKeyFile: $dir/pki/kubelet-serving.key
		authentication:
		  anonymous: { enabled: false }
		  webhook: { enabled: false }
		  x509: { clientCAFile: $dir/cp/pki/ca.crt }
		authorization:
		  mode: AlwaysAllow
		podCIDR: $pod_cidr
		podLogsDir: $dir/pod-logs
		clusterDomain: cluster.local
		maxPods: 30
		failSwapOn: false
		# The machine's disk is shared: never evict or collect images because of it.
		evictionHard:
		  memory.available: 100Mi
		  nodefs.available: "0%"
		  imagefs.available: "0%"
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
		serializeImagePulls: false
	YAML
	cat >"$dir/kube-proxy.yaml" <<-YAML
		apiVersion: kubeproxy.config.k8s.io/v1alpha1
		kind: KubeProxyConfiguration
		mode: iptables
		clientConnection:
		  kubeconfig: $dir/kube-proxy.kubeconfig
		hostnameOverride: $node_name
		bindAddress: $node_ip
		clusterCIDR: $pod_cidr
		healthzBindAddress: 127.0.0.1:$proxy_healthz
		metricsBindAddress: 127.0.0.1:$proxy_metrics
		nodePortAddresses: ["$pod_cidr"]
		# Leave the machine's conntrack and route_localnet settings alone.
		conntrack:
		  maxPerCore: 0
		  min: 0
		  tcpEstablishedTimeout: 0s
		  tcpCloseWaitTimeout: 0s
		iptables:
		  localhostNodePorts: false
	YAML
}

start() { # dir name args...
	local dir=$1 name=$2 binary
	shift 2
	binary=$bin_dir/$name
	[[ $name != containerd ]] || binary=$(command -v containerd)
	# fd 8 (the machine's node lock) is the watchdog's alone.
	setsid "$binary" "$@" >"$dir/$name.log" 2>&1 </dev/null 8>&- &
	echo $! >"$dir/$name.pid"
}

ours() { # dir name
	local pid cmdline
	pid=$(cat "$1/$2.pid" 2>/dev/null) || return 1
	{ cmdline=$(tr "\\0" " " <"/proc/$pid/cmdline"); } 2>/dev/null || return 1
	[[ $cmdline == *"$2 "* && $cmdline == *"$1/"* ]]
}

wait_for() { # dir seconds what check...
	local dir=$1 deadline=$((SECONDS + $2)) what=$3 name
	shift 3
	until "$@" >/dev/null 2>&1; do
		for name in "${components[@]}"; do
			[[ -f $dir/$name.pid ]] || continue
			ours "$dir" "$name" || die "$name exited while waiting for $what (log: $dir/$name.log)"
		done
		((SECONDS < deadline)) || die "timed out waiting for $what"
		sleep 0.5
	done
}

kubectl_admin() { # dir args...
	local dir=$1
	shift
	"$bin_dir/kubectl" --kubeconfig "$dir/cp/kubeconfig" "$@"
}

node_ready() { # dir
	[[ $(kubectl_admin "$1" get node "$node_name" \
		-o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == True ]]
}

ctr_node() { # dir args...
	local dir=$1
	shift
	ctr --address "$dir/containerd/containerd.sock" --namespace k8s.io "$@"
}

# The cgroup the kubelet puts pods under, in every cgroup v1 hierarchy (it must exist).
make_cgroup_root() {
	local hierarchy
	for hierarchy in /sys/fs/cgroup/*/; do
		[[ -e $hierarchy/cgroup.procs && $hierarchy != */unified/ ]] || continue
		mkdir -p "$hierarchy${cgroup_root#/}"
		if [[ -e $hierarchy/cpuset.cpus ]]; then
			cat "$hierarchy/cpuset.cpus" >"$hierarchy${cgroup_root#/}/cpuset.cpus"
			cat "$hierarchy/cpuset.mems" >"$hierarchy${cgroup_root#/}/cpuset.mems"
		fi
	done
}

start_watchdog() { # dir owner
	# It holds the machine's node lock (fd 8) for as long as the node lives.
	# shellcheck disable=SC2016 # expanded by the watchdog shell
	setsid bash -c 'while { [[ -z $2 ]] || kill -0 "$2"; } 2>/dev/null && [[ -d $1 ]]; do sleep 1; done
		[[ -d $1 ]] && exec bash "$0" down "$1"' "$here/node.sh" "$1" "$2" \
		>"$1/watchdog.log" 2>&1 </dev/null &
}

cmd_up() {
	local dir=${1:-} owner=
	[[ -n $dir ]] || die "usage: $0 up DIR [--owner PID]"
	shift
	while (($#)); do
		case $1 in
		--owner) owner=${2:?--owner needs a PID} ;;
		*) die "unknown argument to up: $1" ;;
		esac
		shift 2
	done
	require_tools
	[[ ! -e $dir/cp ]] || die "$dir already holds a node; run: $0 down $dir"
	exec 8>"$lock_file"
	if ! flock -n 8; then
		log "another node runs on this machine (it holds $lock_file): waiting for it to stop"
		flock -w "${CXF_NODE_LOCK_TIMEOUT:-600}" 8 ||
			die "another node still runs after ${CXF_NODE_LOCK_TIMEOUT:-600}s; stop it with: $0 down ITS-DIR"
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	echo "$node_ip" >"$dir/node-ip"
	local started=$SECONDS
	# From here on, a failure stops what started and leaves the logs in DIR.
	trap 'log "the node in $dir did not come up; logs in $dir"; stop_node "$dir"' EXIT

	# A bridge left by a node that was killed: nothing uses it (we hold the lock).
	ip link del "$bridge" 2>/dev/null || true
	ip link add "$bridge" type bridge
	ip addr add "$node_ip/${pod_cidr#*/}" dev "$bridge"
	ip link set "$bridge" up

	"$control_plane" up "$dir/cp" --node-ip "$node_ip"
	make_node_certs "$dir"
	write_configs "$dir"
	make_cgroup_root
	[[ -e /var/lib/kubelet ]] || touch "$dir/made-var-lib-kubelet"
	local tunable
	for tunable in "${kernel_tunables[@]}"; do
		echo "$tunable=$(sysctl -n "$tunable")"
	done >"$dir/sysctl.saved"

	start "$dir" containerd --config "$dir/containerd.toml"
	wait_for "$dir" 30 "containerd" ctr --address "$dir/containerd/containerd.sock" version
	"$here/image.sh" static --binary "$bin_dir/pause" --tag "$pause_image" \
		--archive "$dir/images/pause.tar" --storage "$dir/images/storage" >/dev/null
	ctr_node "$dir" images import "$dir/images/pause.tar" >/dev/null
	rm -rf "$dir/images"

	start "$dir" kubelet --config="$dir/kubelet.yaml" --kubeconfig="$dir/kubelet.kubeconfig" \
		--root-dir="$dir/kubelet" --hostname-override="$node_name" --node-ip="$node_ip"
	start "$dir" kube-proxy --config="$dir/kube-proxy.yaml"
	start "$dir" kube-scheduler --kubeconfig="$dir/kube-scheduler.kubeconfig" \
		--authentication-kubeconfig="$dir/kube-scheduler.kubeconfig" \
		--authorization-kubeconfig="$dir/kube-scheduler.kubeconfig" \
		--leader-elect=false --bind-address=127.0.0.1 --secure-port="$(free_ports 1)"
	wait_for "$dir" "${CXF_NODE_TIMEOUT:-120}" "node $node_name to be Ready" node_ready "$dir"

	trap - EXIT
	start_watchdog "$dir" "$owner"
	log "node $node_name Ready in $((SECONDS - started))s; kubeconfig $dir/cp/kubeconfig"
}

cmd_load() {
	local dir=${1:?usage: $0 load DIR ARCHIVE...} archive
	shift
	[[ -S $dir/containerd/containerd.sock ]] || die "no node in $dir"
	for archive in "$@"; do
		ctr_node "$dir" images import "$archive" >/dev/null || die "importing $archive failed"
		log "imported $archive"
	done
}

cmd_env() {
	local dir=${1:?usage: $0 env DIR}
	"$control_plane" env "$dir/cp"
}

# --- down --------------------------------------------------------------------------

stop_component() { # dir name
	local pid deadline=$((SECONDS + 10))
	ours "$1" "$2" || return 0
	pid=$(cat "$1/$2.pid")
	kill "$pid" 2>/dev/null || return 0
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
}

# Kills and deletes every container of the node (containerd still running), and the
# CNI results libcni cached for them in /var/lib/cni (not configurable in containerd 1.6).
stop_containers() { # dir
	local dir=$1 id
	[[ -S $dir/containerd/containerd.sock ]] || return 0
	for id in $(ctr_node "$dir" containers list -q 2>/dev/null); do
		rm -f /var/lib/cni/results/cxf-node-"$id"-* /var/lib/cni/results/cni-loopback-"$id"-*
	done
	for id in $(ctr_node "$dir" tasks list -q 2>/dev/null); do
		ctr_node "$dir" tasks kill --signal SIGKILL "$id" >/dev/null 2>&1 || true
	done
	for id in $(ctr_node "$dir" tasks list -q 2>/dev/null); do
		ctr_node "$dir" tasks delete --force "$id" >/dev/null 2>&1 || true
	done
	for id in $(ctr_node "$dir" containers list -q 2>/dev/null); do
		ctr_node "$dir" containers delete "$id" >/dev/null 2>&1 || true
	done
}

# Every mount under DIR (pod volumes, container root filesystems, network namespaces),
# deepest first.
unmount_all() { # dir
	local mount
	awk -v dir="$1/" 'index($5, dir) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r mount; do umount -l "$mount" 2>/dev/null || true; done
}

remove_cgroups() {
	local hierarchy
	for hierarchy in /sys/fs/cgroup/*/; do
		[[ -d $hierarchy${cgroup_root#/} ]] || continue
		find "$hierarchy${cgroup_root#/}" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done
}

# Shims of containers that could not be deleted (their command line names our socket).
kill_shims() { # dir
	local cmdline pid
	for cmdline in /proc/[0-9]*/cmdline; do
		pid=${cmdline#/proc/}
		pid=${pid%/cmdline}
		[[ $(tr '\0' ' ' 2>/dev/null <"$cmdline") == *"-address $1/containerd/containerd.sock "* ]] || continue
		kill -9 "$pid" 2>/dev/null || true
	done
}

# The chains the kubelet makes (kube-proxy --cleanup removes kube-proxy's).
remove_kubelet_chains() {
	local tool table chain
	for tool in iptables ip6tables; do
		command -v "$tool" >/dev/null || continue
		for chain in INPUT OUTPUT; do
			while "$tool" -t filter -D "$chain" -j KUBE-FIREWALL 2>/dev/null; do :; done
		done
		for table in filter nat mangle; do
			for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
				"$tool" -t "$table" -F "$chain" 2>/dev/null || continue
				"$tool" -t "$table" -X "$chain" 2>/dev/null || true
			done
		done
	done
}

stop_node() { # dir
	local dir=$1 name line
	for name in kube-scheduler kube-proxy kubelet; do stop_component "$dir" "$name"; done
	stop_containers "$dir"
	stop_component "$dir" containerd
	kill_shims "$dir"
	unmount_all "$dir"
	if [[ -x $bin_dir/kube-proxy ]]; then "$bin_dir/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
	remove_kubelet_chains
	remove_cgroups
	ip link del "$bridge" 2>/dev/null || true
	find /var/log/containers -maxdepth 1 -lname "$dir/*" -delete 2>/dev/null || true
	# The kubelet's device-plugin socket has a fixed path.
	[[ ! -f $dir/made-var-lib-kubelet ]] || rm -rf /var/lib/kubelet
	if [[ -f $dir/sysctl.saved ]]; then
		while read -r line; do sysctl -q -w "$line" || true; done <"$dir/sysctl.saved"
	fi
	for name in "${components[@]}"; do rm -f "$dir/$name.pid"; done
	if [[ -d $dir/cp ]]; then
		for line in "$dir"/cp/*.log; do [[ ! -f $line ]] || cp "$line" "$dir/cp-${line##*/}"; done
		"$control_plane" down "$dir/cp" 2>/dev/null || true
	fi
}

cmd_down() {
	local dir=${1:?usage: $0 down DIR}
	[[ -d $dir ]] || {
		log "nothing to stop: $dir does not exist"
		return
	}
	dir=$(cd "$dir" && pwd)
	[[ -f $dir/containerd.toml || -d $dir/cp ]] || die "$dir does not look like a node started by this script"
	stop_node "$dir"
	rm -rf "$dir"
	log "stopped and removed $dir"
}

case "${1:-}" in
build) cmd_build ;;
up) cmd_up "${@:2}" ;;
load) cmd_load "${@:2}" ;;
env) cmd_env "${@:2}" ;;
down) cmd_down "${@:2}" ;;
*)
	sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
