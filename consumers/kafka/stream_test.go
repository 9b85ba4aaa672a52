package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
)

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// eventsPipeline streams topic events of kc into Parquet files under out; consumer is more of the consumer's
// YAML (its keys at two spaces).
func eventsPipeline(t *testing.T, kc *kafkatest.Cluster, out, consumer string) *pipelines.Pipeline {
	t.Helper()
	return parsePipeline(t, `name: events
consumer:
  type: kafka
  brokers: ["${BROKERS}"]
  topics: [events]
  batch_rows: 100
  `+consumer+`
`+ordersSchema+`loaders:
  - type: parquet
    path: ${OUT}/
`, map[string]string{"BROKERS": kc.Brokers(), "OUT": out})
}

// runningStream is an engine's stream running on a goroutine until stop (as SIGTERM stops jetflow run --stream).
type runningStream struct {
	cancel context.CancelFunc
	done   chan error // Stream's result
}

func startStream(t *testing.T, eng *engine.Engine) *runningStream {
	ctx, cancel := context.WithCancel(t.Context())
	s := &runningStream{cancel: cancel, done: make(chan error, 1)}
	go func() {
		_, err := eng.Stream(ctx, pipelines.StreamRun())
		s.done <- err
	}()
	return s
}

// stop stops the stream and returns its error.
func (s *runningStream) stop() error {
	s.cancel()
	return <-s.done
}

// TestStreamThroughTheEngine streams a topic of four partitions into Parquet, stops the stream (as SIGTERM does),
// produces more and starts it again: the restart resumes from the checkpoints committed with the data, and every
// key is in the output exactly once.
func TestStreamThroughTheEngine(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "events", 4)
	out := t.TempDir()
	p := eventsPipeline(t, kc, out, "roll: {rows: 250, interval: 300ms}")
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	store := tempStore(t)

	stream := func(produce func(), n int) {
		t.Helper()
		eng, _ := pipelineEngine(t, p, mem, store)
		running := startStream(t, eng)
		produce()
		waitFor(t, 30*time.Second, "every key in the output", func() bool { return len(ids(t, out)) >= n })
		if err := running.stop(); err != nil {
			t.Fatalf("stream: %v", err)
		}
	}
	stream(func() { produceOrders(t, kc, "events", 4, 0, 2000) }, 2000)
	checkExactlyOnce(t, ids(t, out), 2000)
	// Rewind the group's committed offsets: a consumer that resumed from them would load everything again.
	adm := kadm.NewClient(kc.Client(t))
	fetched, err := adm.FetchOffsets(t.Context(), "jetflow-events")
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	rewind := kadm.Offsets{}
	fetched.Each(func(o kadm.OffsetResponse) {
		committed += o.At
		rewind.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: 0, LeaderEpoch: -1})
	})
	if committed != 2000 {
		t.Errorf("the group's committed offsets sum to %d, want 2000 (committed after each partition for lag monitoring)", committed)
	}
	if _, err := adm.CommitOffsets(t.Context(), "jetflow-events", rewind); err != nil {
		t.Fatal(err)
	}
	stream(func() { produceOrders(t, kc, "events", 4, 2000, 3000) }, 3000)
	checkExactlyOnce(t, ids(t, out), 3000)
	checkMarkerChain(t, out, 4, 750)
}

// checkMarkerChain reads the Parquet loader's commit markers: each stream partition's checkpoint is committed
// with its data, and per lane the partitions tile the offsets from 0 to end with no gap and no overlap.
func checkMarkerChain(t *testing.T, out string, lanes int, end int64) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(out, "_jetflow", "commits", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no commit markers under %s: %v", out, err)
	}
	ranges := map[string]map[int64]int64{} // lane -> first offset -> checkpoint

	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m parquet.Marker
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		lane, first, ok := strings.Cut(m.Key, "@")
		lo, err := strconv.ParseInt(first, 10, 64)
		cp, cerr := strconv.ParseInt(m.Checkpoint, 10, 64)
		if !ok || err != nil || cerr != nil || cp <= lo {
			t.Fatalf("marker %s: key %q checkpoint %q", f, m.Key, m.Checkpoint)
		}
		if ranges[lane] == nil {
			ranges[lane] = map[int64]int64{}
		}
		ranges[lane][lo] = cp
	}
	if len(ranges) != lanes {
		t.Fatalf("markers of %d lanes, want %d", len(ranges), lanes)
	}
	for lane, rs := range ranges {
		at := int64(0)
		for range rs {
			cp, ok := rs[at]
			if !ok {
				t.Fatalf("lane %s: no partition starts at offset %d (partitions %v)", lane, at, rs)
			}
			at = cp
		}
		if at != end {
			t.Errorf("lane %s: partitions end at offset %d, want %d", lane, at, end)
		}
	}
}

// TestStreamTopicRegex streams every topic matching a regex: a topic created while the stream runs is picked up
// at the next metadata refresh, and a topic that does not match is left alone.
func TestStreamTopicRegex(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "logs-a", 2)
	kc.CreateTopic(t, "other", 1)
	out := t.TempDir()
	p := parsePipeline(t, `name: logs
consumer:
  type: kafka
  brokers: ["${BROKERS}"]
  topic_regex: "logs-.*"
  metadata_max_age: 300ms
  roll: {interval: 200ms}
  schema: [{name: id, type: int64}]
  metadata: [topic]
loaders:
  - type: parquet
    path: ${OUT}/
`, map[string]string{"BROKERS": kc.Brokers(), "OUT": out})
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	eng, _ := pipelineEngine(t, p, mem, tempStore(t))
	stream := startStream(t, eng)
	produceOrders(t, kc, "logs-a", 2, 0, 100)
	produceOrders(t, kc, "other", 1, 1000, 1100)
	loaded := func(n int) func() bool {
		return func() bool {
			select {
			case err := <-stream.done:
				t.Fatalf("the stream ended early: %v", err)
			default:
			}
			return len(ids(t, out)) >= n
		}
	}
	waitFor(t, 30*time.Second, "logs-a loaded", loaded(100))
	kc.CreateTopic(t, "logs-b", 1)
	produceOrders(t, kc, "logs-b", 1, 100, 200)
	waitFor(t, 30*time.Second, "logs-b, created during the stream, loaded", loaded(200))
	if err := stream.stop(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	checkExactlyOnce(t, ids(t, out), 200)
}

// TestStreamStopCommitsPartitionsInFlight stops a stream (as SIGTERM does) while its partitions are far from
// rolling: they are ended early and committed (drain_timeout), not aborted, so the stop loses no work; a
// restart continues after them with every key once.
func TestStreamStopCommitsPartitionsInFlight(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "events", 4)
	out := t.TempDir()
	p := eventsPipeline(t, kc, out, "roll: {rows: 1000000, interval: 10m}\n  drain_timeout: 30s")
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	store := tempStore(t)

	eng, _ := pipelineEngine(t, p, mem, store)
	stream := startStream(t, eng)
	produceOrders(t, kc, "events", 4, 0, 1000)
	// Let the lanes take the records in: nothing rolls for 10 minutes, so only the stop can commit them.
	time.Sleep(2 * time.Second)
	stopped := time.Now()
	if err := stream.stop(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if took := time.Since(stopped); took > 20*time.Second {
		t.Errorf("the stream took %s to stop", took)
	}
	first := ids(t, out)
	if len(first) == 0 {
		t.Fatal("nothing committed when the stream stopped: the partitions in flight were aborted, not drained")
	}
	checkExactlyOnce(t, first, len(first))

	// A restart (rolling quickly now) continues after what the stop committed.
	p2 := eventsPipeline(t, kc, out, "roll: {rows: 250, interval: 300ms}")
	eng2, _ := pipelineEngine(t, p2, mem, store)
	stream2 := startStream(t, eng2)
	produceOrders(t, kc, "events", 4, 1000, 2000)
	waitFor(t, 30*time.Second, "every key in the output", func() bool { return len(ids(t, out)) >= 2000 })
	if err := stream2.stop(); err != nil {
		t.Fatalf("stream after the restart: %v", err)
	}
	checkExactlyOnce(t, ids(t, out), 2000)
	t.Logf("the stop committed %d of 1000 records", len(first))
}

// A stream partition's bad messages go to a dead-letter file named after the partition id, and the log line
// names the partition by key and id, as the engine's lines do, though the consumer cuts the partition before the
// engine gives it its id.
func TestStreamDeadLetterNamedAfterPartitionID(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "events", 1)
	out, dl := t.TempDir(), t.TempDir()
	p := eventsPipeline(t, kc, out, "roll: {rows: 1000, interval: 300ms}\n  on_error: dead_letter\n  dead_letter: {path: \""+dl+"\"}")
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	var logs bytes.Buffer
	eng, _ := pipelineEngineLog(t, p, mem, tempStore(t), slog.New(slog.NewJSONHandler(&logs, nil)))
	running := startStream(t, eng)
	kc.Produce(t, &kgo.Record{Topic: "events", Partition: 0, Value: []byte("not json")}) // offset 0: starts the partition
	produceOrders(t, kc, "events", 1, 0, 10)
	waitFor(t, 30*time.Second, "every good message in the output", func() bool { return len(ids(t, out)) >= 10 })
	if err := running.stop(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	key := StreamKey("events", 0, 0)
	id := stage.PartitionID("events", pipelines.StreamRun().Label, key)
	files, _ := filepath.Glob(filepath.Join(dl, "*"))
	if want := filepath.Join(dl, id+".parquet"); len(files) != 1 || files[0] != want {
		t.Errorf("dead-letter files %v, want just %s", files, want)
	}
	var line struct{ Partition, ID string }
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, "partition had bad messages") {
			json.Unmarshal([]byte(l), &line)
		}
	}
	if line.Partition != key || line.ID != id {
		t.Errorf("bad-messages log line names partition %q id %q, want %q %q\n%s", line.Partition, line.ID, key, id, logs.String())
	}
}

// While a stream runs, Lag reports per topic-partition the records past the committed position: here each lane
// committed a partition of 300 of its 500 records and holds the other 200 until its roll, an hour away.
func TestStreamReportsLag(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "events", 2)
	produceOrders(t, kc, "events", 2, 0, 1000)
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	eng, c := pipelineEngine(t, eventsPipeline(t, kc, t.TempDir(), "roll: {rows: 300, interval: 1h}"), mem, tempStore(t))
	var _ stage.LagReporter = c
	if lag := c.Lag(); lag != nil {
		t.Fatalf("lag %v before the stream started, want none", lag)
	}
	running := startStream(t, eng)
	want := map[string]int64{"events/0": 200, "events/1": 200}
	var lag map[string]int64
	waitFor(t, 30*time.Second, "a lag of 200 records on each lane", func() bool {
		lag = c.Lag()
		return maps.Equal(lag, want)
	})
	if err := running.stop(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if lag := c.Lag(); lag != nil {
		t.Errorf("lag %v after the stream ended, want none", lag)
	}
}
