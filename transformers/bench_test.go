package transformers

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// benchBatches generates n batches of rows rows: an id, a tenant, an email, an amount, a timestamp and a
// payload column that the chain drops.
func benchBatches(b *testing.B, mem memory.Allocator, n, rows int) []arrow.RecordBatch {
	schema := schemaOf(b, "id: int64 not null, tenant: string, email: string, amount: float64, at: timestamp[us, UTC], payload: string")
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	out := make([]arrow.RecordBatch, n)
	for k := range n {
		for i := range rows {
			r := int64(k*rows + i)
			rb.Field(0).(*array.Int64Builder).Append(r)
			rb.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("tenant-%d", r%50))
			if r%17 == 0 {
				rb.Field(2).AppendNull()
			} else {
				rb.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("user%d@example.com", r))
			}
			rb.Field(3).(*array.Float64Builder).Append(float64(r%100000) / 4)
			rb.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000_000 + r*1000))
			rb.Field(5).(*array.StringBuilder).Append("lorem ipsum dolor sit amet")
		}
		out[k] = rb.NewRecordBatch()
	}
	return out
}

// BenchmarkChain runs select, cast, metadata and hash over generated batches, against the same batches passed
// through untouched (the engine's cost without transformers).
func BenchmarkChain(b *testing.B) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(b, 0)
	const batches, rows = 8, 65536
	in := benchBatches(b, mem, batches, rows)
	defer testkit.ReleaseAll(in)
	cfgs := []string{
		"{type: select, columns: [id, tenant, email, amount, at]}",
		"{type: cast, columns: {amount: 'decimal(18,4)', at: 'timestamp[ms, UTC]', id: int64}, safe: false}",
		"{type: metadata}",
		"{type: hash, columns: [email]}",
	}
	var chain []stage.Transformer
	for _, c := range cfgs {
		tr := mustBuild(b, mem, c)
		if pt, ok := tr.(stage.PartitionTransformer); ok {
			inst, err := pt.ForPartition(testkit.PartitionFor("bench"))
			if err != nil {
				b.Fatal(err)
			}
			tr = inst
		}
		chain = append(chain, tr)
	}
	ctx := context.Background()
	b.Run("passthrough", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, batch := range in {
				batch.Retain()
				batch.Release()
			}
		}
		b.ReportMetric(float64(b.N*batches*rows)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("select+cast+metadata+hash", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, batch := range in {
				cur := batch
				cur.Retain()
				for _, tr := range chain {
					next, err := tr.Transform(ctx, cur)
					cur.Release()
					if err != nil {
						b.Fatal(err)
					}
					cur = next
				}
				cur.Release()
			}
		}
		b.ReportMetric(float64(b.N*batches*rows)/b.Elapsed().Seconds(), "rows/s")
	})
	for i, c := range cfgs {
		tr := chain[i]
		name := []string{"select", "cast", "metadata", "hash"}[i]
		b.Run(name, func(b *testing.B) {
			// Each stage alone, over its own input shape.
			ins := make([]arrow.RecordBatch, len(in))
			for k, batch := range in {
				cur := batch
				cur.Retain()
				for _, prev := range chain[:i] {
					next, err := prev.Transform(ctx, cur)
					cur.Release()
					if err != nil {
						b.Fatalf("%s: %v", c, err)
					}
					cur = next
				}
				ins[k] = cur
			}
			defer testkit.ReleaseAll(ins)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for _, batch := range ins {
					out, err := tr.Transform(ctx, batch)
					if err != nil {
						b.Fatal(err)
					}
					out.Release()
				}
			}
			b.ReportMetric(float64(b.N*batches*rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
