#!/usr/bin/env bash
# Builds container images without any registry: every image is FROM scratch, so no base
# image is pulled.
#
#   scripts/image.sh build [--binary PATH] [--tag NAME:TAG] [--archive FILE] [--storage DIR]
#       The operator's image, from the repository's Dockerfile: the cxf-operator binary
#       (by default `cargo build --release --locked`), the shared libraries `ldd` lists for
#       it, CA certificates, and /etc/passwd and /etc/group naming the non-root user
#       65532. Tagged NAME:TAG (default cxf-operator:<version in Cargo.toml>).
#   scripts/image.sh static --binary PATH --tag NAME:TAG [--archive FILE] [--storage DIR] [-- ARGS...]
#       An image holding only one static binary, its entrypoint (ARGS: its default
#       arguments). scripts/node.sh builds the pod sandbox (pause) image and a kubectl
#       image with it.
#
# The builder is buildah, else podman, else docker (whichever is installed first).
# --archive also writes the image as a docker-archive tarball, for `ctr images import`,
# `docker load` or `kind load image-archive`. --storage keeps buildah's or podman's
# image store in DIR instead of the machine's (tests use a throwaway one).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '[image] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

builder=() # the builder command, with its storage options
pick_builder() { # storage-dir
	local storage=$1 tool
	for tool in buildah podman docker; do
		command -v "$tool" >/dev/null || continue
		builder=("$tool")
		if [[ -n $storage ]]; then
			[[ $tool != docker ]] || die "--storage needs buildah or podman (docker keeps its own store)"
			# vfs: plain directories, no overlay mount needed (and the layers are tiny).
			builder+=(--root "$storage/root" --runroot "$storage/run" --storage-driver vfs)
		fi
		return
	done
	die "no image builder: install buildah (apt-get install buildah), podman or docker"
}

# Builds CONTEXT (holding a Dockerfile) as TAG, and writes ARCHIVE if given.
build_context() { # context tag archive
	local context=$1 tag=$2 archive=$3
	case ${builder[0]} in
	docker) "${builder[@]}" build --tag "$tag" "$context" >&2 ;;
	*) "${builder[@]}" build --layers=false --tag "$tag" "$context" >&2 ;;
	esac
	[[ -n $archive ]] || return 0
	mkdir -p "$(dirname "$archive")"
	rm -f "$archive"
	case ${builder[0]} in
	docker) docker save --output "$archive" "$tag" ;;
	# docker-archive names the image in the tarball as it is named here.
	*) "${builder[@]}" push --quiet "$tag" "docker-archive:$archive:$(docker_name "$tag")" >&2 ;;
	esac
	log "wrote $archive"
}

# The name Docker and containerd give TAG: a name without a registry is on docker.io,
# one without an organisation in library/.
docker_name() { # tag
	local name=$1 first=${1%%/*}
	if [[ $name != */* ]]; then
		name=docker.io/library/$name
	elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then
		name=docker.io/$name
	fi
	echo "$name"
}

# Copies FILE into ROOTFS under the same path, following symlinks (the library's real
# content under the name the binary asks for).
copy_into() { # rootfs file
	install -D -m 0755 "$(readlink -f "$2")" "$1$2"
}

cmd_build() {
	local binary= tag= archive= storage=
	while (($#)); do
		case $1 in
		--binary) binary=${2:?--binary needs a path} ;;
		--tag) tag=${2:?--tag needs NAME:TAG} ;;
		--archive) archive=${2:?--archive needs a file} ;;
		--storage) storage=${2:?--storage needs a directory} ;;
		*) die "unknown argument to build: $1" ;;
		esac
		shift 2
	done
	if [[ -z $tag ]]; then
		tag=cxf-operator:$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
	fi
	pick_builder "$storage"
	command -v ldd >/dev/null || die "ldd is needed to find the binary's libraries (apt-get install libc-bin)"
	if [[ -z $binary ]]; then
		log "building the release binary (cargo build --release --locked)"
		(cd "$root" && cargo build --release --locked --bin cxf-operator) >&2
		binary=${CARGO_TARGET_DIR:-$root/target}/release/cxf-operator
	fi
	[[ -x $binary ]] || die "$binary is not an executable"
	local certs=/etc/ssl/certs/ca-certificates.crt
	[[ -r $certs ]] || die "$certs missing (apt-get install ca-certificates)"

	local context
	context=$(mktemp -d)
	# shellcheck disable=SC2064 # expand now: the variable is local
	trap "rm -rf '$context'" EXIT
	local rootfs=$context/rootfs
	install -D -m 0755 "$binary" "$rootfs/usr/local/bin/cxf-operator"
	# The dynamic loader and every library ldd resolves (lines "name => /path (addr)"
	# and the loader's "/path (addr)").
	local libraries lib
	libraries=$(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
	[[ -n $libraries ]] || die "ldd found no libraries for $binary (a static binary: use scripts/image.sh static)"
	for lib in $libraries; do copy_into "$rootfs" "$lib"; done
	install -D -m 0644 "$certs" "$rootfs/etc/ssl/certs/ca-certificates.crt"
	install -d -m 1777 "$rootfs/tmp"
	printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' \
		>"$rootfs/etc/passwd"
	printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
	printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
	cp "$root/Dockerfile" "$context/Dockerfile"
	log "building $tag with ${builder[0]}: $(echo "$libraries" | wc -l) libraries from ldd"
	build_context "$context" "$tag" "$archive"
	log "built $tag"
}

cmd_static() {
	local binary= tag= archive= storage=
	while (($#)); do
		case $1 in
		--binary) binary=${2:?--binary needs a path} ;;
		--tag) tag=${2:?--tag needs NAME:TAG} ;;
		--archive) archive=${2:?--archive needs a file} ;;
		--storage) storage=${2:?--storage needs a directory} ;;
		--)
			shift
			break
			;;
		*) die "unknown argument to static: $1" ;;
		esac
		shift 2
	done
	[[ -n $binary && -n $tag ]] || die "usage: $0 static --binary PATH --tag NAME:TAG [--archive FILE] [--storage DIR] [-- ARGS...]"
	[[ -x $binary ]] || die "$binary is not an executable"
	if ldd "$binary" >/dev/null 2>&1; then die "$binary is dynamically linked: scratch holds no libraries"; fi
	pick_builder "$storage"
	local context name
	context=$(mktemp -d)
	# shellcheck disable=SC2064 # expand now: the variable is local
	trap "rm -rf '$context'" EXIT
	name=$(basename "$binary")
	install -m 0755 "$binary" "$context/$name"
	local entrypoint arg
	entrypoint=$(printf '"/%s"' "$name")
	for arg in "$@"; do entrypoint+=$(printf ', "%s"' "$arg"); done
	cat >"$context/Dockerfile" <<-DOCKERFILE
		FROM scratch
		COPY $name /$name
		USER 65532:65532
		ENTRYPOINT [$entrypoint]
	DOCKERFILE
	build_context "$context" "$tag" "$archive"
	log "built $tag"
}

case "${1:-}" in
build) cmd_build "${@:2}" ;;
static) cmd_static "${@:2}" ;;
*)
	sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
