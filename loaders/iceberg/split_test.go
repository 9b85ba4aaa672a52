package iceberg

import (
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// oracleLiteral reads row i of col as an iceberg-go literal, independently of the splitter's readers.
func oracleLiteral(t *testing.T, col arrow.Array, i int) iceberg.Literal {
	switch a := col.(type) {
	case *array.Int8:
		return iceberg.NewLiteral(int32(a.Value(i)))
	case *array.Int16:
		return iceberg.NewLiteral(int32(a.Value(i)))
	case *array.Int32:
		return iceberg.NewLiteral(a.Value(i))
	case *array.Int64:
		return iceberg.NewLiteral(a.Value(i))
	case *array.Boolean:
		return iceberg.NewLiteral(a.Value(i))
	case *array.Date32:
		return iceberg.NewLiteral(iceberg.Date(a.Value(i)))
	case *array.Timestamp:
		return iceberg.NewLiteral(iceberg.Timestamp(a.Value(i)))
	case *array.String:
		return iceberg.NewLiteral(a.Value(i))
	case *array.LargeString:
		return iceberg.NewLiteral(a.Value(i))
	}
	t.Fatalf("no oracle literal for %s", col.DataType())
	return nil
}

// randomColumn makes n values of dt with nulls, negative values, times before 1970 and multi-byte strings.
func randomColumn(mem memory.Allocator, dt arrow.DataType, n int, rng *rand.Rand) arrow.Array {
	b := array.NewBuilder(mem, dt)
	defer b.Release()
	words := []string{"", "a", "ab", "abcd", "abcde", "héllo wörld", "日本語のテキスト", "\xff\xfe bad utf8", "tenant-1", "tenant-2"}
	for range n {
		if rng.IntN(10) == 0 {
			b.AppendNull()
			continue
		}
		v := rng.Int64N(1<<40) - 1<<39
		switch bb := b.(type) {
		case *array.Int8Builder:
			bb.Append(int8(v))
		case *array.Int16Builder:
			bb.Append(int16(v))
		case *array.Int32Builder:
			bb.Append(int32(v % 100000))
		case *array.Int64Builder:
			bb.Append(v)
		case *array.BooleanBuilder:
			bb.Append(v%2 == 0)
		case *array.Date32Builder:
			bb.Append(arrow.Date32(v % 40000)) // 1860 to 2079
		case *array.TimestampBuilder:
			bb.Append(arrow.Timestamp(v % (40000 * microsPerDay)))
		case *array.StringBuilder:
			bb.Append(words[rng.IntN(len(words))] + strings.Repeat("x", rng.IntN(3)))
		case *array.LargeStringBuilder:
			bb.Append(words[rng.IntN(len(words))])
		}
	}
	return b.NewArray()
}

// TestSplitterGroupsAsIcebergTransforms runs every transform the splitter has keys for over random columns of
// every type it accepts, and checks each row against iceberg-go's own Transform.Apply: rows of one group share
// one transform result, rows of different groups do not, and the group's recorded value is that result.
func TestSplitterGroupsAsIcebergTransforms(t *testing.T) {
	ts := &arrow.TimestampType{Unit: arrow.Microsecond}
	tstz := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	ints := []arrow.DataType{arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64}
	strs := []arrow.DataType{arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString}
	times := []arrow.DataType{arrow.FixedWidthTypes.Date32, ts, tstz}
	all := slices.Concat(ints, strs, times, []arrow.DataType{arrow.FixedWidthTypes.Boolean})
	tests := []struct {
		transform string
		types     []arrow.DataType
	}{
		{"identity", all},
		{"bucket(16, %s)", slices.Concat(ints, strs, times)},
		{"bucket(7, %s)", slices.Concat(ints, strs)},
		{"truncate(10, %s)", ints},
		{"truncate(3, %s)", strs},
		{"year", times},
		{"month", times},
		{"day", times},
		{"hour", []arrow.DataType{ts, tstz}},
		{"void", all},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range tests {
		for _, dt := range tc.types {
			expr := tc.transform + "(%s)"
			if strings.Contains(tc.transform, "%s") {
				expr = tc.transform
			}
			expr = fmt.Sprintf(expr, "c")
			t.Run(expr+" of "+dt.String(), func(t *testing.T) {
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				defer mem.AssertSize(t, 0)
				schema := arrow.NewSchema([]arrow.Field{{Name: "other", Type: arrow.PrimitiveTypes.Int64}, {Name: "c", Type: dt, Nullable: true}}, nil)
				sc, err := icebergSchema(schema)
				if err != nil {
					t.Fatal(err)
				}
				spec, err := buildSpec([]string{expr}, sc)
				if err != nil {
					t.Fatal(err)
				}
				s, ok := newSpecSplitter(spec, sc, schema)
				if !ok {
					t.Fatalf("the splitter does not take %s", expr)
				}
				pf := spec.Field(0)
				other := randomColumn(mem, arrow.PrimitiveTypes.Int64, 3000, rng)
				col := randomColumn(mem, dt, 3000, rng)
				rec := array.NewRecordBatch(schema, []arrow.Array{other, col}, 3000)
				other.Release()
				col.Release()
				defer rec.Release()
				for range 2 { // a second batch reuses the splitter's maps
					n := s.split(rec)
					oracle := func(i int) any {
						if col.IsNull(i) {
							return nil
						}
						out := pf.Transform.Apply(iceberg.Optional[iceberg.Literal]{Valid: true, Val: oracleLiteral(t, col, i)})
						if !out.Valid {
							return nil
						}
						return out.Val.Any()
					}
					seen := map[string]int{}
					for g := range n {
						vals, row, key := s.partition(rec, s.groups.First[g])
						want := oracle(s.groups.First[g])
						if got := vals[pf.FieldID]; got != want {
							t.Fatalf("group %d: value %#v (%T), iceberg-go says %#v (%T)", g, got, got, want, want)
						}
						if row[0] != want {
							t.Fatalf("group %d: path value %#v, want %#v", g, row[0], want)
						}
						if other, dup := seen[key]; dup {
							t.Fatalf("groups %d and %d have one partition key %q", other, g, key)
						}
						seen[key] = g
					}
					for i, g := range s.groups.Group {
						if got, want := oracle(i), oracle(s.groups.First[g]); got != want {
							t.Fatalf("row %d (%s) is in group %d with value %#v, iceberg-go gives it %#v", i, col.ValueStr(i), g, want, got)
						}
					}
				}
			})
		}
	}
}

// TestSplitterLeavesUnhandledSpecsToIcebergGo: transforms of types the splitter has no key for, and nested
// source columns, make newSpecSplitter decline, so that iceberg-go's writer handles them.
func TestSplitterLeavesUnhandledSpecsToIcebergGo(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "d", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "b", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true}), Nullable: true},
		{Name: "ns", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true},
	}, nil)
	sc, err := icebergSchema(schema)
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range []string{"identity(d)", "bucket(4, d)", "truncate(2, d)", "identity(f)", "identity(b)", "bucket(4, b)", "identity(s.x)"} {
		t.Run(expr, func(t *testing.T) {
			spec, err := buildSpec([]string{expr}, sc)
			if err != nil {
				t.Skipf("not a spec jetflow builds: %v", err)
			}
			if _, ok := newSpecSplitter(spec, sc, schema); ok {
				t.Errorf("the splitter took %s", expr)
			}
		})
	}
}

// TestDirectWriterMatchesIcebergGo writes the same batches into one table with jetflow's writer and with
// iceberg-go's table.WriteRecords, and compares the data files they describe: the same partitions, directories,
// row counts, value and null counts and lower/upper bounds, which readers use to prune files.
func TestDirectWriterMatchesIcebergGo(t *testing.T) {
	for _, spec := range [][]string{
		nil,
		{"identity(tenant_id)", "day(updated_at)", "bucket(16, id)", "truncate(4, sku)", "month(ts)"},
		{"hour(updated_at)", "year(ts)", "truncate(100, id)"},
		{"identity(sku)", "day(updated_at)"}, // a null partition value, and an identity column repeated per file
	} {
		name := "unpartitioned"
		if spec != nil {
			name = strings.Join(spec, ",")
		}
		t.Run(name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			ctx := context.Background()
			l := newLoader(t, t.TempDir(), func(c *Config) { c.PartitionBy = spec })
			l.alloc = mem
			tbl, err := l.Table(ctx, ordersSchema())
			if err != nil {
				t.Fatal(err)
			}
			batches := []arrow.RecordBatch{orders(t, mem, 0, 500), orders(t, mem, 500, 700), ordersWithoutSKU(t, mem, 1200, 60)}
			defer testkit.ReleaseAll(batches)

			dw, err := newDirectWriter(ctx, l, tbl, ordersSchema(), uuid.New())
			if err != nil || dw == nil {
				t.Fatalf("no direct writer for the table: %v", err)
			}
			ours := writeAll(t, dw, batches)

			assertFilesAsIcebergGo(t, mem, tbl, ordersSchema(), batches, ours)
			if len(ours) < 2 && len(spec) > 0 {
				t.Errorf("%d data files for a partitioned table: the test data should reach several partitions", len(ours))
			}
		})
	}
}

// TestDirectWriterConvertsInput: batches whose columns come in another order than the table's, and lack one of
// its optional columns, are converted by name and split by the right columns: the same data files as
// iceberg-go's, which converts them its own way.
func TestDirectWriterConvertsInput(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	l := newLoader(t, t.TempDir(), func(c *Config) {
		c.PartitionBy = []string{"identity(tenant_id)", "day(updated_at)", "bucket(4, id)"}
	})
	l.alloc = mem
	tbl, err := l.Table(ctx, ordersSchema())
	if err != nil {
		t.Fatal(err)
	}
	// updated_at, tenant_id, sku, id, total: reordered, without ts.
	order := []int{4, 1, 2, 0, 3}
	var fields []arrow.Field
	for _, i := range order {
		fields = append(fields, ordersSchema().Field(i))
	}
	input := arrow.NewSchema(fields, nil)
	var batches []arrow.RecordBatch
	for _, first := range []int{0, 400} {
		rec := orders(t, mem, first, 400)
		var cols []arrow.Array
		for _, i := range order {
			cols = append(cols, rec.Column(i))
		}
		batches = append(batches, array.NewRecordBatch(input, cols, rec.NumRows()))
		rec.Release()
	}
	defer testkit.ReleaseAll(batches)

	dw, err := newDirectWriter(ctx, l, tbl, input, uuid.New())
	if err != nil || dw == nil {
		t.Fatalf("no direct writer for reordered input: %v", err)
	}
	if dw.taskSchema == nil {
		t.Fatal("reordered input taken as the file's columns")
	}
	ours := writeAll(t, dw, batches)
	assertFilesAsIcebergGo(t, mem, tbl, input, batches, ours)
}

// writeAll writes batches through dw and returns the data files it closes with.
func writeAll(t *testing.T, dw *directWriter, batches []arrow.RecordBatch) []iceberg.DataFile {
	t.Helper()
	for _, b := range batches {
		if err := dw.write(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	ours, err := dw.close()
	if err != nil {
		t.Fatal(err)
	}
	return ours
}

// assertFilesAsIcebergGo writes batches (of schema) into tbl with iceberg-go's table.WriteRecords and checks
// that ours describe the same data files to a reader (describeFiles).
func assertFilesAsIcebergGo(t *testing.T, mem memory.Allocator, tbl *table.Table, schema *arrow.Schema, batches []arrow.RecordBatch, ours []iceberg.DataFile) {
	t.Helper()
	var theirs []iceberg.DataFile
	records := func(yield func(arrow.RecordBatch, error) bool) {
		for _, b := range batches {
			b.Retain() // WriteRecords releases what it consumes
			if !yield(b, nil) {
				return
			}
		}
	}
	ctx := compute.WithAllocator(context.Background(), mem)
	for df, err := range table.WriteRecords(ctx, tbl, schema, iter.Seq2[arrow.RecordBatch, error](records)) {
		if err != nil {
			t.Fatal(err)
		}
		theirs = append(theirs, df)
	}
	if got, want := describeFiles(tbl, ours), describeFiles(tbl, theirs); !slices.Equal(got, want) {
		t.Errorf("jetflow's data files:\n%s\niceberg-go's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// describeFiles renders what a reader learns about each data file, apart from its name and byte sizes.
func describeFiles(tbl *table.Table, files []iceberg.DataFile) []string {
	var out []string
	for _, df := range files {
		dir := strings.TrimPrefix(path.Dir(df.FilePath()), tbl.Location())
		var b strings.Builder
		fmt.Fprintf(&b, "%s rows=%d partition=%v spec=%d", dir, df.Count(), sortedMap(df.Partition()), df.SpecID())
		fmt.Fprintf(&b, " values=%v nulls=%v lower=%v upper=%v", sortedMap(df.ValueCounts()), sortedMap(df.NullValueCounts()),
			sortedMap(df.LowerBoundValues()), sortedMap(df.UpperBoundValues()))
		out = append(out, b.String())
	}
	slices.Sort(out)
	return out
}

func sortedMap[V any](m map[int]V) string {
	keys := slices.Sorted(func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%d:%v ", k, m[k])
	}
	return b.String()
}

// ordersWithoutSKU is orders whose every third row has no sku.
func ordersWithoutSKU(t testing.TB, mem memory.Allocator, first, n int) arrow.RecordBatch {
	rec := orders(t, mem, first, n)
	defer rec.Release()
	b := array.NewStringBuilder(mem)
	defer b.Release()
	sku := rec.Column(2).(*array.String)
	for i := range n {
		if i%3 == 0 {
			b.AppendNull()
		} else {
			b.Append(sku.Value(i))
		}
	}
	col := b.NewArray()
	defer col.Release()
	cols := slices.Clone(rec.Columns())
	cols[2] = col
	return array.NewRecordBatch(rec.Schema(), cols, int64(n))
}

// bufferedWriter is the Iceberg loader's own writer for a new orders table partitioned by spec, with buffer_size
// buffer, allocating from mem.
func bufferedWriter(t *testing.T, mem memory.Allocator, buffer stage.ByteSize, spec ...string) *directWriter {
	t.Helper()
	ctx := context.Background()
	l := newLoader(t, t.TempDir(), func(c *Config) {
		c.PartitionBy = spec
		c.BufferSize = buffer
	})
	l.alloc = mem
	tbl, err := l.Table(ctx, ordersSchema())
	if err != nil {
		t.Fatal(err)
	}
	dw, err := newDirectWriter(ctx, l, tbl, ordersSchema(), uuid.New())
	if err != nil || dw == nil {
		t.Fatalf("no direct writer: %v", err)
	}
	return dw
}

// TestBufferSizeBoundsOpenFiles: with several Iceberg partitions open, buffer_size makes the writer cut row
// groups early (smaller, more of them) instead of holding each file's whole row group; with room enough, each
// file keeps one.
func TestBufferSizeBoundsOpenFiles(t *testing.T) {
	for _, tc := range []struct {
		name       string
		buffer     stage.ByteSize
		manyGroups bool
	}{
		{"a small buffer cuts row groups early", 16 << 10, true},
		{"room enough: one row group a file", 64 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			ctx := context.Background()
			dw := bufferedWriter(t, mem, tc.buffer, "identity(tenant_id)")
			for i := range 8 {
				rec := orders(t, mem, i*4000, 4000)
				err := dw.write(ctx, rec)
				rec.Release()
				if err != nil {
					t.Fatal(err)
				}
			}
			files, err := dw.close()
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 3 {
				t.Fatalf("%d data files, want one per tenant (3)", len(files))
			}
			for _, f := range files {
				if groups := len(f.SplitOffsets()); (groups > 1) != tc.manyGroups {
					t.Errorf("%s: %d row groups with buffer_size %s", path.Base(f.FilePath()), groups, tc.buffer)
				}
			}
		})
	}
}

// TestBufferSizeBoundsWideFanOut: 259 Iceberg partitions open at once (37 tenants × 7 months) hold no more than
// buffer_size in memory together after each batch, counted by the writer (row groups staged as Arrow; encoded
// pages, pages under construction, dictionaries); without the bound they hold far more. Row groups are staged,
// so that only a few open files at a time (at most 16, rowgroup.Hold.StageLimit) have column writers. The row
// groups cut early pile up in the open files' footers, which stay within rowgroup.Hold.FooterLimit by rolling
// files: every row lands once, in a file of its Iceberg partition, each file under its own name.
func TestBufferSizeBoundsWideFanOut(t *testing.T) {
	t.Parallel()
	const budget, batches, rows = 256 << 10, 24, 37 * 7 * 40
	for _, tc := range []struct {
		name   string
		buffer stage.ByteSize
		within bool
		rolled bool // more files than partitions
	}{
		{"buffer_size bounds the 259 open files", budget, true, true},
		{"room enough: the same batches hold more", 1 << 30, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			ctx := context.Background()
			dw := bufferedWriter(t, mem, tc.buffer, "identity(tenant_id)", "month(updated_at)")
			var most int64
			for b := range batches {
				var js strings.Builder
				js.WriteString("[")
				for r := range rows {
					i := b*rows + r
					if r > 0 {
						js.WriteString(",")
					}
					fmt.Fprintf(&js, `{"id": %d, "tenant_id": "tenant-%02d", "sku": "SKU-%07d", "total": "%d.0001", "updated_at": "2026-%02d-%02dT10:00:00Z"}`,
						i, i%37, i, i, 1+(i/37)%7, 1+i%28)
				}
				js.WriteString("]")
				rec := testkit.Records(t, mem, ordersSchema(), js.String())
				err := dw.write(ctx, rec)
				rec.Release()
				if err != nil {
					t.Fatal(err)
				}
				var held int64
				chunks, encoding := 0, 0
				for _, f := range dw.open {
					held += f.fw.BufferedBytes()
					chunks += f.fw.FooterChunks()
					if f.fw.Encoding() {
						encoding++
					}
				}
				most = max(most, held)
				if encoding > 16 {
					t.Fatalf("batch %d: %d of %d open files have column writers, want at most 16", b, encoding, len(dw.open))
				}
				if limit := dw.hold.FooterLimit(); chunks > limit {
					t.Fatalf("batch %d: the open files' footers describe %d column chunks, bound %d", b, chunks, limit)
				}
			}
			if within := most <= budget; within != tc.within {
				t.Errorf("the open files held up to %d bytes after a batch; buffer_size %d, bound kept: %v, want %v", most, tc.buffer, within, tc.within)
			}
			files, err := dw.close()
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			names := map[string]bool{}
			parts := map[string]bool{}
			for _, f := range files {
				n += f.Count()
				if names[f.FilePath()] {
					t.Errorf("two data files named %s", f.FilePath())
				}
				names[f.FilePath()] = true
				parts[fmt.Sprint(f.Partition())] = true
			}
			if len(parts) != 37*7 || n != batches*rows {
				t.Errorf("%d partitions, %d rows in the files, want 259 and %d", len(parts), n, batches*rows)
			}
			if rolled := len(files) > 37*7; rolled != tc.rolled {
				t.Errorf("%d files for 259 partitions: rolled %v, want %v", len(files), rolled, tc.rolled)
			}
		})
	}
}
