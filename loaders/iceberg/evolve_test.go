package iceberg

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/testkit"
)

func TestSchemaEvolution(t *testing.T) {
	base := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "d", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
	}
	with := func(edit func([]arrow.Field) []arrow.Field) *arrow.Schema {
		return arrow.NewSchema(edit(append([]arrow.Field(nil), base...)), nil)
	}
	cases := []struct {
		name    string
		policy  string
		schema  *arrow.Schema
		rows    string
		want    string // error text; "" = accepted
		columns string // the table's schema afterwards (schemaLine)
	}{
		{"same schema", "fail", with(func(f []arrow.Field) []arrow.Field { return f }), `[{"id": 2, "a": 1}]`, "",
			"id long not null, a int, f float, d decimal(10, 2)"},
		{"new column refused", "fail", with(func(f []arrow.Field) []arrow.Field {
			return append(f, arrow.Field{Name: "c", Type: arrow.BinaryTypes.String, Nullable: true})
		}), `[{"id": 2}]`, "column \"c\" (string) is not in the table (schema_evolution: add_columns adds it)", ""},
		{"new column added", "add_columns", with(func(f []arrow.Field) []arrow.Field {
			return append(f, arrow.Field{Name: "c", Type: arrow.BinaryTypes.String})
		}), `[{"id": 2, "c": "x"}]`, "", "id long not null, a int, f float, d decimal(10, 2), c string"},
		{"widening needs widen", "add_columns", with(func(f []arrow.Field) []arrow.Field {
			f[1].Type = arrow.PrimitiveTypes.Int64
			return f
		}), `[{"id": 2}]`, "column \"a\" is int in the table but long in the pipeline (schema_evolution: widen promotes it)", ""},
		{"widen", "widen", with(func(f []arrow.Field) []arrow.Field {
			f[1].Type, f[2].Type, f[3].Type = arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float64, &arrow.Decimal128Type{Precision: 12, Scale: 2}
			return f
		}), `[{"id": 2, "a": 5000000000, "f": 0.1, "d": "1234567890.12"}]`, "", "id long not null, a long, f double, d decimal(12, 2)"},
		{"narrower source written as is", "fail", with(func(f []arrow.Field) []arrow.Field {
			f[0].Type = arrow.PrimitiveTypes.Int32
			return f
		}), `[{"id": 2}]`, "", "id long not null, a int, f float, d decimal(10, 2)"},
		{"impossible change", "widen", with(func(f []arrow.Field) []arrow.Field {
			f[1].Type = arrow.BinaryTypes.String
			return f
		}), `[{"id": 2}]`, "column \"a\" is int in the table but string in the pipeline, and Iceberg cannot change one into the other", ""},
		{"scale change", "widen", with(func(f []arrow.Field) []arrow.Field {
			f[3].Type = &arrow.Decimal128Type{Precision: 12, Scale: 4}
			return f
		}), `[{"id": 2}]`, "column \"d\" is decimal(10, 2) in the table but decimal(12, 4) in the pipeline, and Iceberg cannot change", ""},
		{"required column missing", "add_columns", arrow.NewSchema(base[1:], nil), `[{"a": 1}]`, "required column \"id\" of the table is missing from the pipeline", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			dir := t.TempDir()
			ctx := context.Background()
			first := newLoader(t, dir, nil)
			rec := testkit.Records(t, mem, arrow.NewSchema(base, nil), `[{"id": 1, "a": 7, "f": 1.5, "d": "3.25"}]`)
			testkit.LoadPartition(ctx, t, first, rec.Schema(), testkit.PartitionFor("first"), rec)
			rec.Release()

			l := newLoader(t, dir, func(c *Config) { c.SchemaEvolution = tc.policy })
			next := testkit.Records(t, mem, tc.schema, tc.rows)
			defer next.Release()
			w, err := l.Begin(ctx, tc.schema, testkit.PartitionFor("second"))
			if tc.want != "" {
				if err == nil {
					w.Abort(ctx)
					t.Fatalf("Begin accepted the schema, want an error containing %q", tc.want)
				}
				if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "\ntable:    ") || !strings.Contains(err.Error(), "\npipeline: ") {
					t.Fatalf("error:\n%v\nwant one containing %q and both schemas", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Begin: %v", err)
			}
			if err := w.Write(ctx, next); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Commit(ctx, testkit.CommitInfoFor(testkit.PartitionFor("second"), next.NumRows())); err != nil {
				t.Fatal(err)
			}
			if got := schemaLine(loadTable(t, l).Schema()); got != tc.columns {
				t.Errorf("table schema %q, want %q", got, tc.columns)
			}
			got := scan(t, l, mem, nil)
			defer got.Release()
			if got.NumRows() != 2 {
				t.Errorf("%d rows, want 2", got.NumRows())
			}
		})
	}
}
