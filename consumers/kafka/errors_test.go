package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
)

// badOffsets are the bad messages produceMixed writes among 100 good ones, with the error each must report.
var badOffsets = map[int64]string{
	10: "over max_message_bytes",
	40: "invalid UTF-8 in a string",
	70: "overflows int32",
}

// produceMixed writes 103 messages to partition 0 of topic: good ones with ids 0..99, and the bad ones at the
// offsets of badOffsets.
func produceMixed(t testing.TB, kc *kafkatest.Cluster, topic string) {
	var recs []*kgo.Record
	id := 0
	for off := int64(0); off < 103; off++ {
		var v []byte
		switch badOffsets[off] {
		case "over max_message_bytes":
			v = fmt.Appendf(nil, `{"id": -1, "note": "%s"}`, strings.Repeat("x", 400))
		case "invalid UTF-8 in a string":
			v = []byte("{\"id\": -2, \"note\": \"caf\xe9\"}")
		case "overflows int32":
			v = []byte(`{"id": -3, "qty": 3000000000}`)
		default:
			v = fmt.Appendf(nil, `{"id": %d, "qty": %d, "note": "n%d"}`, id, id, id)
			id++
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("k" + strconv.FormatInt(off, 10)), Value: v,
			Headers: []kgo.RecordHeader{{Key: "source", Value: []byte("test")}}})
	}
	kc.Produce(t, recs...)
}

// TestOnError loads a topic with bad messages under each on_error policy through the engine into Parquet.
func TestOnError(t *testing.T) {
	kc := kafkatest.Start(t)
	tests := []struct {
		name   string
		config string
		check  func(t *testing.T, c *Consumer, dir string, rep *engine.Report)
	}{
		{"skip", "on_error: skip", func(t *testing.T, c *Consumer, _ string, _ *engine.Report) {}},
		{"dead letter topic", "on_error: dead_letter\n  dead_letter: {topic: orders-dlq}", func(t *testing.T, c *Consumer, _ string, _ *engine.Report) {
			cl := kc.Client(t, kgo.ConsumeTopics("orders-dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			var got []string
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			for len(got) < len(badOffsets) && ctx.Err() == nil {
				cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
					h := map[string]string{}
					for _, x := range r.Headers {
						h[x.Key] = string(x.Value)
					}
					off, _ := strconv.ParseInt(h["jetflow-offset"], 10, 64)
					if !strings.Contains(h["jetflow-error"], badOffsets[off]) || h["source"] != "test" ||
						string(r.Key) != "k"+h["jetflow-offset"] || h["jetflow-partition"] != "0" {
						t.Errorf("dead letter %s: headers %v key %s", r.Value, h, r.Key)
					}
					got = append(got, h["jetflow-offset"])
				})
			}
			sort.Strings(got)
			if strings.Join(got, ",") != "10,40,70" {
				t.Errorf("dead-letter topic holds offsets %v, want 10, 40, 70", got)
			}
		}},
		{"dead letter file", "on_error: dead_letter\n  dead_letter: {path: DLQ}", func(t *testing.T, c *Consumer, dir string, rep *engine.Report) {
			// Named after the partition id, as the docs say, so it is found from the report, logs and state.
			files, _ := filepath.Glob(filepath.Join(dir, "*"))
			if want := filepath.Join(dir, rep.Partitions[0].ID+".parquet"); len(files) != 1 || files[0] != want {
				t.Errorf("dead-letter files %v, want just %s", files, want)
			}
			rec := testkit.ReadParquet(t, memory.NewGoAllocator(), dir)
			if rec == nil {
				t.Fatal("no dead-letter file")
			}
			defer rec.Release()
			offs := rec.Column(2).(*array.Int64)
			errs := rec.Column(6).(*array.String)
			if rec.NumRows() != 3 {
				t.Fatalf("dead-letter file has %d rows, want 3", rec.NumRows())
			}
			for i := range 3 {
				if want := badOffsets[offs.Value(i)]; want == "" || !strings.Contains(errs.Value(i), want) {
					t.Errorf("dead-letter row %d: offset %d error %q", i, offs.Value(i), errs.Value(i))
				}
			}
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topic := "mixed" + strconv.Itoa(i)
			produceMixed(t, kc, topic)
			out, dlq := t.TempDir(), t.TempDir()
			cfg := strings.ReplaceAll(tc.config, "DLQ", dlq)
			p := parsePipeline(t, `name: mixed
run_instance: {every: 1d}
consumer:
  type: kafka
  brokers: ["${BROKERS}"]
  topics: [`+topic+`]
  max_message_bytes: 300
  `+cfg+`
  schema:
    - {name: id, type: int64}
    - {name: qty, type: int32}
    - {name: note, type: string}
loaders:
  - type: parquet
    path: ${OUT}/
`, map[string]string{"BROKERS": kc.Brokers(), "OUT": out})
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			var logs bytes.Buffer
			eng, c := pipelineEngineLog(t, p, mem, tempStore(t), slog.New(slog.NewJSONHandler(&logs, nil)))
			rep, err := eng.Run(t.Context(), stage.RunInstance{Start: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
				End: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), Label: "2026-11-22"})
			if err != nil || !rep.OK() {
				t.Fatalf("run: %v %+v", err, rep)
			}
			checkExactlyOnce(t, ids(t, out), 100)
			if n := c.BadMessages(); n != 3 {
				t.Errorf("%d bad messages counted, want 3", n)
			}
			tc.check(t, c, dlq, rep)
			// The partition is named as the engine's log lines name it: its key, and its id.
			var line struct{ Partition, ID string }
			for l := range strings.Lines(logs.String()) {
				if strings.Contains(l, "partition had bad messages") {
					json.Unmarshal([]byte(l), &line)
				}
			}
			if p := rep.Partitions[0]; line.Partition != p.Key || line.ID != p.ID {
				t.Errorf("bad-messages log line names partition %q id %q, want %q %q\n%s", line.Partition, line.ID, p.Key, p.ID, logs.String())
			}
		})
	}
	t.Run("fail", func(t *testing.T) {
		produceMixed(t, kc, "mixed-fail")
		out := t.TempDir()
		p := parsePipeline(t, `name: mixed
run_instance: {every: 1d}
retries: {attempts: 1}
consumer:
  type: kafka
  brokers: ["${BROKERS}"]
  topics: [mixed-fail]
  max_message_bytes: 300
  schema: [{name: id, type: int64}, {name: qty, type: int32}]
loaders:
  - type: parquet
    path: ${OUT}/
`, map[string]string{"BROKERS": kc.Brokers(), "OUT": out})
		mem := memory.NewCheckedAllocator(offheap.NewGuarded())
		defer mem.AssertSize(t, 0)
		eng, _ := pipelineEngine(t, p, mem, tempStore(t))
		rep, _ := eng.Run(t.Context(), stage.RunInstance{Start: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
			End: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), Label: "2026-11-22"})
		if rep == nil || rep.OK() || len(rep.Partitions) != 1 {
			t.Fatalf("want the partition failed, got %+v", rep)
		}
		if e := rep.Partitions[0].Error; !strings.Contains(e, "message mixed-fail/0@10: the value is") {
			t.Errorf("error %q does not name the first bad message", e)
		}
		if got := ids(t, out); len(got) != 0 {
			t.Errorf("a failed partition left %d rows visible", len(got))
		}
	})
}
