package rowgroup

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// deltaCase is a column of n values, value(i) at row i, null where null(i).
type deltaCase struct {
	name  string
	typ   arrow.DataType
	n     int
	value func(i int) int64
	null  func(i int) bool
	want  bool
}

func deltaCases() []deltaCase {
	r := rand.New(rand.NewPCG(7, 7))
	random := make([]int64, 4096)
	for i := range random {
		random[i] = r.Int64()
	}
	jitter := make([]int64, 4096)
	for i := range jitter {
		jitter[i] = 1_764_000_000_000_000 + int64(i)*1000 + r.Int64N(5000) // µs, about 1 ms apart, out of order by up to 5
	}
	monthRandom := make([]int64, 4096)
	for i := range monthRandom {
		monthRandom[i] = 1_764_000_000_000_000 + r.Int64N(30*86_400_000_000) // a month of times, any order
	}
	return []deltaCase{
		{name: "sequential int64 id", typ: arrow.PrimitiveTypes.Int64, n: 4096, value: func(i int) int64 { return 1_000_000 + int64(i) }, want: true},
		{name: "sequential uint64 id", typ: arrow.PrimitiveTypes.Uint64, n: 4096, value: func(i int) int64 { return 1<<40 + int64(i) }, want: true},
		{name: "uint64 across the sign bit", typ: arrow.PrimitiveTypes.Uint64, n: 4096, value: func(i int) int64 { return math.MaxInt64 - 2000 + int64(i) }, want: true},
		{name: "sequential uint32", typ: arrow.PrimitiveTypes.Uint32, n: 4096, value: func(i int) int64 { return 1<<31 - 100 + int64(i) }, want: true},
		{name: "sequential int32", typ: arrow.PrimitiveTypes.Int32, n: 4096, value: func(i int) int64 { return int64(i) }, want: true},
		{name: "descending int64", typ: arrow.PrimitiveTypes.Int64, n: 4096, value: func(i int) int64 { return -3 * int64(i) }, want: true},
		{name: "event times with jitter", typ: arrow.FixedWidthTypes.Timestamp_us, n: 4096, value: func(i int) int64 { return jitter[i] }, want: true},
		{name: "sequential with nulls", typ: arrow.PrimitiveTypes.Int64, n: 4096, value: func(i int) int64 { return int64(i) }, null: func(i int) bool { return i%3 == 0 }, want: true},
		{name: "days in order, many rows a day (the dictionary's)", typ: arrow.FixedWidthTypes.Date32, n: 4096, value: func(i int) int64 { return 20000 + int64(i/10) }},
		{name: "a date a row", typ: arrow.FixedWidthTypes.Date32, n: 4096, value: func(i int) int64 { return 20000 + int64(i) }, want: true},
		{name: "decimal amounts in order", typ: &arrow.Decimal128Type{Precision: 18, Scale: 4}, n: 4096, value: func(i int) int64 { return 100 * int64(i) }, want: true},
		{name: "random int64", typ: arrow.PrimitiveTypes.Int64, n: 4096, value: func(i int) int64 { return random[i] }},
		{name: "a month of times in any order", typ: arrow.FixedWidthTypes.Timestamp_us, n: 4096, value: func(i int) int64 { return monthRandom[i] }},
		{name: "sorted, few values (the dictionary's)", typ: arrow.PrimitiveTypes.Int64, n: 4096, value: func(i int) int64 { return int64(i / 1000) }},
		{name: "too few values to tell", typ: arrow.PrimitiveTypes.Int64, n: 100, value: func(i int) int64 { return int64(i) }},
		{name: "too few non-null values", typ: arrow.PrimitiveTypes.Int64, n: 1000, value: func(i int) int64 { return int64(i) }, null: func(i int) bool { return i%10 != 0 }},
		{name: "narrow integers are left alone", typ: arrow.PrimitiveTypes.Int16, n: 4096, value: func(i int) int64 { return int64(i) }},
	}
}

func buildColumn(t *testing.T, mem memory.Allocator, c deltaCase) arrow.Array {
	t.Helper()
	b := array.NewBuilder(mem, c.typ)
	defer b.Release()
	for i := range c.n {
		if c.null != nil && c.null(i) {
			b.AppendNull()
			continue
		}
		v := c.value(i)
		switch b := b.(type) {
		case *array.Int64Builder:
			b.Append(v)
		case *array.Int32Builder:
			b.Append(int32(v))
		case *array.Uint64Builder:
			b.Append(uint64(v))
		case *array.Uint32Builder:
			b.Append(uint32(v))
		case *array.Int16Builder:
			b.Append(int16(v))
		case *array.TimestampBuilder:
			b.Append(arrow.Timestamp(v))
		case *array.Date32Builder:
			b.Append(arrow.Date32(v))
		case *array.Decimal128Builder:
			b.Append(decimal128.FromI64(v))
		default:
			t.Fatalf("no builder for %s", c.typ)
		}
	}
	return b.NewArray()
}

// TestDeltaColumns: sequences, sorted times and amounts are picked; random values, a month of times in any order,
// sorted columns of few values under a dictionary, narrow types and samples too small to judge are not.
func TestDeltaColumns(t *testing.T) {
	for _, c := range deltaCases() {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			col := buildColumn(t, mem, c)
			defer col.Release()
			sc := arrow.NewSchema([]arrow.Field{{Name: "v", Type: c.typ, Nullable: true}, {Name: "s", Type: arrow.BinaryTypes.String}}, nil)
			sb := array.NewStringBuilder(mem)
			for i := range c.n {
				sb.Append(string(rune('a' + i%26)))
			}
			strs := sb.NewArray()
			sb.Release()
			defer strs.Release()
			rec := array.NewRecordBatch(sc, []arrow.Array{col, strs}, int64(c.n))
			defer rec.Release()
			props := pq.NewWriterProperties(pq.WithStoreDecimalAsInteger(true))
			psc, err := pqarrow.ToParquet(sc, props, pqarrow.DefaultWriterProps())
			if err != nil {
				t.Fatal(err)
			}
			got := DeltaColumns(psc, rec, props)
			if want := []string(nil); c.want {
				want = []string{"v"}
				if !slices.Equal(got, want) {
					t.Fatalf("DeltaColumns = %q, want %q", got, want)
				}
			} else if len(got) != 0 {
				t.Fatalf("DeltaColumns = %q, want none", got)
			}
		})
	}
}

// TestPropsWriteDeltaColumnsReadBack writes files through Props (a sorted id, a random column, and a sorted column
// under a fixed encoding) and reads them back with arrow-go's reader: the values are the same, the picked column's
// chunks are DELTA_BINARY_PACKED, and delta: false or a fixed column keeps plain and dictionary encodings.
func TestPropsWriteDeltaColumnsReadBack(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	const n = 20_000
	ids, noise, seq := make([]int64, n), make([]int64, n), make([]int64, n)
	for i := range n {
		ids[i], noise[i], seq[i] = int64(i)*7+3, r.Int64(), int64(i)
	}
	for _, tc := range []struct {
		name  string
		delta bool
		fixed []string
		want  map[string]bool // column: delta-encoded
	}{
		{"delta on", true, nil, map[string]bool{"id": true, "noise": false, "seq": true}},
		{"delta on, seq fixed", true, []string{"seq"}, map[string]bool{"id": true, "noise": false, "seq": false}},
		{"delta off", false, nil, map[string]bool{"id": false, "noise": false, "seq": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			sc := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "noise", Type: arrow.PrimitiveTypes.Int64},
				{Name: "seq", Type: arrow.PrimitiveTypes.Int64}}, nil)
			base := []pq.WriterProperty{pq.WithAllocator(mem), pq.WithCompression(0), pq.WithDataPageSize(16 << 10)}
			psc, err := pqarrow.ToParquet(sc, pq.NewWriterProperties(base...), pqarrow.DefaultWriterProps())
			if err != nil {
				t.Fatal(err)
			}
			props := NewProps(psc, base, tc.delta, tc.fixed...)
			var recs []arrow.RecordBatch
			for off := 0; off < n; off += 5000 {
				cols := make([]arrow.Array, 3)
				for j, vals := range [][]int64{ids, noise, seq} {
					b := array.NewInt64Builder(mem)
					b.AppendValues(vals[off:off+5000], nil)
					cols[j] = b.NewArray()
					b.Release()
				}
				recs = append(recs, array.NewRecordBatch(sc, cols, 5000))
				for _, c := range cols {
					c.Release()
				}
			}
			// The first batch picks the encodings of the whole file.
			rdr := writeFile(t, mem, sc, props.For(recs[0]), recs)
			defer rdr.Close()
			for _, rec := range recs {
				rec.Release()
			}
			for c := range 3 {
				name := rdr.MetaData().Schema.Column(c).Name()
				md, err := rdr.MetaData().RowGroup(0).ColumnChunk(c)
				if err != nil {
					t.Fatal(err)
				}
				if got := slices.Contains(md.Encodings(), pq.Encodings.DeltaBinaryPacked); got != tc.want[name] {
					t.Errorf("column %s: encodings %v, delta-encoded %v, want %v", name, md.Encodings(), got, tc.want[name])
				}
			}
			// The checked allocator for the reader too: arrow-go's DELTA_BINARY_PACKED decoder leaked from it before v18.9.0.
			tbl := readTable(t, rdr, mem)
			defer tbl.Release()
			for j, want := range [][]int64{ids, noise, seq} {
				var got []int64
				for _, ch := range tbl.Column(j).Data().Chunks() {
					got = append(got, ch.(*array.Int64).Int64Values()...)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("column %s read back differs", tbl.Schema().Field(j).Name)
				}
			}
		})
	}
}

// TestDeltaUnsignedAcrossTheSignBit: unsigned values whose deltas wrap as signed ones (a UInt64 id past 2^63, a
// UInt32 past 2^31) are delta-encoded and read back unchanged.
func TestDeltaUnsignedAcrossTheSignBit(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sc := arrow.NewSchema([]arrow.Field{{Name: "u64", Type: arrow.PrimitiveTypes.Uint64}, {Name: "u32", Type: arrow.PrimitiveTypes.Uint32}}, nil)
	const n = 4000
	b64, b32 := array.NewUint64Builder(mem), array.NewUint32Builder(mem)
	for i := range n {
		b64.Append(math.MaxInt64 - n/2 + uint64(i))
		b32.Append(math.MaxInt32 - n/2 + uint32(i))
	}
	c64, c32 := b64.NewArray(), b32.NewArray()
	b64.Release()
	b32.Release()
	rec := array.NewRecordBatch(sc, []arrow.Array{c64, c32}, n)
	c64.Release()
	c32.Release()
	defer rec.Release()
	base := []pq.WriterProperty{pq.WithAllocator(mem)}
	psc, err := pqarrow.ToParquet(sc, pq.NewWriterProperties(base...), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	rdr := writeFile(t, mem, sc, NewProps(psc, base, true).For(rec), []arrow.RecordBatch{rec})
	defer rdr.Close()
	for c := range 2 {
		md, err := rdr.MetaData().RowGroup(0).ColumnChunk(c)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(md.Encodings(), pq.Encodings.DeltaBinaryPacked) {
			t.Errorf("column %d: encodings %v, want DELTA_BINARY_PACKED", c, md.Encodings())
		}
	}
	tbl := readTable(t, rdr, mem)
	defer tbl.Release()
	got64 := tbl.Column(0).Data().Chunk(0).(*array.Uint64).Uint64Values()
	got32 := tbl.Column(1).Data().Chunk(0).(*array.Uint32).Uint32Values()
	if !slices.Equal(got64, c64.(*array.Uint64).Uint64Values()) || !slices.Equal(got32, c32.(*array.Uint32).Uint32Values()) {
		t.Fatal("unsigned columns read back differ")
	}
}
