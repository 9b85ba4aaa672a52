package testkit

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files from the current output")

// checkGolden compares got with testdata/name.golden, or rewrites the file under -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	Golden(t, filepath.Join("testdata", name+".golden"), got, *update)
}

func TestDiffRecords(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	orders := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "total", Type: &arrow.Decimal128Type{Precision: 18, Scale: 2}, Nullable: true},
		{Name: "status", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
	}, nil)
	floats := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "total", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "extra", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	reordered := arrow.NewSchema([]arrow.Field{orders.Field(1), orders.Field(0), orders.Field(2), orders.Field(3), orders.Field(4)}, nil)
	base := `[
		{"id": 1, "total": "12.50", "status": "new", "at": "2026-11-22T10:00:00Z", "tags": [1, 2]},
		{"id": 2, "total": null, "status": "paid", "at": "2026-11-22T10:00:00.5Z", "tags": []},
		{"id": 3, "total": "0.10", "status": "", "at": null, "tags": null}
	]`
	var many strings.Builder
	many.WriteString("[")
	for i := range 30 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(`{"id": ` + string(rune('0'+i%10)) + `, "status": "x"}`)
	}
	many.WriteString("]")
	var manyOther = strings.ReplaceAll(many.String(), `"x"`, `"y"`)

	tests := []struct {
		name       string
		wantSchema *arrow.Schema
		want       string
		gotSchema  *arrow.Schema
		got        string
		opts       []DiffOption
		equal      bool
	}{
		{name: "equal", wantSchema: orders, want: base, gotSchema: orders, got: base, equal: true},
		{name: "nan_equals_nan", wantSchema: floats, want: `[{"id": 1, "total": "NaN", "extra": true}]`,
			gotSchema: floats, got: `[{"id": 1, "total": "NaN", "extra": true}]`, equal: true},
		{name: "cells", wantSchema: orders, want: base, gotSchema: orders, got: `[
			{"id": 1, "total": "12.05", "status": "new", "at": "2026-11-22T10:00:00Z", "tags": [1, 2]},
			{"id": 2, "total": "0", "status": "paid", "at": "2026-11-22T10:00:00.25Z", "tags": [null]},
			{"id": 3, "total": "0.10", "status": null, "at": null, "tags": []}
		]`},
		{name: "schema", wantSchema: orders, want: base, gotSchema: floats,
			got: `[{"id": 1, "total": 12.5, "extra": true}, {"id": 2, "total": null, "extra": false}, {"id": 3, "total": 0.1, "extra": true}]`},
		{name: "rows", wantSchema: orders, want: base, gotSchema: orders, got: `[
			{"id": 1, "total": "12.50", "status": "new", "at": "2026-11-22T10:00:00Z", "tags": [1, 2]}
		]`},
		{name: "column_order", wantSchema: orders, want: base, gotSchema: reordered, got: base},
		{name: "unordered_without_sort", wantSchema: orders, want: base, gotSchema: orders, got: `[
			{"id": 3, "total": "0.10", "status": "", "at": null, "tags": null},
			{"id": 1, "total": "12.50", "status": "new", "at": "2026-11-22T10:00:00Z", "tags": [1, 2]},
			{"id": 2, "total": null, "status": "paid", "at": "2026-11-22T10:00:00.5Z", "tags": []}
		]`},
		{name: "unordered_sorted", wantSchema: orders, want: base, gotSchema: orders, opts: []DiffOption{SortBy("id")}, equal: true, got: `[
			{"id": 3, "total": "0.10", "status": "", "at": null, "tags": null},
			{"id": 1, "total": "12.50", "status": "new", "at": "2026-11-22T10:00:00Z", "tags": [1, 2]},
			{"id": 2, "total": null, "status": "paid", "at": "2026-11-22T10:00:00.5Z", "tags": []}
		]`},
		{name: "sorted_cells", wantSchema: orders, want: base, gotSchema: orders, opts: []DiffOption{SortBy("total", "id")}, got: `[
			{"id": 3, "total": "0.10", "status": "", "at": null, "tags": null},
			{"id": 1, "total": "12.50", "status": "old", "at": "2026-11-22T10:00:00Z", "tags": [1, 2]},
			{"id": 2, "total": null, "status": "paid", "at": "2026-11-22T10:00:00.5Z", "tags": []}
		]`},
		{name: "sort_column_missing", wantSchema: orders, want: base, gotSchema: orders, got: base, opts: []DiffOption{SortBy("nope")}},
		{name: "more_than_20_cells", wantSchema: orders, want: many.String(), gotSchema: orders, got: manyOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := Records(t, mem, tc.wantSchema, tc.want)
			defer want.Release()
			got := Records(t, mem, tc.gotSchema, tc.got)
			defer got.Release()
			d := DiffRecords(want, got, tc.opts...)
			if (d == "") != tc.equal {
				t.Fatalf("DiffRecords equal = %v, want %v; report:\n%s", d == "", tc.equal, d)
			}
			if !tc.equal {
				checkGolden(t, "diff_"+tc.name, d)
			}
		})
	}
}

func TestDiffRecordsNil(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rec := Records(t, mem, s, `[{"id": 1}]`)
	defer rec.Release()
	tests := []struct {
		name      string
		want, got arrow.RecordBatch
		report    string
	}{
		{"both nil", nil, nil, ""},
		{"want nil", nil, rec, "want no record, got 1 rows of schema schema:\n  fields: 1\n    - id: type=int64\n"},
		{"got nil", rec, nil, "want 1 rows of schema schema:\n  fields: 1\n    - id: type=int64, got no record\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := DiffRecords(tc.want, tc.got); d != tc.report {
				t.Errorf("DiffRecords = %q, want %q", d, tc.report)
			}
		})
	}
}
