package expr

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/arrowtype"
)

// inputColumns is the batch every evaluation case runs on: four rows, nulls in every column, a dictionary column.
var inputColumns = []struct {
	name, typ, json string
}{
	{"i", "int64", `[1, -7, null, 10]`},
	{"j", "int32", `[2, 3, 4, null]`},
	{"u", "uint8", `[200, 0, 1, null]`},
	{"f", "float64", `[1.5, null, -2.25, 0]`},
	{"s", "string", `["Hello", "ÀbC", null, "  pad  "]`},
	{"ls", "large_string", `["a", "b", "c", null]`},
	{"b", "bool", `[true, false, null, true]`},
	{"ts", "timestamp[us, UTC]", `["2026-11-22T13:45:30Z", "1969-12-31T23:59:59Z", null, "2024-02-29T00:00:00Z"]`},
	{"ny", "timestamp[s, America/New_York]", `["2026-11-22T03:30:00Z", "2026-07-01T04:00:00Z", null, "2026-03-08T07:30:00Z"]`},
	{"d", "date32", `["2026-11-22", null, "2024-02-29", "1970-01-01"]`},
	{"bin", "binary", `["aGk=", null, "", "AAE="]`},
	{"dec", "decimal(10,2)", `["1.25", "-3.50", null, "0.00"]`},
	{"status", "dictionary<values=string, indices=int32>", ``}, // built below
	{"odd name", "int64", `[5, 6, 7, 8]`},
	{"d64", "date64", `["2026-11-22", null, "1969-07-20", "2000-01-01"]`},
	{"f32", "float32", `[0.5, null, 2, -1]`},
	{"u64", "uint64", `[18446744073709551615, 1, null, 0]`},
	{"ns", "timestamp[ns]", `["2026-11-22T23:59:59.999999999", null, "1900-01-01T00:00:00", "2262-04-11T00:00:00"]`},
}

func inputBatch(t testing.TB, mem memory.Allocator) arrow.RecordBatch {
	t.Helper()
	var fields []arrow.Field
	var cols []arrow.Array
	for _, c := range inputColumns {
		var dt arrow.DataType
		var arr arrow.Array
		if c.name == "status" {
			dt = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
			b := array.NewDictionaryBuilder(mem, dt.(*arrow.DictionaryType)).(*array.BinaryDictionaryBuilder)
			for _, v := range []string{"paid", "open", "", "paid"} {
				if v == "" {
					b.AppendNull()
				} else if err := b.AppendString(v); err != nil {
					t.Fatal(err)
				}
			}
			arr = b.NewArray()
			b.Release()
		} else {
			dt = arrowtype.MustParse(c.typ)
			var err error
			if arr, _, err = array.FromJSON(mem, dt, strings.NewReader(c.json)); err != nil {
				t.Fatalf("column %s: %v", c.name, err)
			}
		}
		fields = append(fields, arrow.Field{Name: c.name, Type: dt, Nullable: true})
		cols = append(cols, arr)
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, 4)
	for _, c := range cols {
		c.Release()
	}
	return rec
}

var testConstants = Constants{
	Now: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), RunInstance: "2026-11-22", PartitionID: "p-42", Set: true,
}

func TestEval(t *testing.T) {
	tests := []struct {
		expr string
		typ  string // result type
		want string // JSON, one value per input row
	}{
		// literals and columns
		{"1", "int64", `[1, 1, 1, 1]`},
		{"2.5", "float64", `[2.5, 2.5, 2.5, 2.5]`},
		{"'x'", "string", `["x", "x", "x", "x"]`},
		{"'it''s'", "string", `["it's", "it's", "it's", "it's"]`},
		{"true", "bool", `[true, true, true, true]`},
		{"null", "null", `[null, null, null, null]`},
		{"timestamp '2026-11-22 10:00:00'", "timestamp[us, UTC]", `["2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z"]`},
		{"i", "int64", `[1, -7, null, 10]`},
		{`"odd name"`, "int64", `[5, 6, 7, 8]`},
		{"status", "string", `["paid", "open", null, "paid"]`},
		{"-9223372036854775808 < i", "bool", `[true, true, null, true]`},
		// arithmetic
		{"i + j", "int64", `[3, -4, null, null]`},
		{"i - 1", "int64", `[0, -8, null, 9]`},
		{"i * j", "int64", `[2, -21, null, null]`},
		{"i / 2", "float64", `[0.5, -3.5, null, 5]`},
		{"i % 3", "int64", `[1, -1, null, 1]`},
		{"i % 0", "int64", `[null, null, null, null]`},
		{"f % 1", "float64", `[0.5, null, -0.25, 0]`},
		{"-i", "int64", `[-1, 7, null, -10]`},
		{"i + f", "float64", `[2.5, null, null, 10]`},
		{"u + 1", "int64", `[201, 1, 2, null]`},
		{"dec * 2", "float64", `[2.5, -7, null, 0]`},
		{"i + null", "int64", `[null, null, null, null]`},
		{"1 + 2 * 3 - 4 / 2", "float64", `[5, 5, 5, 5]`},
		{"(1 + 2) * 3", "int64", `[9, 9, 9, 9]`},
		// comparisons
		{"i = 1", "bool", `[true, false, null, false]`},
		{"i == j", "bool", `[false, false, null, null]`},
		{"i != 1", "bool", `[false, true, null, true]`},
		{"i <> 1", "bool", `[false, true, null, true]`},
		{"i < j", "bool", `[true, true, null, null]`},
		{"i <= 1", "bool", `[true, true, null, false]`},
		{"f > 0", "bool", `[true, null, false, false]`},
		{"f >= 0", "bool", `[true, null, false, true]`},
		{"s = 'Hello'", "bool", `[true, false, null, false]`},
		{"ls < 'b'", "bool", `[true, false, false, null]`},
		{"status = 'paid'", "bool", `[true, false, null, true]`},
		{"ts >= '2026-01-01'", "bool", `[true, false, null, false]`},
		{"ts < timestamp '2000-01-01T00:00:00+01:00'", "bool", `[false, true, null, false]`},
		{"d = '2024-02-29'", "bool", `[false, null, true, false]`},
		{"ny > ts", "bool", `[false, true, null, true]`},
		{"b = true", "bool", `[true, false, null, true]`},
		{"dec > 0", "bool", `[true, false, null, false]`},
		// boolean logic (Kleene: null and false is false, null or true is true)
		{"b and i > 0", "bool", `[true, false, null, true]`},
		{"b or null", "bool", `[true, null, null, true]`},
		{"b and null", "bool", `[null, false, null, null]`},
		{"not b", "bool", `[false, true, null, false]`},
		{"not i > 1 or false", "bool", `[true, true, null, false]`},
		// is null, in
		{"s is null", "bool", `[false, false, true, false]`},
		{"s is not null", "bool", `[true, true, false, true]`},
		{"null is null", "bool", `[true, true, true, true]`},
		{"i in (1, 10)", "bool", `[true, false, null, true]`},
		{"i not in (1, 10)", "bool", `[false, true, null, false]`},
		{"status in ('open', 'void')", "bool", `[false, true, null, false]`},
		{"f in (1, 0)", "bool", `[false, null, false, true]`},
		// coalesce, case
		{"coalesce(j, i, 0)", "int64", `[2, 3, 4, 10]`},
		{"coalesce(s, 'none')", "string", `["Hello", "ÀbC", "none", "  pad  "]`},
		{"coalesce(null, j)", "int32", `[2, 3, 4, null]`},
		{"coalesce(i)", "int64", `[1, -7, null, 10]`},
		{"case when i > 5 then 'big' when i > 0 then 'small' else 'neg' end", "string", `["small", "neg", "neg", "big"]`},
		{"case when b then f end", "float64", `[1.5, null, null, 0]`},
		{"case when i is null then 0 else i end", "int64", `[1, -7, 0, 10]`},
		{"case when null then 1 else 2 end", "int64", `[2, 2, 2, 2]`},
		// strings
		{"lower(s)", "string", `["hello", "àbc", null, "  pad  "]`},
		{"upper(s)", "string", `["HELLO", "ÀBC", null, "  PAD  "]`},
		{"upper(status)", "string", `["PAID", "OPEN", null, "PAID"]`},
		{"trim(s)", "string", `["Hello", "ÀbC", null, "pad"]`},
		{"ltrim(s)", "string", `["Hello", "ÀbC", null, "pad  "]`},
		{"rtrim(s)", "string", `["Hello", "ÀbC", null, "  pad"]`},
		{"lower(ls)", "string", `["a", "b", "c", null]`},
		{"substr(s, 2)", "string", `["ello", "bC", null, " pad  "]`},
		{"substr(s, 1, 2)", "string", `["He", "Àb", null, "  "]`},
		{"substr(s, -2)", "string", `["lo", "bC", null, "  "]`},
		{"substr(s, 0, 2)", "string", `["He", "Àb", null, "  "]`},
		{"substr(s, 10, 2)", "string", `["", "", null, ""]`},
		{"concat(s, '-', i)", "string", `["Hello-1", "ÀbC--7", null, "  pad  -10"]`},
		{"s || '!'", "string", `["Hello!", "ÀbC!", null, "  pad  !"]`},
		{"concat('a', 1, true)", "string", `["a1true", "a1true", "a1true", "a1true"]`},
		{"concat(s, null)", "string", `[null, null, null, null]`},
		{"replace(s, 'l', 'L')", "string", `["HeLLo", "ÀbC", null, "  pad  "]`},
		{"replace(s, ' ', '')", "string", `["Hello", "ÀbC", null, "pad"]`},
		{"regexp_match(s, '^[A-Z]')", "bool", `[true, false, null, false]`},
		{"regexp_match(status, 'ai')", "bool", `[true, false, null, true]`},
		// dates
		{"year(ts)", "int32", `[2026, 1969, null, 2024]`},
		{"month(ts)", "int32", `[11, 12, null, 2]`},
		{"day(ts)", "int32", `[22, 31, null, 29]`},
		{"hour(ts)", "int32", `[13, 23, null, 0]`},
		{"hour(ny)", "int32", `[22, 0, null, 3]`},
		{"day(ny)", "int32", `[21, 1, null, 8]`},
		{"year(d)", "int32", `[2026, null, 2024, 1970]`},
		{"month(d)", "int32", `[11, null, 2, 1]`},
		{"day(d)", "int32", `[22, null, 29, 1]`},
		{"date_trunc('day', ts)", "timestamp[us, UTC]", `["2026-11-22T00:00:00Z", "1969-12-31T00:00:00Z", null, "2024-02-29T00:00:00Z"]`},
		{"date_trunc('HOUR', ts)", "timestamp[us, UTC]", `["2026-11-22T13:00:00Z", "1969-12-31T23:00:00Z", null, "2024-02-29T00:00:00Z"]`},
		{"date_trunc('minute', ts)", "timestamp[us, UTC]", `["2026-11-22T13:45:00Z", "1969-12-31T23:59:00Z", null, "2024-02-29T00:00:00Z"]`},
		{"date_trunc('month', ts)", "timestamp[us, UTC]", `["2026-11-01T00:00:00Z", "1969-12-01T00:00:00Z", null, "2024-02-01T00:00:00Z"]`},
		{"date_trunc('quarter', ts)", "timestamp[us, UTC]", `["2026-10-01T00:00:00Z", "1969-10-01T00:00:00Z", null, "2024-01-01T00:00:00Z"]`},
		{"date_trunc('year', ts)", "timestamp[us, UTC]", `["2026-01-01T00:00:00Z", "1969-01-01T00:00:00Z", null, "2024-01-01T00:00:00Z"]`},
		{"date_trunc('week', ts)", "timestamp[us, UTC]", `["2026-11-16T00:00:00Z", "1969-12-29T00:00:00Z", null, "2024-02-26T00:00:00Z"]`},
		{"date_trunc('day', ny)", "timestamp[s, America/New_York]", `["2026-11-21T05:00:00Z", "2026-07-01T04:00:00Z", null, "2026-03-08T05:00:00Z"]`},
		{"date_trunc('hour', ny)", "timestamp[s, America/New_York]", `["2026-11-22T03:00:00Z", "2026-07-01T04:00:00Z", null, "2026-03-08T07:00:00Z"]`},
		{"date_trunc('month', d)", "date32", `["2026-11-01", null, "2024-02-01", "1970-01-01"]`},
		{"date_trunc('week', d)", "date32", `["2026-11-16", null, "2024-02-26", "1969-12-29"]`},
		// other widths and units
		{"year(d64)", "int32", `[2026, null, 1969, 2000]`},
		{"month(d64) + day(d64)", "int64", `[33, null, 27, 2]`},
		{"f32 * 2", "float64", `[1, null, 4, -2]`},
		{"f32 = 0.5", "bool", `[true, null, false, false]`},
		{"u64 = 1", "bool", `[false, true, null, false]`},
		{"1 = u64", "bool", `[false, true, null, false]`},
		{"u64 in (0, 1)", "bool", `[false, true, null, true]`},
		{"j = 10000000000", "bool", `[false, false, false, null]`},
		{"j in (3, 4)", "bool", `[false, true, true, null]`},
		{"u = 456", "bool", `[false, false, false, null]`}, // 456 does not fit uint8: compared as int64, never wrapped
		{"u > -1", "bool", `[true, true, true, null]`},
		{"u in (200, 456)", "bool", `[true, false, false, null]`},
		{"year(ns)", "int32", `[2026, null, 1900, 2262]`},
		{"date_trunc('second', ns)", "timestamp[ns]", `["2026-11-22T23:59:59", null, "1900-01-01T00:00:00", "2262-04-11T00:00:00"]`},
		{"concat(d, ' ', b, ' ', f)", "string", `["2026-11-22 true 1.5", null, null, "1970-01-01 true 0"]`},
		{"concat(ts)", "string", `["2026-11-22T13:45:30Z", "1969-12-31T23:59:59Z", null, "2024-02-29T00:00:00Z"]`},
		// hashing
		{"sha256(s)", "string", `["185f8db32271fe25f561a6fc938b2e264306ec304eda518007d1764826381969", "951bd71e798c0b7103893a53055868c2e31774183200f5f2bf9064e3b76a5f2e", null, "6878edd58ea6a5eb78198e571a9b75aa6b20c363cd2fc14a52c948d9878c228a"]`},
		{"xxhash64('')", "int64", `[-1205034819632174695, -1205034819632174695, -1205034819632174695, -1205034819632174695]`},
		// per-partition constants
		{"now()", "timestamp[us, UTC]", `["2026-11-23T08:00:00Z", "2026-11-23T08:00:00Z", "2026-11-23T08:00:00Z", "2026-11-23T08:00:00Z"]`},
		{"run_instance()", "string", `["2026-11-22", "2026-11-22", "2026-11-22", "2026-11-22"]`},
		{"concat(partition_id(), '/', i)", "string", `["p-42/1", "p-42/-7", null, "p-42/10"]`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			in := inputBatch(t, mem)
			defer in.Release()
			c, err := Compile(tt.expr, in.Schema())
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			wantType := arrowtype.MustParse(tt.typ)
			if !arrow.TypeEqual(c.Type(), wantType) {
				t.Fatalf("type = %s, want %s", typeName(c.Type()), tt.typ)
			}
			want, _, err := array.FromJSON(mem, wantType, strings.NewReader(tt.want))
			if err != nil {
				t.Fatalf("want: %v", err)
			}
			defer want.Release()
			// The whole batch, then slices with offsets: empty, one row, the middle.
			for _, sl := range [][2]int64{{0, 4}, {0, 0}, {3, 4}, {1, 3}, {2, 2}} {
				batch := in.NewSlice(sl[0], sl[1])
				got, err := c.Eval(context.Background(), mem, batch, testConstants)
				batch.Release()
				if err != nil {
					t.Fatalf("rows [%d,%d): %v", sl[0], sl[1], err)
				}
				w := array.NewSlice(want, sl[0], sl[1])
				if !arrow.TypeEqual(got.DataType(), wantType) {
					t.Errorf("rows [%d,%d): got type %s, want %s", sl[0], sl[1], got.DataType(), wantType)
				} else if !array.Equal(got, w) {
					t.Errorf("rows [%d,%d):\n got %v\nwant %v", sl[0], sl[1], got, w)
				}
				w.Release()
				got.Release()
			}
		})
	}
}
