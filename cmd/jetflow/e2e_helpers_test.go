package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// The end-to-end tests run the real jetflow binary as a subprocess, as users and CI do, so that SIGKILL and
// SIGTERM hit a real process.
var jetflowBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jetflow-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	jetflowBin = filepath.Join(dir, "jetflow")
	build := exec.Command("go", "build", "-o", jetflowBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building jetflow for the end-to-end tests:", err)
		os.Exit(1)
	}
	// pgtest.Main runs the tests and stops the PostgreSQL server the shared-state tests start (exits itself; the
	// binary's temporary directory is small and left to the system's tmp cleaning).
	pgtest.Main(m)
}

type result struct {
	code           int
	stdout, stderr string
	killed         bool
}

// jetflow runs the binary in dir with extra environment and waits for it.
func jetflow(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := command(dir, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return finish(t, cmd, err, stdout.String(), stderr.String())
}

func command(dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(jetflowBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

func finish(t *testing.T, cmd *exec.Cmd, err error, stdout, stderr string) result {
	t.Helper()
	r := result{stdout: stdout, stderr: stderr}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("jetflow %v: %v", cmd.Args[1:], err)
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.killed = ws.Signal() == syscall.SIGKILL
			r.code = -1
		} else {
			r.code = ee.ExitCode()
		}
	}
	return r
}

func (r result) must(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// eventsStream is a stream of generated rows, 20,000 a second, cut into partitions of 5,000 rows or a second.
const eventsStream = `name: events
consumer:
  type: generate
  batch_rows: 1000
  unbounded: { rate: 20000, roll: { rows: 5000, interval: 1s } }
  columns:
    - { name: id, type: int64, sequence: true }
loaders:
  - type: parquet
    path: out/events
`

// seqPipeline is a pipeline whose id column numbers the rows 0..rows-1, so exactly-once is checkable: every id
// once, none missing.
func seqPipeline(name string, rows, parts int, extra string) string {
	return fmt.Sprintf(`name: %s
retries: { attempts: 3, backoff: 10ms, max_backoff: 50ms }
consumer:
  type: generate
  rows: %d
  batch_rows: 4096
  partition: { count: %d }
  columns:
    - { name: id, type: int64, sequence: true }
    - { name: v, type: float64, null_rate: 0.1 }
    - { name: s, type: string, distinct: 100 }
loaders:
  - type: parquet
    path: out/%s
%s`, name, rows, parts, name, extra)
}

// assertExactlyOnce checks with DuckDB that the Parquet under dir holds ids 0..n-1, each exactly once, and that
// no temporary file is visible to a glob reader.
func assertExactlyOnce(t *testing.T, dir string, n int) {
	t.Helper()
	assertGlobIDs(t, dir, n)
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".parquet") && strings.Contains(path, "_jetflow") {
			t.Errorf("temporary Parquet file visible to globs: %s", path)
		}
		return nil
	})
}

// assertGlobIDs checks with DuckDB that a plain glob of the Parquet files under dir reads (no truncated file) and
// holds ids 0..n-1, each exactly once.
func assertGlobIDs(t *testing.T, dir string, n int) {
	t.Helper()
	rows := testkit.DuckDBQuery(t, fmt.Sprintf(
		`SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi FROM read_parquet('%s/**/*.parquet')`, dir))
	want := map[string]string{"n": fmt.Sprint(n), "d": fmt.Sprint(n), "lo": "0", "hi": fmt.Sprint(n - 1)}
	for k, v := range want {
		if rows[0][k] != v {
			t.Fatalf("DuckDB over %s/**/*.parquet: %s = %s, want %s (all: %v) — rows lost or duplicated", dir, k, rows[0][k], v, rows[0])
		}
	}
}

// waitFor polls until cond holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// assertNoLeftovers checks that nothing a killed attempt wrote is left under out/_jetflow/tmp/: no file, also no
// write left in flight.
func assertNoLeftovers(t *testing.T, out string) {
	t.Helper()
	if left := testkit.TempLeftovers(out); len(left) > 0 {
		t.Errorf("after the re-run, killed attempts' files are left in _jetflow/tmp/: %q", left)
	}
}
