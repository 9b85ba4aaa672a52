package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
)

// A message that does not decode, with on_error: fail, fails its partition: batch and stream mode end with the
// same exit code for it (1, partitions failed), not 4, which says the source or destination is unreachable.
func TestKafkaPoisonMessageExitCode(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "events", 1)
	kc.Produce(t, &kgo.Record{Topic: "events", Value: []byte(`{"id": 1}`)}, &kgo.Record{Topic: "events", Value: []byte(`not json`)})
	tests := []struct {
		name string
		args []string
	}{
		{"batch", []string{"--run", "2026-11-22"}},
		{"stream", []string{"--stream"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "events.yaml", `name: events
retries: { attempts: 2, backoff: 10ms, max_backoff: 10ms }
consumer:
  type: kafka
  brokers: ["`+kc.Brokers()+`"]
  topics: [events]
  start: earliest
  on_error: fail
  roll: { rows: 10, interval: 1s }
  schema:
    - {name: id, type: int64}
loaders:
  - type: parquet
    path: out/events
`)
			// A stream that did not fail would run until cancelled: the deadline turns that into exit 3.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			code, stdout, stderr := runCLICtx(ctx, t, dir, append([]string{"run", "events.yaml", "--progress", "none", "--report", "report.json"}, tt.args...)...)
			if code != exitFailed {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout, stderr)
			}
			if !strings.Contains(stderr, "events/0") || !strings.Contains(stderr, "on_error") {
				t.Errorf("stderr does not name the partition and the bad message:\n%s", stderr)
			}
			b, err := os.ReadFile(filepath.Join(dir, "report.json"))
			var rep struct {
				ExitCode int    `json:"exit_code"`
				Failed   int    `json:"failed"`
				Error    string `json:"error"`
			}
			if err != nil || json.Unmarshal(b, &rep) != nil || rep.ExitCode != exitFailed || rep.Failed != 1 || rep.Error == "" {
				t.Errorf("report (%v): want exit_code 1, 1 failed partition and the error:\n%s", err, b)
			}
		})
	}
}
