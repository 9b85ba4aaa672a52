# jetflow's everyday commands. CI runs .ci/run, which runs `make test`.
GO      ?= go
NPM     ?= npm
BIN     := bin/jetflow
DUCKDB  := testkit/duckdb

.PHONY: build test-deps test demo bench fuzz fmt clean

# How long `make fuzz` runs each fuzz target (.ci/fuzz lists them).
FUZZTIME ?= 30s

# The binary as deploy/ builds it: cgo off, so one static binary (SQLite is pure Go), which also starts faster
# without a dynamic loader (bench/startup).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/jetflow

# DuckDB (an npm package) is the independent Parquet reader tests check loaders with; after this, tests need no
# network. npm ci installs exactly the lock file, which locks every platform's optional DuckDB bindings (npm ci
# refuses a lock without them; testkit's TestDuckDBLockFileIsComplete keeps it so) and installs this platform's.
test-deps: $(DUCKDB)/node_modules/.package-lock.json

$(DUCKDB)/node_modules/.package-lock.json: $(DUCKDB)/package.json $(DUCKDB)/package-lock.json
	cd $(DUCKDB) && $(NPM) ci --no-audit --no-fund
	@touch $@

test: test-deps build
	$(GO) vet ./...
	third_party/update.sh --check
	$(GO) test -timeout 20m ./...
	testkit/chtest/gotest-patched.sh -timeout 10m ./consumers/clickhouse/...
	testkit/chtest/gotest-patched.sh -timeout 5m -run 'ClickHouse' ./cmd/jetflow/
	$(BIN) validate examples/
	$(BIN) test examples/

# Runs the demo pipeline and shows what it wrote: the data files, and what DuckDB reads from them.
demo: build test-deps
	$(BIN) run examples/demo.yaml
	@echo "--- Parquet files under out/:"
	@find out -name '*.parquet' 2>/dev/null | sort
	@echo "--- read by DuckDB:"
	@node $(DUCKDB)/query.mjs "SELECT count(*) AS rows FROM read_parquet('out/**/*.parquet', hive_partitioning = false)"

# The end-to-end table (jetflow run vs a pqarrow loop, peak RSS), then each stage's own benchmarks, each against
# its baseline in the same run (see bench/RESULTS.md).
bench:
	$(GO) run ./bench
	$(GO) run ./bench/httpapi
	testkit/chtest/gotest-patched.sh run ./bench/clickhouse
	$(GO) run ./bench/iceberg
	$(GO) run ./bench/fanout
	$(GO) run ./bench/icebergmerge
	$(GO) run ./bench/cdc
	$(GO) run ./bench/kafka
	$(GO) run ./bench/kafkaregistry
	$(GO) run ./bench/statestore
	$(GO) run ./bench/startup
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3x ./consumers/generate ./internal/rowgroup ./loaders/parquet ./transformers ./transformers/expr ./consumers/httpapi ./loaders/iceberg
	# Kafka's decode benchmarks time one message per op: they need many ops, not 3.
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 200000x ./consumers/kafka

# Runs every fuzz target for FUZZTIME; a failing input lands under its package's testdata/fuzz/, where plain
# `go test` replays it.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) .ci/fuzz

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin out .jetflow $(DUCKDB)/node_modules
