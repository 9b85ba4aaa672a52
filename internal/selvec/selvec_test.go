package selvec

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// batch makes rows rows of every layout Take copies itself and of some it leaves to arrow-go, with nulls.
func batch(mem memory.Allocator, rows int, rng *rand.Rand) arrow.RecordBatch {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "i16", Type: arrow.PrimitiveTypes.Int16},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 18, Scale: 4}, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "fsb", Type: &arrow.FixedSizeBinaryType{ByteWidth: 3}},
		{Name: "list", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
		{Name: "null", Type: arrow.Null, Nullable: true},
	}, nil)
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	for i := range rows {
		null := rng.IntN(5) == 0
		f := rb.Fields()
		if null {
			f[0].AppendNull()
			f[2].AppendNull()
			f[3].AppendNull()
			f[5].AppendNull()
			f[8].AppendNull()
		} else {
			f[0].(*array.Int64Builder).Append(int64(i))
			f[2].(*array.BooleanBuilder).Append(i%3 == 0)
			f[3].(*array.StringBuilder).Append(fmt.Sprintf("v%d", i%(1+rng.IntN(40))))
			f[5].(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i * 7)))
			lb := f[8].(*array.ListBuilder)
			lb.Append(true)
			lb.ValueBuilder().(*array.Int32Builder).Append(int32(i))
		}
		f[1].(*array.Int16Builder).Append(int16(i))
		f[4].(*array.LargeStringBuilder).Append(fmt.Sprintf("large-%d", i))
		f[6].(*array.TimestampBuilder).Append(arrow.Timestamp(i))
		f[7].(*array.FixedSizeBinaryBuilder).Append([]byte{byte(i), byte(i >> 8), 1})
		f[9].AppendNull()
	}
	return rb.NewRecordBatch()
}

// mask makes a mask of rows rows: kept with probability keep, in runs of about run rows, with some nulls.
func mask(mem memory.Allocator, rows int, keep float64, run int, nulls bool, rng *rand.Rand) *array.Boolean {
	b := array.NewBooleanBuilder(mem)
	defer b.Release()
	v := false
	for i := range rows {
		if i%run == 0 {
			v = rng.Float64() < keep
		}
		if nulls && rng.IntN(9) == 0 {
			b.AppendNull()
			continue
		}
		b.Append(v)
	}
	return b.NewBooleanArray()
}

// TestTakeMatchesFilter compares Take with arrow-go's FilterRecordBatch over masks of every shape, on whole
// batches and on slices at odd offsets.
func TestTakeMatchesFilter(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	full := batch(mem, 1000, rng)
	defer full.Release()
	cases := []struct {
		name      string
		keep      float64
		run       int
		nulls     bool
		from, len int
	}{
		{"every row", 1, 1000, false, 0, 1000},
		{"no row", 0, 1000, false, 0, 1000},
		{"alternate rows", 0.5, 1, false, 0, 1000},
		{"long runs", 0.9, 50, false, 0, 1000},
		{"short runs with null mask values", 0.5, 3, true, 0, 1000},
		{"a slice at an odd offset", 0.7, 5, true, 13, 611},
		{"a slice of 64 rows on a word", 0.5, 7, false, 64, 64},
		{"a slice under one word", 0.5, 2, false, 3, 40},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := full.NewSlice(int64(tc.from), int64(tc.from+tc.len))
			defer in.Release()
			m := mask(mem, tc.len, tc.keep, tc.run, tc.nulls, rng)
			defer m.Release()
			sel := FromMask(m)
			got, err := Take(ctx, mem, in, m, sel)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Release()
			if sel.Len() == 0 {
				if got.NumRows() != 0 || !got.Schema().Equal(in.Schema()) {
					t.Fatalf("no rows kept: got %v", got)
				}
				return
			}
			want, err := compute.FilterRecordBatch(compute.WithAllocator(ctx, mem), in, m, compute.DefaultFilterOptions())
			if err != nil {
				t.Fatal(err)
			}
			defer want.Release()
			if got.NumRows() != int64(sel.Len()) || !array.RecordEqual(got, want) {
				t.Fatalf("take of %d rows (%d runs) differs from arrow-go's filter:\ngot  %v\nwant %v", sel.Len(), len(sel.Runs()), got, want)
			}
			for i, c := range got.Columns() {
				if v, ok := c.(interface{ ValidateFull() error }); ok { // the string and binary arrays' offsets
					if err := v.ValidateFull(); err != nil {
						t.Errorf("column %s: %v", got.ColumnName(i), err)
					}
				}
			}
		})
	}
}

func TestFromMaskRuns(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := array.NewBooleanBuilder(mem)
	defer b.Release()
	vals := make([]bool, 130)
	for _, i := range []int{0, 1, 2, 63, 64, 65, 100, 129} {
		vals[i] = true
	}
	b.AppendValues(vals, nil)
	m := b.NewBooleanArray()
	defer m.Release()
	sel := FromMask(m)
	want := []Run{{0, 3}, {63, 66}, {100, 101}, {129, 130}}
	if fmt.Sprint(sel.Runs()) != fmt.Sprint(want) || sel.Len() != 8 || sel.All() {
		t.Errorf("runs %v (%d rows), want %v (8 rows)", sel.Runs(), sel.Len(), want)
	}
}
