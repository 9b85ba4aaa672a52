package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
)

// The engine's unit tests use small in-memory stages that follow the contracts to the letter; the real
// consumers and loaders are run through the engine by the end-to-end tests in cmd/jetflow.

var intSchema = arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)

// rangeSource yields partitions of `per` consecutive integers, in batches of `batch`.
type rangeSource struct {
	mem        memory.Allocator
	parts, per int
	batch      int
	produced   atomic.Int64 // batches handed out
	delay      time.Duration
	failRead   func(p stage.Partition, attempt int) error
	reads      sync.Map // partition key → *atomic.Int64 read count
}

func (s *rangeSource) Schema(context.Context) (*arrow.Schema, error) { return intSchema, nil }

func (s *rangeSource) Partitions(_ context.Context, run stage.RunInstance) ([]stage.Partition, error) {
	out := make([]stage.Partition, s.parts)
	for i := range out {
		lo, hi := int64(i*s.per), int64((i+1)*s.per)
		out[i] = stage.Partition{Key: fmt.Sprintf("n[%06d,%06d)", lo, hi), Lo: lo, Hi: hi}
	}
	return out, nil
}

func (s *rangeSource) Read(ctx context.Context, p stage.Partition, out func(arrow.RecordBatch) error) error {
	c, _ := s.reads.LoadOrStore(p.Key, new(atomic.Int64))
	attempt := int(c.(*atomic.Int64).Add(1))
	lo, hi := p.Lo.(int64), p.Hi.(int64)
	b := array.NewInt64Builder(s.mem)
	defer b.Release()
	for start := lo; start < hi; start += int64(s.batch) {
		if s.failRead != nil {
			if err := s.failRead(p, attempt); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		for v := start; v < min(hi, start+int64(s.batch)); v++ {
			b.Append(v)
		}
		col := b.NewArray()
		rec := array.NewRecordBatch(intSchema, []arrow.Array{col}, int64(col.Len()))
		col.Release()
		s.produced.Add(1)
		err := out(rec)
		rec.Release()
		if err != nil {
			return err
		}
		if s.delay > 0 {
			time.Sleep(s.delay)
		}
	}
	return nil
}

// table is a destination with the loader contract's semantics: a commit replaces the partition's rows.
type table struct {
	mu        sync.Mutex
	rows      map[string][]int64 // partition id → committed rows
	commits   map[string]int
	failOnce  map[string]bool // partition key → fail the first commit
	failWrite func(p stage.Partition) error
	written   atomic.Int64 // batches written, for back-pressure checks
	slow      time.Duration
	infos     []stage.CommitInfo
}

func newTable() *table {
	return &table{rows: map[string][]int64{}, commits: map[string]int{}, failOnce: map[string]bool{}}
}

func (t *table) CheckSchema(*arrow.Schema) error { return nil }

func (t *table) Begin(_ context.Context, _ *arrow.Schema, p stage.Partition) (stage.PartitionWriter, error) {
	return &tableWriter{t: t, p: p}, nil
}

func (t *table) all() []int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int64
	for _, r := range t.rows {
		out = append(out, r...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

type tableWriter struct {
	t       *table
	p       stage.Partition
	pending []int64
}

func (w *tableWriter) Write(ctx context.Context, b arrow.RecordBatch) error {
	if w.t.failWrite != nil {
		if err := w.t.failWrite(w.p); err != nil {
			return err
		}
	}
	if w.t.slow > 0 {
		time.Sleep(w.t.slow)
	}
	w.t.written.Add(1)
	w.pending = append(w.pending, b.Column(0).(*array.Int64).Int64Values()...)
	return nil
}

func (w *tableWriter) Commit(_ context.Context, info stage.CommitInfo) (stage.CommitResult, error) {
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	if w.t.failOnce[w.p.Key] {
		delete(w.t.failOnce, w.p.Key)
		return stage.CommitResult{}, errors.New("injected commit failure")
	}
	w.t.rows[w.p.ID] = w.pending
	w.t.commits[w.p.ID]++
	w.t.infos = append(w.t.infos, info)
	return stage.CommitResult{Token: "t-" + strconv.Itoa(w.t.commits[w.p.ID]), Files: 1, Bytes: int64(8 * len(w.pending))}, nil
}

func (w *tableWriter) Abort(context.Context) error { w.pending = nil; return nil }
