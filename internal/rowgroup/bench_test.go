package rowgroup

import (
	"fmt"
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// benchSchema is the ClickHouse benchmark's table as the consumer reads it: fixed-width, strings, a
// low-cardinality string and a nullable one.
var benchSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "n", Type: arrow.PrimitiveTypes.Int32},
	{Name: "small", Type: arrow.PrimitiveTypes.Int8},
	{Name: "qty", Type: arrow.PrimitiveTypes.Uint16},
	{Name: "price", Type: arrow.PrimitiveTypes.Float64},
	{Name: "ratio", Type: arrow.PrimitiveTypes.Float32},
	{Name: "name", Type: arrow.BinaryTypes.String},
	{Name: "code", Type: &arrow.FixedSizeBinaryType{ByteWidth: 8}},
	{Name: "day", Type: arrow.FixedWidthTypes.Date32},
	{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}},
	{Name: "amount", Type: &arrow.Decimal128Type{Precision: 18, Scale: 4}},
	{Name: "uid", Type: &arrow.FixedSizeBinaryType{ByteWidth: 16}},
	{Name: "city", Type: arrow.BinaryTypes.String},
	{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

const benchBatchRows, benchBatches = 65536, 16

func benchRecords(b *testing.B) []arrow.RecordBatch {
	return benchRecordsN(benchBatches, benchBatchRows)
}

// benchRecordsN makes batches of rows each of benchSchema, the same values for the same arguments.
func benchRecordsN(batches, rows int) []arrow.RecordBatch {
	mem := memory.DefaultAllocator
	var out []arrow.RecordBatch
	rb := array.NewRecordBuilder(mem, benchSchema)
	defer rb.Release()
	for k := range batches {
		for r := range rows {
			i := uint64(k*rows + r)
			rb.Field(0).(*array.Uint64Builder).Append(i)
			rb.Field(1).(*array.Int32Builder).Append(int32(i % 1000000))
			rb.Field(2).(*array.Int8Builder).Append(int8(i % 100))
			rb.Field(3).(*array.Uint16Builder).Append(uint16(i % 60000))
			rb.Field(4).(*array.Float64Builder).Append(float64(i) / 7)
			rb.Field(5).(*array.Float32Builder).Append(float32(i) / 3)
			rb.Field(6).(*array.StringBuilder).Append(fmt.Sprintf("name-%d", i))
			rb.Field(7).(*array.FixedSizeBinaryBuilder).Append([]byte(fmt.Sprintf("%08d", i%100000000)))
			rb.Field(8).(*array.Date32Builder).Append(arrow.Date32(20454 + i%300))
			rb.Field(9).(*array.TimestampBuilder).Append(arrow.Timestamp(1795305600 + i))
			rb.Field(10).(*array.Decimal128Builder).Append(decimal128.FromU64(i * 100))
			rb.Field(11).(*array.FixedSizeBinaryBuilder).Append([]byte(fmt.Sprintf("%016x", i*0x9e3779b97f4a7c15)))
			rb.Field(12).(*array.StringBuilder).Append(fmt.Sprintf("city-%d", i%50))
			if i%5 == 0 {
				rb.Field(13).(*array.StringBuilder).AppendNull()
			} else {
				rb.Field(13).(*array.StringBuilder).Append(fmt.Sprintf("note %d", i))
			}
		}
		out = append(out, rb.NewRecordBatch())
	}
	return out
}

// BenchmarkWriter: one file of 1M rows × 14 columns, zstd, 16 MiB row groups, by pqarrow's FileWriter (one
// column after another: the baseline) and by Writer (columns on all cores).
func BenchmarkWriter(b *testing.B) {
	recs := benchRecords(b)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	props := pq.NewWriterProperties(pq.WithCompression(compress.Codecs.Zstd), pq.WithDataPageSize(64<<10))
	aprops := pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())
	type writer interface {
		Buffered
		WriteBuffered(arrow.RecordBatch) error
		Close() error
	}
	for _, bc := range []struct {
		name string
		open func() (writer, error)
	}{
		{"pqarrow.FileWriter", func() (writer, error) {
			fw, err := pqarrow.NewFileWriter(benchSchema, io.Discard, props, aprops)
			return pqarrowWriter{fw}, err
		}},
		{"rowgroup.Writer", func() (writer, error) { return NewWriter(benchSchema, io.Discard, props, aprops, true) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				w, err := bc.open()
				if err != nil {
					b.Fatal(err)
				}
				for _, rec := range recs {
					if err := w.WriteBuffered(rec); err != nil {
						b.Fatal(err)
					}
					if _, err := AfterWrite(w, 0, 16<<20, 1<<40); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*benchBatches*benchBatchRows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// pqarrowWriter gives pqarrow's FileWriter the methods the row group rules need (FooterChunks: this benchmark
// rolls no file).
type pqarrowWriter struct{ *pqarrow.FileWriter }

func (w pqarrowWriter) BufferedBytes() int64 { return w.RowGroupTotalBytesWritten() }
func (w pqarrowWriter) FooterChunks() int    { return 0 }
