package iceberg

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/testkit"
)

// TestMoreTypes round-trips the types outside the conformance suite's set that the README's mapping lists.
func TestMoreTypes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	l := newLoader(t, t.TempDir(), nil)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "fb", Type: &arrow.FixedSizeBinaryType{ByteWidth: 4}, Nullable: true},
		{Name: "tm", Type: arrow.FixedWidthTypes.Time64us, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
		{Name: "tsms", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), Nullable: true},
	}, nil)
	rows := `[{"id": 1, "ls": "large", "fb": "AQIDBA==", "tm": "13:45:00.123456", "ts": "2026-11-22T13:45:00.123456", "tsms": "2026-11-22T13:45:00.123Z", "m": [{"key": "a", "value": 1}]},
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
}
