package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// ConformanceLoader describes a loader under test.
type ConformanceLoader struct {
	// New returns the loader under test, writing to a fresh, empty destination (a t.TempDir(), a new bucket
	// prefix or table). Each check calls it once, and the checks run one after another.
	New func(t *testing.T) stage.Loader
	// ReadBack returns everything committed to the destination of the loader New returned last, through a reader
	// independent of the loader where one exists, in any row order (rows are compared sorted by KeyColumn). It
	// returns nil or an empty record when nothing is committed. The suite releases the result.
	ReadBack func(t *testing.T, mem memory.Allocator) arrow.RecordBatch
	// Unsupported names the columns of AllTypesSchema whose types the loader cannot write; the checks leave them
	// out. CheckSchema must accept the rest.
	Unsupported []string
	// CompareOptions adjust how read-back records are compared, for a destination that changes what it stores
	// in a documented way (testkit.IgnoreNullability for one that makes every column nullable).
	CompareOptions []testkit.DiffOption
	// Merge declares whether the loader merges (mode: merge, upsert and delete by key): the merge checks run
	// when it does, and a check that it refuses mode: merge at validate when it does not (merge.go).
	Merge ConformanceMerge
}

type loaderCheck struct {
	name string
	run  func(t *testing.T, h *loaderHarness)
}

// Loaders runs every loader check as a subtest of t.
func Loaders(t *testing.T, cl ConformanceLoader) {
	t.Helper()
	if cl.New == nil || cl.ReadBack == nil {
		t.Fatal("conformance.Loaders: ConformanceLoader needs both New and ReadBack")
	}
	checks := []loaderCheck{
		{"check schema", checkLoaderSchema},
		{"empty partition", checkEmptyPartition},
		{"one row", checkOneRow},
		{"several batches", checkSeveralBatches},
		{"batches released after Write", checkReleasedAfterWrite},
		{"nulls in every column", checkNulls},
		{"every type", checkEveryType},
		{"abort leaves nothing", checkAbort},
		{"retry after a failed attempt", checkRetryAfterFailure},
		{"retry after an abandoned attempt", checkRetryAfterAbandon},
		{"re-commit replaces", checkRecommit},
		{"concurrent partitions", checkConcurrentPartitions},
		{"racing writers on one partition", checkRacingWriters},
		{"cancellation mid-partition", checkCancellation},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded()) // a use after release faults
			defer mem.AssertSize(t, 0)
			h := &loaderHarness{cl: cl, mem: mem, loader: cl.New(t)}
			c.run(t, h)
		})
	}
	mergeChecks(t, cl)
}

type loaderHarness struct {
	cl     ConformanceLoader
	mem    *memory.CheckedAllocator
	loader stage.Loader
}

// expect checks that the destination holds exactly want's rows; a nil want means nothing at all.
func (h *loaderHarness) expect(t *testing.T, want arrow.RecordBatch) {
	t.Helper()
	got := h.cl.ReadBack(t, h.mem)
	if got != nil {
		defer got.Release()
	}
	if want == nil || want.NumRows() == 0 {
		if got != nil && got.NumRows() > 0 {
			t.Errorf("want nothing visible, read back %d rows:\n%s", got.NumRows(), testkit.DiffRecords(want, got))
		}
		return
	}
	opts := append([]testkit.DiffOption{testkit.SortBy(KeyColumn)}, h.cl.CompareOptions...)
	if d := testkit.DiffRecords(want, got, opts...); d != "" {
		t.Errorf("read back differs from what was committed (-want +got):\n%s", d)
	}
}

func (h *loaderHarness) concat(batches ...arrow.RecordBatch) arrow.RecordBatch {
	return testkit.ConcatRecords(h.mem, batches)
}

// load writes and commits one partition, aborting on failure; it reports errors instead of failing the test so
// that goroutines may call it.
func load(ctx context.Context, l stage.Loader, schema *arrow.Schema, p stage.Partition, batches ...arrow.RecordBatch) error {
	w, err := l.Begin(ctx, schema, p)
	if err != nil {
		return fmt.Errorf("Begin partition %q: %w", p.Key, err)
	}
	var rows int64
	for i, b := range batches {
		if err := w.Write(ctx, b); err != nil {
			return errors.Join(fmt.Errorf("Write batch %d of partition %q: %w", i, p.Key, err), w.Abort(context.WithoutCancel(ctx)))
		}
		rows += b.NumRows()
	}
	if _, err := w.Commit(ctx, testkit.CommitInfoFor(p, rows)); err != nil {
		return errors.Join(fmt.Errorf("Commit partition %q: %w", p.Key, err), w.Abort(context.WithoutCancel(ctx)))
	}
	return nil
}

func checkLoaderSchema(t *testing.T, h *loaderHarness) {
	for _, s := range []*arrow.Schema{simpleSchema(), withoutColumns(AllTypesSchema(), h.cl.Unsupported)} {
		if err := h.loader.CheckSchema(s); err != nil {
			t.Errorf("CheckSchema rejects a schema of supported types (list the columns it cannot write in Unsupported): %v\nschema: %s", err, s)
		}
	}
}

func checkEmptyPartition(t *testing.T, h *loaderHarness) {
	testkit.LoadPartition(t.Context(), t, h.loader, simpleSchema(), testkit.PartitionFor("conformance/empty"))
	h.expect(t, nil)
}

func checkOneRow(t *testing.T, h *loaderHarness) {
	rows := simpleRows(h.mem, 1, 2, "one")
	defer rows.Release()
	testkit.LoadPartition(t.Context(), t, h.loader, rows.Schema(), testkit.PartitionFor("conformance/one-row"), rows)
	h.expect(t, rows)
}

func checkSeveralBatches(t *testing.T, h *loaderHarness) {
	b1, b2, b3 := simpleRows(h.mem, 0, 100, "b1"), simpleRows(h.mem, 100, 100, "b2"), simpleRows(h.mem, 100, 1000, "b3")
	defer testkit.ReleaseAll([]arrow.RecordBatch{b1, b2, b3})
	testkit.LoadPartition(t.Context(), t, h.loader, b1.Schema(), testkit.PartitionFor("conformance/batches"), b1, b2, b3)
	want := h.concat(b1, b2, b3)
	defer want.Release()
	h.expect(t, want)
}

// checkReleasedAfterWrite releases each batch as soon as Write returns, as the engine does: what the loader needs
// later (at Commit) it must have retained or copied. Under the guarded allocator a loader, or a library under it,
// that keeps a string or slice into a released batch faults here instead of reading reused memory in production.
func checkReleasedAfterWrite(t *testing.T, h *loaderHarness) {
	ctx := t.Context()
	batches := []arrow.RecordBatch{simpleRows(h.mem, 0, 100, "alpha"), simpleRows(h.mem, 100, 250, "beta"), simpleRows(h.mem, 250, 300, "gamma")}
	want := h.concat(batches...)
	defer want.Release()
	p := testkit.PartitionFor("conformance/released")
	w, err := h.loader.Begin(ctx, want.Schema(), p)
	if err != nil {
		testkit.ReleaseAll(batches)
		t.Fatal(err)
	}
	for i, b := range batches {
		err := w.Write(ctx, b)
		b.Release()
		if err != nil {
			testkit.ReleaseAll(batches[i+1:])
			t.Fatalf("Write batch %d: %v (abort: %v)", i, err, w.Abort(context.WithoutCancel(ctx)))
		}
	}
	if _, err := w.Commit(ctx, testkit.CommitInfoFor(p, want.NumRows())); err != nil {
		t.Fatalf("Commit: %v (abort: %v)", err, w.Abort(context.WithoutCancel(ctx)))
	}
	h.expect(t, want)
}

func checkNulls(t *testing.T, h *loaderHarness) {
	schema := withoutColumns(AllTypesSchema(), h.cl.Unsupported)
	rows := testkit.Records(t, h.mem, schema, `[{"id": 1}, {"id": 2}]`)
	defer rows.Release()
	testkit.LoadPartition(t.Context(), t, h.loader, schema, testkit.PartitionFor("conformance/nulls"), rows)
	h.expect(t, rows)
}

func checkEveryType(t *testing.T, h *loaderHarness) {
	rows := allTypes(t, h.mem, h.cl.Unsupported)
	defer rows.Release()
	testkit.LoadPartition(t.Context(), t, h.loader, rows.Schema(), testkit.PartitionFor("conformance/types"), rows)
	h.expect(t, rows)
}

func checkAbort(t *testing.T, h *loaderHarness) {
	ctx := t.Context()
	kept := simpleRows(h.mem, 0, 10, "kept")
	defer kept.Release()
	testkit.LoadPartition(ctx, t, h.loader, kept.Schema(), testkit.PartitionFor("conformance/abort-kept"), kept)

	aborted := simpleRows(h.mem, 10, 20, "aborted")
	defer aborted.Release()
	w, err := h.loader.Begin(ctx, aborted.Schema(), testkit.PartitionFor("conformance/abort"))
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	if err := w.Write(ctx, aborted); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := w.Abort(ctx); err != nil {
		t.Errorf("Abort: %v", err)
	}
	h.expect(t, kept)
}

func checkRetryAfterFailure(t *testing.T, h *loaderHarness) {
	ctx := t.Context()
	p := testkit.PartitionFor("conformance/retry")
	first := simpleRows(h.mem, 0, 50, "attempt 1")
	defer first.Release()
	w, err := h.loader.Begin(ctx, first.Schema(), p)
	if err != nil {
		t.Fatalf("Begin attempt 1: %v", err)
	}
	if err := w.Write(ctx, first); err != nil {
		t.Fatalf("Write attempt 1: %v", err)
	}
	// The attempt fails half-way (its source broke); the engine aborts it and tries the partition again.
	if err := w.Abort(ctx); err != nil {
		t.Errorf("Abort attempt 1: %v", err)
	}
	second := simpleRows(h.mem, 0, 100, "attempt 2")
	defer second.Release()
	testkit.LoadPartition(ctx, t, h.loader, second.Schema(), p, second)
	h.expect(t, second)
}

func checkRetryAfterAbandon(t *testing.T, h *loaderHarness) {
	ctx := t.Context()
	p := testkit.PartitionFor("conformance/abandoned")
	first := simpleRows(h.mem, 0, 50, "attempt 1")
	defer first.Release()
	w, err := h.loader.Begin(ctx, first.Schema(), p)
	if err != nil {
		t.Fatalf("Begin attempt 1: %v", err)
	}
	if err := w.Write(ctx, first); err != nil {
		t.Fatalf("Write attempt 1: %v", err)
	}
	// Attempt 1 is neither committed nor aborted, as when its worker is killed; another worker retries.
	second := simpleRows(h.mem, 0, 100, "attempt 2")
	defer second.Release()
	testkit.LoadPartition(ctx, t, h.loader, second.Schema(), p, second)
	h.expect(t, second)
	// A late Abort of the stale attempt (its worker was only slow) must not touch the committed retry.
	if err := w.Abort(ctx); err != nil {
		t.Errorf("Abort of the abandoned attempt after the retry committed: %v", err)
	}
	h.expect(t, second)
}

func checkRecommit(t *testing.T, h *loaderHarness) {
	ctx := t.Context()
	p := testkit.PartitionFor("conformance/recommit")
	other := simpleRows(h.mem, 1000, 1010, "other partition")
	defer other.Release()
	testkit.LoadPartition(ctx, t, h.loader, other.Schema(), testkit.PartitionFor("conformance/recommit-other"), other)

	first := simpleRows(h.mem, 0, 10, "first run")
	defer first.Release()
	testkit.LoadPartition(ctx, t, h.loader, first.Schema(), p, first)
	// A re-run of the same partition, with fewer rows: it replaces the first run's output, never adds to it.
	second := simpleRows(h.mem, 0, 5, "second run")
	defer second.Release()
	testkit.LoadPartition(ctx, t, h.loader, second.Schema(), p, second)
	want := h.concat(second, other)
	defer want.Release()
	h.expect(t, want)
	// And the same output committed again changes nothing.
	testkit.LoadPartition(ctx, t, h.loader, second.Schema(), p, second)
	h.expect(t, want)
}

func checkConcurrentPartitions(t *testing.T, h *loaderHarness) {
	const n = 4
	batches := make([]arrow.RecordBatch, n)
	for i := range batches {
		batches[i] = simpleRows(h.mem, int64(i)*1000, int64(i)*1000+500, fmt.Sprintf("partition %d", i))
	}
	defer testkit.ReleaseAll(batches)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, b := range batches {
		wg.Go(func() {
			errs[i] = load(t.Context(), h.loader, b.Schema(), testkit.PartitionFor(fmt.Sprintf("conformance/concurrent-%d", i)), b)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("committing %d partitions at once: %v", n, err)
	}
	want := h.concat(batches...)
	defer want.Release()
	h.expect(t, want)
}

func checkRacingWriters(t *testing.T, h *loaderHarness) {
	p := testkit.PartitionFor("conformance/race")
	a, b := simpleRows(h.mem, 0, 200, "worker a"), simpleRows(h.mem, 0, 200, "worker b")
	defer a.Release()
	defer b.Release()
	var errA, errB error
	var wg sync.WaitGroup
	wg.Go(func() { errA = load(t.Context(), h.loader, a.Schema(), p, a) })
	wg.Go(func() { errB = load(t.Context(), h.loader, b.Schema(), p, b) })
	wg.Wait()
	if errA != nil && errB != nil {
		t.Fatalf("two workers committed the same partition and both failed:\nworker a: %v\nworker b: %v", errA, errB)
	}
	// Either copy may win (a loader may also refuse the second commit), but exactly one copy is visible.
	got := h.cl.ReadBack(t, h.mem)
	if got != nil {
		defer got.Release()
	}
	opts := append([]testkit.DiffOption{testkit.SortBy(KeyColumn)}, h.cl.CompareOptions...)
	da, db := testkit.DiffRecords(a, got, opts...), testkit.DiffRecords(b, got, opts...)
	if da != "" && db != "" {
		t.Errorf("after two workers raced on one partition, the output is neither copy whole:\nvs worker a:\n%s\nvs worker b:\n%s", da, db)
	}
}

func checkCancellation(t *testing.T, h *loaderHarness) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	b1, b2 := simpleRows(h.mem, 0, 100, "before cancel"), simpleRows(h.mem, 100, 200, "after cancel")
	defer b1.Release()
	defer b2.Release()
	p := testkit.PartitionFor("conformance/cancel")
	w, err := h.loader.Begin(ctx, b1.Schema(), p)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	if err := w.Write(ctx, b1); err != nil {
		t.Fatalf("Write before cancel: %v", err)
	}
	cancel()
	err = w.Write(ctx, b2)
	if err == nil {
		// A loader may buffer without looking at ctx, but it must not commit under a cancelled context.
		_, err = w.Commit(ctx, testkit.CommitInfoFor(p, 200))
		if err == nil {
			t.Errorf("Commit with a cancelled context succeeded; it must return the context's error")
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("after cancellation got %v, want an error wrapping context.Canceled", err)
	}
	if err := w.Abort(context.Background()); err != nil {
		t.Errorf("Abort after cancellation: %v", err)
	}
	h.expect(t, nil)
}
