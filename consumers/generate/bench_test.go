package generate

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// benchRead reads rows rows of cols per iteration and reports rows/s, values/s and allocations per row.
func benchRead(b *testing.B, cols []Column) {
	const rows = 1 << 20
	g := newGen(b, memory.NewGoAllocator(), Config{Seed: 1, Rows: rows, BatchRows: 65536, Columns: cols})
	parts, err := g.Partitions(context.Background(), day)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := g.Read(context.Background(), parts[0], func(arrow.RecordBatch) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perSec := float64(b.N) * rows / b.Elapsed().Seconds()
	b.ReportMetric(perSec, "rows/s")
	b.ReportMetric(perSec*float64(len(cols)), "values/s")
	b.ReportMetric(float64(testing.AllocsPerRun(1, func() {
		_ = g.Read(context.Background(), parts[0], func(arrow.RecordBatch) error { return nil })
	}))/rows, "allocs/row")
}

// BenchmarkGenerate: ten columns of the usual kinds.
func BenchmarkGenerate(b *testing.B) {
	benchRead(b, []Column{
		{Name: "id", Type: "int64", Sequence: true},
		{Name: "tenant", Type: "int32", Min: f(1), Max: f(1000)},
		{Name: "amount", Type: "float64"},
		{Name: "total", Type: "decimal(18,4)"},
		{Name: "status", Type: "string", Distinct: 5, Min: f(4), Max: f(10)},
		{Name: "name", Type: "string", NullRate: 0.1},
		{Name: "active", Type: "bool"},
		{Name: "created", Type: "timestamp[us, UTC]"},
		{Name: "day", Type: "date32"},
		{Name: "score", Type: "int64", NullRate: 0.05},
	})
}

// BenchmarkInt64: the fixed-width fast path alone.
func BenchmarkInt64(b *testing.B) {
	benchRead(b, []Column{{Name: "x", Type: "int64"}})
}
