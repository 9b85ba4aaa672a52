package iceberg

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
)

// TestReadKeys: the key columns of several files, read at once, a row group at a time, find exactly the live
// rows of the changed keys (as appendKey(valueAt) encodes the rows written), in file order, through the integer
// path (int64, int32, timestamps, nullable) and the key text path (strings, two columns); row groups whose
// statistics hold no changed key are skipped, and versions are read only for the files that ask.
func TestReadKeys(t *testing.T) {
	t.Parallel()
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	for _, tc := range []struct {
		name     string
		key      []arrow.Field // field ids 1, 2, ...; the version column (id 9) follows
		ice      []iceberg.NestedField
		value    func(file, row int) []any // the key values of a row; nil for a null key
		changed  [][]any                   // the changed keys
		rgRead   []bool                    // file 0: which of its 4 row groups may hold a changed key
		fastPath bool
	}{
		{
			name:     "int64 ascending",
			key:      []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}},
			ice:      []iceberg.NestedField{{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true}},
			value:    func(f, r int) []any { return []any{int64(f*1000 + r)} },
			changed:  [][]any{{int64(5)}, {int64(250)}, {int64(251)}, {int64(399)}, {int64(1003)}, {int64(5399)}, {int64(-1)}, {int64(99999)}},
			rgRead:   []bool{true, false, true, true},
			fastPath: true,
		},
		{
			name: "int64 nullable, out of order",
			key:  []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true}},
			ice:  []iceberg.NestedField{{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64}},
			value: func(f, r int) []any {
				if r%7 == 3 {
					return nil
				}
				return []any{int64(f*1000 + (r*37)%400)}
			},
			changed:  [][]any{{int64(0)}, {int64(37)}, {int64(3)}, {int64(1111)}, {int64(2399)}},
			rgRead:   []bool{true, true, true, true},
			fastPath: true,
		},
		{
			name:     "int32",
			key:      []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}},
			ice:      []iceberg.NestedField{{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int32, Required: true}},
			value:    func(f, r int) []any { return []any{int32(f*1000 + r - 50)} },
			changed:  [][]any{{int32(-50)}, {int32(349)}, {int32(3000)}},
			rgRead:   []bool{true, false, false, true},
			fastPath: true,
		},
		{
			name:     "timestamp",
			key:      []arrow.Field{{Name: "at", Type: ts}},
			ice:      []iceberg.NestedField{{ID: 1, Name: "at", Type: iceberg.PrimitiveTypes.TimestampTz, Required: true}},
			value:    func(f, r int) []any { return []any{arrow.Timestamp(1_700_000_000_000_000 + int64(f*1000+r)*1_000_000)} },
			changed:  [][]any{{arrow.Timestamp(1_700_000_000_000_000 + 150*1_000_000)}, {arrow.Timestamp(1_700_000_000_000_000 + 4100*1_000_000)}},
			rgRead:   []bool{false, true, false, false},
			fastPath: true,
		},
		{
			name:    "string",
			key:     []arrow.Field{{Name: "code", Type: arrow.BinaryTypes.String}},
			ice:     []iceberg.NestedField{{ID: 1, Name: "code", Type: iceberg.PrimitiveTypes.String, Required: true}},
			value:   func(f, r int) []any { return []any{fmt.Sprintf("k%d-%03d", f, r)} },
			changed: [][]any{{"k0-001"}, {"k0-399"}, {"k3-200"}, {"k9-000"}, {"zzz"}},
			rgRead:  []bool{true, false, false, true},
		},
		{
			name: "two columns",
			key:  []arrow.Field{{Name: "tenant", Type: arrow.BinaryTypes.String}, {Name: "id", Type: arrow.PrimitiveTypes.Int64}},
			ice: []iceberg.NestedField{{ID: 1, Name: "tenant", Type: iceberg.PrimitiveTypes.String, Required: true},
				{ID: 2, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true}},
			value:   func(f, r int) []any { return []any{"t" + strconv.Itoa(r%3), int64(f*1000 + r)} },
			changed: [][]any{{"t0", int64(0)}, {"t1", int64(0)}, {"t2", int64(2)}, {"t1", int64(5301)}, {"t0", int64(1200)}},
			rgRead:  []bool{true, false, false, false},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			const files, rows, rgRows = 6, 400, 100
			fields := slices.Clone(tc.key)
			fields = append(fields, arrow.Field{Name: "v", Type: arrow.PrimitiveTypes.Int64})
			for i := range fields {
				fields[i].Metadata = arrow.NewMetadata([]string{"PARQUET:field_id"}, []string{strconv.Itoa(i + 1)})
			}
			fields[len(fields)-1].Metadata = arrow.NewMetadata([]string{"PARQUET:field_id"}, []string{"9"})
			sc := arrow.NewSchema(fields, nil)
			ice := iceberg.NewSchema(0, append(slices.Clone(tc.ice), iceberg.NestedField{ID: 9, Name: "v", Type: iceberg.PrimitiveTypes.Int64, Required: true})...)
			nkey := len(tc.key)
			ids := []int{1, 2}[:nkey]

			var keys []string
			chOf := map[string]int32{}
			for _, k := range tc.changed {
				var buf []byte
				for _, v := range k {
					buf = appendKey(buf, anyOrd(v))
				}
				chOf[string(buf)] = int32(len(keys))
				keys = append(keys, string(buf))
			}
			want := newKeyIndex(keys, nil)
			if (want.ints != nil) != tc.fastPath {
				t.Fatalf("integer key index: %t, want %t", want.ints != nil, tc.fastPath)
			}
			prune := newKeyPruner(ice, ids, keys)
			// A change's version: 200. A stored row's version: its row number, so rows past 200 are newer.
			newer := func(ch int32, v ordVal) bool { return v.i > 200 }

			dir := t.TempDir()
			var reads []keyFile
			var expect [][]storedRow
			for f := range files {
				b := array.NewRecordBuilder(mem, sc)
				for r := range rows {
					vals := tc.value(f, r)
					for c := range nkey {
						if vals == nil {
							b.Field(c).AppendNull()
							continue
						}
						appendAny(t, b.Field(c), vals[c])
					}
					b.Field(nkey).(*array.Int64Builder).Append(int64(r))
				}
				rec := b.NewRecordBatch()
				b.Release()
				p := filepath.Join(dir, fmt.Sprintf("f%d.parquet", f))
				writeTestParquet(t, mem, p, rec, rgRows)
				kf := keyFile{df: testDataFile(t, p, rows), ids: append(slices.Clone(ids), 9)}
				if f%2 == 1 {
					kf.ids = kf.ids[:nkey] // versions not read
					kf.dead = positions{1, 250, 251}
				}
				// What the file holds, by the encoding every merge compares keys by.
				var exp []storedRow
				var buf []byte
				for r := range rows {
					if rec.Column(0).IsNull(r) || slices.Contains(kf.dead, int64(r)) {
						continue
					}
					buf = buf[:0]
					for c := range nkey {
						buf = appendKey(buf, valueAt(rec.Column(c), r))
					}
					if ch, ok := chOf[string(buf)]; ok {
						exp = append(exp, storedRow{ch: ch, file: int32(f), pos: int64(r), newer: len(kf.ids) > nkey && r > 200})
					}
				}
				rec.Release()
				reads = append(reads, kf)
				expect = append(expect, exp)
			}

			w := &mergeWriter{}
			got, err := w.readKeys(context.Background(), icebergio.LocalFS{}, reads, nkey, want, prune, newer)
			if err != nil {
				t.Fatal(err)
			}
			for f := range files {
				if !slices.Equal(got[f], expect[f]) {
					t.Errorf("file %d: stored rows\n%v\nwant\n%v", f, got[f], expect[f])
				}
			}

			r, err := file.OpenParquetFile(reads[0].df.FilePath(), false)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.NumRowGroups() != len(tc.rgRead) {
				t.Fatalf("file 0 has %d row groups, want %d", r.NumRowGroups(), len(tc.rgRead))
			}
			leaves := []int{0, 1}[:nkey]
			for rg, read := range tc.rgRead {
				if got := prune.rowGroupMayHold(r.MetaData().RowGroup(rg), r.MetaData().Schema, ids, leaves); got != read {
					t.Errorf("row group %d: may hold a changed key %t, want %t", rg, got, read)
				}
			}

			// The capacity a file's stored rows get: at least the rows found (each key is once in a file here).
			if c := prune.mayHoldCount(r.MetaData(), r.MetaData().Schema, ids, leaves); c != 0 && c < len(expect[0]) {
				t.Errorf("file 0: room for %d stored rows, it holds %d", c, len(expect[0]))
			}

			// A file that cannot be read fails the read, naming it.
			bad := append(slices.Clone(reads), keyFile{df: testDataFile(t, filepath.Join(dir, "missing.parquet"), 1), ids: ids})
			if _, err := w.readKeys(context.Background(), icebergio.LocalFS{}, bad, nkey, want, prune, newer); err == nil || !strings.Contains(err.Error(), "missing.parquet") {
				t.Errorf("reading a missing file: %v", err)
			}
		})
	}
}

func anyOrd(v any) ordVal {
	switch v := v.(type) {
	case int64:
		return ordVal{kind: kInt, i: v}
	case int32:
		return ordVal{kind: kInt, i: int64(v)}
	case arrow.Timestamp:
		return ordVal{kind: kInt, i: int64(v)}
	case string:
		return ordVal{kind: kString, s: v}
	}
	panic(fmt.Sprintf("no key value of %T", v))
}

func appendAny(t *testing.T, b array.Builder, v any) {
	t.Helper()
	switch b := b.(type) {
	case *array.Int64Builder:
		b.Append(v.(int64))
	case *array.Int32Builder:
		b.Append(v.(int32))
	case *array.TimestampBuilder:
		b.Append(v.(arrow.Timestamp))
	case *array.StringBuilder:
		b.Append(v.(string))
	default:
		t.Fatalf("no builder for %T", b)
	}
}

// writeTestParquet writes rec to p in row groups of rgRows rows, its integer key columns delta-encoded as the
// loader writes identifier fields.
func writeTestParquet(t *testing.T, mem memory.Allocator, p string, rec arrow.RecordBatch, rgRows int64) {
	t.Helper()
	f, err := icebergio.LocalFS{}.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	props := pq.NewWriterProperties(pq.WithAllocator(mem), pq.WithMaxRowGroupLength(rgRows),
		pq.WithDictionaryFor("id", false), pq.WithEncodingFor("id", pq.Encodings.DeltaBinaryPacked))
	fw, err := pqarrow.NewFileWriter(rec.Schema(), f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
}

func testDataFile(t *testing.T, p string, rows int64) iceberg.DataFile {
	t.Helper()
	b, err := iceberg.NewDataFileBuilder(*iceberg.UnpartitionedSpec, iceberg.EntryContentData, p, iceberg.ParquetFile, nil, nil, nil, rows, 1)
	if err != nil {
		t.Fatal(err)
	}
	return b.Build()
}

func TestWithin(t *testing.T) {
	t.Parallel()
	vals := []int64{-3, 0, 5, 9, 12}
	for _, tc := range []struct {
		lo, hi int64
		want   int
	}{
		{-10, -4, 0}, {-10, -3, 1}, {-3, 12, 5}, {1, 4, 0}, {0, 9, 3}, {6, 100, 2}, {13, 20, 0}, {5, 5, 1}, {9, 5, 0},
	} {
		if got := within(vals, tc.lo, tc.hi); got != tc.want {
			t.Errorf("within(%v, %d, %d) = %d, want %d", vals, tc.lo, tc.hi, got, tc.want)
		}
	}
	if got := within([]string{"a", "c", "e"}, "b", "e"); got != 2 {
		t.Errorf("within strings b..e = %d, want 2", got)
	}
}
