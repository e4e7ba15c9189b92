#!/usr/bin/env bash
# Keeps the chart's CRDs identical to the repository's crds/ (the output of
# `cxf-operator crds`, checked against the generator by the crate's tests).
#
#   scripts/sync-chart-crds.sh           copy crds/*.yaml to charts/cxf-operator/files/crds/
#   scripts/sync-chart-crds.sh --check   fail if they differ (file set or bytes)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/crds"
dst="$root/charts/cxf-operator/files/crds"

shopt -s nullglob
sources=("$src"/*.yaml)
((${#sources[@]} > 0)) || {
	echo "sync-chart-crds: no CRDs in $src (generate them with: cxf-operator crds --output-dir crds)" >&2
	exit 1
}

case "${1:-}" in
--check)
	if ! diff -r "$src" "$dst" >&2; then
		echo "sync-chart-crds: charts/cxf-operator/files/crds/ differs from crds/: run scripts/sync-chart-crds.sh" >&2
		exit 1
	fi
	echo "sync-chart-crds: the chart's CRDs match crds/ (${#sources[@]} files)"
	;;
"")
	mkdir -p "$dst"
	rm -f "$dst"/*.yaml
	cp "${sources[@]}" "$dst"/
	echo "sync-chart-crds: copied ${#sources[@]} CRDs to charts/cxf-operator/files/crds/"
	;;
*)
	sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
