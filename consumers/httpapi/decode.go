package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/arrowtype"
)

type kind uint8

const (
	kInt32 kind = iota
	kInt64
	kFloat32
	kFloat64
	kBool
	kString
	kLargeString
	kDate32
	kTimestamp
	kDecimal
	kStruct
	kList
)

// node decodes JSON values of one Arrow type straight into its builder: a switch on kind and a concrete builder
// pointer, so no interface call per value besides the decoder's own Token.
type node struct {
	kind kind
	name string // dotted name, for errors
	b    array.Builder

	i32 *array.Int32Builder
	i64 *array.Int64Builder
	f32 *array.Float32Builder
	f64 *array.Float64Builder
	bo  *array.BooleanBuilder
	str *array.StringBuilder
	lst *array.LargeStringBuilder
	d32 *array.Date32Builder
	ts  *array.TimestampBuilder
	dec *array.Decimal128Builder
	st  *array.StructBuilder
	li  *array.ListBuilder

	unit      arrow.TimeUnit
	precision int32
	scale     int32

	children []*node
	index    map[string]int // struct: field name -> child
	seen     []bool         // struct: scratch, which fields the current object had
	elem     *node
	raw      *bytes.Buffer // string: scratch for non-string values kept as JSON text
}

// checkType tells whether httpapi can decode JSON into dt.
func checkType(dt arrow.DataType) error {
	switch t := dt.(type) {
	case *arrow.Int32Type, *arrow.Int64Type, *arrow.Float32Type, *arrow.Float64Type, *arrow.BooleanType,
		*arrow.StringType, *arrow.LargeStringType, *arrow.Date32Type, *arrow.TimestampType, *arrow.Decimal128Type:
		return nil
	case *arrow.ListType:
		return checkType(t.Elem())
	case *arrow.StructType:
		for _, f := range t.Fields() {
			if err := checkType(f.Type); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("type %s is not read from JSON; use int32, int64, float32, float64, bool, string, large_string, date32, timestamp, decimal(p,s), list or struct", arrowtype.Format(dt))
}

// newNode wires a node tree onto builder b, which has type dt.
func newNode(name string, dt arrow.DataType, b array.Builder) *node {
	n := &node{name: name, b: b}
	switch t := dt.(type) {
	case *arrow.Int32Type:
		n.kind, n.i32 = kInt32, b.(*array.Int32Builder)
	case *arrow.Int64Type:
		n.kind, n.i64 = kInt64, b.(*array.Int64Builder)
	case *arrow.Float32Type:
		n.kind, n.f32 = kFloat32, b.(*array.Float32Builder)
	case *arrow.Float64Type:
		n.kind, n.f64 = kFloat64, b.(*array.Float64Builder)
	case *arrow.BooleanType:
		n.kind, n.bo = kBool, b.(*array.BooleanBuilder)
	case *arrow.StringType:
		n.kind, n.str, n.raw = kString, b.(*array.StringBuilder), &bytes.Buffer{}
	case *arrow.LargeStringType:
		n.kind, n.lst, n.raw = kLargeString, b.(*array.LargeStringBuilder), &bytes.Buffer{}
	case *arrow.Date32Type:
		n.kind, n.d32 = kDate32, b.(*array.Date32Builder)
	case *arrow.TimestampType:
		n.kind, n.ts, n.unit = kTimestamp, b.(*array.TimestampBuilder), t.Unit
	case *arrow.Decimal128Type:
		n.kind, n.dec, n.precision, n.scale = kDecimal, b.(*array.Decimal128Builder), t.Precision, t.Scale
	case *arrow.ListType:
		n.kind, n.li = kList, b.(*array.ListBuilder)
		n.elem = newNode(name+"[]", t.Elem(), n.li.ValueBuilder())
	case *arrow.StructType:
		n.kind, n.st = kStruct, b.(*array.StructBuilder)
		n.index = make(map[string]int, t.NumFields())
		for i, f := range t.Fields() {
			n.children = append(n.children, newNode(name+"."+f.Name, f.Type, n.st.FieldBuilder(i)))
			n.index[f.Name] = i
		}
		n.seen = make([]bool, t.NumFields())
	default:
		panic("httpapi: newNode on unchecked type " + dt.String())
	}
	return n
}

// decode reads one value from dec and appends it.
func (n *node) decode(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	return n.decodeToken(dec, tok)
}

func (n *node) mismatch(tok json.Token) error {
	return fmt.Errorf("field %s: %s does not fit its type; declare the field's type in schema:", n.name, tokenKind(tok))
}

func (n *node) decodeToken(dec *json.Decoder, tok json.Token) error {
	if tok == nil {
		n.b.AppendNull()
		return nil
	}
	switch n.kind {
	case kInt32, kInt64:
		num, ok := tok.(json.Number)
		if !ok {
			return n.skipMismatch(dec, tok)
		}
		v, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			// 3.0 is a whole number written as a float; anything else is not an integer.
			f, ferr := strconv.ParseFloat(string(num), 64)
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return fmt.Errorf("field %s: %s is not an integer", n.name, num)
			}
			v = int64(f)
		}
		if n.kind == kInt32 {
			if v < math.MinInt32 || v > math.MaxInt32 {
				return fmt.Errorf("field %s: %d is outside int32", n.name, v)
			}
			n.i32.Append(int32(v))
		} else {
			n.i64.Append(v)
		}
	case kFloat32, kFloat64:
		num, ok := tok.(json.Number)
		if !ok {
			return n.skipMismatch(dec, tok)
		}
		f, err := strconv.ParseFloat(string(num), 64)
		if err != nil {
			return fmt.Errorf("field %s: %s is not a float64: %w", n.name, num, err)
		}
		if n.kind == kFloat32 {
			n.f32.Append(float32(f))
		} else {
			n.f64.Append(f)
		}
	case kBool:
		v, ok := tok.(bool)
		if !ok {
			return n.skipMismatch(dec, tok)
		}
		n.bo.Append(v)
	case kString, kLargeString:
		var s string
		switch v := tok.(type) {
		case string:
			s = v
		case json.Number:
			s = string(v)
		case bool:
			s = strconv.FormatBool(v)
		case json.Delim:
			n.raw.Reset()
			if err := rawRest(dec, v, n.raw); err != nil {
				return err
			}
			s = n.raw.String()
		}
		if n.kind == kString {
			n.str.Append(s)
		} else {
			n.lst.Append(s)
		}
	case kDate32:
		s, ok := tok.(string)
		if !ok {
			return n.skipMismatch(dec, tok)
		}
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return fmt.Errorf("field %s: %q is not a date (want 2006-01-02)", n.name, s)
		}
		n.d32.Append(arrow.Date32FromTime(t))
	case kTimestamp:
		switch v := tok.(type) {
		case string:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return fmt.Errorf("field %s: %q is not an RFC 3339 time", n.name, v)
			}
			ts, err := arrow.TimestampFromTime(t, n.unit)
			if err != nil {
				return fmt.Errorf("field %s: %w", n.name, err)
			}
			n.ts.Append(ts)
		case json.Number:
			i, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return fmt.Errorf("field %s: %s is not a whole epoch number", n.name, v)
			}
			n.ts.Append(arrow.Timestamp(i))
		default:
			return n.skipMismatch(dec, tok)
		}
	case kDecimal:
		var s string
		switch v := tok.(type) {
		case string:
			s = v
		case json.Number:
			s = string(v)
		default:
			return n.skipMismatch(dec, tok)
		}
		d, err := decimal128.FromString(s, n.precision, n.scale)
		if err != nil {
			return fmt.Errorf("field %s: %q does not fit decimal(%d,%d): %w", n.name, s, n.precision, n.scale, err)
		}
		n.dec.Append(d)
	case kList:
		if tok != json.Delim('[') {
			return n.skipMismatch(dec, tok)
		}
		n.li.Append(true)
		for dec.More() {
			if err := n.elem.decode(dec); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
	case kStruct:
		if tok != json.Delim('{') {
			return n.skipMismatch(dec, tok)
		}
		n.st.Append(true)
		return n.object(dec)
	}
	return nil
}

// object reads an object's members after its '{' into the struct's children; absent fields become null and
// fields not in the schema are skipped.
func (n *node) object(dec *json.Decoder) error {
	clear(n.seen)
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := kt.(string)
		i, ok := n.index[key]
		if !ok || n.seen[i] {
			// Not in the schema, or a repeated key (the first one wins, as most JSON readers do).
			if err := skipValue(dec); err != nil {
				return err
			}
			continue
		}
		n.seen[i] = true
		if err := n.children[i].decode(dec); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return err
	}
	for i, s := range n.seen {
		if !s {
			n.children[i].b.AppendNull()
		}
	}
	return nil
}

func (n *node) skipMismatch(_ *json.Decoder, tok json.Token) error { return n.mismatch(tok) }

func skipValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); ok {
		return skipRest(dec, d)
	}
	return nil
}

// batchBuilder turns records into Arrow batches of one schema; it is reused across the pages of a Read.
type batchBuilder struct {
	schema *arrow.Schema
	rb     *array.RecordBuilder
	root   *node // a struct-like node over the record builder's fields
	rows   int
}

func newBatchBuilder(mem memory.Allocator, schema *arrow.Schema) *batchBuilder {
	rb := array.NewRecordBuilder(mem, schema)
	root := &node{kind: kStruct, index: make(map[string]int, schema.NumFields()), seen: make([]bool, schema.NumFields())}
	for i, f := range schema.Fields() {
		root.children = append(root.children, newNode(f.Name, f.Type, rb.Field(i)))
		root.index[f.Name] = i
	}
	return &batchBuilder{schema: schema, rb: rb, root: root}
}

// record implements recordSink: one JSON object per row.
func (bb *batchBuilder) record(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		if d, ok := tok.(json.Delim); ok {
			_ = skipRest(dec, d)
		}
		return fmt.Errorf("a record is %s, want an object", tokenKind(tok))
	}
	if err := bb.root.object(dec); err != nil {
		return err
	}
	bb.rows++
	return nil
}

// batch returns the rows built so far as a batch (the caller releases it) and starts a new one.
func (bb *batchBuilder) batch() arrow.RecordBatch {
	bb.rows = 0
	return bb.rb.NewRecordBatch()
}

func (bb *batchBuilder) release() { bb.rb.Release() }
