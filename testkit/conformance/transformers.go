package conformance

import (
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// ConformanceTransformer describes a transformer under test.
type ConformanceTransformer struct {
	// New returns the transformer under test (a stage.PartitionTransformer when it keeps state per partition),
	// allocating every Arrow buffer from mem. Each check calls it once and asserts at its end that mem is empty.
	New func(t *testing.T, mem memory.Allocator) stage.Transformer
	// Input returns a batch of the transformer's input schema with a few rows, allocated from mem; several of its
	// rows should pass the transformer (a filter keeping none checks little). The checks release it.
	Input func(t *testing.T, mem memory.Allocator) arrow.RecordBatch
	// SortBy names output columns that order rows where the transformer's output order follows its batch
	// boundaries (dedupe); empty compares rows in order.
	SortBy []string
}

// Transformers runs every transformer check as a subtest of t, each through stage.PartitionChain: the rules the
// engine runs transformers by.
func Transformers(t *testing.T, ct ConformanceTransformer) {
	t.Helper()
	if ct.New == nil || ct.Input == nil {
		t.Fatal("conformance.Transformers: ConformanceTransformer needs New and Input")
	}
	checks := []struct {
		name string
		run  func(t *testing.T, ct ConformanceTransformer, mem memory.Allocator, tr stage.Transformer)
	}{
		{"output has the OutputSchema", checkOutputSchema},
		{"empty batch", checkEmptyBatch},
		{"nulls in every column", checkAllNulls},
		{"batch ownership", checkOwnership},
		{"batch boundaries do not matter", checkBatchBoundaries},
		{"partition state is isolated", checkPartitionIsolation},
		{"flush once", checkFlushOnce},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded()) // a use after release faults
			defer mem.AssertSize(t, 0)
			ch.run(t, ct, mem, ct.New(t, mem))
		})
	}
}

// partitionN is the n-th partition the checks run, with the id the engine would give it.
func partitionN(n int) stage.Partition {
	p := testkit.PartitionFor("conformance-" + strconv.Itoa(n))
	p.Index = n
	return p
}

// runPartition runs ins through a fresh partition chain of tr for p, then flushes it, and returns the output
// joined in one record of the OutputSchema (the caller releases it). It fails t when a batch has another schema.
func runPartition(t *testing.T, mem memory.Allocator, tr stage.Transformer, p stage.Partition, ins ...arrow.RecordBatch) arrow.RecordBatch {
	t.Helper()
	want, err := tr.OutputSchema(ins[0].Schema())
	if err != nil {
		t.Fatalf("OutputSchema(%s): %v", ins[0].Schema(), err)
	}
	pc, err := stage.NewChain([]stage.NamedTransformer{{Name: "under test", Transformer: tr}}, nil).ForPartition(p)
	if err != nil {
		t.Fatalf("ForPartition: %v", err)
	}
	var outs []arrow.RecordBatch
	defer func() { testkit.ReleaseAll(outs) }()
	keep := func(b arrow.RecordBatch) error {
		if !b.Schema().Equal(want) {
			t.Errorf("a batch has schema %s where OutputSchema promised %s", b.Schema(), want)
		}
		b.Retain()
		outs = append(outs, b)
		return nil
	}
	for i, in := range ins {
		if err := pc.Process(t.Context(), in, keep); err != nil {
			t.Fatalf("Transform of batch %d (%d rows): %v", i, in.NumRows(), err)
		}
	}
	if err := pc.Flush(t.Context(), keep); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	rec, err := testkit.Concat(mem, want, outs)
	if err != nil {
		t.Fatalf("joining the output: %v", err)
	}
	return rec
}

func checkOutputSchema(t *testing.T, ct ConformanceTransformer, mem memory.Allocator, tr stage.Transformer) {
	in := ct.Input(t, mem)
	defer in.Release()
	out := runPartition(t, mem, tr, partitionN(0), in)
	defer out.Release()
	if out.NumRows() == 0 {
		t.Errorf("the transformer returned no row of the %d of Input; give it rows that pass", in.NumRows())
	}
}

func checkEmptyBatch(t *testing.T, ct ConformanceTransformer, mem memory.Allocator, tr stage.Transformer) {
	in := ct.Input(t, mem)
	empty := in.NewSlice(0, 0)
	in.Release()
	defer empty.Release()
	out := runPartition(t, mem, tr, partitionN(0), empty)
	defer out.Release()
	if out.NumRows() != 0 {
		t.Errorf("an empty batch came out as %d rows", out.NumRows())
	}
}

// checkAllNulls sets every nullable column of Input to null: no column's nulls may fail or crash the
// transformer, and the output keeps the schema.
func checkAllNulls(t *testing.T, ct ConformanceTransformer, mem memory.Allocator, tr stage.Transformer) {
	in := ct.Input(t, mem)
	defer in.Release()
	cols := make([]arrow.Array, in.NumCols())
	nullable := 0
	for i, f := range in.Schema().Fields() {
		if f.Nullable {
			cols[i] = array.MakeArrayOfNull(mem, f.Type, int(in.NumRows()))
			nullable++
		} else {
			cols[i] = in.Column(i)
			cols[i].Retain()
		}
	}
	nulls := array.NewRecordBatch(in.Schema(), cols, in.NumRows())
	for _, c := range cols {
		c.Release()
	}
	defer nulls.Release()
	if nullable == 0 {
		t.Skip("Input has no nullable column")
	}
	out := runPartition(t, mem, tr, partitionN(0), nulls)
	out.Release()
}

// checkOwnership releases each input as soon as Transform returns and reads the outputs only afterwards, after
// the next batch went through too: a transformer that keeps a borrowed buffer without Retain, or reuses an
// output's buffers for the next batch, reads released memory (the guarded allocator faults) or changes a batch
// it handed out. The checked allocator catches a batch it forgot to release.
func checkOwnership(t *testing.T, ct ConformanceTransformer, mem memory.Allocator, tr stage.Transformer) {
	pc, err := stage.NewChain([]stage.NamedTransformer{{Name: "under test", Transformer: tr}}, nil).ForPartition(partitionN(0))
	if err != nil {
		t.Fatalf("ForPartition: %v", err)
	}
	var outs []arrow.RecordBatch
	var texts []string // each output's cells, read when it was emitted
	defer func() { testkit.ReleaseAll(outs) }()
	keep := func(b arrow.RecordBatch) error {
		b.Retain()
		outs = append(outs, b)
		texts = append(texts, recordText(b))
		return nil
	}
	for i := range 3 {
		in := ct.Input(t, mem)
		err := pc.Process(t.Context(), in, keep)
		in.Release() // the engine releases its batch once the chain returns
		if err != nil {
			t.Fatalf("Transform of batch %d: %v", i, err)
		}
	}
	if err := pc.Flush(t.Context(), keep); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	for i, b := range outs {
		if got := recordText(b); got != texts[i] {
			t.Errorf("output %d changed after the transformer went on to later batches:\nwhen emitted: %s\nat the end:   %s", i, texts[i], got)
		}
	}
}

func recordText(b arrow.RecordBatch) string {
	var sb strings.Builder
	for r := range int(b.NumRows()) {
		for _, col := range b.Columns() {
			sb.WriteString(testkit.CellText(col, r))
			sb.WriteString(" | ")
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// checkBatchBoundaries feeds Input whole, then one row per batch, to two partition instances of the same
// partition: what a transformer holds back (Flusher) or keeps across batches must not depend on how the consumer
// cut the partition into batches.
func checkBatchBoundaries(t *testing.T, ct ConformanceTransformer, mem memory.Allocator, tr stage.Transformer) {
	in := ct.Input(t, mem)
	defer in.Release()
	whole := runPartition(t, mem, tr, partitionN(0), in)
	defer whole.Release()
	rows := make([]arrow.RecordBatch, in.NumRows())
	for i := range rows {
		rows[i] = in.NewSlice(int64(i), int64(i)+1)
	}
	defer testkit.ReleaseAll(rows)
	if len(rows) < 2 {
		t.Skip("Input has fewer than 2 rows")
	}
	split := runPartition(t, mem, tr, partitionN(0), rows...)
	defer split.Release()
	if d := testkit.DiffRecords(whole, split, testkit.SortBy(ct.SortBy...)); d != "" {
		t.Errorf("one batch and one row per batch gave different output (-whole +split):\n%s", d)
	}
}

// checkPartitionIsolation interleaves two partitions of a PartitionTransformer, as parallel workers do, and
// wants from each exactly what a partition run alone gives.
func checkPartitionIsolation(t *testing.T, ct ConformanceTransformer, mem memory.Allocator, tr stage.Transformer) {
	if _, ok := tr.(stage.PartitionTransformer); !ok {
		t.Skip("not a stage.PartitionTransformer")
	}
	in := ct.Input(t, mem)
	defer in.Release()
	chain := stage.NewChain([]stage.NamedTransformer{{Name: "under test", Transformer: tr}}, nil)
	var outs [2][]arrow.RecordBatch
	defer func() { testkit.ReleaseAll(outs[0]); testkit.ReleaseAll(outs[1]) }()
	var pcs [2]*stage.PartitionChain
	for i := range pcs {
		pc, err := chain.ForPartition(partitionN(i))
		if err != nil {
			t.Fatalf("ForPartition(%d): %v", i, err)
		}
		pcs[i] = pc
	}
	for round := range 2 {
		for i, pc := range pcs {
			err := pc.Process(t.Context(), in, func(b arrow.RecordBatch) error { b.Retain(); outs[i] = append(outs[i], b); return nil })
			if err != nil {
				t.Fatalf("partition %d, batch %d: %v", i, round, err)
			}
		}
	}
	for i, pc := range pcs {
		if err := pc.Flush(t.Context(), func(b arrow.RecordBatch) error { b.Retain(); outs[i] = append(outs[i], b); return nil }); err != nil {
			t.Fatalf("partition %d: Flush: %v", i, err)
		}
	}
	// Partition 1 saw Input twice: as much as a partition alone fed Input twice, whatever partition 0 did.
	twice := runPartition(t, mem, tr, partitionN(1), in, in)
	defer twice.Release()
	got, err := testkit.Concat(mem, twice.Schema(), outs[1])
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if d := testkit.DiffRecords(twice, got, testkit.SortBy(ct.SortBy...)); d != "" {
		t.Errorf("partition 1 interleaved with partition 0 gave other rows than alone (-alone +interleaved):\n%s", d)
	}
}

// checkFlushOnce: an instance that saw no batch holds nothing, and what a Flusher gives back at Flush is handed
// out once: the second partition instance, fed the same input, gives the same rows, not those plus the first's.
func checkFlushOnce(t *testing.T, ct ConformanceTransformer, mem memory.Allocator, tr stage.Transformer) {
	pc, err := stage.NewChain([]stage.NamedTransformer{{Name: "under test", Transformer: tr}}, nil).ForPartition(partitionN(0))
	if err != nil {
		t.Fatalf("ForPartition: %v", err)
	}
	emitted := 0
	if err := pc.Flush(t.Context(), func(arrow.RecordBatch) error { emitted++; return nil }); err != nil {
		t.Fatalf("Flush of a partition that saw no batch: %v", err)
	}
	if emitted > 0 {
		t.Errorf("Flush of a partition that saw no batch gave back rows")
	}
	in := ct.Input(t, mem)
	defer in.Release()
	first := runPartition(t, mem, tr, partitionN(0), in)
	defer first.Release()
	second := runPartition(t, mem, tr, partitionN(0), in)
	defer second.Release()
	if d := testkit.DiffRecords(first, second, testkit.SortBy(ct.SortBy...)); d != "" {
		t.Errorf("the same partition run twice gave different rows (-first +second):\n%s", d)
	}
}
