package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/testkit/diskfault"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// A fault no retry can fix ends the run at once with exit 4, the cause first in the message, each failed
// partition attempted once, and the report written.
func TestFatalFaultExitCode(t *testing.T) {
	const gen = `consumer:
  type: generate
  rows: 3000
  partition: { count: 3 }
  columns:
    - { name: id, type: int64, sequence: true }
`
	tests := []struct {
		name     string
		pipeline func(t *testing.T) (yaml string, env []string)
		reason   string
		mention  []string // in the message, after the reason
	}{
		{"output below a file", func(t *testing.T) (string, []string) {
			path := diskfault.BelowFile(t)
			return gen + "loaders:\n  - type: parquet\n    path: " + path + "\n", nil
		}, "not a directory", []string{"a-file/out", "fix the path"}},
		{"output denied", func(t *testing.T) (string, []string) {
			path := diskfault.Denied(t)
			return gen + "loaders:\n  - type: parquet\n    path: " + path + "\n", nil
		}, "permission denied", []string{"/sys/", "may write there"}},
		{"postgres wrong password", func(t *testing.T) (string, []string) {
			srv := pgtest.Start(t)
			u, _ := url.Parse(srv.CreateDatabase(t))
			u.User = url.UserPassword(srv.User, "not-the-password")
			return `consumer:
  type: postgres
  dsn: ${PG_DSN}
  query: SELECT 1 AS id
loaders:
  - type: parquet
    path: out
`, []string{"PG_DSN=" + u.String()}
		}, "authentication failed", []string{"postgres: connect to 127.0.0.1:", "password in dsn"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			yaml, env := tc.pipeline(t)
			for _, kv := range env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			writeFile(t, dir, "p.yaml", "name: faults\nretries: { attempts: 5, backoff: 2s, max_backoff: 2s }\n"+yaml)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			code, stdout, stderr := runCLICtx(ctx, t, dir, "run", "p.yaml", "--run", "2026-11-22", "--progress", "none",
				"--log-level", "error", "--report", "report.json")
			if code != exitError {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitError, stdout, stderr)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("the run took %v: it waited for retries", d)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			msg := lines[len(lines)-1]
			if want := "jetflow run: " + tc.reason + ": "; !strings.HasPrefix(msg, want) {
				t.Errorf("the message does not start with %q:\n%s", want, msg)
			}
			for _, m := range tc.mention {
				if !strings.Contains(msg, m) {
					t.Errorf("the message does not mention %q:\n%s", m, msg)
				}
			}
			b, err := os.ReadFile(filepath.Join(dir, "report.json"))
			if err != nil {
				t.Fatal(err)
			}
			var rep struct {
				ExitCode   int    `json:"exit_code"`
				Error      string `json:"error"`
				Partitions []struct {
					Outcome  string `json:"outcome"`
					Attempts int    `json:"attempts"`
				} `json:"partitions"`
			}
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.ExitCode != exitError || !strings.HasPrefix(rep.Error, tc.reason+": ") {
				t.Errorf("report: exit_code %d, error %q", rep.ExitCode, rep.Error)
			}
			for _, p := range rep.Partitions {
				if p.Outcome == "committed" || p.Attempts > 1 {
					t.Errorf("a partition was %s after %d attempts:\n%s", p.Outcome, p.Attempts, b)
				}
			}
		})
	}
}
