#!/usr/bin/env bash
# gotest-patched.sh runs `go test -tags chserver` (or `go run`/`go build`) with a patched copy of ch-go, so tests
# and benchmarks can query the Debian clickhouse-server 18.16 (protocol revision 54412).
#
#   testkit/chtest/gotest-patched.sh ./consumers/clickhouse/...            # go test -tags chserver ...
#   testkit/chtest/gotest-patched.sh -run TestRead -v ./consumers/clickhouse/
#   testkit/chtest/gotest-patched.sh run ./bench/clickhouse -rows 1000000   # go run -tags chserver ...
#   (the go commands these start inherit the patch through GOFLAGS: the bench's `go build ./cmd/jetflow` too)
#   testkit/chtest/gotest-patched.sh build -o bin/x ./bench/clickhouse     # go build -tags chserver ...
#
# Why: ch-go's proto.Query.EncodeAware sends a query's client-info block only from revision 54420
# (FeatureClientWriteInfo), while servers read it from revision 54032 on; an 18.16 server then parses the query's
# settings from the wrong bytes and every query fails with UNKNOWN_SETTING. This script copies ch-go from the module
# cache, changes that one condition to `version >= 54032`, and points a copy of go.mod at the copy with a replace
# directive (-modfile). The product and plain `go test` build with stock ch-go; nothing of ch-go is committed.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

mod=github.com/ClickHouse/ch-go
src=$(go list -m -f '{{.Dir}}' "$mod")
ver=$(go list -m -f '{{.Version}}' "$mod")
if [ -z "$src" ] || [ ! -f "$src/proto/query.go" ]; then
	go mod download "$mod"
	src=$(go list -m -f '{{.Dir}}' "$mod")
fi

# A stable directory per version, so the build cache keeps the patched package between runs.
work=${TMPDIR:-/tmp}/jetflow-chgo-patched-$ver
copy=$work/ch-go
if [ ! -f "$copy/.patched" ]; then
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/jetflow-chgo-XXXXXX")
	cp -r "$src" "$tmp/ch-go"
	chmod -R u+w "$tmp/ch-go"
	q=$tmp/ch-go/proto/query.go
	# Only EncodeAware's condition: the line right after `ClientCodeQuery.Encode(b)` and `b.PutString(q.ID)`.
	awk '
		/^func \(q Query\) EncodeAware/ { inenc = 1 }
		inenc && /if FeatureClientWriteInfo.In\(version\) \{/ && !done { sub(/FeatureClientWriteInfo.In\(version\)/, "version >= 54032"); done = 1 }
		{ print }
		END { if (!done) exit 1 }
	' "$q" > "$q.new" || { echo "gotest-patched.sh: the condition to patch is not in $src/proto/query.go (ch-go $ver); check the patch" >&2; exit 1; }
	mv "$q.new" "$q"
	touch "$tmp/ch-go/.patched"
	mkdir -p "$work"
	[ -f "$copy/.patched" ] || rm -rf "$copy" # an incomplete copy; a complete one is only ever renamed into place
	mv -T "$tmp/ch-go" "$copy" 2>/dev/null || true # another run may have won the race: its copy is the same
	rm -rf "$tmp"
fi

# The modfile is rewritten on every run: go.mod may have changed since the last one.
modfile=$(mktemp "$work/go-XXXXXX")
mv "$modfile" "$modfile.mod"
modfile=$modfile.mod
trap 'rm -f "$modfile" "${modfile%.mod}.sum"' EXIT
cp go.mod "$modfile"
cp go.sum "${modfile%.mod}.sum"
go mod edit -modfile="$modfile" -replace="$mod=$copy"

# Through GOFLAGS, so that a `go build` the command itself runs (the bench builds cmd/jetflow) is patched too.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-modfile=$modfile -tags=chserver"
case "${1:-}" in
run | build)
	cmd=$1
	shift
	go "$cmd" "$@"
	;;
*)
	go test "$@"
	;;
esac
