package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/jetflow-dev/jetflow/pipelines"
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

// TestStreamThroughTheEngine streams a topic of four partitions into Parquet, stops the stream (as SIGTERM does),
// produces more and starts it again: the restart resumes from the checkpoints committed with the data, and every
// key is in the output exactly once.
func TestStreamThroughTheEngine(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "events", 4)
	out := t.TempDir()
	p := parsePipeline(t, `name: events
consumer:
  type: kafka
  brokers: ["${BROKERS}"]
  topics: [events]
  batch_rows: 100
  roll: {rows: 250, interval: 300ms}
`+ordersSchema+`loaders:
  - type: parquet
    path: ${OUT}/
`, map[string]string{"BROKERS": kc.Brokers(), "OUT": out})
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	store := tempStore(t)

	stream := func(produce func(), n int) {
		t.Helper()
		eng, _ := pipelineEngine(t, p, mem, store)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := eng.Stream(ctx, pipelines.StreamRun())
			done <- err
		}()
		produce()
		waitFor(t, 30*time.Second, "every key in the output", func() bool { return len(ids(t, out)) >= n })
		cancel()
		if err := <-done; err != nil {
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
}
