package rowgroup

import (
	"bytes"
	"fmt"
	"io"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/parquet-go/parquet-go"
	pgozstd "github.com/parquet-go/parquet-go/compress/zstd"
)

// parquet-go (github.com/parquet-go/parquet-go) against arrow-go's writer, fed what the loaders get: Arrow
// batches. parquet-go has no Arrow input, so the conversion (a parquet.Value per value, written a column at a
// time) is part of its cost, as it would be inside a loader. Only this test links parquet-go: the binary
// does not.

// parquetGoWriter writes Arrow batches of benchSchema with parquet-go, one row group per flush.
type parquetGoWriter struct {
	w      *parquet.Writer
	leaf   []int // Arrow column → parquet-go leaf column (parquet-go orders a group's fields by name)
	values []parquet.Value
}

func parquetGoSchema() (*parquet.Schema, []int) {
	group := parquet.Group{
		"id":     parquet.Uint(64),
		"n":      parquet.Int(32),
		"small":  parquet.Int(8),
		"qty":    parquet.Uint(16),
		"price":  parquet.Leaf(parquet.DoubleType),
		"ratio":  parquet.Leaf(parquet.FloatType),
		"name":   parquet.String(),
		"code":   parquet.Leaf(parquet.FixedLenByteArrayType(8)),
		"day":    parquet.Date(),
		"at":     parquet.Timestamp(parquet.Millisecond),    // arrow-go stores seconds as milliseconds too
		"amount": parquet.Decimal(4, 18, parquet.Int64Type), // as the loaders store decimals of up to 18 digits
		"uid":    parquet.Leaf(parquet.FixedLenByteArrayType(16)),
		"city":   parquet.String(),
		"note":   parquet.Optional(parquet.String()),
	}
	sc := parquet.NewSchema("schema", group)
	leaf := make([]int, len(benchSchema.Fields()))
	for i, f := range benchSchema.Fields() {
		l, ok := sc.Lookup(f.Name)
		if !ok {
			panic("parquet-go schema lacks " + f.Name)
		}
		leaf[i] = l.ColumnIndex
	}
	return sc, leaf
}

func newParquetGoWriter(out io.Writer) *parquetGoWriter {
	sc, leaf := parquetGoSchema()
	w := parquet.NewWriter(out, sc,
		parquet.Compression(&pgozstd.Codec{Level: pgozstd.SpeedDefault}),
		parquet.PageBufferSize(64<<10),
		// Dictionaries for strings, as arrow-go keeps them for the low-cardinality ones.
		parquet.DefaultEncodingFor(parquet.ByteArray, &parquet.RLEDictionary))
	return &parquetGoWriter{w: w, leaf: leaf}
}

// write converts each Arrow column of rec to parquet-go values and writes them to its column.
func (p *parquetGoWriter) write(rec arrow.RecordBatch) error {
	cols := p.w.ColumnWriters()
	n := int(rec.NumRows())
	if cap(p.values) < n {
		p.values = make([]parquet.Value, n)
	}
	vals := p.values[:n]
	for c, arr := range rec.Columns() {
		leaf := p.leaf[c]
		switch a := arr.(type) {
		case *array.Uint64:
			for r, v := range a.Uint64Values() {
				vals[r] = parquet.Int64Value(int64(v)).Level(0, 0, leaf)
			}
		case *array.Int32:
			for r, v := range a.Int32Values() {
				vals[r] = parquet.Int32Value(v).Level(0, 0, leaf)
			}
		case *array.Int8:
			for r, v := range a.Int8Values() {
				vals[r] = parquet.Int32Value(int32(v)).Level(0, 0, leaf)
			}
		case *array.Uint16:
			for r, v := range a.Uint16Values() {
				vals[r] = parquet.Int32Value(int32(v)).Level(0, 0, leaf)
			}
		case *array.Float64:
			for r, v := range a.Float64Values() {
				vals[r] = parquet.DoubleValue(v).Level(0, 0, leaf)
			}
		case *array.Float32:
			for r, v := range a.Float32Values() {
				vals[r] = parquet.FloatValue(v).Level(0, 0, leaf)
			}
		case *array.Date32:
			for r, v := range a.Date32Values() {
				vals[r] = parquet.Int32Value(int32(v)).Level(0, 0, leaf)
			}
		case *array.Timestamp:
			for r, v := range a.TimestampValues() {
				vals[r] = parquet.Int64Value(int64(v)*1000).Level(0, 0, leaf)
			}
		case *array.Decimal128:
			for r, v := range a.Values() {
				vals[r] = parquet.Int64Value(int64(v.LowBits())).Level(0, 0, leaf)
			}
		case *array.FixedSizeBinary:
			for r := range n {
				vals[r] = parquet.FixedLenByteArrayValue(a.Value(r)).Level(0, 0, leaf)
			}
		case *array.String:
			def := 0
			if rec.Schema().Field(c).Nullable {
				def = 1
			}
			data, offs := a.ValueBytes(), a.ValueOffsets() // ValueBytes starts at the first value
			for r := range n {
				if a.IsNull(r) {
					vals[r] = parquet.NullValue().Level(0, 0, leaf)
					continue
				}
				vals[r] = parquet.ByteArrayValue(data[offs[r]-offs[0]:offs[r+1]-offs[0]]).Level(0, def, leaf)
			}
		default:
			return fmt.Errorf("column %d: no conversion for %s", c, arr.DataType())
		}
		if _, err := cols[leaf].WriteRowValues(vals); err != nil {
			return fmt.Errorf("column %s: %w", rec.ColumnName(c), err)
		}
	}
	return nil
}

// TestParquetGoWriterWritesWhatArrowReads: the benchmark's parquet-go path writes a valid file holding the same
// values, read back by arrow-go's reader, so the comparison measures a real write.
func TestParquetGoWriterWritesWhatArrowReads(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	recs := benchRecordsN(2, 1000)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	var buf bytes.Buffer
	w := newParquetGoWriter(&buf)
	for _, rec := range recs {
		if err := w.write(rec); err != nil {
			t.Fatal(err)
		}
		if err := w.w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.w.Close(); err != nil {
		t.Fatal(err)
	}
	rdr, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Close()
	tbl := readTable(t, rdr, mem)
	defer tbl.Release()
	if tbl.NumRows() != 2000 {
		t.Fatalf("read %d rows, want 2000", tbl.NumRows())
	}
	// Compare every column's values as text (types differ where Parquet has no unsigned or second types).
	for c, f := range benchSchema.Fields() {
		idx := tbl.Schema().FieldIndices(f.Name)
		if len(idx) != 1 {
			t.Fatalf("column %s missing from the file", f.Name)
		}
		got := tbl.Column(idx[0]).Data()
		row := 0
		for _, rec := range recs {
			want := rec.Column(c)
			for r := range int(rec.NumRows()) {
				g := valueText(got, row)
				if w := valueText(arrayChunked(want), r); g != w && !sameTimestamp(f, g, w) {
					t.Fatalf("column %s row %d: read %q, wrote %q", f.Name, row, g, w)
				}
				row++
			}
		}
	}
}

func arrayChunked(a arrow.Array) *arrow.Chunked {
	return arrow.NewChunked(a.DataType(), []arrow.Array{a})
}

// valueText is row r of a chunked column as text.
func valueText(c *arrow.Chunked, r int) string {
	for _, ch := range c.Chunks() {
		if r < ch.Len() {
			return ch.ValueStr(r)
		}
		r -= ch.Len()
	}
	return "<out of range>"
}

// sameTimestamp: seconds written as milliseconds read back as a millisecond timestamp of the same instant.
func sameTimestamp(f arrow.Field, got, want string) bool {
	if f.Type.ID() != arrow.TIMESTAMP {
		return false
	}
	g, err1 := time.Parse("2006-01-02 15:04:05.999999999Z", got)
	w, err2 := time.Parse("2006-01-02 15:04:05.999999999Z", want)
	return err1 == nil && err2 == nil && g.Equal(w)
}

// heapPeak samples the live Go heap while a case runs; arrow-go's writer and parquet-go both allocate from it.
type heapPeak struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

func startHeapPeak() *heapPeak {
	h := &heapPeak{stop: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			h.peak = max(h.peak, sample[0].Value.Uint64())
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapPeak) end() uint64 {
	close(h.stop)
	h.done.Wait()
	return h.peak
}

// countingDiscard counts the bytes written.
type countingDiscard struct{ n int64 }

func (c *countingDiscard) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkWriterVsParquetGo: one file of 1M rows × the 14 ClickHouse columns, zstd, 64 KiB pages, one row
// group per 256Ki rows, by arrow-go with the loaders' settings (pqarrow's FileWriter, and rowgroup.Writer with
// columns on all cores) and by parquet-go (dictionaries for strings, plain for the rest). Reports rows/s, the file's size and the live heap's peak above the input batches.
func BenchmarkWriterVsParquetGo(b *testing.B) {
	recs := benchRecords(b)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	const batchesPerGroup = 4
	// The loaders' settings (loaders/parquet writerProps): decimals as integers, a dictionary dropped before its
	// first page when it would not pay.
	opts := []pq.WriterProperty{pq.WithCompression(compress.Codecs.Zstd), pq.WithDataPageSize(64 << 10), pq.WithStoreDecimalAsInteger(true)}
	for _, f := range benchSchema.Fields() {
		opts = append(opts, pq.WithDictionaryCostFallbackFor(f.Name, true))
	}
	props := pq.NewWriterProperties(opts...)
	aprops := pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())
	type writeFile func(out io.Writer) error
	// arrowGo writes recs with an arrow-go writer, starting a row group every batchesPerGroup batches.
	type arrowWriter interface {
		WriteBuffered(arrow.RecordBatch) error
		Close() error
	}
	arrowGo := func(open func(io.Writer) (arrowWriter, func() error, error)) writeFile {
		return func(out io.Writer) error {
			w, newRowGroup, err := open(out)
			if err != nil {
				return err
			}
			for i, rec := range recs {
				if i > 0 && i%batchesPerGroup == 0 {
					if err := newRowGroup(); err != nil {
						return err
					}
				}
				if err := w.WriteBuffered(rec); err != nil {
					return err
				}
			}
			return w.Close()
		}
	}
	cases := []struct {
		name  string
		write writeFile
	}{
		{"arrow-go pqarrow.FileWriter", arrowGo(func(out io.Writer) (arrowWriter, func() error, error) {
			w, err := pqarrow.NewFileWriter(benchSchema, out, props, aprops)
			if err != nil {
				return nil, nil, err
			}
			return w, func() error { w.NewBufferedRowGroup(); return nil }, nil
		})},
		{"arrow-go rowgroup.Writer", arrowGo(func(out io.Writer) (arrowWriter, func() error, error) {
			w, err := NewWriter(benchSchema, out, props, aprops, true)
			if err != nil {
				return nil, nil, err
			}
			return w, w.NewBufferedRowGroupChecked, nil
		})},
		{"parquet-go", func(out io.Writer) error {
			w := newParquetGoWriter(out)
			for i, rec := range recs {
				if i > 0 && i%batchesPerGroup == 0 {
					if err := w.w.Flush(); err != nil {
						return err
					}
				}
				if err := w.write(rec); err != nil {
					return err
				}
			}
			return w.w.Close()
		}},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var size int64
			var peak uint64
			base := startHeapPeak().end()
			for b.Loop() {
				out := &countingDiscard{}
				h := startHeapPeak()
				if err := bc.write(out); err != nil {
					b.Fatal(err)
				}
				peak = max(peak, h.end())
				size = out.n
			}
			b.ReportMetric(float64(b.N*benchBatches*benchBatchRows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(size)/(1<<20), "file-MiB")
			b.ReportMetric(float64(peak-min(peak, base))/(1<<20), "heap-peak-MiB")
		})
	}
}
