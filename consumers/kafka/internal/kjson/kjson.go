// Package kjson decodes Kafka messages that are JSON objects straight into Arrow columns, for the kafka
// consumer's format json: a scanner over a message held whole in memory, one Column per Arrow column, and the
// layout a struct column learns from the messages it reads (shape.go).
//
// It differs from the httpapi consumer's decoder by its input, not its types: a Kafka value is one small message
// already in memory, so keys and the gaps between values are compared in place, strings are copied straight from
// the message, and producers' fixed layouts are learnt; httpapi streams a body of any size through a fixed buffer.
// What both share — the types read from JSON, the conversion of a token into each, inference — is
// internal/jsonarrow's. It is internal to the kafka consumer, its only user.
package kjson

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/jsonarrow"
)

// NewColumn makes the decoder of a column of type dt (jsonarrow.CheckType passed) onto builder b, a column of the
// batch's record builder, or (b nil) a column of its own. String, binary, list and struct columns are built by the
// decoder itself (b, if any, stays empty): the caller takes them with Finish.
func NewColumn(mem memory.Allocator, name string, dt arrow.DataType, b array.Builder) *Column {
	return newNode(mem, name, dt, b)
}

// Own tells whether the column is built by the decoder (Finish) rather than on the builder given to NewColumn.
func (n *Column) Own() bool { return n.sc != nil || n.nc != nil }

// Bytes is a string or binary column's values, for a caller that appends its own (a key, a topic name).
func (n *Column) Bytes() *Bytes { return n.sc }

// OpenList appends a list slot to a column of type list<struct<string, binary>> (a message's headers), whose
// pairs AppendPair then appends.
func (n *Column) OpenList() { n.nc.add(n.elem.len(), true) }

// AppendPair appends a pair to the list slot OpenList opened; a nil v is null.
func (n *Column) AppendPair(k, v []byte) {
	kv := n.elem
	kv.nc.add(0, true)
	kv.children[0].sc.Append(k)
	if v == nil {
		kv.children[1].sc.AppendNull()
	} else {
		kv.children[1].sc.Append(v)
	}
}

// Object decodes messages, each a JSON object whose fields are the columns.
type Object struct {
	root *Column
	scan jscan
}

// NewObject decodes objects into cols, the columns of fields, in order.
func NewObject(cols []*Column, fields []arrow.Field) *Object {
	root := &Column{kind: kStruct, children: cols}
	root.setFields(fields)
	return &Object{root: root}
}

// Decode appends the object message v holds, a value to every column; on error every column has still had exactly
// one value appended, so the row can be cut off.
func (o *Object) Decode(v []byte) error {
	s := &o.scan
	s.reset(v)
	c, err := s.peek()
	if err == nil && c != '{' {
		err = fmt.Errorf("the value is %s, want a JSON object", kindAt(c))
	}
	if err != nil {
		o.AppendNull()
		return err
	}
	s.pos++
	if err := o.root.object(s, 1); err != nil {
		return err
	}
	if s.ws(); s.pos < len(v) {
		return s.errorf("data after the JSON object")
	}
	return nil
}

// AppendNull appends a null to every column, for a message whose value could not be read.
func (o *Object) AppendNull() {
	for _, c := range o.root.children {
		c.AppendNull()
	}
}

// NoShapes makes every struct column read with the general loop alone, never learning a layout: the tests compare
// the two ways of reading.
func (o *Object) NoShapes() { noShapes(o.root) }

func noShapes(n *Column) {
	if n == nil {
		return
	}
	n.noShape = true
	n.shape.ok = false
	noShapes(n.elem)
	for _, c := range n.children {
		noShapes(c)
	}
}

// Merge widens root, the type of the top-level objects, by message v; a message that is not a JSON object is an
// error.
func Merge(root *jsonarrow.Type, v []byte) error {
	s := &jscan{b: v}
	c, err := s.peek()
	if err != nil {
		return err
	}
	if c != '{' {
		return fmt.Errorf("the value is %s, want a JSON object", kindAt(c))
	}
	return jsonarrow.Merge(s, root, 0, maxDepth)
}

// jscan is read by inference (jsonarrow.Merge) and jsonarrow.Token through jsonarrow.Scanner.
var _ jsonarrow.Scanner = (*jscan)(nil)

func (s *jscan) PeekValue() (byte, error)                     { return s.peek() }
func (s *jscan) Take()                                        { s.pos++ }
func (s *jscan) Literal() (byte, error)                       { return s.literal() }
func (s *jscan) Str() ([]byte, error)                         { return s.str() }
func (s *jscan) Number() ([]byte, error)                      { return s.number() }
func (s *jscan) More(closing byte, first *bool) (bool, error) { return s.more(closing, first) }
func (s *jscan) Key() ([]byte, error)                         { return s.key() }
func (s *jscan) Skip(dst *[]byte, depth int) error            { return s.skip(dst, depth) }
func (s *jscan) NotAValue(c byte) error                       { return s.errorf("unexpected %s", quoteChar(c)) }
func (s *jscan) TooDeep() error {
	return s.errorf("JSON nested more than %d levels deep", maxDepth)
}
