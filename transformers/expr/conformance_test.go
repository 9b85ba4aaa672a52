package expr_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/conformance"
	"github.com/jetflow-dev/jetflow/transformers/expr"
)

// TestConformance runs the transformer suite on filter and derive, with expressions over every column kind and
// the partition constants (derive is a PartitionTransformer for them).
func TestConformance(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "status", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	}, nil)
	input := func(t *testing.T, mem memory.Allocator) arrow.RecordBatch {
		return testkit.Records(t, mem, schema, `[
			{"id": 1, "status": "paid", "amount": 12.5, "at": "2026-11-22T10:00:00Z"},
			{"id": 2, "status": null, "amount": null, "at": null},
			{"id": 3, "status": "open", "amount": -3, "at": "2026-11-22T23:59:59Z"},
			{"id": 4, "status": "paid", "amount": 0, "at": "2026-11-23T00:00:00Z"}
		]`)
	}
	tests := []struct {
		name string
		new  func(mem memory.Allocator) (stage.Transformer, error)
	}{
		{"filter", func(mem memory.Allocator) (stage.Transformer, error) {
			return expr.NewFilter(mem, "id % 2 = 1 or status is null or amount > 1")
		}},
		{"derive", func(mem memory.Allocator) (stage.Transformer, error) {
			return expr.NewDerive(mem, []expr.Column{
				{Name: "day", Expr: "date_trunc('day', at)"},
				{Name: "key", Expr: "sha256(concat(status, '/', id))"},
				{Name: "double", Expr: "amount * 2"},
				{Name: "partition", Expr: "concat(run_instance(), '/', partition_id())"},
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conformance.Transformers(t, conformance.ConformanceTransformer{
				New: func(t *testing.T, mem memory.Allocator) stage.Transformer {
					tr, err := tt.new(mem)
					if err != nil {
						t.Fatalf("building %s: %v", tt.name, err)
					}
					return tr
				},
				Input: input,
			})
		})
	}
}
