package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// duckDBTimeout bounds one query, so a hung node process cannot hold the test until go test's own timeout.
const duckDBTimeout = 2 * time.Minute

// DuckDBQuery runs one SQL statement in DuckDB, an independent reader of what loaders write, and returns the
// result rows. Every value is DuckDB's own text for it, exact for BIGINT, DECIMAL and TIMESTAMP values ("12.5000",
// "2026-11-22 13:45:00.123456+00", in UTC); lists and structs are compact JSON; a NULL leaves its column out of
// the row map. Relative paths in the SQL resolve against the test's working directory (its package directory):
//
//	rows := testkit.DuckDBQuery(t, "SELECT count(*) AS n, sum(total) AS s FROM read_parquet('"+dir+"/**/*.parquet')")
//
// It runs `node query.mjs` in the testkit/duckdb module, found next to this source file or at
// $JETFLOW_DUCKDB_DIR. When that module's dependencies are not installed the test fails and says to run
// `make test-deps`. An SQL error fails the test with DuckDB's message.
func DuckDBQuery(t testing.TB, sql string) []map[string]string {
	t.Helper()
	dir := duckDBDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@duckdb", "node-api")); err != nil {
		t.Fatalf("testkit.DuckDBQuery: DuckDB is not installed in %s: run `make test-deps` (npm ci there) first", dir)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("testkit.DuckDBQuery: node is not on PATH (%v); install Node.js 18 or newer, then run `make test-deps`", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), duckDBTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "query.mjs")) // the statement on stdin: it can pass argv's limit
	cmd.Stdin = strings.NewReader(sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("testkit.DuckDBQuery: no answer from DuckDB within %s\nsql: %s", duckDBTimeout, sql)
		}
		t.Fatalf("testkit.DuckDBQuery: %v\nsql: %s\n%s", err, sql, bytes.TrimSpace(stderr.Bytes()))
	}
	var rows []map[string]string
	if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
		t.Fatalf("testkit.DuckDBQuery: unexpected output of query.mjs (%v):\n%s", err, stdout.Bytes())
	}
	return rows
}

// duckDBDir locates the testkit/duckdb module: $JETFLOW_DUCKDB_DIR, else the duckdb directory beside this file
// (which works for any test in this repository, whatever its working directory).
func duckDBDir() string {
	if d := os.Getenv("JETFLOW_DUCKDB_DIR"); d != "" {
		return d
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "testkit/duckdb"
	}
	return filepath.Join(filepath.Dir(file), "duckdb")
}
