package httpapi

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/internal/jsonarrow"
	"github.com/jetflow-dev/jetflow/stage"
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
// pointer, so no interface call and no allocation per value.
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
	raw      []byte     // string: scratch for non-string values kept as JSON text
	evo      *evolution // the records' root only: what to do with fields not in the schema
}

// Policies of schema_evolution for record fields that are not in the schema.
const (
	evolveIgnore = "ignore"
	evolveFail   = "fail"
	evolveExtra  = "extra_column"
)

// evolution applies schema_evolution to the top-level fields of records that the schema does not have.
type evolution struct {
	mode    string
	extra   *array.StringBuilder // extra_column: the column collecting them
	buf     []byte               // extra_column: the current record's unknown fields as a JSON object
	dropped map[string]*int64    // ignore: how many records had each dropped field, logged after the partition
}

// unknown handles the member key, not in the schema, whose value is next in s.
func (e *evolution) unknown(s *scanner, key []byte, depth int) error {
	switch e.mode {
	case evolveFail:
		return stage.Permanent(fmt.Errorf("field %q is not in the schema (schema_evolution: fail); declare it under schema, or set schema_evolution to ignore or extra_column", key))
	case evolveExtra:
		if len(e.buf) == 0 {
			e.buf = append(e.buf, '{')
		} else {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendJSONString(e.buf, key)
		e.buf = append(e.buf, ':')
		return s.skip(&e.buf, depth)
	}
	if n := e.dropped[string(key)]; n != nil {
		*n++
	} else {
		one := int64(1)
		e.dropped[string(key)] = &one
	}
	return s.skip(nil, depth)
}

// endRecord closes the record's extra column value.
func (e *evolution) endRecord() {
	if e.extra == nil {
		return
	}
	if len(e.buf) == 0 {
		e.extra.AppendNull()
		return
	}
	e.buf = append(e.buf, '}')
	e.extra.BinaryBuilder.Append(e.buf)
	e.buf = e.buf[:0]
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
		n.kind, n.str = kString, b.(*array.StringBuilder)
	case *arrow.LargeStringType:
		n.kind, n.lst = kLargeString, b.(*array.LargeStringBuilder)
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

// decode reads one value and appends it.
func (n *node) decode(s *scanner, depth int) error {
	if depth > maxDepth {
		return s.errorf("JSON nested more than %d levels deep", maxDepth)
	}
	c, err := s.peekValue()
	if err != nil {
		return err
	}
	if c == 'n' {
		if _, err := s.literal(); err != nil {
			return err
		}
		n.b.AppendNull()
		return nil
	}
	isNum := c == '-' || c >= '0' && c <= '9'
	switch n.kind {
	case kInt32, kInt64:
		if !isNum {
			return n.mismatch(c)
		}
		b, err := s.number()
		if err != nil {
			return err
		}
		v, ok := jsonarrow.ParseInt(b)
		if !ok {
			// 3.0 is a whole number written as a float; anything else is not an integer.
			f, ferr := strconv.ParseFloat(jsonarrow.Bstr(b), 64)
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return fmt.Errorf("field %s: %s is not an integer", n.name, b)
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
		if !isNum {
			return n.mismatch(c)
		}
		b, err := s.number()
		if err != nil {
			return err
		}
		var f float64
		if i, ok := jsonarrow.ParseInt(b); ok && i > -1<<53 && i < 1<<53 {
			f = float64(i)
		} else if f, err = strconv.ParseFloat(jsonarrow.Bstr(b), 64); err != nil {
			return fmt.Errorf("field %s: %s is out of the range of float64", n.name, b)
		}
		if n.kind == kFloat32 {
			n.f32.Append(float32(f))
		} else {
			n.f64.Append(f)
		}
	case kBool:
		if c != 't' && c != 'f' {
			return n.mismatch(c)
		}
		k, err := s.literal()
		if err != nil {
			return err
		}
		n.bo.Append(k == 't')
	case kString, kLargeString:
		var b []byte
		if c == '"' {
			if b, err = s.str(); err != nil {
				return err
			}
		} else {
			// Any other JSON value is kept as its compact JSON text.
			n.raw = n.raw[:0]
			if err := s.skip(&n.raw, depth); err != nil {
				return err
			}
			b = n.raw
		}
		if n.kind == kString {
			n.str.BinaryBuilder.Append(b)
		} else {
			n.lst.BinaryBuilder.Append(b)
		}
	case kDate32:
		if c != '"' {
			return n.mismatch(c)
		}
		b, err := s.str()
		if err != nil {
			return err
		}
		t, err := time.Parse(time.DateOnly, jsonarrow.Bstr(b))
		if err != nil {
			return fmt.Errorf("field %s: %q is not a date (want 2006-01-02)", n.name, b)
		}
		n.d32.Append(arrow.Date32FromTime(t))
	case kTimestamp:
		switch {
		case c == '"':
			b, err := s.str()
			if err != nil {
				return err
			}
			t, err := time.Parse(time.RFC3339Nano, jsonarrow.Bstr(b))
			if err != nil {
				return fmt.Errorf("field %s: %q is not an RFC 3339 time", n.name, b)
			}
			ts, err := arrow.TimestampFromTime(t, n.unit)
			if err != nil {
				return fmt.Errorf("field %s: %w", n.name, err)
			}
			n.ts.Append(ts)
		case isNum:
			b, err := s.number()
			if err != nil {
				return err
			}
			i, ok := jsonarrow.ParseInt(b)
			if !ok {
				return fmt.Errorf("field %s: %s is not a whole epoch number", n.name, b)
			}
			n.ts.Append(arrow.Timestamp(i))
		default:
			return n.mismatch(c)
		}
	case kDecimal:
		var b []byte
		switch {
		case c == '"':
			b, err = s.str()
		case isNum:
			b, err = s.number()
		default:
			return n.mismatch(c)
		}
		if err != nil {
			return err
		}
		d, err := decimal128.FromString(jsonarrow.Bstr(b), n.precision, n.scale)
		if err != nil {
			return stage.Permanent(fmt.Errorf("field %s: %q does not fit decimal(%d,%d)", n.name, b, n.precision, n.scale))
		}
		n.dec.Append(d)
	case kList:
		if c != '[' {
			return n.mismatch(c)
		}
		s.pos++
		n.li.Append(true)
		first := true
		for {
			more, err := s.more(']', &first)
			if err != nil {
				return err
			}
			if !more {
				break
			}
			if err := n.elem.decode(s, depth+1); err != nil {
				return err
			}
		}
	case kStruct:
		if c != '{' {
			return n.mismatch(c)
		}
		s.pos++
		n.st.Append(true)
		return n.object(s, depth)
	}
	return nil
}

func (n *node) mismatch(c byte) error {
	return stage.Permanent(fmt.Errorf("field %s: %s does not fit its type; declare the field's type in schema:", n.name, kindAt(c)))
}

// object reads an object's members after its '{' into the struct's children; absent fields become null and
// fields not in the schema are skipped.
func (n *node) object(s *scanner, depth int) error {
	clear(n.seen)
	first := true
	for {
		more, err := s.more('}', &first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		key, err := s.key()
		if err != nil {
			return err
		}
		i, ok := n.index[string(key)]
		if !ok && n.evo != nil {
			if err := n.evo.unknown(s, key, depth+1); err != nil {
				return err
			}
			continue
		}
		if !ok || n.seen[i] {
			// Not in the schema, or a repeated key (the first one wins, as most JSON readers do).
			if err := s.skip(nil, depth+1); err != nil {
				return err
			}
			continue
		}
		n.seen[i] = true
		if err := n.children[i].decode(s, depth+1); err != nil {
			return err
		}
	}
	for i, seen := range n.seen {
		if !seen {
			n.children[i].b.AppendNull()
		}
	}
	if n.evo != nil {
		n.evo.endRecord()
	}
	return nil
}

// batchBuilder turns records into Arrow batches of one schema; it is reused across the pages of a Read.
type batchBuilder struct {
	schema *arrow.Schema
	rb     *array.RecordBuilder
	root   *node   // a struct-like node over the record builder's fields of the records
	parent []*node // the last columns: parent fields, filled once per page
	rows   int
	sc     scanner
	rd     bytes.Reader
}

// newBatchBuilder builds batches of schema, whose last parents columns are parent fields. Record fields that
// schema lacks are handled by policy (schema_evolution); with extra_column, the column just before the parent
// fields collects them.
func newBatchBuilder(mem memory.Allocator, schema *arrow.Schema, parents int, policy string) *batchBuilder {
	rb := array.NewRecordBuilder(mem, schema)
	nrec := schema.NumFields() - parents
	evo := &evolution{mode: policy, dropped: map[string]*int64{}}
	if policy == evolveExtra {
		nrec--
		evo.extra = rb.Field(nrec).(*array.StringBuilder)
	}
	root := &node{kind: kStruct, index: make(map[string]int, nrec), seen: make([]bool, nrec), evo: evo}
	bb := &batchBuilder{schema: schema, rb: rb, root: root}
	for i, f := range schema.Fields() {
		if i == nrec && evo.extra != nil {
			continue
		}
		n := newNode(f.Name, f.Type, rb.Field(i))
		if i >= nrec {
			bb.parent = append(bb.parent, n)
			continue
		}
		root.children = append(root.children, n)
		root.index[f.Name] = i
	}
	return bb
}

// appendParents fills the parent columns of the page's n records from the values' JSON text (nil: null).
func (bb *batchBuilder) appendParents(n int, raw [][]byte) error {
	for i, p := range bb.parent {
		if raw[i] == nil {
			p.b.AppendNulls(n)
			continue
		}
		for range n {
			bb.rd.Reset(raw[i])
			bb.sc.reset(&bb.rd)
			if err := p.decode(&bb.sc, 0); err != nil {
				return fmt.Errorf("parent field %s: %w", p.name, err)
			}
		}
	}
	return nil
}

// record implements recordSink: one JSON object per row.
func (bb *batchBuilder) record(s *scanner) error {
	c, err := s.peekValue()
	if err != nil {
		return err
	}
	if c != '{' {
		return fmt.Errorf("a record is %s, want an object", kindAt(c))
	}
	s.pos++
	if err := bb.root.object(s, 1); err != nil {
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
