package iceberg

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/testkit"
)

// TestMoreTypes round-trips the types outside the conformance suite's set that the README's mapping lists.
// Unpartitioned tables are written by iceberg-go, partitioned ones by the loader's direct writer; a uuid column
// can be a partition source.
func TestMoreTypes(t *testing.T) {
	for _, spec := range [][]string{nil, {"bucket(4, u)"}} {
		t.Run(fmt.Sprint(spec), func(t *testing.T) { testMoreTypes(t, spec) })
	}
}

func testMoreTypes(t *testing.T, spec []string) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	l := newLoader(t, t.TempDir(), func(c *Config) { c.PartitionBy = spec })
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "fb", Type: &arrow.FixedSizeBinaryType{ByteWidth: 4}, Nullable: true},
		{Name: "tm", Type: arrow.FixedWidthTypes.Time64us, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
		{Name: "tsms", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "u", Type: extensions.NewUUIDType(), Nullable: true},
		{Name: "j", Type: arrowtype.JSON(), Nullable: true},
	}, nil)
	rows := `[{"id": 1, "ls": "large", "fb": "AQIDBA==", "tm": "13:45:00.123456", "ts": "2026-11-22T13:45:00.123456", "tsms": "2026-11-22T13:45:00.123Z", "m": [{"key": "a", "value": 1}], "u": "01234567-89ab-cdef-0123-456789abcdef", "j": "{\"a\": [1]}"},
		{"id": 2}]`
	rec := testkit.Records(t, mem, schema, rows)
	defer rec.Release()
	testkit.LoadPartition(context.Background(), t, l, schema, testkit.PartitionFor("types"), rec)
	got := scan(t, l, mem, nil)
	defer got.Release()
	// The scanner reads back Iceberg's types: large_utf8 as utf8, millisecond timestamps in microseconds.
	want := testkit.Records(t, mem, got.Schema(), rows)
	defer want.Release()
	testkit.AssertRecordsEqual(t, want, got, testkit.SortBy("id"))

	// Arrow's uuid extension is Iceberg's uuid, stored (as the spec says) as a 16-byte fixed with Parquet's UUID
	// logical type, which other Parquet readers see as UUID.
	f, ok := loadTable(t, l).Schema().FindFieldByName("u")
	if !ok || f.Type.String() != "uuid" {
		t.Errorf("Iceberg column u is %v, want uuid", f.Type)
	}
	// Iceberg has no JSON type: Arrow's json extension is written as the string it holds.
	if f, ok := loadTable(t, l).Schema().FindFieldByName("j"); !ok || f.Type.String() != "string" {
		t.Errorf("Iceberg column j is %v, want string", f.Type)
	}
	res := testkit.DuckDBQuery(t, "SELECT typeof(u) AS tu FROM read_parquet("+duckList(dataFiles(t, l))+") LIMIT 1")
	if len(res) != 1 || res[0]["tu"] != "UUID" {
		t.Errorf("DuckDB reads the data files' u column as %v, want UUID", res)
	}
}
