package kafka

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
)

func kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed: apt-get install -y kcat (%v)", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

// TestKcatInterop proves an independent client interoperates: kcat (librdkafka) produces lz4-compressed messages
// with keys and headers into the standalone kfake broker, jetflow loads them into Parquet with their metadata,
// and kcat reads back the dead-letter topic jetflow wrote the one bad message to.
func TestKcatInterop(t *testing.T) {
	kc := kafkatest.StartProcess(t, "-topic", "kc:2")
	var in strings.Builder
	for i := range 50 {
		fmt.Fprintf(&in, "key-%d\t{\"id\": %d, \"note\": \"from kcat\"}\n", i, i)
	}
	in.WriteString("bad-key\t{\"id\": \"not a number\"}\n")
	kcat(t, in.String(), "-b", kc.Brokers(), "-t", "kc", "-P", "-z", "lz4", "-K", "\t", "-H", "source=kcat", "-H", "trace=t1")

	out := t.TempDir()
	p := parsePipeline(t, `name: kc
run_instance: {every: 1d}
consumer:
  type: kafka
  brokers: ["${BROKERS}"]
  topics: [kc]
  schema: [{name: id, type: int64}, {name: note, type: string}]
  metadata: [key, headers, partition]
  on_error: dead_letter
  dead_letter: {topic: kc-dlq}
loaders:
  - type: parquet
    path: ${OUT}/
`, map[string]string{"BROKERS": kc.Brokers(), "OUT": out})
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	eng, _ := pipelineEngine(t, p, mem, tempStore(t))
	rep, err := eng.Run(t.Context(), stage.RunInstance{Start: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
		End: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), Label: "2026-11-22"})
	if err != nil || !rep.OK() {
		t.Fatalf("run: %v %+v", err, rep)
	}
	checkExactlyOnce(t, ids(t, out), 50)

	rec := testkit.ReadParquet(t, memory.NewGoAllocator(), out)
	defer rec.Release()
	idc, keys := rec.Column(0).(*array.Int64), rec.Column(2).(*array.Binary)
	hdrs := rec.Column(3).(*array.List)
	for i := range int(rec.NumRows()) {
		if want := fmt.Sprintf("key-%d", idc.Value(i)); string(keys.Value(i)) != want {
			t.Fatalf("row %d: key %q, want %q", i, keys.Value(i), want)
		}
		if got := hdrs.ValueStr(i); got != `[{"key":"source","value":"a2NhdA=="},{"key":"trace","value":"dDE="}]` {
			t.Fatalf("row %d: headers %s", i, got)
		}
	}
	partitions := testkit.DuckDBQuery(t, "SELECT count(DISTINCT kafka_partition) AS n FROM read_parquet('"+out+"/**/*.parquet')")
	if partitions[0]["n"] != "2" {
		t.Errorf("messages came from %v partitions, want both (kcat partitions by key)", partitions)
	}

	dlq := kcat(t, "", "-b", kc.Brokers(), "-C", "-t", "kc-dlq", "-o", "beginning", "-e", "-q", "-f", "%k|%s|%h\n")
	lines := strings.Split(strings.TrimSpace(dlq), "\n")
	sort.Strings(lines)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], `bad-key|{"id": "not a number"}|source=kcat,trace=t1,jetflow-error=message kc/`) ||
		!strings.Contains(lines[0], "field id: a string does not fit its type int64") {
		t.Errorf("kcat reads the dead-letter topic as:\n%s", dlq)
	}
}
