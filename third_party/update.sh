#!/usr/bin/env bash
# Rebuilds the patched copies of dependencies in third_party: each is the upstream module at a version (from the Go
# module proxy) with third_party/<name>.patch applied, keeping only the packages jetflow builds (tests and unused
# packages are dropped to keep the copy small). go.mod replaces each module with its folder.
#
# Why patched copies: every jetflow command, `validate` included, runs every package initializer of everything the
# binary links, and these modules built large values in theirs (see bench/RESULTS.md, "Start-up"). The patches
# build them on first use instead (the iceberg-go patch also fixes two things expiry needs):
#   iceberg-go  the Substrait function tables (every bundled YAML file parsed) and the manifests' Avro schemas; it
#               also drops internal/mock_fs.go, a testify mock that linked test code into the jetflow binary,
#               adds table.WithRetainSnapshots (snapshot expiry keeps the snapshots the loader names: each
#               stream lane's newest checkpoint) and treats a file already gone as deleted when expiry removes
#               files (a second expiry listed again what the first deleted);
#   apd         its digit-count and power-of-ten tables and its ln(10) constants at every precision (through
#               substrait-go, which iceberg-go imports);
#   inflection  about 250 regular expressions (through bun, which iceberg-go's SQL catalog imports).
# Drop a copy and its replace line once upstream does the same.
#
# Usage: third_party/update.sh NAME [VERSION]   (default version: the one go.mod requires)
#        third_party/update.sh --check          (fails if any copy differs from what this script makes)
set -euo pipefail
cd "$(dirname "$0")/.."

# name and module of every patched copy: the folder is third_party/<name>, the patch third_party/<name>.patch.
copies="iceberg-go github.com/apache/iceberg-go
apd github.com/cockroachdb/apd/v3
inflection github.com/jinzhu/inflection"

# make NAME VERSION OUT writes the copy into OUT.
make_copy() {
	local name=$1 version=$2 out=$3 module src packages dir f
	module=$(awk -v n="$name" '$1 == n {print $2}' <<<"$copies")
	src=$(GOFLAGS=-mod=mod go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -d "$src" ] || { echo "update: go mod download $module@$version gave no folder" >&2; return 1; }

	# The packages jetflow's build and tests import from the module, read from the current tree; every package of
	# the module is kept when the list is empty (the first run of a new version).
	packages=$(go list -deps -test ./... 2>/dev/null | awk -v m="$module" '$0 == m {print "."} index($0, m "/") == 1 {print "." substr($0, length(m) + 1)}' | sort -u || true)

	mkdir -p "$out"
	(
		cd "$src"
		for dir in $(find . -name '*.go' ! -name '*_test.go' -exec dirname {} \; | sort -u); do
			case "$dir" in */testdata | */testdata/*) continue ;; esac
			if [ -n "$packages" ] && ! grep -qx -- "$dir" <<<"$packages"; then
				continue
			fi
			mkdir -p "$out/$dir"
			find "$dir" -maxdepth 1 -type f ! -name '*_test.go' \( -name '*.go' -o -name '*.yaml' -o -name '*.json' \) \
				-exec cp {} "$out/$dir/" \;
		done
		for f in LICENSE NOTICE go.mod go.sum; do
			[ ! -f "$f" ] || cp "$f" "$out/"
		done
	)
	chmod -R u+w "$out"
	patch -s -d "$out" -p1 <"third_party/$name.patch"
	# gofmt as the rest of the tree (upstream's doc comments predate Go 1.19's format); the patches apply to
	# upstream's text, before it.
	gofmt -w "$out"
	echo "$module $version with third_party/$name.patch applied; made by third_party/update.sh" >"$out/VERSION"
}

# required NAME is the version of NAME's module that go.mod requires.
required() {
	local module
	module=$(awk -v n="$1" '$1 == n {print $2}' <<<"$copies")
	awk -v m="$module" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' go.mod
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "${1:-}" = --check ]; then
	status=0
	while read -r name _; do
		make_copy "$name" "$(required "$name")" "$work/$name"
		if ! diff -r "$work/$name" "third_party/$name" >&2; then
			echo "update: third_party/$name differs from upstream + third_party/$name.patch; run third_party/update.sh $name" >&2
			status=1
		fi
	done <<<"$copies"
	exit $status
fi

name=${1:-}
grep -q "^$name " <<<"$copies" || { echo "usage: third_party/update.sh {$(cut -d' ' -f1 <<<"$copies" | paste -sd'|')} [VERSION] | --check" >&2; exit 2; }
version=${2:-$(required "$name")}
[ -n "$version" ] || { echo "update: go.mod requires no version of $name; name one" >&2; exit 2; }
make_copy "$name" "$version" "$work/$name"
rm -rf "third_party/$name"
mv "$work/$name" "third_party/$name"
echo "update: wrote third_party/$name from $version"
