package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/state/sqlite"
)

var day = stage.RunInstance{Start: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), Label: "2026-11-22"}

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newJob(src stage.Source, tbl *table, ts ...NamedTransformer) *Job {
	return &Job{Pipeline: "p", Fingerprint: "fp1", Source: src, Transformers: ts,
		Loaders: []NamedLoader{{Name: "table", Loader: tbl}},
		Retry:   RetryPolicy{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}}
}

func checked(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

func wantSequence(t *testing.T, got []int64, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("destination holds %d rows, want %d (each exactly once)", len(got), n)
	}
	for i, v := range got {
		if v != int64(i) {
			t.Fatalf("row %d = %d: a row is missing or duplicated", i, v)
		}
	}
}

func run(t *testing.T, job *Job, store state.Store, opts Options) *Report {
	t.Helper()
	e, err := New(job, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := e.Run(context.Background(), day)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestRunSkipsCommittedAndForceReplaces(t *testing.T) {
	mem := checked(t)
	src := &rangeSource{mem: mem, parts: 8, per: 1000, batch: 300}
	tbl := newTable()
	store := openStore(t)
	job := newJob(src, tbl)

	rep := run(t, job, store, Options{Workers: 3})
	if !rep.OK() || rep.Committed != 8 || rep.Rows != 8000 {
		t.Fatalf("first run: %+v", rep)
	}
	wantSequence(t, tbl.all(), 8000)

	rep = run(t, job, store, Options{Workers: 3})
	if rep.Skipped != 8 || rep.Committed != 0 {
		t.Fatalf("second run should skip every partition: %+v", rep)
	}
	rep = run(t, job, store, Options{Workers: 2, Force: true})
	if rep.Committed != 8 {
		t.Fatalf("forced run: %+v", rep)
	}
	wantSequence(t, tbl.all(), 8000)
	for id, n := range tbl.commits {
		if n != 2 {
			t.Fatalf("partition %s committed %d times, want 2 (first run + force)", id, n)
		}
	}
	// A changed spec makes committed partitions stale: they are loaded again, replacing.
	job.Fingerprint = "fp2"
	e, _ := New(job, store, Options{})
	plan, err := e.Plan(context.Background(), day)
	if err != nil || len(plan) != 8 || plan[0].State != PlanStale {
		t.Fatalf("plan after spec change: %v %+v", err, plan)
	}
	rep = run(t, job, store, Options{Workers: 2})
	if rep.Committed != 8 {
		t.Fatalf("stale partitions not reloaded: %+v", rep)
	}
	wantSequence(t, tbl.all(), 8000)
}

func TestRetryAfterFailures(t *testing.T) {
	mem := checked(t)
	src := &rangeSource{mem: mem, parts: 4, per: 100, batch: 30}
	src.failRead = func(p stage.Partition, attempt int) error {
		if p.Key == "n[000100,000200)" && attempt == 1 {
			return errors.New("connection reset by peer")
		}
		return nil
	}
	tbl := newTable()
	tbl.failOnce["n[000300,000400)"] = true
	store := openStore(t)
	rep := run(t, newJob(src, tbl), store, Options{Workers: 2})
	if !rep.OK() || rep.Committed != 4 {
		t.Fatalf("retries did not recover: %+v", rep)
	}
	wantSequence(t, tbl.all(), 400)
	for _, r := range rep.Partitions {
		want := 1
		if r.Key == "n[000100,000200)" || r.Key == "n[000300,000400)" {
			want = 2
		}
		if r.Attempts != want {
			t.Errorf("partition %s: %d attempts, want %d", r.Key, r.Attempts, want)
		}
	}
	rec, _, _ := store.Get(context.Background(), "p", stage.PartitionID("p", day.Label, "n[000100,000200)"))
	if rec.Attempts != 2 || rec.Status != state.StatusCommitted || rec.Tokens != `{"table":"t-1"}` {
		t.Fatalf("state record: %+v", rec)
	}
}

// An error marked permanent fails its partition at the first attempt; the others load as usual.
func TestPermanentErrorIsNotRetried(t *testing.T) {
	mem := checked(t)
	src := &rangeSource{mem: mem, parts: 3, per: 100, batch: 30}
	src.failRead = func(p stage.Partition, attempt int) error {
		if p.Key == "n[000100,000200)" {
			return fmt.Errorf("row 7: %w", stage.Permanent(errors.New(`column "v": 123456.78 does not fit decimal(5, 2)`)))
		}
		return nil
	}
	tbl := newTable()
	rep := run(t, newJob(src, tbl), openStore(t), Options{Workers: 2})
	if rep.Failed != 1 || rep.Committed != 2 {
		t.Fatalf("report: %+v", rep)
	}
	for _, r := range rep.Partitions {
		if r.Key == "n[000100,000200)" && (r.Attempts != 1 || !strings.Contains(r.Error, "does not fit")) {
			t.Errorf("the permanent failure took %d attempts (want 1): %s", r.Attempts, r.Error)
		}
	}
}

func TestFailedPartitionDoesNotHarmOthers(t *testing.T) {
	mem := checked(t)
	src := &rangeSource{mem: mem, parts: 5, per: 100, batch: 40}
	tbl := newTable()
	tbl.failWrite = func(p stage.Partition) error {
		if p.Key == "n[000200,000300)" {
			return errors.New("disk full")
		}
		return nil
	}
	store := openStore(t)
	rep := run(t, newJob(src, tbl), store, Options{Workers: 2})
	if rep.OK() || rep.Failed != 1 || rep.Committed != 4 {
		t.Fatalf("report: %+v", rep)
	}
	if got := len(tbl.all()); got != 400 {
		t.Fatalf("%d rows visible, want the 400 of the good partitions", got)
	}
	rec, _, _ := store.Get(context.Background(), "p", stage.PartitionID("p", day.Label, "n[000200,000300)"))
	if rec.Status != state.StatusFailed || rec.Attempts != 3 || rec.Error == "" {
		t.Fatalf("failed partition record: %+v", rec)
	}
	// The next run retries only the failed partition.
	tbl.failWrite = nil
	rep = run(t, newJob(src, tbl), store, Options{Workers: 2})
	if rep.Committed != 1 || rep.Skipped != 4 {
		t.Fatalf("rerun: %+v", rep)
	}
	wantSequence(t, tbl.all(), 500)
}

func TestCancelAbortsInFlightAndRerunCompletes(t *testing.T) {
	mem := checked(t)
	src := &rangeSource{mem: mem, parts: 6, per: 500, batch: 50, delay: 2 * time.Millisecond}
	tbl := newTable()
	store := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	tbl.failWrite = func(p stage.Partition) error {
		if p.Key == "n[001000,001500)" {
			cancel() // interrupted while the third partition is being written
		}
		return nil
	}
	e, _ := New(newJob(src, tbl), store, Options{Workers: 1})
	rep, err := e.Run(ctx, day)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if rep.Committed != 2 || rep.Aborted != 4 {
		t.Fatalf("interrupted run: %+v", rep)
	}
	if got := len(tbl.all()); got != 1000 {
		t.Fatalf("%d rows visible after interrupt, want only the 1000 of committed partitions", got)
	}
	rec, ok, _ := store.Get(context.Background(), "p", stage.PartitionID("p", day.Label, "n[001000,001500)"))
	if !ok || rec.Status != state.StatusAborted {
		t.Fatalf("in-flight partition record: %+v", rec)
	}
	tbl.failWrite = nil
	rep = run(t, newJob(src, tbl), store, Options{Workers: 3})
	if !rep.OK() || rep.Committed != 4 || rep.Skipped != 2 {
		t.Fatalf("rerun: %+v", rep)
	}
	wantSequence(t, tbl.all(), 3000)
}

func TestBackPressureBoundsBatchesInFlight(t *testing.T) {
	mem := checked(t)
	src := &rangeSource{mem: mem, parts: 1, per: 5000, batch: 50}
	tbl := newTable()
	tbl.slow = time.Millisecond
	var maxAhead int64
	tbl.failWrite = func(stage.Partition) error {
		if ahead := src.produced.Load() - tbl.written.Load(); ahead > maxAhead {
			maxAhead = ahead
		}
		return nil
	}
	rep := run(t, newJob(src, tbl), openStore(t), Options{Queue: 2})
	if !rep.OK() {
		t.Fatalf("%+v", rep)
	}
	// queue (2) + the batch being written + the one the reader is blocked on.
	if maxAhead > 4 {
		t.Fatalf("the reader ran %d batches ahead of a slow loader; the queue should hold it to 4", maxAhead)
	}
}

// Two engines (two processes in production) on one store and one run: each partition is loaded once.
func TestTwoWorkersShareOneRun(t *testing.T) {
	mem := checked(t)
	store := openStore(t)
	tbl := newTable()
	var wg sync.WaitGroup
	reports := make([]*Report, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := &rangeSource{mem: mem, parts: 10, per: 200, batch: 50, delay: time.Millisecond}
			e, err := New(newJob(src, tbl), store, Options{Workers: 2, Owner: "worker-" + strconv.Itoa(i), PollInterval: 10 * time.Millisecond})
			if err != nil {
				t.Error(err)
				return
			}
			reports[i], err = e.Run(context.Background(), day)
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	wantSequence(t, tbl.all(), 2000)
	total := 0
	for id, n := range tbl.commits {
		total += n
		if n != 1 {
			t.Errorf("partition %s committed %d times", id, n)
		}
	}
	for i, r := range reports {
		if r == nil || !r.OK() || r.Committed+r.Skipped != 10 {
			t.Fatalf("worker %d report: %+v", i, r)
		}
	}
	if total != 10 {
		t.Fatalf("%d commits, want 10", total)
	}
}

func TestShardsSplitTheRun(t *testing.T) {
	mem := checked(t)
	store := openStore(t)
	tbl := newTable()
	for shard := range 3 {
		src := &rangeSource{mem: mem, parts: 7, per: 10, batch: 10}
		rep := run(t, newJob(src, tbl), store, Options{Shard: shard, Shards: 3})
		if want := []int{3, 2, 2}[shard]; rep.Committed != want {
			t.Fatalf("shard %d committed %d, want %d", shard, rep.Committed, want)
		}
	}
	wantSequence(t, tbl.all(), 70)
	if _, err := New(newJob(&rangeSource{}, tbl), store, Options{Shard: 3, Shards: 3}); err == nil {
		t.Fatal("shard 3/3 accepted")
	}
}

// evenOnly keeps even numbers and drops batches that end up empty; it counts the partitions it was made for.
type evenOnly struct {
	mem   memory.Allocator
	mu    *sync.Mutex
	parts *[]string
}

func (evenOnly) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) { return in, nil }

func (f evenOnly) ForPartition(p stage.Partition) (stage.Transformer, error) {
	f.mu.Lock()
	*f.parts = append(*f.parts, p.ID)
	f.mu.Unlock()
	return f, nil
}

func (f evenOnly) Transform(_ context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	in := b.Column(0).(*array.Int64)
	bld := array.NewInt64Builder(f.mem)
	defer bld.Release()
	for _, v := range in.Int64Values() {
		if v%2 == 0 {
			bld.Append(v)
		}
	}
	if bld.Len() == 0 {
		return nil, nil
	}
	col := bld.NewArray()
	defer col.Release()
	return array.NewRecordBatch(b.Schema(), []arrow.Array{col}, int64(col.Len())), nil
}

func TestTransformersPerPartitionAndDroppedBatches(t *testing.T) {
	mem := checked(t)
	src := &rangeSource{mem: mem, parts: 3, per: 10, batch: 1} // every odd batch is dropped whole
	tbl := newTable()
	var parts []string
	tr := NamedTransformer{Name: "even", Transformer: evenOnly{mem: mem, mu: &sync.Mutex{}, parts: &parts}}
	e, _ := New(newJob(src, tbl, tr), openStore(t), Options{Workers: 2})
	rep, err := e.Run(context.Background(), day)
	if err != nil || !rep.OK() {
		t.Fatal(err, rep)
	}
	got := tbl.all()
	if len(got) != 15 || got[0] != 0 || got[14] != 28 {
		t.Fatalf("rows = %v", got)
	}
	if len(parts) != 3 {
		t.Fatalf("ForPartition called for %v, want once per partition", parts)
	}
	stats := map[string]StageStats{}
	for _, s := range rep.Stages {
		stats[s.Stage] = s
	}
	if s := stats["even"]; s.RowsIn != 30 || s.RowsOut != 15 || s.Kind != "transformer" {
		t.Fatalf("transformer stats %+v", s)
	}
	if s := stats["consumer"]; s.RowsOut != 30 || s.Bytes == 0 {
		t.Fatalf("consumer stats %+v", s)
	}
	if s := stats["table"]; s.RowsIn != 15 || s.Bytes != 15*8 {
		t.Fatalf("loader stats %+v", s)
	}
}

// counterStream is an unbounded source: partitions of `per` integers, checkpoint = next integer.
type counterStream struct {
	mem     memory.Allocator
	per     int64
	stopAt  int64 // cancel the run once this many rows were handed out in total
	cancel  context.CancelFunc
	resumed string
}

func (s *counterStream) Schema(context.Context) (*arrow.Schema, error) { return intSchema, nil }

func (s *counterStream) Stream(ctx context.Context, run stage.RunInstance, resume stage.ResumeFunc, handle stage.PartitionHandler) error {
	cp, ok, err := resume(ctx, "0")
	if err != nil {
		return err
	}
	next := int64(0)
	if ok {
		s.resumed = cp
		next, _ = strconv.ParseInt(cp, 10, 64)
	}
	for ctx.Err() == nil {
		from := next
		err := handle(ctx, stage.Partition{Key: fmt.Sprintf("n@%d", from), Lane: "0"}, func(ctx context.Context, out func(arrow.RecordBatch) error) (string, error) {
			b := array.NewInt64Builder(s.mem)
			defer b.Release()
			for v := from; v < from+s.per; v++ {
				b.Append(v)
			}
			col := b.NewArray()
			rec := array.NewRecordBatch(intSchema, []arrow.Array{col}, int64(col.Len()))
			col.Release()
			defer rec.Release()
			if err := out(rec); err != nil {
				return "", err
			}
			return strconv.FormatInt(from+s.per, 10), nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		next = from + s.per
		if next >= s.stopAt {
			s.cancel()
		}
	}
	return nil
}

func TestStreamResumesAfterLastCheckpoint(t *testing.T) {
	mem := checked(t)
	store := openStore(t)
	tbl := newTable()
	streamRun := stage.RunInstance{Label: "stream"}
	for i, stopAt := range []int64{300, 700} {
		ctx, cancel := context.WithCancel(context.Background())
		src := &counterStream{mem: mem, per: 100, stopAt: stopAt, cancel: cancel}
		e, _ := New(newJob(src, tbl), store, Options{})
		rep, err := e.Stream(ctx, streamRun)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 && src.resumed != "300" {
			t.Fatalf("second stream resumed at %q, want 300", src.resumed)
		}
		if want := []int{3, 4}[i]; rep.Committed != want {
			t.Fatalf("stream %d committed %d partitions, want %d", i, rep.Committed, want)
		}
	}
	wantSequence(t, tbl.all(), 700)
	if last := tbl.infos[len(tbl.infos)-1]; last.Checkpoint != "700" || last.Key != "n@600" {
		t.Fatalf("loader saw commit info %+v; the checkpoint must travel with the commit", last)
	}
	if _, err := New(newJob(&counterStream{}, tbl), store, Options{}); err != nil {
		t.Fatal(err)
	}
	e, _ := New(newJob(&counterStream{}, tbl), store, Options{})
	if _, err := e.Run(context.Background(), day); err == nil {
		t.Fatal("Run of a stream source should ask for --stream")
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	p := RetryPolicy{Backoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	tests := []struct {
		attempt int
		lo, hi  time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 400 * time.Millisecond, 800 * time.Millisecond},
		{10, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		for range 50 {
			if d := backoff(p, tt.attempt); d < tt.lo || d > tt.hi {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", tt.attempt, d, tt.lo, tt.hi)
			}
		}
	}
}

// holdAll keeps every row of a partition and gives them back at Flush, reversed: a stand-in for dedupe-last.
type holdAll struct {
	mem  memory.Allocator
	held []int64
}

func (h *holdAll) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) { return in, nil }
func (h *holdAll) ForPartition(stage.Partition) (stage.Transformer, error) {
	return &holdAll{mem: h.mem}, nil
}
func (h *holdAll) Transform(_ context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	h.held = append(h.held, b.Column(0).(*array.Int64).Int64Values()...)
	return nil, nil
}
func (h *holdAll) Flush(context.Context) (arrow.RecordBatch, error) {
	if len(h.held) == 0 {
		return nil, nil
	}
	bld := array.NewInt64Builder(h.mem)
	defer bld.Release()
	for i := len(h.held) - 1; i >= 0; i-- {
		bld.Append(h.held[i])
	}
	col := bld.NewArray()
	defer col.Release()
	return array.NewRecordBatch(intSchema, []arrow.Array{col}, int64(col.Len())), nil
}

func TestFlushAtPartitionEndFeedsLaterStages(t *testing.T) {
	mem := checked(t)
	src := &rangeSource{mem: mem, parts: 2, per: 20, batch: 7}
	tbl := newTable()
	var parts []string
	hold := NamedTransformer{Name: "hold", Transformer: &holdAll{mem: mem}}
	even := NamedTransformer{Name: "even", Transformer: evenOnly{mem: mem, mu: &sync.Mutex{}, parts: &parts}}
	rep := run(t, newJob(src, tbl, hold, even), openStore(t), Options{Workers: 2})
	if !rep.OK() || rep.Rows != 20 {
		t.Fatalf("%+v", rep)
	}
	got := tbl.all()
	if len(got) != 20 || got[0] != 0 || got[19] != 38 {
		t.Fatalf("rows after flush through the next transformer: %v", got)
	}
	for id, rows := range tbl.rows {
		if rows[0] < rows[len(rows)-1] {
			t.Fatalf("partition %s: rows %v did not come from Flush (reversed)", id, rows)
		}
	}
}

// incSource is an incremental source: it loads the integers after the stored watermark, up to `upTo`.
type incSource struct {
	rangeSource
	upTo    int64
	from    int64
	resumed bool
	pieces  int // partitions the window is cut into (1 when 0)
}

func (s *incSource) WatermarkName() (string, bool) { return "n", true }
func (s *incSource) ResumeWatermark(v string, ok bool) {
	s.resumed = ok
	s.from = 0
	if ok {
		s.from, _ = strconv.ParseInt(v, 10, 64)
	}
}
func (s *incSource) PartitionWatermark(p stage.Partition) (string, bool) {
	return strconv.FormatInt(p.Hi.(int64), 10), true
}
func (s *incSource) Partitions(context.Context, stage.RunInstance) ([]stage.Partition, error) {
	if s.from >= s.upTo {
		return nil, nil
	}
	n := int64(max(s.pieces, 1))
	var out []stage.Partition
	for i := range n {
		lo, hi := s.from+(s.upTo-s.from)*i/n, s.from+(s.upTo-s.from)*(i+1)/n
		out = append(out, stage.Partition{Key: fmt.Sprintf("n[%06d,%06d)", lo, hi), Lo: lo, Hi: hi})
	}
	return out, nil
}

func TestWatermarkAdvancesOnlyAfterACompleteRun(t *testing.T) {
	mem := checked(t)
	store := openStore(t)
	tbl := newTable()
	src := &incSource{rangeSource: rangeSource{mem: mem, batch: 100}, upTo: 300}
	job := newJob(src, tbl)
	job.Retry.Attempts = 1
	tbl.failOnce["n[000300,000500)"] = true
	// The second instance's only partition fails once: its retry is the same instance again.
	labels := []string{"2026-11-22", "2026-11-23", "2026-11-23", "2026-11-24"}
	for i, upTo := range []int64{300, 500, 500, 500} {
		src.upTo = upTo
		e, _ := New(job, store, Options{})
		rep, err := e.Run(context.Background(), stage.RunInstance{Label: labels[i]})
		if err != nil {
			t.Fatal(err)
		}
		wantOK := i != 1 // the second run's only partition fails once: the watermark must stay at 300
		if rep.OK() != wantOK {
			t.Fatalf("run %d: %+v", i, rep)
		}
		v, _, _ := store.Watermark(context.Background(), "p", "n")
		if want := map[int]string{0: "300", 1: "300", 2: "500", 3: "500"}[i]; v != want {
			t.Fatalf("after run %d the watermark is %q, want %q", i, v, want)
		}
	}
	wantSequence(t, tbl.all(), 500)
}

// A failed incremental run pins its plan: the retry loads the very same partition even though the source grew,
// so what the failed attempt may have committed is replaced, not loaded again under another key.
func TestIncrementalRetryReusesThePinnedPlan(t *testing.T) {
	mem := checked(t)
	store := openStore(t)
	tbl := newTable()
	src := &incSource{rangeSource: rangeSource{mem: mem, batch: 100}}
	job := newJob(src, tbl)
	job.Retry.Attempts = 1
	tbl.failOnce["n[000000,000300)"] = true
	runOnce := func(upTo int64, r stage.RunInstance) (*Report, error) {
		src.upTo = upTo
		e, _ := New(job, store, Options{})
		return e.Run(context.Background(), r)
	}
	if rep, err := runOnce(300, day); err != nil || rep.OK() {
		t.Fatalf("first run should fail its partition: %v %+v", err, rep)
	}
	next := stage.RunInstance{Label: "2026-11-23"}
	if _, err := runOnce(700, next); err == nil || !strings.Contains(err.Error(), "run 2026-11-22 of incremental pipeline p has not finished") {
		t.Fatalf("a later run instance must wait for the unfinished one: %v", err)
	}
	rep, err := runOnce(700, day) // the source grew to 700, the retry still loads [0,300)
	if err != nil || !rep.OK() || len(rep.Partitions) != 1 || rep.Partitions[0].Key != "n[000000,000300)" {
		t.Fatalf("retry: %v %+v", err, rep)
	}
	if v, _, _ := store.Watermark(context.Background(), "p", "n"); v != "300" {
		t.Fatalf("watermark after the retry = %q, want 300", v)
	}
	if rep, err = runOnce(700, next); err != nil || !rep.OK() || rep.Partitions[0].Key != "n[000300,000700)" {
		t.Fatalf("next run: %v %+v", err, rep)
	}
	wantSequence(t, tbl.all(), 700)
}

// OnPartition is told every partition's result, the same the report holds, with the time a loaded one took.
func TestOnPartitionTellsEachResult(t *testing.T) {
	mem := checked(t)
	src := &rangeSource{mem: mem, parts: 4, per: 10, batch: 5, delay: time.Millisecond}
	tbl := newTable()
	tbl.failWrite = func(p stage.Partition) error {
		if p.Key == "n[000010,000020)" {
			return stage.Permanent(errors.New("bad row"))
		}
		return nil
	}
	store := openStore(t)
	for i, want := range []map[string]string{
		{"n[000000,000010)": "committed", "n[000010,000020)": "failed", "n[000020,000030)": "committed", "n[000030,000040)": "committed"},
		{"n[000000,000010)": "skipped", "n[000010,000020)": "failed", "n[000020,000030)": "skipped", "n[000030,000040)": "skipped"},
	} {
		var mu sync.Mutex
		told := map[string]PartitionResult{}
		rep := run(t, newJob(src, tbl), store, Options{Workers: 2, OnPartition: func(r PartitionResult) {
			mu.Lock()
			defer mu.Unlock()
			told[r.Key] = r
		}})
		if len(told) != len(rep.Partitions) {
			t.Fatalf("run %d: told of %d partitions, the report has %d", i, len(told), len(rep.Partitions))
		}
		for _, r := range rep.Partitions {
			got := told[r.Key]
			if got != r || got.Outcome != want[r.Key] {
				t.Errorf("run %d: told %+v, report %+v, want outcome %s", i, got, r, want[r.Key])
			}
			if loaded := got.Outcome != "skipped"; loaded != (got.Duration > 0) {
				t.Errorf("run %d: %s %s took %s: want a duration exactly when it was loaded", i, got.Key, got.Outcome, got.Duration)
			}
		}
	}
}

// A fatal fault is attempted once and stops the run: the partitions in flight are aborted, the others are not
// started, and the next run loads each partition exactly once. A transient fault keeps its retries, and a
// permanent one fails only its partition.
func TestFatalFaultStopsTheRun(t *testing.T) {
	const bad = "n[000100,000200)"
	tests := []struct {
		name      string
		fault     error
		attempts  int  // reads of the bad partition
		stops     bool // the run ends with an error, the rest not loaded
		committed int
	}{
		{"fatal", fmt.Errorf("connect: %w", stage.Fatal("authentication failed", "check the password",
			errors.New(`password authentication failed for user "etl"`))), 1, true, 1},
		{"fatal os", fmt.Errorf("open out: %w", stage.OSFault(&os.PathError{Op: "open", Path: "/out/x", Err: syscall.EROFS})), 1, true, 1},
		{"transient", errors.New("read tcp: connection reset by peer"), 3, false, 5},
		{"permanent", stage.Permanent(errors.New("value does not fit")), 1, false, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := checked(t)
			src := &rangeSource{mem: mem, parts: 6, per: 100, batch: 20, delay: time.Millisecond}
			src.failRead = func(p stage.Partition, _ int) error {
				if p.Key == bad {
					return tc.fault
				}
				return nil
			}
			tbl := newTable()
			store := openStore(t)
			e, err := New(newJob(src, tbl), store, Options{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := e.Run(context.Background(), day)
			reads, _ := src.reads.Load(bad)
			if got := int(reads.(interface{ Load() int64 }).Load()); got != tc.attempts {
				t.Errorf("the partition was attempted %d times, want %d", got, tc.attempts)
			}
			if rep.Failed != 1 || rep.Committed+rep.Failed+rep.Aborted != 6 {
				t.Errorf("report: %+v", rep)
			}
			if !tc.stops {
				if err != nil || rep.Committed != tc.committed {
					t.Fatalf("err = %v, committed %d, want nil and %d", err, rep.Committed, tc.committed)
				}
				return
			}
			f, ok := stage.AsFatal(err)
			if !ok {
				t.Fatalf("err = %v, want the fatal fault", err)
			}
			if want := f.Reason + ": run 2026-11-22 stopped"; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), bad) {
				t.Errorf("err = %q, want it to start with %q and name the partition", err, want)
			}
			if rep.Committed > 2 || rep.Aborted < 6-rep.Committed-1 {
				t.Errorf("the run went on after the fatal fault: %+v", rep)
			}
			// Leases are released: the next run loads the rest at once, each partition once.
			src.failRead = nil
			rep = run(t, newJob(src, tbl), store, Options{Workers: 2, Lease: time.Hour})
			if !rep.OK() || rep.Skipped+rep.Committed != 6 {
				t.Fatalf("rerun: %+v", rep)
			}
			wantSequence(t, tbl.all(), 600)
			for id, n := range tbl.commits {
				if n != 1 {
					t.Errorf("partition %s committed %d times", id, n)
				}
			}
		})
	}
}

// A stream stops at a fatal fault with the fault itself, not a PartitionFailedError (the CLI's exit 1): the
// partition is not what failed.
func TestStreamStopsAtAFatalFault(t *testing.T) {
	tests := []struct {
		name  string
		fault error
		fatal bool
	}{
		{"fatal", stage.Fatal("access denied", "check the bucket's policy", errors.New("AccessDenied")), true},
		{"partition", errors.New("disk hiccup"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := checked(t)
			tbl := newTable()
			tbl.failWrite = func(p stage.Partition) error {
				if p.Key == "n@200" {
					return tc.fault
				}
				return nil
			}
			src := &counterStream{mem: mem, per: 100, stopAt: 1000, cancel: func() {}}
			e, _ := New(newJob(src, tbl), openStore(t), Options{})
			rep, err := e.Stream(context.Background(), stage.RunInstance{Label: "stream"})
			if rep.Committed != 2 || rep.Failed != 1 {
				t.Errorf("report: %+v", rep)
			}
			var pf *PartitionFailedError
			if stage.IsFatal(err) != tc.fatal || errors.As(err, &pf) == tc.fatal {
				t.Fatalf("err = %v (fatal %v, partition failed %v)", err, stage.IsFatal(err), errors.As(err, &pf))
			}
			if tc.fatal && !strings.HasPrefix(err.Error(), "access denied: stream: ") {
				t.Errorf("err = %q, want the cause first", err)
			}
		})
	}
}

// Each claim records which worker of the process made it, so that a worker's partitions follow one another
// on a timeline: one worker never holds two partitions at once.
func TestClaimsRecordTheirWorker(t *testing.T) {
	mem := checked(t)
	src := &rangeSource{mem: mem, parts: 12, per: 100, batch: 30}
	store := openStore(t)
	if rep := run(t, newJob(src, newTable()), store, Options{Workers: 3}); !rep.OK() {
		t.Fatalf("run: %+v", rep)
	}
	recs, err := store.List(context.Background(), "p", day.Label)
	if err != nil || len(recs) != 12 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	byWorker := map[int][]state.Partition{}
	for _, r := range recs {
		if r.Worker < 1 || r.Worker > 3 {
			t.Fatalf("partition %s recorded worker %d, want 1 to 3", r.Key, r.Worker)
		}
		byWorker[r.Worker] = append(byWorker[r.Worker], r)
	}
	for w, rs := range byWorker {
		sort.Slice(rs, func(i, j int) bool { return rs[i].StartedAt.Before(rs[j].StartedAt) })
		for i := 1; i < len(rs); i++ {
			if rs[i].StartedAt.Before(rs[i-1].FinishedAt) {
				t.Errorf("worker %d started %s at %v, before it finished %s at %v", w, rs[i].Key, rs[i].StartedAt, rs[i-1].Key, rs[i-1].FinishedAt)
			}
		}
	}
}
