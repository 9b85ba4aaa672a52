package iceberg

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/testkit"
)

// BenchmarkMerge merges a change batch of 1% of a 512Ki-row table (updates spread over every bucket) per
// iteration, with each strategy, against appending the same rows: go test -bench Merge -benchtime 5x.
func BenchmarkMerge(b *testing.B) {
	const batches, rows, changed = 8, 1 << 16, (8 << 16) / 100
	for _, mode := range []string{"append", "merge_on_read", "copy_on_write"} {
		b.Run(mode, func(b *testing.B) {
			mem := memory.NewGoAllocator()
			schema, base := benchBatches(mem, batches, rows)
			defer testkit.ReleaseAll(base)
			l := newLoader(b, b.TempDir(), func(c *Config) {
				c.PartitionBy = []string{"bucket(8, id)"}
				if mode != "append" {
					c.Mode, c.Key, c.VersionBy, c.Merge.Strategy = "merge", []string{"id"}, "at", mode
				}
			})
			ctx := context.Background()
			testkit.LoadPartition(ctx, b, l, schema, testkit.PartitionFor("base"), base...)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				change := changeBatch(mem, schema, base, changed, i)
				b.StartTimer()
				res := testkit.LoadPartition(ctx, b, l, schema, testkit.PartitionFor(fmt.Sprintf("change-%d", i)), change)
				b.StopTimer()
				change.Release()
				b.ReportMetric(float64(res.Files), "files/op")
				b.ReportMetric(float64(res.Bytes), "bytes/op")
				b.StartTimer()
			}
		})
	}
}

// changeBatch takes every (total/n)-th row of base, a newer version of each (at plus 8 days and i+1 seconds: newer
// than every stored row, as a batch read by an updated_at column is).
func changeBatch(mem memory.Allocator, schema *arrow.Schema, base []arrow.RecordBatch, n, i int) arrow.RecordBatch {
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	total := 0
	for _, r := range base {
		total += int(r.NumRows())
	}
	step := total / n
	for k := 0; k < total; k += step {
		r := base[k/int(base[0].NumRows())]
		row := k % int(base[0].NumRows())
		bld.Field(0).(*array.Int64Builder).Append(r.Column(0).(*array.Int64).Value(row))
		bld.Field(1).(*array.StringBuilder).Append(r.Column(1).(*array.String).Value(row))
		bld.Field(2).(*array.Decimal128Builder).Append(r.Column(2).(*array.Decimal128).Value(row))
		bld.Field(3).(*array.TimestampBuilder).Append(r.Column(3).(*array.Timestamp).Value(row) + arrow.Timestamp((8*86400+i+1)*1e6))
	}
	return bld.NewRecordBatch()
}
