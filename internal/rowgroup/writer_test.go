package rowgroup

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/jetflow-dev/jetflow/internal/records"
)

var flatSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "small", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "u", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "f", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "price", Type: arrow.PrimitiveTypes.Float64},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "big", Type: arrow.BinaryTypes.LargeString},
	{Name: "raw", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "code", Type: &arrow.FixedSizeBinaryType{ByteWidth: 4}, Nullable: true},
	{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "amount", Type: &arrow.Decimal128Type{Precision: 18, Scale: 4}, Nullable: true},
	{Name: "city", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, Nullable: true},
	{Name: "nothing", Type: arrow.Null, Nullable: true},
}, nil)

var nestedSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
}, nil)

// sampleBatches builds n batches of rows rows of sc from JSON, a null in every nullable column now and then.
func sampleBatches(t *testing.T, mem memory.Allocator, sc *arrow.Schema, n, rows int) []arrow.RecordBatch {
	t.Helper()
	var out []arrow.RecordBatch
	for b := range n {
		var sb strings.Builder
		sb.WriteString("[")
		for r := range rows {
			i := b*rows + r
			if r > 0 {
				sb.WriteString(",")
			}
			if sc == nestedSchema {
				fmt.Fprintf(&sb, `{"id": %d, "tags": ["a%d", "b"]}`, i, i%7)
				continue
			}
			fmt.Fprintf(&sb, `{"id": %d, "small": %d, "u": %d, "f": %d.5, "price": %d.25, "ok": %t, "name": "name-%d",`+
				` "big": "big-%d", "raw": "cmF3", "code": "Y29kZQ==", "day": %d, "at": "2026-11-22T00:00:%02d.123456Z",`+
				` "amount": "%d.0100", "city": "city-%d", "nothing": null}`,
				i, i%100, i*7, i, i, i%3 == 0, i, i%50, i%300, i%60, i, r%9) // city: the same dictionary in each batch
		}
		sb.WriteString("]")
		js := sb.String()
		if sc != nestedSchema {
			// every 11th row: nulls in the nullable columns
			parts := strings.Split(js, `{"id"`)
			for k := 1; k < len(parts); k += 11 {
				parts[k] = strings.NewReplacer(`"small": `, `"small": null, "x1": `, `"name": "`, `"name": null, "x2": "`,
					`"city": "`, `"city": null, "x3": "`, `"at": "`, `"at": null, "x4": "`).Replace(parts[k])
			}
			js = strings.Join(parts, `{"id"`)
		}
		rec, _, err := array.RecordFromJSON(mem, sc, strings.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

// TestWriterMatchesPqarrow: the Writer's files are byte for byte the files pqarrow's FileWriter writes from the
// same batches and cuts, with the options the loaders use.
func TestWriterMatchesPqarrow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sc     *arrow.Schema
		props  []pq.WriterProperty
		aprops []pqarrow.WriterOption
		store  bool
	}{
		{name: "zstd, dictionary, Arrow schema stored", sc: flatSchema,
			props: []pq.WriterProperty{pq.WithCompression(compress.Codecs.Zstd), pq.WithDataPageSize(4 << 10)}, store: true},
		{name: "no dictionary, snappy, small row groups by length", sc: flatSchema,
			props: []pq.WriterProperty{pq.WithCompression(compress.Codecs.Snappy), pq.WithDictionaryDefault(false), pq.WithMaxRowGroupLength(700)}},
		{name: "timestamps coerced to ms", sc: flatSchema,
			aprops: []pqarrow.WriterOption{pqarrow.WithCoerceTimestamps(arrow.Millisecond), pqarrow.WithTruncatedTimestamps(true)}},
		{name: "INT96 timestamps", sc: flatSchema,
			aprops: []pqarrow.WriterOption{pqarrow.WithDeprecatedInt96Timestamps(true), pqarrow.WithCoerceTimestamps(arrow.Nanosecond)}},
		{name: "nested columns: pqarrow's own writer", sc: nestedSchema, store: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			// Without the dictionary array columns, whose pages the Writer cuts by their values' size (see
			// addRawSize) where pqarrow holds a chunk's indices in one page.
			sc, recs := withoutDictionaries(tc.sc, sampleBatches(t, mem, tc.sc, 4, 1000))
			defer func() {
				for _, r := range recs {
					r.Release()
				}
			}()
			aopts := append([]pqarrow.WriterOption{pqarrow.WithAllocator(mem)}, tc.aprops...)
			if tc.store {
				aopts = append(aopts, pqarrow.WithStoreSchema())
			}
			aprops := pqarrow.NewArrowWriterProperties(aopts...)
			props := pq.NewWriterProperties(append([]pq.WriterProperty{pq.WithAllocator(mem)}, tc.props...)...)

			var want, got bytes.Buffer
			ref, err := pqarrow.NewFileWriter(sc, &want, props, aprops)
			if err != nil {
				t.Fatal(err)
			}
			w, err := NewWriter(sc, &got, props, aprops, tc.store)
			if err != nil {
				t.Fatal(err)
			}
			for i, rec := range recs {
				for _, fw := range []interface {
					WriteBuffered(arrow.RecordBatch) error
					NewBufferedRowGroupChecked() error
				}{ref, w} {
					if err := fw.WriteBuffered(rec); err != nil {
						t.Fatal(err)
					}
					if i == 1 { // a row group cut between batches
						if err := fw.NewBufferedRowGroupChecked(); err != nil {
							t.Fatal(err)
						}
					}
				}
				if a, b := ref.RowGroupTotalBytesWritten(), w.RowGroupTotalBytesWritten(); a != b {
					t.Errorf("batch %d: %d row group bytes, pqarrow %d", i, b, a)
				}
			}
			if err := ref.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				g, wb := got.Bytes(), want.Bytes()
				at := 0
				for at < min(len(g), len(wb)) && g[at] == wb[at] {
					at++
				}
				t.Fatalf("the file differs from pqarrow's from byte %d: %d bytes, pqarrow's %d", at, got.Len(), want.Len())
			}
			meta, err := w.FileMetadata()
			if err != nil {
				t.Fatal(err)
			}
			if meta.NumRows != 4000 || meta.NumRowGroups() < 2 {
				t.Errorf("footer: %d rows in %d row groups, want 4000 in several", meta.NumRows, meta.NumRowGroups())
			}
		})
	}
}

// TestWriterLearnsDictionaries: under the cost fallback rule, a column whose dictionary did not pay in a row group
// is written plain in the file's later row groups without building one, a repetitive one keeps its dictionary,
// and the file reads back as the batches written.
func TestWriterLearnsDictionaries(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	recs := sampleBatches(t, mem, flatSchema, 3, 1000)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	opts := []pq.WriterProperty{pq.WithAllocator(mem), pq.WithCompression(compress.Codecs.Zstd)}
	for _, f := range flatSchema.Fields() {
		opts = append(opts, pq.WithDictionaryCostFallbackFor(f.Name, true))
	}
	var buf bytes.Buffer
	w, err := NewWriter(flatSchema, &buf, pq.NewWriterProperties(opts...), pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem), pqarrow.WithStoreSchema()), true)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs {
		if err := w.WriteBuffered(rec); err != nil {
			t.Fatal(err)
		}
		if err := w.NewBufferedRowGroupChecked(); err != nil {
			t.Fatal(err)
		}
		id, city := flatSchema.FieldIndices("id")[0], flatSchema.FieldIndices("city")[0]
		if !w.plain[id] || w.plain[city] {
			t.Fatalf("after row group %d: id (unique) plain %v, city (9 values) plain %v; want true, false", i, w.plain[id], w.plain[city])
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()), file.WithReadProps(pq.NewReaderProperties(mem)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for rg := range 3 {
		for _, c := range []struct {
			col  string
			dict bool
		}{{"id", false}, {"city", true}} {
			cc, err := r.MetaData().RowGroup(rg).ColumnChunk(flatSchema.FieldIndices(c.col)[0])
			if err != nil {
				t.Fatal(err)
			}
			if cc.HasDictionaryPage() != c.dict {
				t.Errorf("row group %d, %s: dictionary page %v, want %v", rg, c.col, cc.HasDictionaryPage(), c.dict)
			}
		}
	}
	tbl := readTable(t, r, mem)
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 1000)
	defer tr.Release()
	for i := 0; tr.Next(); i++ {
		if !array.RecordEqual(tr.RecordBatch(), recs[i]) {
			t.Errorf("row group %d reads back different from the batch written", i)
		}
	}
}

// TestDefinitionLevels: the levels read a word at a time from the validity bitmap are the arrays' IsValid, for
// slices at every bit offset and of lengths around the word and byte boundaries.
func TestDefinitionLevels(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := array.NewInt32Builder(mem)
	defer b.Release()
	for i := range 400 {
		if i%3 == 0 || i%7 == 0 || (i > 200 && i < 280) {
			b.AppendNull()
		} else {
			b.Append(int32(i))
		}
	}
	all := b.NewArray()
	defer all.Release()
	for off := range 72 {
		for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 65, 127, 128, 129, 200, 328 - off} {
			col := array.NewSlice(all, int64(off), int64(off+n))
			defs := make([]int16, n)
			for j := range defs {
				defs[j] = 7 // overwritten, or the test fails
			}
			definitionLevels(col, defs)
			for j := range n {
				want := int16(0)
				if col.IsValid(j) {
					want = 1
				}
				if defs[j] != want {
					t.Fatalf("offset %d, length %d, row %d: level %d, want %d", off, n, j, defs[j], want)
				}
			}
			col.Release()
		}
	}
}

// TestWriterNoEmptyRowGroup: a row group cut after a file's last batch (by size, or by buffer_size) leaves no
// empty row group behind: every row group has rows and statistics, which Iceberg needs to keep the file's column
// bounds.
func TestWriterNoEmptyRowGroup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		cuts    []bool // after each batch: cut the row group
		wantRGs int
	}{
		{"cut after the last batch", []bool{false, true, false, true}, 2},
		{"cut twice", []bool{true, true, true}, 3},
		{"no cut", []bool{false, false}, 1},
		{"nothing written", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			recs := sampleBatches(t, mem, flatSchema, len(tc.cuts), 100)
			defer func() {
				for _, r := range recs {
					r.Release()
				}
			}()
			props := pq.NewWriterProperties(pq.WithAllocator(mem))
			var buf bytes.Buffer
			w, err := NewWriter(flatSchema, &buf, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)), false)
			if err != nil {
				t.Fatal(err)
			}
			for i, rec := range recs {
				if err := w.WriteBuffered(rec); err != nil {
					t.Fatal(err)
				}
				if tc.cuts[i] {
					if err := w.NewBufferedRowGroupChecked(); err != nil {
						t.Fatal(err)
					}
					if n := w.BufferedBytes(); n != 0 {
						t.Errorf("after a cut the writer holds %d bytes", n)
					}
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.NumRowGroups() != tc.wantRGs || r.NumRows() != int64(100*len(recs)) {
				t.Fatalf("%d rows in %d row groups, want %d in %d", r.NumRows(), r.NumRowGroups(), 100*len(recs), tc.wantRGs)
			}
			for rg := range r.NumRowGroups() {
				md := r.MetaData().RowGroup(rg)
				cc, err := md.ColumnChunk(0)
				if err != nil {
					t.Fatal(err)
				}
				if ok, err := cc.StatsSet(); md.NumRows() == 0 || !ok || err != nil {
					t.Errorf("row group %d: %d rows, statistics %t (%v)", rg, md.NumRows(), ok, err)
				}
			}
		})
	}
}

// TestWriterDictionaryArrays: a column of Arrow dictionary arrays stays dictionary-encoded in Parquet whether
// each batch brings the same dictionary or a new one (ClickHouse's LowCardinality brings one per block), beside
// flat columns or beside a nested one (pqarrow's own writer), and reads back as the values written.
func TestWriterDictionaryArrays(t *testing.T) {
	t.Parallel()
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	flatSchema := arrow.NewSchema([]arrow.Field{{Name: "city", Type: dictType, Nullable: true}}, nil)
	withList := arrow.NewSchema([]arrow.Field{{Name: "city", Type: dictType, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true}}, nil)
	type testCase struct {
		name  string
		dicts [][]string // a batch's dictionary
		sc    *arrow.Schema
	}
	var cases []testCase
	for _, tc := range []testCase{
		{name: "the same dictionary", dicts: [][]string{{"oslo", "rome", "lima"}, {"oslo", "rome", "lima"}, {"oslo", "rome", "lima"}}},
		{name: "a new dictionary each batch", dicts: [][]string{{"oslo", "rome", "lima"}, {"lima", "oslo", "kiev", "rome"}, {"kiev", "lima"}}},
		{name: "back to the first", dicts: [][]string{{"oslo", "rome"}, {"rome", "oslo"}, {"oslo", "rome"}}},
		{name: "one value, then a grown dictionary", dicts: [][]string{{"v0"}, {"v0"}, {"v0", "v1"}, {"v0", "v1", "v2"}}},
	} {
		tc.sc = flatSchema
		cases = append(cases, tc)
		tc.name += ", beside a list"
		tc.sc = withList
		cases = append(cases, tc)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			var recs []arrow.RecordBatch
			var want []string // "" for null
			for b, dict := range tc.dicts {
				values := mustStrings(mem, dict)
				db := array.NewDictionaryBuilderWithDict(mem, dictType, values).(*array.BinaryDictionaryBuilder)
				values.Release()
				for i := range 500 {
					if (b+i)%7 == 0 {
						db.AppendNull()
						want = append(want, "")
						continue
					}
					v := dict[(i*5+b)%len(dict)]
					if err := db.AppendString(v); err != nil {
						t.Fatal(err)
					}
					want = append(want, v)
				}
				cols := []arrow.Array{db.NewArray()}
				db.Release()
				if tc.sc.NumFields() > 1 {
					lb := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int32)
					for i := range cols[0].Len() {
						lb.Append(true)
						lb.ValueBuilder().(*array.Int32Builder).Append(int32(i))
					}
					cols = append(cols, lb.NewArray())
					lb.Release()
				}
				recs = append(recs, array.NewRecordBatch(tc.sc, cols, int64(cols[0].Len())))
				for _, c := range cols {
					c.Release()
				}
			}
			defer func() {
				for _, r := range recs {
					r.Release()
				}
			}()
			props := pq.NewWriterProperties(pq.WithAllocator(mem), pq.WithCompression(compress.Codecs.Zstd), pq.WithDictionaryCostFallbackFor("city", true), pq.WithDataPageSize(1<<10),
				pq.WithMaxRowGroupLength(700)) // batches split across row groups, each starting with a dictionary of its own
			r := writeFile(t, mem, tc.sc, props, recs)
			defer r.Close()
			for rg := range r.NumRowGroups() {
				cc, err := r.MetaData().RowGroup(rg).ColumnChunk(0)
				if err != nil {
					t.Fatal(err)
				}
				if !cc.HasDictionaryPage() {
					t.Errorf("row group %d: no dictionary page: the column was written as plain values (encodings %v)", rg, cc.Encodings())
				}
			}
			tbl := readTable(t, r, mem)
			defer tbl.Release()
			var got []string
			for _, chunk := range tbl.Column(0).Data().Chunks() {
				for i := range chunk.Len() {
					if chunk.IsNull(i) {
						got = append(got, "")
					} else {
						got = append(got, chunk.ValueStr(i))
					}
				}
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("read back %d values that differ from the %d written", len(got), len(want))
			}
		})
	}
}

func mustStrings(mem memory.Allocator, vals []string) arrow.Array {
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.AppendValues(vals, nil)
	return b.NewArray()
}

// TestWriterDictionariesWithinNested: dictionaries within a list and a struct, growing from batch to batch, stay
// dictionary-encoded in every row group (pqarrow alone writes them plain once a dictionary changes) and read back
// as the values written.
func TestWriterDictionariesWithinNested(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "tags", Type: arrow.ListOf(dictType), Nullable: true},
		{Name: "st", Type: arrow.StructOf(arrow.Field{Name: "c", Type: dictType, Nullable: true}, arrow.Field{Name: "n", Type: arrow.PrimitiveTypes.Int32}), Nullable: true},
	}, nil)
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for b := range 6 {
		var sb strings.Builder
		sb.WriteString("[")
		for i := range 300 {
			if i > 0 {
				sb.WriteString(",")
			}
			// the batch's dictionary grows: batch b brings v<b>
			fmt.Fprintf(&sb, `{"tags": ["v%d", "v%d"], "st": {"c": "v%d", "n": %d}}`, i%(b+1), b, (i+1)%(b+1), i)
		}
		sb.WriteString("]")
		rec, _, err := array.RecordFromJSON(mem, sc, strings.NewReader(sb.String()))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	props := pq.NewWriterProperties(pq.WithAllocator(mem), pq.WithCompression(compress.Codecs.Zstd), pq.WithMaxRowGroupLength(700))
	r := writeFile(t, mem, sc, props, recs)
	defer r.Close()
	if r.NumRowGroups() < 2 {
		t.Fatalf("%d row groups, want several", r.NumRowGroups())
	}
	for rg := range r.NumRowGroups() {
		for _, col := range []int{0, 1} { // tags.list.element, st.c
			cc, err := r.MetaData().RowGroup(rg).ColumnChunk(col)
			if err != nil {
				t.Fatal(err)
			}
			if !cc.HasDictionaryPage() {
				t.Errorf("row group %d, column %s: no dictionary page (encodings %v)", rg, cc.PathInSchema(), cc.Encodings())
			}
		}
	}
	tbl := readTable(t, r, mem)
	defer tbl.Release()
	var want, got []string
	for _, rec := range recs {
		for i := range int(rec.NumRows()) {
			want = append(want, rec.Column(0).ValueStr(i)+" "+rec.Column(1).ValueStr(i))
		}
	}
	for k := range tbl.Column(0).Data().Chunks() {
		tags, st := tbl.Column(0).Data().Chunk(k), tbl.Column(1).Data().Chunk(k)
		for i := range tags.Len() {
			got = append(got, tags.ValueStr(i)+" "+st.ValueStr(i))
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("read back differs: first rows %q, want %q", got[:2], want[:2])
	}
}

// TestWriterDictionaryGrowsAfterManyBatches: a dictionary that grows only after many batches written as indices
// keeps the column chunk dictionary-encoded (arrow-go's cost rule counted the indices' encoded size but not their
// values, and dropped it), beside flat columns or a nested one, and the indices are cut into pages.
func TestWriterDictionaryGrowsAfterManyBatches(t *testing.T) {
	t.Parallel()
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	for _, sc := range []*arrow.Schema{
		arrow.NewSchema([]arrow.Field{{Name: "city", Type: dictType}}, nil),
		arrow.NewSchema([]arrow.Field{{Name: "city", Type: dictType}, {Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32)}}, nil),
	} {
		t.Run(fmt.Sprint(sc.NumFields(), " columns"), func(t *testing.T) {
			t.Parallel()
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			dicts := append(slices.Repeat([][]string{{"oslo", "rome", "lima"}}, 40), []string{"oslo", "rome", "lima", "kiev"})
			var recs []arrow.RecordBatch
			defer func() {
				for _, r := range recs {
					r.Release()
				}
			}()
			for b, dict := range dicts {
				values := mustStrings(mem, dict)
				db := array.NewDictionaryBuilderWithDict(mem, dictType, values).(*array.BinaryDictionaryBuilder)
				values.Release()
				for i := range 1000 {
					if err := db.AppendString(dict[(i*5+b)%len(dict)]); err != nil {
						t.Fatal(err)
					}
				}
				cols := []arrow.Array{db.NewArray()}
				db.Release()
				if sc.NumFields() > 1 {
					lb := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int32)
					for i := range 1000 {
						lb.Append(true)
						lb.ValueBuilder().(*array.Int32Builder).Append(int32(i))
					}
					cols = append(cols, lb.NewArray())
					lb.Release()
				}
				recs = append(recs, array.NewRecordBatch(sc, cols, 1000))
				for _, c := range cols {
					c.Release()
				}
			}
			props := pq.NewWriterProperties(pq.WithAllocator(mem), pq.WithCompression(compress.Codecs.Zstd),
				pq.WithDictionaryCostFallbackFor("city", true), pq.WithDataPageSize(64<<10))
			r := writeFile(t, mem, sc, props, recs)
			defer r.Close()
			cc, err := r.MetaData().RowGroup(0).ColumnChunk(0)
			if err != nil {
				t.Fatal(err)
			}
			if !cc.HasDictionaryPage() {
				t.Fatalf("no dictionary page: the column was written as plain values (encodings %v)", cc.Encodings())
			}
			pages, err := r.RowGroup(0).GetColumnPageReader(0)
			if err != nil {
				t.Fatal(err)
			}
			defer pages.Close()
			data := 0
			for pages.Next() {
				if _, dict := pages.Page().(*file.DictionaryPage); !dict {
					data++
				}
			}
			if err := pages.Err(); err != nil {
				t.Fatal(err)
			}
			// 41,000 values of 8 bytes or so, plain: several pages of 64 KiB.
			if data < 3 {
				t.Errorf("%d data pages, want several", data)
			}
		})
	}
}

// writeFile writes recs to a Parquet file in memory with a Writer and opens it; the caller closes the reader.
func writeFile(t *testing.T, mem memory.Allocator, sc *arrow.Schema, props *pq.WriterProperties, recs []arrow.RecordBatch) *file.Reader {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(sc, &buf, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := w.WriteBuffered(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()), file.WithReadProps(pq.NewReaderProperties(mem)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// withoutDictionaries is sc and recs without their dictionary array columns; it releases recs.
func withoutDictionaries(sc *arrow.Schema, recs []arrow.RecordBatch) (*arrow.Schema, []arrow.RecordBatch) {
	var keep []int
	var fields []arrow.Field
	for i, f := range sc.Fields() {
		if f.Type.ID() != arrow.DICTIONARY {
			keep = append(keep, i)
			fields = append(fields, f)
		}
	}
	out := arrow.NewSchema(fields, nil)
	projected := make([]arrow.RecordBatch, len(recs))
	for k, rec := range recs {
		cols := make([]arrow.Array, len(keep))
		for j, i := range keep {
			cols[j] = rec.Column(i)
		}
		projected[k] = array.NewRecordBatch(out, cols, rec.NumRows())
		rec.Release()
	}
	return out, projected
}

// TestWriterStaged: a writer that stages its row groups as Arrow (StageUpTo) writes the same bytes as one that
// encodes every batch as it comes, whether a row group is cut while staged, outgrows the limit, reaches the row
// group length or is still staged at Close; while staged it holds the batches' buffers (BufferedBytes), no
// encoded bytes, and counts the row group in its footer; it releases every batch it kept.
func TestWriterStaged(t *testing.T) {
	t.Parallel()
	const rows = 100
	for _, tc := range []struct {
		name    string
		limit   int64 // in batches' sizes
		maxRows int64
		cuts    []bool // after each batch: cut the row group
		wantRGs int
	}{
		{"cut while staged", 10, 0, []bool{false, true, false, true, true}, 3},
		{"outgrows the limit", 2, 0, []bool{false, false, false, true, false, true}, 2},
		{"row group length", 10, 250, []bool{false, false, false, false, false, true}, 3},
		{"staged at Close", 10, 0, []bool{false, false}, 1},
		{"nothing written", 10, 0, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			recs := sampleBatches(t, mem, flatSchema, len(tc.cuts), rows)
			defer func() {
				for _, r := range recs {
					r.Release()
				}
			}()
			opts := []pq.WriterProperty{pq.WithAllocator(mem), pq.WithCompression(compress.Codecs.Zstd), pq.WithDataPageSize(1 << 10)}
			if tc.maxRows > 0 {
				opts = append(opts, pq.WithMaxRowGroupLength(tc.maxRows))
			}
			props := pq.NewWriterProperties(opts...)
			aprops := pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem), pqarrow.WithStoreSchema())
			write := func(stage bool) []byte {
				var buf bytes.Buffer
				w, err := NewWriter(flatSchema, &buf, props, aprops, true)
				if err != nil {
					t.Fatal(err)
				}
				if stage && len(recs) > 0 {
					w.StageUpTo(tc.limit * records.Bytes(recs[0]))
				}
				var staged int64
				for i, rec := range recs {
					if err := w.WriteBuffered(rec); err != nil {
						t.Fatal(err)
					}
					if stage && w.rgw == nil {
						staged += records.Bytes(rec)
						if got := w.BufferedBytes(); got != staged {
							t.Errorf("batch %d staged: BufferedBytes %d, want the batches' %d", i, got, staged)
						}
						if got := w.RowGroupTotalBytesWritten(); got != 0 {
							t.Errorf("batch %d staged: %d bytes encoded", i, got)
						}
						if got, want := w.FooterChunks(), (w.wr.NumRowGroups()+1)*w.leaves; got != want {
							t.Errorf("batch %d staged: %d footer chunks, want %d", i, got, want)
						}
					} else {
						staged = 0
					}
					if tc.cuts[i] {
						if err := w.NewBufferedRowGroupChecked(); err != nil {
							t.Fatal(err)
						}
						staged = 0
						if n := w.BufferedBytes(); n != 0 {
							t.Errorf("after a cut the writer holds %d bytes", n)
						}
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				return buf.Bytes()
			}
			plain, staged := write(false), write(true)
			if !bytes.Equal(plain, staged) {
				t.Fatalf("staged row groups wrote %d bytes, different from the %d written batch by batch", len(staged), len(plain))
			}
			r, err := file.NewParquetReader(bytes.NewReader(staged))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := r.NumRowGroups(); got != tc.wantRGs {
				t.Errorf("%d row groups, want %d", got, tc.wantRGs)
			}
			if got, want := r.NumRows(), int64(len(recs)*rows); got != want {
				t.Errorf("%d rows, want %d", got, want)
			}
		})
	}
}

// readTable reads a whole file back through pqarrow, the reader of Parquet files other programs use.
func readTable(t *testing.T, r *file.Reader, mem memory.Allocator) arrow.Table {
	t.Helper()
	fr, err := pqarrow.NewFileReader(r, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}
