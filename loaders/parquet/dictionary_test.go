package parquet_test

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/stage"
)

// A dictionary column whose dictionary grows from batch to batch, as the ClickHouse consumer hands on a
// LowCardinality column (the read's one dictionary, which a block's new values extend), stays
// dictionary-encoded in every row group, beside flat columns only or beside a nested one, and reads back the
// values written; also in row groups cut small, each of which starts with a dictionary of its own.
func TestGrowingDictionaryStaysDictionaryEncoded(t *testing.T) {
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	for _, tc := range []struct {
		name     string
		nested   bool
		rowGroup stage.ByteSize
		minRGs   int // row groups at least
	}{
		{"flat", false, 1 << 20, 1},
		{"beside a list", true, 1 << 20, 1},
		{"flat, small row groups", false, 1 << 10, 3},
		{"beside a list, small row groups", true, 1 << 10, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "lc", Type: dictType}}
			if tc.nested {
				fields = append(fields, arrow.Field{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true})
			}
			sc := arrow.NewSchema(fields, nil)
			// 5,000 rows in blocks of 700, a new value every 1,000 rows: the shape of the ClickHouse test.
			const rows, block = 5000, 700
			var batches []arrow.RecordBatch
			defer func() {
				for _, b := range batches {
					b.Release()
				}
			}()
			for start := 0; start < rows; start += block {
				end := min(start+block, rows)
				dict := []string{""} // ClickHouse's dictionaries start with the default value
				for v := 0; v <= (end-1)/1000; v++ {
					dict = append(dict, fmt.Sprintf("v%d", v))
				}
				batches = append(batches, growingBatch(t, mem, sc, dict, start, end))
			}
			dir := t.TempDir()
			l := newLoader(t, mem, parquet.Config{Path: dir, Compression: "zstd", Dictionary: true, RowGroupSize: tc.rowGroup})
			load(t, l, sc, "p1", batches...)
			s, err := l.Destination(t.Context(), testRun)
			if err != nil {
				t.Fatal(err)
			}
			files := dataFiles(t, s)
			if len(files) != 1 {
				t.Fatalf("data files = %v, want 1", files)
			}
			r := fileMeta(t, s, files[0])
			defer r.Close()
			if r.NumRowGroups() < tc.minRGs {
				t.Fatalf("%d row groups, want at least %d", r.NumRowGroups(), tc.minRGs)
			}
			for rg := range r.NumRowGroups() {
				cc, err := r.MetaData().RowGroup(rg).ColumnChunk(1)
				if err != nil {
					t.Fatal(err)
				}
				if !cc.HasDictionaryPage() {
					t.Errorf("row group %d: lc has no dictionary page, encodings %v", rg, cc.Encodings())
				}
			}
			tbl := readFile(t, s, mem, files[0])
			defer tbl.Release()
			if tbl.NumRows() != rows {
				t.Fatalf("read %d rows, want %d", tbl.NumRows(), rows)
			}
			i := 0
			for _, chunk := range tbl.Column(1).Data().Chunks() {
				for j := range chunk.Len() {
					if want := fmt.Sprintf("v%d", i/1000); chunk.ValueStr(j) != want {
						t.Fatalf("row %d: lc = %q, want %q", i, chunk.ValueStr(j), want)
					}
					i++
				}
			}
		})
	}
}

// growingBatch makes rows [start, end) of sc: id, lc (row i holds "v<i/1000>", as an index into dict) and,
// if sc has it, tags (a one-element list).
func growingBatch(t *testing.T, mem memory.Allocator, sc *arrow.Schema, dict []string, start, end int) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	values := array.NewStringBuilder(mem)
	values.AppendValues(dict, nil)
	d := values.NewArray()
	values.Release()
	defer d.Release()
	lc := array.NewDictionaryBuilderWithDict(mem, sc.Field(1).Type.(*arrow.DictionaryType), d).(*array.BinaryDictionaryBuilder)
	defer lc.Release()
	for i := start; i < end; i++ {
		b.Field(0).(*array.Int64Builder).Append(scatter(i)) // plain, as the row group sizes expect, not delta-encoded
		if err := lc.AppendString(fmt.Sprintf("v%d", i/1000)); err != nil {
			t.Fatal(err)
		}
		if sc.NumFields() > 2 {
			tags := b.Field(2).(*array.ListBuilder)
			tags.Append(true)
			tags.ValueBuilder().(*array.StringBuilder).Append(fmt.Sprint(i % 3))
		}
	}
	cols := make([]arrow.Array, sc.NumFields())
	for i := range cols {
		if i == 1 {
			cols[i] = lc.NewArray()
		} else {
			cols[i] = b.Field(i).NewArray()
		}
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	return array.NewRecordBatch(sc, cols, int64(end-start))
}

// scatter maps i to a value that looks random (murmur3's finalizer), so that the column is written plain.
func scatter(i int) int64 {
	x := uint64(i)
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return int64(x)
}
