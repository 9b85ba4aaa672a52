//go:build chserver

package clickhouse

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/chtest"
)

// Every type 18.16 has, from a real table through the native protocol: Arrow type and cell text per row.
func TestTypes(t *testing.T) {
	srv := chtest.Start(t)
	db := srv.CreateDatabase(t)
	cases := []struct {
		typ    string
		values []string // SQL literals, one row each
		dt     string   // the Arrow type
		want   []string // cell text, one per row
	}{
		{"Int8", []string{"-128", "127"}, "int8", []string{"-128", "127"}},
		{"Int16", []string{"-32768", "32767"}, "int16", []string{"-32768", "32767"}},
		{"Int32", []string{"-2147483648", "2147483647"}, "int32", []string{"-2147483648", "2147483647"}},
		{"Int64", []string{"-9223372036854775808", "9223372036854775807"}, "int64", []string{"-9223372036854775808", "9223372036854775807"}},
		{"UInt8", []string{"0", "255"}, "uint8", []string{"0", "255"}},
		{"UInt16", []string{"0", "65535"}, "uint16", []string{"0", "65535"}},
		{"UInt32", []string{"0", "4294967295"}, "uint32", []string{"0", "4294967295"}},
		{"UInt64", []string{"0", "18446744073709551615"}, "uint64", []string{"0", "18446744073709551615"}},
		{"Float32", []string{"1.5", "-inf"}, "float32", []string{"1.5", "-Inf"}},
		{"Float64", []string{"-2.25", "nan"}, "float64", []string{"-2.25", "NaN"}},
		{"String", []string{"''", "'héllo\\tworld'"}, "utf8", []string{`""`, `"héllo\tworld"`}},
		{"FixedString(3)", []string{"'ab'", "'xyz'"}, "fixed_size_binary[3]", []string{`"ab\x00"`, `"xyz"`}},
		{"Date", []string{"'1970-01-01'", "'2026-11-22'"}, "date32", []string{"1970-01-01", "2026-11-22"}},
		{"DateTime", []string{"'2026-11-22 10:00:00'", "'1970-01-01 00:00:01'"}, "timestamp[s, tz=UTC]", []string{"2026-11-22T10:00:00Z", "1970-01-01T00:00:01Z"}},
		{"DateTime('Asia/Tokyo')", []string{"'2026-11-22 10:00:00'"}, "timestamp[s, tz=Asia/Tokyo]", []string{"2026-11-22T01:00:00Z"}},
		{"Decimal(9, 2)", []string{"-1234567.89", "0.01"}, "decimal(9, 2)", []string{"-1234567.89", "0.01"}},
		{"Decimal(18, 4)", []string{"-12345678901234.5678", "1"}, "decimal(18, 4)", []string{"-12345678901234.5678", "1.0000"}},
		{"Decimal(38, 10)", []string{"toDecimal128('-1234567890123456789012345678.0123456789', 10)"}, "decimal(38, 10)", []string{"-1234567890123456789012345678.0123456789"}},
		{"UUID", []string{"toUUID('01234567-89ab-cdef-0123-456789abcdef')"}, "extension<arrow.uuid>", []string{"01234567-89ab-cdef-0123-456789abcdef"}},
		{"Nullable(UUID)", []string{"NULL", "'01234567-89ab-cdef-0123-456789abcdef'"}, "extension<arrow.uuid>", []string{"null", "01234567-89ab-cdef-0123-456789abcdef"}},
		{"Array(UUID)", []string{"['01234567-89ab-cdef-0123-456789abcdef']"}, "list<item: extension<arrow.uuid>>", []string{"[01234567-89ab-cdef-0123-456789abcdef]"}},
		{"Enum8('a' = -5, 'b b' = 7)", []string{"'a'", "'b b'"}, "dictionary<values=utf8, indices=int32, ordered=false>", []string{`"a"`, `"b b"`}},
		{"Enum16('x' = -1000, 'y' = 1000)", []string{"'y'", "'x'"}, "dictionary<values=utf8, indices=int32, ordered=false>", []string{`"y"`, `"x"`}},
		{"LowCardinality(String)", []string{"'v1'", "'v2'", "'v1'"}, "dictionary<values=utf8, indices=int32, ordered=false>", []string{`"v1"`, `"v2"`, `"v1"`}},
		{"Nullable(Int64)", []string{"NULL", "7"}, "int64", []string{"null", "7"}},
		{"Nullable(String)", []string{"'a'", "NULL"}, "utf8", []string{`"a"`, "null"}},
		{"Nullable(Enum8('p' = 1, 'q' = 2))", []string{"NULL", "'q'"}, "dictionary<values=utf8, indices=int32, ordered=false>", []string{"null", `"q"`}},
		{"Nullable(Decimal(9, 1))", []string{"NULL", "-3.5"}, "decimal(9, 1)", []string{"null", "-3.5"}},
		{"Array(UInt32)", []string{"[]", "[1, 2, 3]"}, "list<item: uint32>", []string{"[]", "[1, 2, 3]"}},
		{"Array(Nullable(String))", []string{"[NULL, 'x']", "[]"}, "list<item: utf8, nullable>", []string{`[null, "x"]`, "[]"}},
		{"Array(Array(Int16))", []string{"[[1], [], [2, 3]]", "[]"}, "list<item: list<item: int16>>", []string{"[[1], [], [2, 3]]", "[]"}},
		{"Array(LowCardinality(String))", []string{"['a', 'b', 'a']", "['c']"}, "list<item: dictionary<values=utf8, indices=int32, ordered=false>>", []string{`["a", "b", "a"]`, `["c"]`}},
		{"Tuple(UInt8, String)", []string{"(1, 'a')", "(2, 'b')"}, "struct<1: uint8, 2: utf8>", []string{`{1: 1, 2: "a"}`, `{1: 2, 2: "b"}`}},
		{"Tuple(Nullable(Int8), Array(String))", []string{"(NULL, ['x'])"}, "struct<1: int8 nullable, 2: list<item: utf8>>", []string{`{1: null, 2: ["x"]}`}},
	}
	var cols, vals []string
	for i, c := range cases {
		cols = append(cols, fmt.Sprintf("c%d %s", i, c.typ))
	}
	rows := 0
	for _, c := range cases {
		rows = max(rows, len(c.values))
	}
	for r := 0; r < rows; r++ {
		var row []string
		row = append(row, fmt.Sprint(r))
		for _, c := range cases {
			v := c.values[min(r, len(c.values)-1)]
			row = append(row, v)
		}
		vals = append(vals, "("+strings.Join(row, ", ")+")")
	}
	srv.Exec(t, db, "CREATE TABLE types (row UInt8, "+strings.Join(cols, ", ")+") ENGINE = MergeTree ORDER BY row",
		"INSERT INTO types VALUES "+strings.Join(vals, ", "))

	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newConsumer(t, mem, Config{Addr: srv.Addr(), Database: db, Query: "SELECT * FROM types ORDER BY row"})
	got, schema := testkit.ReadAllText(t, c)
	if len(got) != rows {
		t.Fatalf("%d rows, want %d", len(got), rows)
	}
	for i, tc := range cases {
		f := schema.Field(i + 1)
		if f.Type.String() != tc.dt {
			t.Errorf("%s: Arrow type %s, want %s", tc.typ, f.Type, tc.dt)
		}
		if nullable := strings.HasPrefix(tc.typ, "Nullable"); f.Nullable != nullable {
			t.Errorf("%s: nullable %v, want %v", tc.typ, f.Nullable, nullable)
		}
		for r := 0; r < rows; r++ {
			want := tc.want[min(r, len(tc.want)-1)]
			if cell := strings.Split(got[r], " | ")[i+1]; cell != want {
				t.Errorf("%s row %d: %s, want %s", tc.typ, r, cell, want)
			}
		}
	}
}
