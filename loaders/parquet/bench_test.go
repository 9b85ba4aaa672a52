package parquet_test

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/stage"
)

const (
	benchRows  = 2_000_000
	benchBatch = 65536
)

// benchBatches makes 2M rows of 10 columns (ints, floats, strings, a timestamp, a bool) in 64k-row batches.
func benchBatches(mem memory.Allocator) (*arrow.Schema, []arrow.RecordBatch, int64) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "tenant", Type: arrow.PrimitiveTypes.Int32},
		{Name: "qty", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ref", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64},
		{Name: "ratio", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "status", Type: arrow.BinaryTypes.String},
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	statuses := []string{"new", "paid", "shipped", "cancelled"}
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	var out []arrow.RecordBatch
	var size int64
	base := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC).UnixMicro()
	x := uint64(88172645463325252)
	for start := 0; start < benchRows; start += benchBatch {
		n := min(benchBatch, benchRows-start)
		for i := start; i < start+n; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			b.Field(0).(*array.Int64Builder).Append(int64(i))
			b.Field(1).(*array.Int32Builder).Append(int32(x % 100))
			b.Field(2).(*array.Int64Builder).Append(int64(x % 1000))
			if x%10 == 0 {
				b.Field(3).AppendNull()
			} else {
				b.Field(3).(*array.Int64Builder).Append(int64(x >> 20))
			}
			b.Field(4).(*array.Float64Builder).Append(float64(x%100000) / 100)
			b.Field(5).(*array.Float64Builder).Append(float64(x%997) / 997)
			b.Field(6).(*array.StringBuilder).Append(statuses[x%4])
			b.Field(7).(*array.StringBuilder).Append("order note " + strconv.FormatUint(x%1_000_000, 36))
			b.Field(8).(*array.TimestampBuilder).Append(arrow.Timestamp(base + int64(i)*1000))
			b.Field(9).(*array.BooleanBuilder).Append(x%3 == 0)
		}
		rec := b.NewRecordBatch()
		for _, c := range rec.Columns() {
			for _, buf := range c.Data().Buffers() {
				if buf != nil {
					size += int64(buf.Len())
				}
			}
		}
		out = append(out, rec)
	}
	return schema, out, size
}

// BenchmarkWrite compares the loader with one and two writers against a bare single-goroutine pqarrow loop,
// all zstd to local disk (the baseline to io.Discard), reporting rows/s and Arrow MB/s.
func BenchmarkWrite(b *testing.B) {
	mem := memory.NewGoAllocator()
	schema, batches, arrowBytes := benchBatches(mem)
	defer func() {
		for _, r := range batches {
			r.Release()
		}
	}()
	report := func(b *testing.B) {
		sec := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(benchRows/sec, "rows/s")
		b.ReportMetric(float64(arrowBytes)/1e6/sec, "MB/s")
	}

	b.Run("pqarrow-baseline", func(b *testing.B) {
		props := pq.NewWriterProperties(pq.WithCompression(compress.Codecs.Zstd), pq.WithAllocator(mem))
		for range b.N {
			fw, err := pqarrow.NewFileWriter(schema, io.Discard, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range batches {
				if err := fw.WriteBuffered(r); err != nil {
					b.Fatal(err)
				}
				if fw.RowGroupTotalBytesWritten() >= 128<<20 {
					fw.NewBufferedRowGroup()
				}
			}
			if err := fw.Close(); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	for _, writers := range []int{1, 2} {
		b.Run(fmt.Sprintf("loader-writers-%d", writers), func(b *testing.B) {
			l, err := parquet.New(stage.BuildContext{Pipeline: "bench", Alloc: mem}, &parquet.Config{
				Path: b.TempDir(), Compression: "zstd", Writers: writers, Dictionary: true,
			})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			ctx := context.Background()
			for i := range b.N {
				w, err := l.Begin(ctx, schema, testPartition("bench"+strconv.Itoa(i%2)))
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range batches {
					if err := w.Write(ctx, r); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := w.Commit(ctx, stage.CommitInfo{}); err != nil {
					b.Fatal(err)
				}
			}
			report(b)
		})
	}
}
