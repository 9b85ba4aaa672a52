package httpapi

import (
	"bytes"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/jsonarrow"
	"github.com/jetflow-dev/jetflow/stage"
)

type kind uint8

const (
	kScalar kind = iota // read by col, jsonarrow's
	kStruct
	kList
)

// node decodes JSON values of one Arrow type straight into its builder: scalars through jsonarrow's Column,
// which holds the concrete builder, so no interface call and no allocation per value.
type node struct {
	kind kind
	name string // dotted name, for errors
	b    array.Builder
	col  *jsonarrow.Column // scalars
	st   *array.StructBuilder
	li   *array.ListBuilder

	children []*node
	index    map[string]int // struct: field name -> child
	seen     []bool         // struct: scratch, which fields the current object had
	elem     *node
	raw      []byte     // text columns: scratch for non-string values kept as JSON text
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

// checkType tells whether httpapi can decode JSON into dt: what kafka reads, through the same columns.
var checkType = jsonarrow.CheckType

// newNode wires a node tree onto builder b, which has type dt.
func newNode(name string, dt arrow.DataType, b array.Builder) *node {
	n := &node{name: name, b: b}
	switch t := dt.(type) {
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
		n.col = jsonarrow.NewColumn(name, dt, b)
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
	switch n.kind {
	case kList:
		if c != '[' {
			return n.mismatch(c)
		}
		s.pos++
		n.li.Append(true)
		first := true
		for {
			more, err := s.more(']', &first)
			if err != nil || !more {
				return err
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
	cl := jsonarrow.ClassOf(c)
	if !n.col.Accepts(cl) {
		return n.mismatch(c)
	}
	tok, err := jsonarrow.Token(s, cl, &n.raw, depth)
	if err != nil {
		return err
	}
	// A value that does not fit its column will not fit on a retry either.
	return stage.Permanent(n.col.Append(cl, tok))
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
