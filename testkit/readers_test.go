package testkit

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// writeParquet writes rec to path with pqarrow, creating the directories.
func writeParquet(t *testing.T, mem memory.Allocator, path string, rec arrow.RecordBatch) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, parquet.NewWriterProperties(parquet.WithAllocator(mem)),
		pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
	if err != nil {
		t.Fatalf("pqarrow.NewFileWriter: %v", err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	if err := w.Close(); err != nil { // closes f too
		t.Fatalf("closing %s: %v", path, err)
	}
}

func ordersSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "total", Type: &arrow.Decimal128Type{Precision: 18, Scale: 4}, Nullable: true},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "dim", Type: arrow.StructOf(
			arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
		), Nullable: true},
	}, nil)
}

func TestReadParquet(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := ordersSchema()
	part0 := RecordsYAML(t, mem, schema, `
- {id: 1, total: 12.5000, at: 2026-11-22T10:00:00.123456Z, name: ada, tags: [1, 2], dim: {a: 1, b: x}}
- {id: 2, total: null, at: null, name: null, tags: null, dim: null}
`)
	defer part0.Release()
	part1 := RecordsYAML(t, mem, schema, `
- {id: 3, total: -0.0001, at: 1970-01-01T00:00:00Z, name: "", tags: [], dim: {a: null, b: null}}
`)
	defer part1.Release()
	want := ConcatRecords(mem, []arrow.RecordBatch{part0, part1})
	defer want.Release()

	dir := t.TempDir()
	hive := filepath.Join(dir, "date=2026-11-22")
	// Written out of order: ReadParquet reads in sorted path order whatever the directory listing says.
	writeParquet(t, mem, filepath.Join(hive, "part-1.parquet"), part1)
	writeParquet(t, mem, filepath.Join(hive, "part-0.parquet"), part0)
	// Files a reader must not see: temporaries, markers, and hidden directories.
	writeParquet(t, mem, filepath.Join(hive, ".tmp-part-2.parquet"), part1)
	writeParquet(t, mem, filepath.Join(dir, "_staging", "part-3.parquet"), part1)
	if err := os.WriteFile(filepath.Join(hive, "_SUCCESS"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		path string
		want arrow.RecordBatch
	}{
		{"directory", dir, want},
		{"hive directory", hive, want},
		{"one file", filepath.Join(hive, "part-1.parquet"), part1},
		{"empty directory", t.TempDir(), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ReadParquet(t, mem, tc.path)
			if got != nil {
				defer got.Release()
			}
			AssertRecordsEqual(t, tc.want, got)
		})
	}
	if got, want := ParquetFiles(t, dir), []string{filepath.Join(hive, "part-0.parquet"), filepath.Join(hive, "part-1.parquet")}; !reflect.DeepEqual(got, want) {
		t.Errorf("ParquetFiles = %v, want %v", got, want)
	}
}

func TestRecordsYAMLMatchesJSON(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "d", Type: &arrow.Decimal128Type{Precision: 38, Scale: 10}, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	tests := []struct {
		name, yaml, json string
	}{
		{"scalars",
			"- {i8: -128, u64: 18446744073709551615, f: 1.5, ok: true, d: 1234567890123456789012345678.0123456789, day: 2026-11-22, s: hello}",
			`[{"i8": -128, "u64": 18446744073709551615, "f": 1.5, "ok": true, "d": "1234567890123456789012345678.0123456789", "day": "2026-11-22", "s": "hello"}]`},
		{"yaml number forms", "- {i8: 0x1F, u64: 1_000, f: 1e3}", `[{"i8": 31, "u64": 1000, "f": 1000}]`},
		{"nulls and missing keys", "- {i8: null, s: ~}\n- {}", `[{}, {}]`},
		{"strings that look like other types", `- {s: "12.50"}`, `[{"s": "12.50"}]`},
		{"no rows", "[]", "[]"},
		{"empty document", "", "[]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := Records(t, mem, schema, tc.json)
			defer want.Release()
			got := RecordsYAML(t, mem, schema, tc.yaml)
			defer got.Release()
			AssertRecordsEqual(t, want, got)
		})
	}
}

func TestDuckDBQuery(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := ordersSchema()
	// 9007199254740993 = 2^53+1 has no float64; 12.3456 + 0.0001 is not exact in binary floating point.
	rec := Records(t, mem, schema, `[
		{"id": 9007199254740993, "total": "12.3456", "at": "2026-11-22T13:45:00.123456Z", "name": "ada", "tags": [1, 2], "dim": {"a": 1, "b": "x"}},
		{"id": 1, "total": "0.0001", "at": "2026-11-22T00:00:00Z", "name": null},
		{"id": 2, "total": null, "at": null, "name": "bob"}
	]`)
	defer rec.Release()
	path := filepath.Join(t.TempDir(), "orders.parquet")
	writeParquet(t, mem, path, rec)

	tests := []struct {
		name string
		sql  string
		want []map[string]string
	}{
		{"aggregates",
			"SELECT count(*) AS n, sum(id) AS ids, sum(total) AS total, max(\"at\") AS last FROM read_parquet('" + path + "')",
			[]map[string]string{{"n": "3", "ids": "9007199254740996", "total": "12.3457", "last": "2026-11-22 13:45:00.123456+00"}}},
		{"rows with nulls left out",
			"SELECT id, total, name, tags, dim FROM read_parquet('" + path + "') ORDER BY id",
			[]map[string]string{
				{"id": "1", "total": "0.0001"},
				{"id": "2", "name": "bob"},
				{"id": "9007199254740993", "total": "12.3456", "name": "ada", "tags": `["1","2"]`, "dim": `{"a":1,"b":"x"}`},
			}},
		{"no rows", "SELECT id FROM read_parquet('" + path + "') WHERE id < 0", []map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := DuckDBQuery(t, tc.sql)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DuckDBQuery(%s)\n got %v\nwant %v", tc.sql, got, tc.want)
			}
		})
	}
}
