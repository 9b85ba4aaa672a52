#!/usr/bin/env bash
# Rebuilds third_party/iceberg-go: upstream iceberg-go at VERSION (from the Go module proxy) with
# third_party/iceberg-go.patch applied, keeping only the packages jetflow builds (tests and unused packages are
# dropped to keep the copy small). go.mod replaces github.com/apache/iceberg-go with this folder.
#
# Why a patched copy: iceberg-go's table/substrait parses every bundled Substrait YAML file in a package
# initializer, which every jetflow command paid at start (see bench/RESULTS.md, "Start-up"). The patch loads
# it on first use, as it does internal's prebuilt Avro schemas of manifests, and drops internal/mock_fs.go, a
# testify mock that linked test code into the jetflow binary.
# Drop the copy and the replace line once upstream does the same.
#
# Usage: third_party/update-iceberg-go.sh [VERSION]   (default: the version go.mod requires)
#        third_party/update-iceberg-go.sh --check      (fails if the copy differs from what the script makes)
set -euo pipefail
cd "$(dirname "$0")/.."

module=github.com/apache/iceberg-go
dest=third_party/iceberg-go
check=false
version=
case "${1:-}" in
--check) check=true ;;
"") ;;
*) version=$1 ;;
esac
if [ -z "$version" ]; then
	version=$(awk -v m="$module" '$1 == m && $2 ~ /^v/ {print $2; exit}' go.mod)
fi
[ -n "$version" ] || { echo "update-iceberg-go: no version of $module in go.mod; name one" >&2; exit 2; }

src=$(GOFLAGS=-mod=mod go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "update-iceberg-go: go mod download $module@$version gave no folder" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$work/iceberg-go

# The packages jetflow's build and tests import from the module, read from the current tree; every package of
# the module is kept when the list is empty (the first run of a new version).
packages=$(go list -deps -test ./... 2>/dev/null | sed -n "s#^$module\(/.*\)\{0,1\}\$#.\1#p" | sort -u || true)

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
cp LICENSE NOTICE go.mod go.sum "$out/"
cd - >/dev/null
chmod -R u+w "$out"
patch -s -d "$out" -p1 <third_party/iceberg-go.patch
echo "$module $version with third_party/iceberg-go.patch applied; made by third_party/update-iceberg-go.sh" >"$out/VERSION"

if $check; then
	diff -r "$out" "$dest" >&2 || { echo "update-iceberg-go: $dest differs from $module@$version + patch; run third_party/update-iceberg-go.sh" >&2; exit 1; }
	exit 0
fi
rm -rf "$dest"
mv "$out" "$dest"
echo "update-iceberg-go: wrote $dest from $module@$version"
