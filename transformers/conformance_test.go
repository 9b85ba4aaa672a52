package transformers

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/conformance"
)

// conformanceInput has a column of each kind the transformers act on, with repeated keys for dedupe and a null
// in every nullable column somewhere.
const conformanceInput = `[
	{"id": 1, "name": "ada", "amount": "12.50", "at": "2026-11-22T10:00:00Z", "tags": [1, 2], "info": {"a": 1, "b": "x"}, "doc": "{\"n\": 1}"},
	{"id": 2, "name": null, "amount": "0.01", "at": "2026-11-22T11:00:00Z", "tags": [], "info": null, "doc": "{\"n\": 2}"},
	{"id": 1, "name": "ada2", "amount": null, "at": null, "tags": null, "info": {"a": null, "b": "y"}, "doc": null},
	{"id": 3, "name": "grace", "amount": "-3.00", "at": "2026-11-23T00:00:00Z", "tags": [3], "info": {"a": 3, "b": null}, "doc": "{}"},
	{"id": 4, "name": "", "amount": "99.99", "at": "2026-11-22T12:30:00Z", "tags": [null, 4], "info": {"a": 4, "b": "z"}, "doc": "{\"n\": null}"}
]`

// TestConformance runs the transformer suite on every built-in transformer type except filter and derive (in
// package expr), built from YAML as a pipeline builds them.
func TestConformance(t *testing.T) {
	tests := []struct {
		name, yaml string
		sortBy     []string
	}{
		{name: "select", yaml: `{type: select, columns: [id, amount, name]}`},
		{name: "drop", yaml: `{type: drop, columns: [name]}`},
		{name: "rename", yaml: `{type: rename, columns: {name: customer, id: order_id}}`},
		{name: "reorder", yaml: `{type: reorder, columns: [at, name]}`},
		{name: "cast", yaml: `{type: cast, columns: {amount: 'decimal(18,4)', at: 'timestamp[ms, UTC]', id: string}}`},
		{name: "dedupe first", yaml: `{type: dedupe, keys: [id]}`, sortBy: []string{"id"}},
		{name: "dedupe last", yaml: `{type: dedupe, keys: [id], keep: last}`, sortBy: []string{"id"}},
		{name: "explode", yaml: `{type: explode, column: tags}`},
		{name: "flatten", yaml: `{type: flatten}`},
		{name: "hash", yaml: `{type: hash, columns: [name]}`},
		{name: "json_extract", yaml: `{type: json_extract, column: doc, fields: [{name: n, type: int32}]}`},
		{name: "mask", yaml: `{type: mask, columns: [name], keep_last: 2}`},
		{name: "metadata", yaml: `{type: metadata, loaded_at: "", partition_key: _key, pipeline: _pipeline}`},
		{name: "schema", yaml: `{type: schema, extra: drop, columns: [{name: id, type: int64, nullable: false}, {name: amount, type: 'decimal(20,4)'}, {name: label, from: name, type: large_string}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conformance.Transformers(t, conformance.ConformanceTransformer{
				New: func(t *testing.T, mem memory.Allocator) stage.Transformer { return mustBuild(t, mem, tt.yaml) },
				Input: func(t *testing.T, mem memory.Allocator) arrow.RecordBatch {
					return testkit.Records(t, mem, schemaOf(t, "id: int64 not null, name: string, amount: decimal(12,2), "+
						"at: timestamp[us, UTC], tags: list<int64>, info: struct<a: int64, b: string>, doc: string"), conformanceInput)
				},
				SortBy: tt.sortBy,
			})
		})
	}
}
