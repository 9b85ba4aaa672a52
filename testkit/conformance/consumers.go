package conformance

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// ConformanceConsumer describes a consumer under test.
type ConformanceConsumer struct {
	// New returns the consumer under test, allocating every Arrow buffer from mem (pass it as BuildContext.Alloc).
	// Each check calls it once and asserts at its end that mem holds nothing.
	New func(t *testing.T, mem memory.Allocator) stage.Consumer
	// Run is the run instance the checks plan; zero means testkit.RunInstance().
	Run stage.RunInstance
	// KeyColumns identify a row; the disjointness check compares them across partitions. Without them that check
	// compares whole rows, which only suits a source without duplicate rows.
	KeyColumns []string
	// MaxPartitions bounds how many partitions the checks read (the first ones of the plan); 0 means 8.
	MaxPartitions int
	// CancelWithin is how soon Read must return after its context is cancelled; 0 means 5s.
	CancelWithin time.Duration
}

// Consumers runs every consumer check as a subtest of t. Give the consumer partitions of several batches, or the
// cancellation check has nothing to interrupt.
func Consumers(t *testing.T, cc ConformanceConsumer) {
	t.Helper()
	if cc.New == nil {
		t.Fatal("conformance.Consumers: ConformanceConsumer needs New")
	}
	if cc.Run == (stage.RunInstance{}) {
		cc.Run = testkit.RunInstance()
	}
	if cc.MaxPartitions == 0 {
		cc.MaxPartitions = 8
	}
	if cc.CancelWithin == 0 {
		cc.CancelWithin = 5 * time.Second
	}
	checks := []struct {
		name string
		run  func(t *testing.T, cc ConformanceConsumer, mem memory.Allocator, c stage.Consumer)
	}{
		{"partitions are deterministic", checkPlanDeterministic},
		{"batches have the schema", checkBatchSchema},
		{"reads repeat exactly", checkReadTwice},
		{"partitions are disjoint", checkDisjoint},
		{"cancellation mid-partition", checkReadCancel},
		{"cancelled before read", checkReadCancelledContext},
		{"receiver error stops read", checkReceiverError},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded()) // a use after release faults
			defer mem.AssertSize(t, 0)
			ch.run(t, cc, mem, cc.New(t, mem))
		})
	}
}

// plan returns the partitions the checks read.
func plan(t *testing.T, cc ConformanceConsumer, c stage.Consumer) []stage.Partition {
	t.Helper()
	ps, err := c.Partitions(t.Context(), cc.Run)
	if err != nil {
		t.Fatalf("Partitions(%s): %v", cc.Run.Label, err)
	}
	if len(ps) == 0 {
		t.Fatalf("Partitions(%s) planned no partition; configure the consumer with some data", cc.Run.Label)
	}
	// The engine sets ids; these checks only need them distinct and stable.
	for i := range ps {
		ps[i].ID = testkit.PartitionFor(ps[i].Key).ID
	}
	return ps[:min(len(ps), cc.MaxPartitions)]
}

func checkPlanDeterministic(t *testing.T, cc ConformanceConsumer, _ memory.Allocator, c stage.Consumer) {
	first, err := c.Partitions(t.Context(), cc.Run)
	if err != nil {
		t.Fatalf("Partitions: %v", err)
	}
	second, err := c.Partitions(t.Context(), cc.Run)
	if err != nil {
		t.Fatalf("Partitions, second call: %v", err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Errorf("planning the same run instance twice gave different partitions:\nfirst:  %+v\nsecond: %+v", first, second)
	}
	keys := make(map[string]int, len(first))
	for i, p := range first {
		if p.Key == "" {
			t.Errorf("partition %d has an empty Key", i)
		}
		if j, dup := keys[p.Key]; dup {
			t.Errorf("partitions %d and %d share the Key %q", j, i, p.Key)
		}
		keys[p.Key] = i
		if p.Run != cc.Run {
			t.Errorf("partition %q belongs to run instance %+v, want %+v", p.Key, p.Run, cc.Run)
		}
	}
}

func checkBatchSchema(t *testing.T, cc ConformanceConsumer, _ memory.Allocator, c stage.Consumer) {
	ctx := t.Context()
	schema, err := c.Schema(ctx)
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	if d, ok := c.(stage.DeclaredSchema); ok {
		declared, known, err := d.DeclaredSchema()
		if err != nil {
			t.Errorf("DeclaredSchema: %v", err)
		} else if known && !declared.Equal(schema) {
			t.Errorf("DeclaredSchema differs from Schema:\ndeclared: %s\nschema:   %s", declared, schema)
		}
	}
	for _, p := range plan(t, cc, c) {
		batches := testkit.ReadPartition(ctx, t, c, p)
		for i, b := range batches {
			if !b.Schema().Equal(schema) {
				t.Errorf("partition %q, batch %d: schema %s, want Schema() %s", p.Key, i, b.Schema(), schema)
			}
		}
		testkit.ReleaseAll(batches)
	}
}

func readAll(t *testing.T, mem memory.Allocator, c stage.Consumer, p stage.Partition) arrow.RecordBatch {
	t.Helper()
	batches := testkit.ReadPartition(t.Context(), t, c, p)
	defer testkit.ReleaseAll(batches)
	if len(batches) == 0 {
		return nil
	}
	return testkit.ConcatRecords(mem, batches)
}

func checkReadTwice(t *testing.T, cc ConformanceConsumer, mem memory.Allocator, c stage.Consumer) {
	for _, p := range plan(t, cc, c) {
		first := readAll(t, mem, c, p)
		second := readAll(t, mem, c, p)
		if d := testkit.DiffRecords(first, second); d != "" {
			t.Errorf("partition %q read twice gave different rows (-first +second):\n%s", p.Key, d)
		}
		for _, r := range []arrow.RecordBatch{first, second} {
			if r != nil {
				r.Release()
			}
		}
	}
}

func checkDisjoint(t *testing.T, cc ConformanceConsumer, mem memory.Allocator, c stage.Consumer) {
	ps := plan(t, cc, c)
	if len(ps) < 2 {
		t.Skip("the consumer planned one partition; configure several to check they are disjoint")
	}
	seen := map[string]string{} // row key -> partition key
	for _, p := range ps {
		rec := readAll(t, mem, c, p)
		if rec == nil {
			continue
		}
		cols, err := keyColumns(rec, cc.KeyColumns)
		if err != nil {
			rec.Release()
			t.Fatal(err)
		}
		var sb strings.Builder
		for r := 0; r < int(rec.NumRows()); r++ {
			sb.Reset()
			for k, col := range cols {
				if k > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString(testkit.CellText(col, r))
			}
			key := sb.String()
			if other, dup := seen[key]; dup {
				if other == p.Key {
					t.Errorf("partition %q holds the row (%s) twice", p.Key, key)
				} else {
					t.Errorf("partitions %q and %q both hold the row (%s)", other, p.Key, key)
				}
				continue
			}
			seen[key] = p.Key
		}
		rec.Release()
	}
}

func keyColumns(rec arrow.RecordBatch, names []string) ([]arrow.Array, error) {
	if len(names) == 0 {
		return rec.Columns(), nil
	}
	cols := make([]arrow.Array, len(names))
	for i, n := range names {
		idx := rec.Schema().FieldIndices(n)
		if len(idx) != 1 {
			return nil, errors.New("KeyColumns names " + n + ", which is not a column of the consumer's batches")
		}
		cols[i] = rec.Column(idx[0])
	}
	return cols, nil
}

func checkReadCancel(t *testing.T, cc ConformanceConsumer, _ memory.Allocator, c stage.Consumer) {
	p := plan(t, cc, c)[0]
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var cancelledAt time.Time
	batches, after := 0, 0
	err := c.Read(ctx, p, func(b arrow.RecordBatch) error {
		batches++
		if cancelledAt.IsZero() {
			cancel()
			cancelledAt = time.Now()
		} else {
			after++
		}
		return nil
	})
	took := time.Since(cancelledAt)
	if batches == 0 {
		t.Skipf("partition %q emitted no batch; give the consumer data to check cancellation", p.Key)
	}
	if err == nil {
		if batches == 1 {
			t.Skipf("partition %q fits in one batch; configure smaller batches to check cancellation", p.Key)
		}
		t.Fatalf("Read went on to the end of partition %q after its context was cancelled (%d more batches) and returned nil", p.Key, after)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancellation returned %v, want an error wrapping context.Canceled", err)
	}
	if took > cc.CancelWithin {
		t.Errorf("Read returned %s after cancellation, want within %s", took, cc.CancelWithin)
	}
	if after > 1 {
		t.Errorf("Read emitted %d batches after its context was cancelled; at most the one in flight is expected", after)
	}
}

func checkReadCancelledContext(t *testing.T, cc ConformanceConsumer, _ memory.Allocator, c stage.Consumer) {
	p := plan(t, cc, c)[0]
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	batches := 0
	err := c.Read(ctx, p, func(arrow.RecordBatch) error { batches++; return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a cancelled context returned %v, want an error wrapping context.Canceled", err)
	}
	if batches > 0 {
		t.Errorf("Read with a cancelled context emitted %d batches", batches)
	}
}

func checkReceiverError(t *testing.T, cc ConformanceConsumer, _ memory.Allocator, c stage.Consumer) {
	p := plan(t, cc, c)[0]
	stop := errors.New("conformance: the loader failed")
	calls := 0
	err := c.Read(t.Context(), p, func(arrow.RecordBatch) error { calls++; return stop })
	if calls == 0 {
		t.Skipf("partition %q emitted no batch", p.Key)
	}
	if !errors.Is(err, stop) {
		t.Errorf("Read returned %v when out failed, want out's error returned as is", err)
	}
	if calls > 1 {
		t.Errorf("Read called out %d times after out failed, want it to stop at the first error", calls-1)
	}
}
