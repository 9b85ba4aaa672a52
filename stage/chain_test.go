package stage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
)

var nSchema = arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)

func batchOf(mem memory.Allocator, vals ...int64) arrow.RecordBatch {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.AppendValues(vals, nil)
	col := b.NewArray()
	defer col.Release()
	return array.NewRecordBatch(nSchema, []arrow.Array{col}, int64(len(vals)))
}

func values(b arrow.RecordBatch) []int64 {
	return slices.Clone(b.Column(0).(*array.Int64).Int64Values())
}

// addOne returns a new batch with every value plus one.
type addOne struct{ mem memory.Allocator }

func (addOne) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) { return in, nil }
func (a addOne) Transform(_ context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	vs := values(b)
	for i := range vs {
		vs[i]++
	}
	return batchOf(a.mem, vs...), nil
}

// same returns its input, retained.
type same struct{}

func (same) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) { return in, nil }
func (same) Transform(_ context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	b.Retain()
	return b, nil
}

// dropAll drops every batch.
type dropAll struct{}

func (dropAll) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) { return in, nil }
func (dropAll) Transform(context.Context, arrow.RecordBatch) (arrow.RecordBatch, error) {
	return nil, nil
}

// failing fails every batch.
type failing struct{}

func (failing) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) { return in, nil }
func (failing) Transform(context.Context, arrow.RecordBatch) (arrow.RecordBatch, error) {
	return nil, errors.New("boom")
}

// holdAll keeps every row of a partition and gives them back at Flush; its instances count their flushes.
type holdAll struct {
	mem     memory.Allocator
	held    []int64
	flushes *int
}

func (h *holdAll) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) { return in, nil }
func (h *holdAll) Transform(_ context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	h.held = append(h.held, values(b)...)
	return nil, nil
}
func (h *holdAll) ForPartition(stage.Partition) (stage.Transformer, error) {
	return &holdAll{mem: h.mem, flushes: h.flushes}, nil
}
func (h *holdAll) Flush(context.Context) (arrow.RecordBatch, error) {
	*h.flushes++
	if len(h.held) == 0 {
		return nil, nil
	}
	return batchOf(h.mem, h.held...), nil
}

func TestChain(t *testing.T) {
	type step struct {
		in    []int64 // nil: Flush
		emits [][]int64
		err   string
	}
	tests := []struct {
		name  string
		chain func(mem memory.Allocator, flushes *int) []stage.Transformer
		steps []step
		// observed is how many calls each transformer was observed for; flushes how many Flushes were made.
		observed []int
		flushes  int
	}{
		{
			name:     "no transformers pass batches as they are",
			chain:    func(memory.Allocator, *int) []stage.Transformer { return nil },
			steps:    []step{{in: []int64{1, 2}, emits: [][]int64{{1, 2}}}, {}},
			observed: []int{},
		},
		{
			name: "each transformer in order, the same batch returned or a new one",
			chain: func(mem memory.Allocator, _ *int) []stage.Transformer {
				return []stage.Transformer{same{}, addOne{mem}, addOne{mem}}
			},
			steps:    []step{{in: []int64{1}, emits: [][]int64{{3}}}, {in: []int64{5, 6}, emits: [][]int64{{7, 8}}}, {}},
			observed: []int{2, 2, 2},
		},
		{
			name: "a dropped batch goes no further",
			chain: func(mem memory.Allocator, _ *int) []stage.Transformer {
				return []stage.Transformer{addOne{mem}, dropAll{}, addOne{mem}}
			},
			steps:    []step{{in: []int64{1}}, {}},
			observed: []int{1, 1, 0},
		},
		{
			name: "a flush goes through the transformers after it only",
			chain: func(mem memory.Allocator, n *int) []stage.Transformer {
				return []stage.Transformer{addOne{mem}, &holdAll{mem: mem, flushes: n}, addOne{mem}}
			},
			steps:    []step{{in: []int64{1}}, {in: []int64{2, 3}}, {emits: [][]int64{{3, 4, 5}}}},
			observed: []int{2, 3, 1}, // holdAll: two batches and its flush
			flushes:  1,
		},
		{
			name: "flushes cascade in pipeline order",
			chain: func(mem memory.Allocator, n *int) []stage.Transformer {
				return []stage.Transformer{&holdAll{mem: mem, flushes: n}, addOne{mem}, &holdAll{mem: mem, flushes: n}}
			},
			steps:    []step{{in: []int64{1}}, {emits: [][]int64{{2}}}},
			observed: []int{2, 1, 2},
			flushes:  2,
		},
		{
			name: "a flush with nothing held emits nothing",
			chain: func(mem memory.Allocator, n *int) []stage.Transformer {
				return []stage.Transformer{dropAll{}, &holdAll{mem: mem, flushes: n}}
			},
			steps:    []step{{in: []int64{1}}, {}},
			observed: []int{1, 1},
			flushes:  1,
		},
		{
			name: "a transformer's error names it and releases what came before",
			chain: func(mem memory.Allocator, _ *int) []stage.Transformer {
				return []stage.Transformer{addOne{mem}, failing{}}
			},
			steps:    []step{{in: []int64{1}, err: "transformer t1: boom"}},
			observed: []int{1, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			var flushes int
			var named []stage.NamedTransformer
			for i, tr := range tt.chain(mem, &flushes) {
				named = append(named, stage.NamedTransformer{Name: fmt.Sprintf("t%d", i), Transformer: tr})
			}
			observed := make([]int, len(named))
			chain := stage.NewChain(named, func(i int, in, out int64, d time.Duration, failed bool) { observed[i]++ })
			pc, err := chain.ForPartition(stage.Partition{Key: "k"})
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range tt.steps {
				var got [][]int64
				emit := func(b arrow.RecordBatch) error {
					got = append(got, values(b))
					return nil
				}
				if st.in == nil {
					err = pc.Flush(t.Context(), emit)
				} else {
					b := batchOf(mem, st.in...)
					err = pc.Process(t.Context(), b, emit)
					b.Release()
				}
				if st.err != "" {
					if err == nil || !strings.Contains(err.Error(), st.err) {
						t.Fatalf("step %d: error %v, want %q", i, err, st.err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if fmt.Sprint(got) != fmt.Sprint(st.emits) {
					t.Errorf("step %d emitted %v, want %v", i, got, st.emits)
				}
			}
			if fmt.Sprint(observed) != fmt.Sprint(tt.observed) {
				t.Errorf("observed calls %v, want %v", observed, tt.observed)
			}
			if flushes != tt.flushes {
				t.Errorf("%d flushes, want %d", flushes, tt.flushes)
			}
		})
	}
}

// Partition instances keep their state apart, a chain is flushed once, and an emit error comes back as is.
func TestPartitionChainContract(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	var flushes int
	chain := stage.NewChain([]stage.NamedTransformer{{Name: "hold", Transformer: &holdAll{mem: mem, flushes: &flushes}}}, nil)
	p1, err := chain.ForPartition(stage.Partition{Key: "a"})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := chain.ForPartition(stage.Partition{Key: "b"})
	if err != nil {
		t.Fatal(err)
	}
	b := batchOf(mem, 1, 2)
	defer b.Release()
	if err := p1.Process(t.Context(), b, nil); err != nil {
		t.Fatal(err)
	}
	var got [][]int64
	collect := func(b arrow.RecordBatch) error { got = append(got, values(b)); return nil }
	if err := p2.Flush(t.Context(), collect); err != nil || got != nil {
		t.Fatalf("partition b flushed %v (err %v): it saw none of partition a's rows", got, err)
	}
	wantErr := errors.New("loader full")
	if err := p1.Flush(t.Context(), func(arrow.RecordBatch) error { return wantErr }); !errors.Is(err, wantErr) {
		t.Fatalf("Flush returned %v, want the emit error", err)
	}
	if err := p1.Flush(t.Context(), collect); err == nil {
		t.Error("a second Flush of a partition succeeded")
	}
	if err := p1.Process(t.Context(), b, collect); err == nil {
		t.Error("Process after Flush succeeded")
	}
	if flushes != 2 {
		t.Errorf("%d flushes, want one per partition", flushes)
	}
}

func TestChainOutputSchema(t *testing.T) {
	chain := stage.NewChain([]stage.NamedTransformer{{Name: "same", Transformer: same{}}, {Name: "bad", Transformer: badSchema{}}}, nil)
	if _, err := chain.OutputSchema(nSchema); err == nil || !strings.Contains(err.Error(), "transformer bad: no n") {
		t.Fatalf("error %v, want it to name transformer bad", err)
	}
	s, err := stage.NewChain(nil, nil).OutputSchema(nSchema)
	if err != nil || !s.Equal(nSchema) {
		t.Fatalf("empty chain: %v, %v", s, err)
	}
}

type badSchema struct{ same }

func (badSchema) OutputSchema(*arrow.Schema) (*arrow.Schema, error) { return nil, errors.New("no n") }

// The engine runs every batch through a chain: with transformers that allocate nothing, neither does the chain.
func TestChainProcessDoesNotAllocate(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var calls int
	chain := stage.NewChain([]stage.NamedTransformer{{Name: "a", Transformer: same{}}, {Name: "b", Transformer: same{}}},
		func(int, int64, int64, time.Duration, bool) { calls++ })
	pc, err := chain.ForPartition(stage.Partition{Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	b := batchOf(mem, 1, 2, 3)
	defer b.Release()
	var rows int64
	emit := func(b arrow.RecordBatch) error { rows += b.NumRows(); return nil }
	ctx := t.Context()
	if n := testing.AllocsPerRun(100, func() {
		if err := pc.Process(ctx, b, emit); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Process allocates %.1f times per batch, want 0", n)
	}
	if rows == 0 || calls == 0 {
		t.Fatalf("nothing went through the chain (rows %d, observed %d)", rows, calls)
	}
}
