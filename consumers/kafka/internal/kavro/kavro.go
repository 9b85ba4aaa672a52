// Package kavro decodes Avro's binary encoding straight into Arrow builders, for the kafka consumer's format
// avro: the mapping of an Avro schema to Arrow columns, the decoders compiled from a schema, and the resolution of
// a writer's schema against the reader's (Avro's schema evolution) that a schema registry calls for.
//
// It knows neither Kafka nor the registry's protocol: the consumer strips the Confluent header, looks the schema
// id up (through franz-go's registry client) and caches what Compile and Resolve return. It is internal to the
// kafka consumer, its only user; a consumer of Avro files would move it up to internal/.
package kavro

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/twmb/avro"

	"github.com/jetflow-dev/jetflow/arrowtype"
)

// Columns returns the columns of a schema whose top-level record's fields are the columns.
func Columns(text string) ([]arrow.Field, error) {
	fs, _, err := avroSchema(text)
	return fs, err
}

// Schema is a schema compiled both ways: as a record of columns (values) and as one value (keys), or why it
// cannot be used that way (an id the registry does not know, a schema jetflow cannot read); the latter is a
// property of every message written with it.
type Schema struct {
	ID     uint32
	Fields []arrow.Field
	Err    error
	plan   []*field
	// The whole schema as one value, for keys (which need not be records): its root node and Arrow type.
	root     *avro.SchemaNode
	RootType arrow.DataType
	RootErr  error
}

// Compile compiles schema text, the schema of id in a registry (0 for none).
func Compile(id uint32, text string) *Schema {
	w := &Schema{ID: id}
	w.Fields, w.plan, w.Err = avroSchema(text)
	s, err := avro.Parse(text)
	if err != nil {
		w.RootErr = err
		return w
	}
	w.root = s.Root()
	w.RootType, _, w.RootErr = avroArrow(w.root, map[string]*avro.SchemaNode{}, 0)
	return w
}

// Record decodes the records of one schema, the writer's of every message, into the builders of its columns.
type Record struct {
	fields []*node
	r      reader
}

// NewRecord compiles the decoder of schema text onto cols, the builders of its columns (of the types Columns
// gives).
func NewRecord(text string, cols []array.Builder) (*Record, error) {
	_, plan, err := avroSchema(text)
	if err != nil {
		return nil, err
	}
	d := &Record{}
	named := map[string]*avro.SchemaNode{}
	for i, f := range plan {
		d.fields = append(d.fields, newNode(f.name, f.node, cols[i], named))
	}
	return d, nil
}

// Decode appends the record encoded in v; on error every column has still had exactly one value appended.
func (d *Record) Decode(v []byte) error {
	r := &d.r
	r.b, r.pos = v, 0
	for i, a := range d.fields {
		if err := a.decode(r, 0); err != nil {
			for _, rest := range d.fields[i+1:] {
				rest.b.AppendNull()
			}
			return err
		}
	}
	if r.pos != len(v) {
		return fmt.Errorf("%d bytes after the Avro record", len(v)-r.pos)
	}
	return nil
}

// AppendNull appends a null to every column, for a message that could not be read.
func (d *Record) AppendNull() {
	for _, a := range d.fields {
		a.b.AppendNull()
	}
}

// Reader is the reader's schema of a registry's messages: writers' schemas are resolved against it, onto the
// builders of its columns.
type Reader struct {
	fields []*field
	index  map[string]int
	cols   []array.Builder
}

// NewReader makes the reader's schema text, whose fields are the columns built by cols.
func NewReader(text string, cols []array.Builder) (*Reader, error) {
	_, plan, err := avroSchema(text)
	if err != nil {
		return nil, err
	}
	rd := &Reader{fields: plan, index: make(map[string]int, len(plan)), cols: cols[:len(plan)]}
	for i, f := range plan {
		rd.index[f.name] = i
	}
	return rd, nil
}

// Resolve compiles the decoder of the messages written with w into the reader's columns. What cannot be
// resolved makes every message with w bad, as Resolved.Decode says.
func (rd *Reader) Resolve(w *Schema) *Resolved {
	res := &Resolved{ID: w.ID, cols: rd.cols}
	if w.Err != nil {
		res.err = w.Err
		return res
	}
	rz := &resolver{id: w.ID, wNamed: namedTypes(w.plan), rNamed: namedTypes(rd.fields)}
	has := make([]bool, len(rd.fields))
	for i, f := range w.plan {
		ri, ok := rd.index[f.name]
		if !ok {
			res.steps = append(res.steps, rstep{n: newNode(f.name, f.node, nil, rz.wNamed)})
			continue
		}
		n, err := rz.node(f.name, f.node, rd.fields[ri].node, rd.cols[ri], w.Fields[i].Type, rd.cols[ri].Type())
		if err != nil {
			res.err = err
			return res
		}
		has[ri] = true
		res.steps = append(res.steps, rstep{n: n, col: true})
	}
	for ri, f := range rd.fields {
		if has[ri] {
			continue
		}
		fl, err := rz.filler(f.name, f.field, rd.cols[ri])
		if err != nil {
			res.err = err
			return res
		}
		res.missing = append(res.missing, fl)
	}
	return res
}

// Decode appends the record encoded in v (without the Confluent header) as the reader's columns; on error every
// column has still had exactly one value appended.
func (res *Resolved) Decode(v []byte) error {
	if res.err != nil {
		for _, c := range res.cols {
			c.AppendNull()
		}
		return res.err
	}
	var ferr error
	for i := range res.missing {
		if err := res.missing[i].append(); err != nil && ferr == nil {
			ferr = fmt.Errorf("schema id %d: the reader's default of %w", res.ID, err)
		}
	}
	r := &res.r
	r.b, r.pos = v, 0
	for i, st := range res.steps {
		var err error
		if st.col {
			err = st.n.decode(r, 0)
		} else if err = st.n.skip(r, 0); err != nil {
			err = fmt.Errorf("field %s: %w", st.n.name, err)
		}
		if err != nil {
			for _, rest := range res.steps[i+1:] {
				if rest.col {
					rest.n.b.AppendNull()
				}
			}
			return fmt.Errorf("schema id %d: %w", res.ID, err)
		}
	}
	if ferr != nil {
		return ferr
	}
	if r.pos != len(v) {
		return fmt.Errorf("schema id %d: %d bytes after the Avro record", res.ID, len(v)-r.pos)
	}
	return nil
}

// Key is the reader's schema of a registry's keys, one value of any type, built by one builder.
type Key struct {
	reader *avro.SchemaNode
	typ    arrow.DataType
	b      array.Builder
}

// NewKey makes the reader's schema text of the keys, whose values b builds (of the type Compile gives as
// RootType).
func NewKey(text string, b array.Builder) (*Key, error) {
	w := Compile(0, text)
	if w.RootErr != nil {
		return nil, w.RootErr
	}
	if !arrow.TypeEqual(w.RootType, b.Type()) {
		return nil, fmt.Errorf("the reader's schema of the keys is %s, the column %s", arrowtype.Format(w.RootType), arrowtype.Format(b.Type()))
	}
	return &Key{reader: w.root, typ: w.RootType, b: b}, nil
}

// KeyResolved is one writer's schema of keys resolved against the reader's.
type KeyResolved struct {
	ID  uint32
	b   array.Builder
	n   *node
	err error
	r   reader
}

// Resolve compiles the decoder of the keys written with w.
func (k *Key) Resolve(w *Schema) *KeyResolved {
	res := &KeyResolved{ID: w.ID, b: k.b}
	if w.RootErr != nil {
		res.err = w.RootErr
		return res
	}
	named := func(n *avro.SchemaNode) map[string]*avro.SchemaNode {
		m := map[string]*avro.SchemaNode{}
		_, _, _ = avroArrow(n, m, 0) // checked when compiled
		return m
	}
	rz := &resolver{id: w.ID, wNamed: named(w.root), rNamed: named(k.reader)}
	res.n, res.err = rz.node("kafka_key", w.root, k.reader, k.b, w.RootType, k.typ)
	return res
}

// Decode appends the key encoded in v (without the Confluent header); on error it has still appended exactly
// one value.
func (res *KeyResolved) Decode(v []byte) error {
	if res.err != nil {
		res.b.AppendNull()
		return res.err
	}
	r := &res.r
	r.b, r.pos = v, 0
	if err := res.n.decode(r, 0); err != nil {
		return fmt.Errorf("schema id %d: %w", res.ID, err)
	}
	if r.pos != len(r.b) {
		return fmt.Errorf("schema id %d: %d bytes after the Avro value", res.ID, len(r.b)-r.pos)
	}
	return nil
}
