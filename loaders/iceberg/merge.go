package iceberg

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/iceberg-go"

	"github.com/jetflow-dev/jetflow/internal/suggest"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/transformers/expr"
)

// checkMergeConfig checks the merge keys alone (without a schema): they belong to mode: merge, which needs a key.
func checkMergeConfig(c *Config) []error {
	var errs []error
	if c.Mode != "merge" {
		for _, k := range []struct {
			path string
			set  bool
		}{{"key", len(c.Key) > 0}, {"version_by", c.VersionBy != ""}, {"delete_when", c.DeleteWhen != ""}, {"deletes.detect", c.Deletes.Detect == "key_scan"}} {
			if k.set {
				errs = append(errs, stage.FieldErrorf(k.path, "only mode: merge uses %s (mode is %s): set mode: merge, or remove %s", k.path, c.Mode, k.path))
			}
		}
		return errs
	}
	if len(c.Key) == 0 {
		errs = append(errs, &stage.FieldError{Path: "key", Err: fmt.Errorf("%w: mode: merge needs key, the columns that identify a row (e.g. key: [order_id])", stage.ErrMissing)})
		if c.Deletes.Detect == "key_scan" {
			errs = append(errs, stage.FieldErrorf("deletes.detect", "key_scan compares the source's keys with the table's, and there is no key: set key: [...]"))
		}
	}
	for i, k := range c.Key {
		if k == "" {
			errs = append(errs, stage.FieldErrorf(fmt.Sprintf("key[%d]", i), "is empty: name a column"))
		} else if slices.Index(c.Key, k) < i {
			errs = append(errs, stage.FieldErrorf(fmt.Sprintf("key[%d]", i), "%q is named twice", k))
		}
	}
	if c.DeleteWhen != "" {
		if _, err := expr.Parse(c.DeleteWhen); err != nil {
			errs = append(errs, stage.FieldErrorf("delete_when", "%w", err))
		}
	}
	return errs
}

// checkMergeSchema checks the merge keys against the input schema: key columns exist and can identify a row, the
// version column exists and is orderable, delete_when is a boolean expression over the input's columns.
func checkMergeSchema(c *Config, schema *arrow.Schema) error {
	if c.Mode != "merge" {
		return nil
	}
	var errs []error
	for i, k := range c.Key {
		f, err := mergeColumn(schema, k)
		if err != nil {
			errs = append(errs, stage.FieldErrorf(fmt.Sprintf("key[%d]", i), "%v", err))
		} else if !keyType(f.Type) {
			errs = append(errs, stage.FieldErrorf(fmt.Sprintf("key[%d]", i), "column %q is %s, which cannot identify a row: a key column is an integer, string, date, timestamp, decimal, uuid or binary column", k, f.Type))
		}
	}
	if c.VersionBy != "" {
		f, err := mergeColumn(schema, c.VersionBy)
		if err != nil {
			errs = append(errs, stage.FieldErrorf("version_by", "%v", err))
		} else if !orderable(f.Type) {
			errs = append(errs, stage.FieldErrorf("version_by", "column %q is %s, which has no order: version_by needs an integer, decimal, float, date, time, timestamp or string column", c.VersionBy, f.Type))
		}
	}
	if c.DeleteWhen != "" {
		ce, err := expr.Compile(c.DeleteWhen, schema)
		if err != nil {
			errs = append(errs, stage.FieldErrorf("delete_when", "%w", err))
		} else if ce.Type().ID() != arrow.BOOL {
			errs = append(errs, stage.FieldErrorf("delete_when", "%q yields %s, not true or false: write a condition, e.g. deleted_at is not null", c.DeleteWhen, ce.Type()))
		}
	}
	return errors.Join(errs...)
}

func mergeColumn(schema *arrow.Schema, name string) (arrow.Field, error) {
	if i := schema.FieldIndices(name); len(i) == 1 {
		return schema.Field(i[0]), nil
	}
	names := make([]string, schema.NumFields())
	for i, f := range schema.Fields() {
		names[i] = f.Name
	}
	hint := ""
	if s, ok := suggest.Closest(name, names); ok {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	return arrow.Field{}, fmt.Errorf("the input has no column %q%s; its columns: %s", name, hint, strings.Join(names, ", "))
}

func keyType(dt arrow.DataType) bool {
	if e, ok := dt.(arrow.ExtensionType); ok {
		dt = e.StorageType()
	}
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32,
		arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY, arrow.FIXED_SIZE_BINARY,
		arrow.DATE32, arrow.TIMESTAMP, arrow.DECIMAL128, arrow.BOOL:
		return true
	}
	return false
}

func orderable(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128, arrow.DATE32, arrow.DATE64, arrow.TIME32, arrow.TIME64,
		arrow.TIMESTAMP, arrow.STRING, arrow.LARGE_STRING:
		return true
	}
	return false
}

// ordVal is one key or version value, comparable across the input's and the data files' Arrow types of a column.
// A merge holds one a changed row (its version): a float's bits and a decimal's low bits share i.
type ordVal struct {
	kind uint8 // kNull, kInt, kFloat, kString, kDecimal
	i    int64 // kInt: the value; kFloat: its bits; kDecimal: its low bits
	hi   int64 // kDecimal: its high bits
	s    string
}

func floatVal(f float64) ordVal { return ordVal{kind: kFloat, i: int64(math.Float64bits(f))} }

func decimalVal(d decimal128.Num) ordVal {
	return ordVal{kind: kDecimal, i: int64(d.LowBits()), hi: d.HighBits()}
}

// float is a kFloat value's float.
func (v ordVal) float() float64 { return math.Float64frombits(uint64(v.i)) }

// decimal is a kDecimal value's decimal.
func (v ordVal) decimal() decimal128.Num { return decimal128.New(v.hi, uint64(v.i)) }

const (
	kNull uint8 = iota
	kInt
	kFloat
	kString
	kDecimal
)

// valueAt reads row i of a key or version column.
func valueAt(a arrow.Array, i int) ordVal {
	if a.IsNull(i) {
		return ordVal{}
	}
	switch a := a.(type) {
	case *array.Int8:
		return ordVal{kind: kInt, i: int64(a.Value(i))}
	case *array.Int16:
		return ordVal{kind: kInt, i: int64(a.Value(i))}
	case *array.Int32:
		return ordVal{kind: kInt, i: int64(a.Value(i))}
	case *array.Int64:
		return ordVal{kind: kInt, i: a.Value(i)}
	case *array.Uint8:
		return ordVal{kind: kInt, i: int64(a.Value(i))}
	case *array.Uint16:
		return ordVal{kind: kInt, i: int64(a.Value(i))}
	case *array.Uint32:
		return ordVal{kind: kInt, i: int64(a.Value(i))}
	case *array.Uint64:
		return ordVal{kind: kInt, i: int64(a.Value(i))}
	case *array.Date32:
		return ordVal{kind: kInt, i: int64(a.Value(i))}
	case *array.Date64:
		return ordVal{kind: kInt, i: int64(a.Value(i)) / 86400000}
	case *array.Time32:
		return ordVal{kind: kInt, i: int64(a.Value(i))}
	case *array.Time64:
		return ordVal{kind: kInt, i: int64(a.Value(i))}
	case *array.Timestamp:
		// In microseconds, as Iceberg stores timestamps: a pipeline's ms or ns column compares with the table's.
		v := int64(a.Value(i))
		switch a.DataType().(*arrow.TimestampType).Unit {
		case arrow.Second:
			v *= 1_000_000
		case arrow.Millisecond:
			v *= 1_000
		case arrow.Nanosecond:
			v /= 1_000
		}
		return ordVal{kind: kInt, i: v}
	case *array.Boolean:
		if a.Value(i) {
			return ordVal{kind: kInt, i: 1}
		}
		return ordVal{kind: kInt}
	case *array.Float32:
		return floatVal(float64(a.Value(i)))
	case *array.Float64:
		return floatVal(a.Value(i))
	case *array.String:
		return ordVal{kind: kString, s: a.Value(i)}
	case *array.LargeString:
		return ordVal{kind: kString, s: a.Value(i)}
	case *array.Binary:
		return ordVal{kind: kString, s: string(a.Value(i))}
	case *array.LargeBinary:
		return ordVal{kind: kString, s: string(a.Value(i))}
	case *array.FixedSizeBinary:
		return ordVal{kind: kString, s: string(a.Value(i))}
	case *array.Decimal128:
		return decimalVal(a.Value(i))
	case array.ExtensionArray:
		return valueAt(a.Storage(), i)
	}
	return ordVal{kind: kString, s: a.ValueStr(i)}
}

// cmpOrd orders two values of one column; null is older than any value.
func cmpOrd(a, b ordVal) int {
	if a.kind == kNull || b.kind == kNull {
		return int(min(a.kind, 1)) - int(min(b.kind, 1))
	}
	switch a.kind {
	case kInt:
		switch {
		case a.i < b.i:
			return -1
		case a.i > b.i:
			return 1
		}
		return 0
	case kFloat:
		switch {
		case a.float() < b.float():
			return -1
		case a.float() > b.float():
			return 1
		}
		return 0
	case kDecimal:
		return a.decimal().Cmp(b.decimal())
	}
	return strings.Compare(a.s, b.s)
}

// appendKey appends v to a row's key text: fixed-width for numbers, length-prefixed for bytes, so that distinct
// tuples never encode alike.
func appendKey(b []byte, v ordVal) []byte {
	b = append(b, v.kind)
	switch v.kind {
	case kInt:
		u := uint64(v.i)
		b = append(b, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32), byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	case kDecimal:
		b = fmt.Appendf(b, "%d:%d;", v.hi, uint64(v.i))
	case kFloat:
		b = fmt.Appendf(b, "%v;", v.float())
	case kString:
		b = fmt.Appendf(b, "%d:", len(v.s))
		b = append(b, v.s...)
	}
	return b
}

// inLiteral turns a value of the first key column into a literal of its Iceberg type, for the scan filter that
// prunes files by partition and min/max statistics; ok is false for types the filter leaves out.
func inLiteral(t iceberg.Type, v ordVal) (iceberg.Literal, bool) {
	switch t.(type) {
	case iceberg.Int32Type:
		if v.kind == kInt {
			return iceberg.NewLiteral(int32(v.i)), true
		}
	case iceberg.Int64Type:
		if v.kind == kInt {
			return iceberg.NewLiteral(v.i), true
		}
	case iceberg.StringType:
		if v.kind == kString {
			return iceberg.NewLiteral(v.s), true
		}
	case iceberg.DateType:
		if v.kind == kInt {
			return iceberg.NewLiteral(iceberg.Date(v.i)), true
		}
	case iceberg.TimestampType, iceberg.TimestampTzType:
		if v.kind == kInt {
			return iceberg.NewLiteral(iceberg.Timestamp(v.i)), true
		}
	}
	return nil, false
}
