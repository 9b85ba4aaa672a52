package conformance

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/testkit"
)

// KeyColumn is the non-null int64 column that identifies a row in every record the loader suite writes; read-back
// records are compared sorted by it.
const KeyColumn = "id"

// AllTypesSchema is the schema of the "every type" check: KeyColumn, then one nullable column per type, named
// after it. A loader names the columns it cannot write in ConformanceLoader.Unsupported.
func AllTypesSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: KeyColumn, Type: arrow.PrimitiveTypes.Int64},
		{Name: "int8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "int16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
		{Name: "int32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "int64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "uint8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
		{Name: "uint16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
		{Name: "uint32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
		{Name: "uint64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "float32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "float64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "bool", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "string", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "binary", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "decimal128", Type: &arrow.Decimal128Type{Precision: 18, Scale: 4}, Nullable: true},
		{Name: "date32", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "timestamp", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "list", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "struct", Type: arrow.StructOf(
			arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
		), Nullable: true},
	}, nil)
}

// allTypesRows are the extremes of every type, ordinary values, and a row of nulls. Binary values are base64.
const allTypesRows = `[
	{"id": 1, "int8": -128, "int16": -32768, "int32": -2147483648, "int64": -9223372036854775808,
	 "uint8": 0, "uint16": 0, "uint32": 0, "uint64": 0, "float32": -3.4028235e38, "float64": -1.7976931348623157e308,
	 "bool": false, "string": "", "binary": "", "decimal128": "-99999999999999.9999", "date32": "1970-01-01",
	 "timestamp": "1970-01-01T00:00:00Z", "list": [], "struct": {"a": null, "b": null}},
	{"id": 2, "int8": 127, "int16": 32767, "int32": 2147483647, "int64": 9223372036854775807,
	 "uint8": 255, "uint16": 65535, "uint32": 4294967295, "uint64": 18446744073709551615,
	 "float32": 3.4028235e38, "float64": 1.7976931348623157e308, "bool": true,
	 "string": "h\u00e9llo, \u4e16\u754c \"quoted\"\n\ttabbed", "binary": "AP8Aqg==", "decimal128": "99999999999999.9999",
	 "date32": "9999-12-31", "timestamp": "2999-12-31T23:59:59.999999Z", "list": [1, null, -1],
	 "struct": {"a": 9223372036854775807, "b": "x"}},
	{"id": 3, "int8": 7, "int16": 300, "int32": 70000, "int64": 5000000000, "uint8": 7, "uint16": 300,
	 "uint32": 70000, "uint64": 5000000000, "float32": 0.5, "float64": 0.1, "bool": true, "string": "plain",
	 "binary": "YWJj", "decimal128": "12.5000", "date32": "2026-11-22", "timestamp": "2026-11-22T13:45:00.123456Z",
	 "list": [42], "struct": {"a": 1, "b": null}},
	{"id": 4}
]`

// withoutColumns returns schema less the named columns.
func withoutColumns(schema *arrow.Schema, drop []string) *arrow.Schema {
	if len(drop) == 0 {
		return schema
	}
	skip := make(map[string]bool, len(drop))
	for _, d := range drop {
		skip[d] = true
	}
	var fields []arrow.Field
	for _, f := range schema.Fields() {
		if !skip[f.Name] {
			fields = append(fields, f)
		}
	}
	return arrow.NewSchema(fields, nil)
}

// simpleSchema is the schema of the checks that are about commits rather than types.
func simpleSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: KeyColumn, Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
}

// simpleRows builds the rows with ids [lo, hi) of simpleSchema; tag marks which attempt wrote them.
func simpleRows(mem memory.Allocator, lo, hi int64, tag string) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, simpleSchema())
	defer b.Release()
	ids := b.Field(0).(*array.Int64Builder)
	names := b.Field(1).(*array.StringBuilder)
	amounts := b.Field(2).(*array.Float64Builder)
	for id := lo; id < hi; id++ {
		ids.Append(id)
		names.Append(tag)
		amounts.Append(float64(id) / 4)
	}
	return b.NewRecordBatch()
}

// allTypes builds the rows of the "every type" check, less the unsupported columns.
func allTypes(t *testing.T, mem memory.Allocator, unsupported []string) arrow.RecordBatch {
	t.Helper()
	full := testkit.Records(t, mem, AllTypesSchema(), allTypesRows)
	defer full.Release()
	return project(full, withoutColumns(AllTypesSchema(), unsupported))
}

// project returns the columns of rec named in schema, sharing rec's buffers.
func project(rec arrow.RecordBatch, schema *arrow.Schema) arrow.RecordBatch {
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		cols[i] = rec.Column(rec.Schema().FieldIndices(f.Name)[0])
	}
	return array.NewRecordBatch(schema, cols, rec.NumRows())
}
