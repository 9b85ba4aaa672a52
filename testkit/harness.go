package testkit

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/jetflow-dev/jetflow/stage"
)

// ReadPartition reads partition p from consumer c the way the engine does and returns the batches it emitted,
// each retained (Read releases its own reference after out returns). Release them with ReleaseAll. A Read error
// fails the test.
func ReadPartition(ctx context.Context, t testing.TB, c stage.Consumer, p stage.Partition) []arrow.RecordBatch {
	t.Helper()
	var got []arrow.RecordBatch
	err := c.Read(ctx, p, func(b arrow.RecordBatch) error {
		b.Retain()
		got = append(got, b)
		return nil
	})
	if err != nil {
		ReleaseAll(got)
		t.Fatalf("testkit.ReadPartition: reading partition %q: %v", p.Key, err)
	}
	return got
}

// ReadAllText reads every partition c plans for the test run instance (RunInstance) and returns the rows as cell
// text (CellText), one line per row with cells joined by " | ", and c's schema.
func ReadAllText(t testing.TB, c stage.Consumer) ([]string, *arrow.Schema) {
	t.Helper()
	ctx := t.Context()
	ps, err := c.Partitions(ctx, RunInstance())
	if err != nil {
		t.Fatalf("testkit.ReadAllText: Partitions: %v", err)
	}
	var rows []string
	for _, p := range ps {
		batches := ReadPartition(ctx, t, c, p)
		for _, b := range batches {
			for r := range int(b.NumRows()) {
				cells := make([]string, b.NumCols())
				for i, col := range b.Columns() {
					cells[i] = CellText(col, r)
				}
				rows = append(rows, strings.Join(cells, " | "))
			}
		}
		ReleaseAll(batches)
	}
	schema, err := c.Schema(ctx)
	if err != nil {
		t.Fatalf("testkit.ReadAllText: Schema: %v", err)
	}
	return rows, schema
}

// AssertIDsOnce fails the test unless ids holds every value from lo to hi exactly once and nothing else.
func AssertIDsOnce(t testing.TB, ids *array.Int64, lo, hi int64) {
	t.Helper()
	seen := make(map[int64]int, ids.Len())
	for i, id := range ids.Int64Values() {
		if ids.IsNull(i) {
			t.Fatalf("row %d has no id", i)
		}
		seen[id]++
	}
	for id := lo; id <= hi; id++ {
		if seen[id] != 1 {
			t.Fatalf("id %d appears %d times, want once", id, seen[id])
		}
	}
	if int64(len(seen)) != hi-lo+1 {
		t.Fatalf("%d distinct ids, want %d (%d to %d)", len(seen), hi-lo+1, lo, hi)
	}
}

// Transform runs tr over each input batch in order and returns the non-nil results (a nil result drops a batch),
// then flushes it if it holds rows until the partition ends: the engine's rules (stage.PartitionChain). It checks
// that every result has exactly the schema tr.OutputSchema promises for its input, as the engine relies on it. The
// inputs stay the caller's; release the results with ReleaseAll. For a stage.PartitionTransformer, pass the
// instance ForPartition returns.
func Transform(ctx context.Context, t testing.TB, tr stage.Transformer, in ...arrow.RecordBatch) []arrow.RecordBatch {
	t.Helper()
	var out []arrow.RecordBatch
	fail := func(format string, args ...any) {
		t.Helper()
		ReleaseAll(out)
		t.Fatalf(format, args...)
	}
	chain := stage.NewPartitionChain([]stage.NamedTransformer{{Name: fmt.Sprintf("%T", tr), Transformer: tr}}, nil)
	var want *arrow.Schema // what OutputSchema promises for the batch in hand; nil before the first
	keep := func(r arrow.RecordBatch) error {
		if want != nil && !r.Schema().Equal(want) {
			return fmt.Errorf("result schema differs from OutputSchema:\n%s", diffSchemas(want, r.Schema()))
		}
		r.Retain()
		out = append(out, r)
		return nil
	}
	for i, b := range in {
		var err error
		if want, err = tr.OutputSchema(b.Schema()); err != nil {
			fail("testkit.Transform: OutputSchema of input batch %d: %v", i, err)
		}
		if err := chain.Process(ctx, b, keep); err != nil {
			fail("testkit.Transform: batch %d: %v", i, err)
		}
	}
	if err := chain.Flush(ctx, keep); err != nil {
		fail("testkit.Transform: Flush: %v", err)
	}
	return out
}

// LoadPartition writes batches as partition p through loader l and commits it, the way the engine does: Begin,
// one Write per batch, Commit with a CommitInfo naming p. On any error it aborts the writer and fails the test.
// The batches stay the caller's.
func LoadPartition(ctx context.Context, t testing.TB, l stage.Loader, schema *arrow.Schema, p stage.Partition, batches ...arrow.RecordBatch) stage.CommitResult {
	t.Helper()
	w, err := l.Begin(ctx, schema, p)
	if err != nil {
		t.Fatalf("testkit.LoadPartition: Begin partition %q: %v", p.Key, err)
	}
	var rows int64
	for i, b := range batches {
		if err := w.Write(ctx, b); err != nil {
			abortErr := w.Abort(context.WithoutCancel(ctx))
			t.Fatalf("testkit.LoadPartition: Write batch %d of partition %q: %v (abort: %v)", i, p.Key, err, abortErr)
		}
		rows += b.NumRows()
	}
	res, err := w.Commit(ctx, CommitInfoFor(p, rows))
	if err != nil {
		abortErr := w.Abort(context.WithoutCancel(ctx))
		t.Fatalf("testkit.LoadPartition: Commit partition %q: %v (abort: %v)", p.Key, err, abortErr)
	}
	return res
}

// CommitInfoFor is the CommitInfo LoadPartition commits p with, for tests that drive a PartitionWriter by hand.
func CommitInfoFor(p stage.Partition, rows int64) stage.CommitInfo {
	return stage.CommitInfo{
		Pipeline:    "testkit",
		RunInstance: p.Run.Label,
		PartitionID: p.ID,
		Key:         p.Key,
		Rows:        rows,
	}
}
