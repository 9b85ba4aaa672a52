package transformers

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// generated reads rows of generated data (nulls in every nullable column) through the generate consumer.
func generated(t *testing.T, mem *memory.CheckedAllocator, rows int) arrow.RecordBatch {
	t.Helper()
	doc := `name: g
consumer:
  type: generate
  rows: ` + strconv.Itoa(rows) + `
  batch_rows: 4096
  columns:
    - {name: id, type: int64, sequence: true}
    - {name: s, type: string, null_rate: 0.2, distinct: 40}
    - {name: f, type: float64, null_rate: 0.1, min: -1000, max: 1000}
    - {name: d, type: "decimal(18,4)", null_rate: 0.1, min: -100000, max: 100000}
    - {name: ts, type: "timestamp[us, UTC]", null_rate: 0.1}
    - {name: st, type: "struct<a: int64, b: string>", null_rate: 0.2}
    - {name: xs, type: "list<int32>", null_rate: 0.2}
loaders: [{type: parquet, path: ` + strconv.Quote(t.TempDir()) + `}]
`
	p, err := pipelines.Options{}.Parse("g.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Build(stage.BuildContext{Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	c := b.Source.(stage.Consumer)
	parts, err := c.Partitions(t.Context(), testkit.RunInstance())
	if err != nil {
		t.Fatal(err)
	}
	var all []arrow.RecordBatch
	for _, part := range parts {
		all = append(all, testkit.ReadPartition(t.Context(), t, c, part)...)
	}
	defer testkit.ReleaseAll(all)
	return testkit.ConcatRecords(mem, all)
}

// TestLargeInputs runs every row-wise transformer over a large generated batch with nulls in every column and
// checks that transforming the whole equals transforming it in uneven slices: what a transformer does to a row
// must not depend on where the batch was cut, nor on array offsets.
func TestLargeInputs(t *testing.T) {
	cfgs := []string{
		"{type: select, columns: [xs, id, s]}",
		"{type: drop, columns: [f, st]}",
		"{type: rename, columns: {s: label}}",
		"{type: reorder, columns: [ts]}",
		"{type: cast, columns: {f: 'decimal(12,2)'}, safe: false}",
		"{type: cast, columns: {d: float64}, safe: false}",
		"{type: cast, columns: {ts: 'timestamp[ms, UTC]'}, safe: false}",
		"{type: cast, columns: {id: string}, safe: false}",
		"{type: cast, columns: {f: int16}, safe: false}",
		"{type: cast, columns: {f: string, id: string}}",
		"{type: cast, columns: {d: string, ts: string}, formats: {ts: '%Y-%m-%d %H:%M:%S'}}",
		"{type: hash, columns: [s, id]}",
		"{type: hash, columns: [s], algorithm: xxhash64}",
		"{type: mask, columns: [s], keep_last: 2}",
		"{type: metadata}",
		"{type: flatten}",
		"{type: schema, extra: drop, columns: [{name: id, type: int64, nullable: false}, {name: d, type: 'decimal(20,4)'}, {name: label, from: s, type: large_string}]}",
	}
	mem := checkedMem(t)
	in := generated(t, mem, 20000)
	defer in.Release()
	for _, cfg := range cfgs {
		t.Run(cfg, func(t *testing.T) {
			mem := checkedMem(t)
			tr := mustBuild(t, mem, cfg)
			if m, ok := tr.(*metadata); ok {
				m.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
			}
			whole := run(t, mem, tr, in)
			defer whole.Release()
			var pieces []arrow.RecordBatch
			for lo, step := int64(0), int64(1); lo < in.NumRows(); lo, step = lo+step, step*3+1 {
				pieces = append(pieces, in.NewSlice(lo, min(lo+step, in.NumRows())))
			}
			defer testkit.ReleaseAll(pieces)
			cut := run(t, mem, tr, pieces...)
			defer cut.Release()
			testkit.AssertRecordsEqual(t, whole, cut)
			if whole.NumRows() != in.NumRows() {
				t.Errorf("%d rows out of %d", whole.NumRows(), in.NumRows())
			}
		})
	}
}

// TestConcurrentUse runs one built transformer from several goroutines at once, as the engine does when it
// works on several partitions: the stages keep no state outside their partition instances.
func TestConcurrentUse(t *testing.T) {
	mem := checkedMem(t)
	in := generated(t, mem, 4000)
	defer in.Release()
	for _, cfg := range []string{
		"{type: cast, columns: {f: 'decimal(12,2)', ts: string}, safe: false}",
		"{type: hash, columns: [s]}",
		"{type: metadata}",
		"{type: flatten}",
		"{type: explode, column: xs}",
		"{type: dedupe, keys: [s], order_by: id, keep: last}",
	} {
		t.Run(cfg, func(t *testing.T) {
			tr := mustBuild(t, mem, cfg)
			want := run(t, mem, tr, in)
			defer want.Release()
			const workers = 4
			got := make([]arrow.RecordBatch, workers)
			errs := make([]error, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() { got[w], errs[w] = tryRun(t, mem, tr, in) })
			}
			wg.Wait()
			defer testkit.ReleaseAll(got)
			for w := range workers {
				if errs[w] != nil {
					t.Fatalf("worker %d: %v", w, errs[w])
				}
				if _, isMeta := tr.(*metadata); isMeta {
					continue // _loaded_at differs per instance by design
				}
				testkit.AssertRecordsEqual(t, want, got[w])
			}
		})
	}
}
