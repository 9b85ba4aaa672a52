package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/jetflow-dev/jetflow/testkit/diskfault"
	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
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
		{"http 401", func(t *testing.T) (string, []string) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, `{"error": "invalid token"}`, http.StatusUnauthorized)
			}))
			t.Cleanup(srv.Close)
			return `consumer:
  type: httpapi
  url: ${API}/items
  auth: { type: bearer, token: "${API_TOKEN}" }
  partition: { every: 6h, since_param: since, until_param: until }
  schema:
    - { name: id, type: int64 }
loaders:
  - type: parquet
    path: out
`, []string{"API=" + srv.URL, "API_TOKEN=revoked-token"}
		}, "authentication failed", []string{"status 401", "check auth"}},
		{"kafka wrong password", kafkaSASL("run"), "authentication failed", []string{"check sasl"}},
		{"kafka wrong password, stream", kafkaSASL("stream"), "authentication failed", []string{"check sasl"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			yaml, env := tc.pipeline(t)
			for _, kv := range env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			writeFile(t, dir, "p.yaml", "name: faults\nretries: { attempts: 5, backoff: 5s, max_backoff: 5s }\n"+yaml)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			which := []string{"--run", "2026-11-22"}
			if strings.Contains(tc.name, "stream") {
				which = []string{"--stream"}
			}
			code, stdout, stderr := runCLICtx(ctx, t, dir, append([]string{"run", "p.yaml", "--progress", "none",
				"--log-level", "error", "--report", "report.json"}, which...)...)
			if code != exitError {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitError, stdout, stderr)
			}
			if d := time.Since(start); d > 8*time.Second {
				t.Errorf("the run took %v: it waited for retries", d)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			msg := lines[len(lines)-1]
			t.Log(msg)
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

// kafkaSASL is a Kafka source whose brokers refuse the pipeline's password, for a batch run or a stream.
func kafkaSASL(mode string) func(t *testing.T) (string, []string) {
	return func(t *testing.T) (string, []string) {
		kc := kafkatest.Start(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "admin", "admin-pw"))
		prod := kc.Client(t, kgo.SASL(scram.Auth{User: "admin", Pass: "admin-pw"}.AsSha256Mechanism()))
		if err := prod.ProduceSync(t.Context(), &kgo.Record{Topic: "events", Value: []byte(`{"id": 1}`)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		extra := ""
		if mode == "stream" {
			extra = "  group: jetflow-faults\n  roll: { rows: 10, interval: 1s }\n"
		}
		return `consumer:
  type: kafka
  brokers: ["` + kc.Brokers() + `"]
  topics: [events]
  start: earliest
  sasl: { mechanism: scram-sha-256, user: admin, password: "${KAFKA_PASSWORD}" }
` + extra + `  schema:
    - {name: id, type: int64}
loaders:
  - type: parquet
    path: out
`, []string{"KAFKA_PASSWORD=not-the-password"}
	}
}
