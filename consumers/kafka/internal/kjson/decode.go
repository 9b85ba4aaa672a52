package kjson

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/internal/jsonarrow"
)

type kind uint8

const (
	kScalar  kind = iota // read by col, jsonarrow's
	kInt64               // a scalar with member's fast path
	kDecimal             // likewise
	kString              // string and binary: built by sc
	kBinary
	kStruct
	kList
)

// node decodes JSON values of one Arrow type straight into its column: scalars through jsonarrow's Column, which
// holds the concrete builder, so no allocation per value; strings, binaries, lists and structs into columns the
// decoder builds itself.
//
// Whatever happens, decode appends exactly one value to its column (a null when the value is bad), so a bad
// message leaves every column one row longer and the reader can cut that row off the batch.
type Column struct {
	kind kind
	name string // dotted name, for errors
	dt   arrow.DataType
	col  *jsonarrow.Column // scalars: the column, on a batch column's builder or (alone) its own
	// alone: col's builder is the node's own, not one of the batch's record builder (a column under a list or
	// struct).
	alone bool
	// member's fast paths: col's builder and type, without going through col
	i64       *array.Int64Builder
	dec       *array.Decimal128Builder
	precision int32
	scale     int32

	children []*Column
	index    map[string]int // struct: field name -> child
	fields   []string       // struct: field names in schema order
	keys     []literal      // struct: each field name as a JSON string without escapes ("id"), to match in place
	seen     []uint32       // struct: scratch, the fields the current object had are those equal to gen
	gen      uint32         // struct: the current object's number (so seen needs no clearing per object)
	shape    shape          // struct: the layout of the last object read whole
	rec      []shapeRec     // struct: scratch, the layout of the object being read, to learn its shape
	noShape  bool           // struct: never learn a shape (tests compare the general loop with shaped)
	elem     *Column
	raw      []byte   // scalar text columns: scratch for non-string values kept as JSON text
	sc       *Bytes   // string and binary: the column, built by the decoder
	nc       *nestCol // list and struct: the slots, built by the decoder
	last     int      // alone: the values of the last batch, reserved for the next
}

// literal tells whether a message holds given bytes at a position: in two 8-byte loads and masks for up to 16
// bytes (nearly all field names, quoted, and the gaps between values a shape holds), else by comparing the bytes.
type literal struct {
	w, m [2]uint64
	n    int    // len(q) when the loads can match it, else 0
	q    []byte // the bytes; nil for a field name that cannot be written without escapes (never matches)
}

func newLiteral(q []byte) literal {
	l := literal{q: q}
	if len(q) <= 16 {
		l.n = len(q)
		var w [16]byte
		copy(w[:], q)
		for i := range l.n {
			l.m[i/8] |= 0xff << (8 * (i % 8))
		}
		l.w[0], l.w[1] = binary.LittleEndian.Uint64(w[:8]), binary.LittleEndian.Uint64(w[8:])
	}
	return l
}

// newKeyMatch matches a field's name quoted, as producers write it ("id"), or nothing if the name needs escapes.
func newKeyMatch(name string) literal {
	for i := range len(name) {
		if c := name[i]; c == '"' || c == '\\' || c < 0x20 {
			return literal{}
		}
	}
	return newLiteral([]byte(`"` + name + `"`))
}

// at reports whether b holds the literal at pos.
func (k *literal) at(b []byte, pos int) bool {
	if k.n != 0 && pos+16 <= len(b) {
		return binary.LittleEndian.Uint64(b[pos:])&k.m[0] == k.w[0] && binary.LittleEndian.Uint64(b[pos+8:])&k.m[1] == k.w[1]
	}
	return k.q != nil && bytes.HasPrefix(b[pos:], k.q)
}

// AppendNull appends a null to the node's column (and to a struct's fields, as Arrow's struct builder does).
func (n *Column) AppendNull() {
	switch {
	case n.sc != nil:
		n.sc.AppendNull()
	case n.nc == nil:
		n.col.AppendNull()
	case n.kind == kList:
		n.nc.add(n.elem.len(), false)
	default:
		n.nc.add(0, false)
		for _, c := range n.children {
			c.AppendNull()
		}
	}
}

// len is the number of values in the node's column.
func (n *Column) len() int {
	switch {
	case n.sc != nil:
		return n.sc.n
	case n.nc != nil:
		return n.nc.n
	}
	return n.col.B.Len()
}

// Finish returns the node's values as array data, for a column built by the decoder (sc or nc) or alone, and
// leaves the column empty with room for as many values. A batch column's builder is finished by its record builder.
func (n *Column) Finish() arrow.ArrayData {
	switch {
	case n.sc != nil:
		return n.sc.Finish()
	case n.nc != nil && n.kind == kList:
		end := n.elem.len()
		return n.nc.finish(end, []arrow.ArrayData{n.elem.Finish()})
	case n.nc != nil:
		kids := make([]arrow.ArrayData, len(n.children))
		for i, c := range n.children {
			kids[i] = c.Finish()
		}
		return n.nc.finish(0, kids)
	}
	b := n.col.B
	n.last = b.Len()
	a := b.NewArray()
	d := a.Data()
	d.Retain()
	a.Release()
	if n.last > 0 {
		b.Reserve(n.last)
	}
	return d
}

// Release frees the columns the node and its children build.
func (n *Column) Release() {
	switch {
	case n.sc != nil:
		n.sc.release()
	case n.nc != nil:
		n.nc.release()
	case n.alone:
		n.col.B.Release()
	}
	if n.elem != nil {
		n.elem.Release()
	}
	for _, c := range n.children {
		c.Release()
	}
}

// newNode makes the decoder of a column of type dt (checked by jsonarrow.CheckType): onto builder b, a column of
// the batch's record builder, or (b nil) a column of its own under a list or struct. String, binary, list and
// struct columns are built by the decoder itself at any depth (b, if any, stays empty).
func newNode(mem memory.Allocator, name string, dt arrow.DataType, b array.Builder) *Column {
	n := &Column{name: name, dt: dt}
	switch t := dt.(type) {
	case *arrow.StringType, *arrow.BinaryType:
		n.kind = kString
		if t.ID() == arrow.BINARY {
			n.kind = kBinary
		}
		n.sc = &Bytes{mem: mem, dt: dt}
		return n
	case *arrow.ListType:
		n.kind, n.nc = kList, &nestCol{mem: mem, dt: dt, list: true}
		n.elem = newNode(mem, name+"[]", t.Elem(), nil)
		return n
	case *arrow.StructType:
		n.kind, n.nc = kStruct, &nestCol{mem: mem, dt: dt}
		for _, f := range t.Fields() {
			n.children = append(n.children, newNode(mem, name+"."+f.Name, f.Type, nil))
		}
		n.setFields(t.Fields())
		return n
	}
	if b == nil {
		b, n.alone = array.NewBuilder(mem, dt), true
	}
	n.col = jsonarrow.NewColumn(name, dt, b)
	switch n.col.ID {
	case arrow.INT64:
		n.kind, n.i64 = kInt64, n.col.Int64()
	case arrow.DECIMAL128:
		n.kind, n.dec, n.precision, n.scale = kDecimal, n.col.Decimal(), n.col.Precision, n.col.Scale
	}
	return n
}

// setFields indexes a struct node's children by the fields' names.
func (n *Column) setFields(fields []arrow.Field) {
	n.index = make(map[string]int, len(fields))
	n.fields, n.keys = nil, nil
	for i, f := range fields {
		n.index[f.Name] = i
		n.fields = append(n.fields, f.Name)
		n.keys = append(n.keys, newKeyMatch(f.Name))
	}
	n.seen, n.gen = make([]uint32, len(fields)), 0
}

// decode reads one value and appends it; on error it has still appended exactly one value.
func (n *Column) decode(s *jscan, depth int) error {
	opened, err := n.value(s, depth)
	if err != nil && !opened {
		n.AppendNull()
	}
	return err
}

// value reads one value and appends it. opened tells whether it appended a list or struct slot before failing.
func (n *Column) value(s *jscan, depth int) (opened bool, err error) {
	if depth > maxDepth {
		return false, s.errorf("JSON nested more than %d levels deep", maxDepth)
	}
	var c byte
	if s.pos < len(s.b) && s.b[s.pos] > ' ' { // no white space before the value: peek's work, without the call
		c = s.b[s.pos]
	} else if c, err = s.peek(); err != nil {
		return false, err
	}
	if c == 'n' {
		if _, err := s.literal(); err != nil {
			return false, err
		}
		n.AppendNull()
		return true, nil
	}
	switch n.kind {
	case kList:
		if c != '[' {
			return false, n.mismatch(c)
		}
		return true, n.list(s, depth)
	case kStruct:
		if c != '{' {
			return false, n.mismatch(c)
		}
		s.pos++
		n.nc.add(0, true)
		return true, n.object(s, depth)
	}
	cl := jsonarrow.ClassOf(c)
	switch n.kind {
	case kString: // any value: what is not a string is kept as its JSON text
	case kBinary:
		if cl != jsonarrow.StringValue {
			return false, n.mismatch(c)
		}
	default:
		if !n.col.Accepts(cl) {
			return false, n.mismatch(c)
		}
	}
	tok, err := jsonarrow.Token(s, cl, &n.raw, depth)
	if errors.Is(err, errInvalidUTF8) {
		return false, fmt.Errorf("field %s: invalid UTF-8 in a string at byte %d", n.name, s.pos)
	}
	if err != nil {
		return false, err
	}
	if n.sc != nil {
		n.sc.Append(tok)
		return true, nil
	}
	if err := n.col.Append(cl, tok); err != nil {
		return false, err
	}
	return true, nil
}

// list reads an array at '[' into the list column: its slot, then each element. The separators are read inline,
// as members does; anything unexpected is handed to jscan's more, whose errors say what was wanted.
func (n *Column) list(s *jscan, depth int) error {
	s.pos++
	n.nc.add(n.elem.len(), true)
	b, e := s.b, n.elem
	pos := skipWS(b, s.pos)
	if pos < len(b) && b[pos] == ']' {
		s.pos = pos + 1
		return nil
	}
	for {
		if e.sc != nil && pos < len(b) && b[pos] == '"' { // a string, straight into its column
			if end, ok := e.sc.appendJSON(b, pos); ok {
				pos = end
				goto next
			}
		}
		s.pos = pos
		if err := e.decode(s, depth+1); err != nil {
			return err
		}
		pos = s.pos
	next:
		// The usual separator, ", " before a value, without next's call; anything else goes through next.
		if pos+2 < len(b) && b[pos] == ',' && b[pos+1] == ' ' && b[pos+2] > ' ' && b[pos+2] != ']' {
			pos += 2
			continue
		}
		s.pos = pos
		if more, err := s.next(']'); !more {
			return err
		}
		pos = s.pos
	}
}

func (n *Column) mismatch(c byte) error {
	return fmt.Errorf("field %s: %s does not fit its type %s", n.name, kindAt(c), arrowtype.Format(n.dt))
}

// quickStr reads a string value at s.pos straight into the node's string column. It returns false, s.pos
// unchanged, when the value is not a string or the node not a string column, or when the string is bad: the
// general path reads it again and reports the error with the field's name.
func (n *Column) quickStr(s *jscan) bool {
	p := s.pos
	if n.sc == nil || p >= len(s.b) || s.b[p] != '"' {
		return false
	}
	if end, ok := n.sc.appendJSON(s.b, p); ok {
		s.pos = end
		return true
	}
	v, err := s.str()
	if err != nil {
		s.pos = p
		return false
	}
	n.sc.Append(v)
	return true
}

// object reads an object's members after its '{' into the struct's children: absent fields become null, fields
// not in the schema are skipped. On error, every child still gets exactly one value. An object laid out as the
// last one read whole is read by shaped; where it differs, the general loop goes on.
func (n *Column) object(s *jscan, depth int) error {
	if n.gen++; n.gen == 0 { // wrapped: no stale number may match
		clear(n.seen)
		n.gen = 1
	}
	var err error
	if n.shape.ok {
		matched, done, serr := n.shaped(s, depth)
		if done && serr == nil {
			for _, i := range n.shape.absent {
				n.children[i].AppendNull()
			}
			return nil
		}
		guess := 0
		for _, m := range n.shape.members[:matched] {
			if m.child >= 0 {
				n.seen[m.child] = n.gen
				guess = m.child + 1
			}
		}
		err = serr
		if !done {
			// A gap differs: the general loop goes on from there, and the next object read whole teaches the
			// shape again.
			n.shape.ok = false
			err = n.members(s, depth, matched > 0, guess)
		}
	} else {
		err = n.members(s, depth, false, 0)
	}
	for i, g := range n.seen {
		if g != n.gen {
			n.children[i].AppendNull()
		}
	}
	return err
}

// members is object's general loop. The key and colon are read inline, on a local position the compiler keeps in
// a register (s.pos is set before anything that reads it); anything unexpected is handed to jscan's more and key,
// whose errors say what was wanted. after: s.pos is right after a member's value (where shaped stopped), guess
// the field expected next. Read from the object's start, an object read whole teaches the node its shape.
func (n *Column) members(s *jscan, depth int, after bool, guess int) error {
	b := s.b
	learn := !after && !n.noShape
	if learn {
		n.rec = append(n.rec[:0], shapeRec{gap: s.pos})
	}
	var pos int
	if after {
		if more, err := s.next('}'); !more {
			return err
		}
		pos = s.pos
	} else if pos = skipWS(b, s.pos); pos < len(b) && b[pos] == '}' {
		s.pos = pos + 1
		if learn {
			n.learnShape(s.b, s.pos)
		}
		return nil
	}
	for {
		if pos >= len(b) || b[pos] != '"' {
			s.pos = pos
			_, err := s.key()
			return err
		}
		// Producers write an object's fields in the same order message after message: the key after the last one
		// is tried first, as it is usually written (quoted, no escapes), in two 8-byte comparisons; any other key
		// is scanned, compared with the guess and otherwise looked up.
		i, ok := guess, false
		if i < len(n.keys) && n.keys[i].at(b, pos) {
			pos += len(n.keys[i].q)
			ok = true
		} else {
			s.pos = pos
			key, err := s.str()
			if err != nil {
				return err
			}
			pos = s.pos
			if i < len(n.fields) && n.fields[i] == jsonarrow.Bstr(key) {
				ok = true
			} else {
				i, ok = n.index[jsonarrow.Bstr(key)]
			}
		}
		if pos = skipWS(b, pos); pos >= len(b) || b[pos] != ':' {
			s.pos = pos
			c, err := s.peek()
			if err != nil {
				return err
			}
			return s.errorf("want : after an object key, got %s", quoteChar(c))
		}
		s.pos = skipWS(b, pos+1) // the value starts right at s.pos: value's fast case
		if ok {
			guess = i + 1
		}
		if !ok || n.seen[i] == n.gen {
			// Not in the schema, or a repeated key (the first one wins, as most JSON readers do).
			if learn {
				n.rec[len(n.rec)-1].value, n.rec[len(n.rec)-1].child = s.pos, -1
			}
			if err := s.skip(nil, depth+1); err != nil {
				return err
			}
		} else {
			if learn {
				n.rec[len(n.rec)-1].value, n.rec[len(n.rec)-1].child = s.pos, i
			}
			n.seen[i] = n.gen
			if err := n.children[i].member(s, depth); err != nil {
				return err
			}
		}
		if learn {
			n.rec = append(n.rec, shapeRec{gap: s.pos})
		}
		if more, err := s.next('}'); !more {
			if err == nil && learn {
				n.learnShape(s.b, s.pos)
			}
			return err
		}
		pos = s.pos
	}
}

// member reads the value of a field of an object at depth, at s.pos. The usual values — strings, plain decimals
// and integers, lists and objects — are read here, without value's call and switch; anything else, and any
// error, goes through decode.
func (c *Column) member(s *jscan, depth int) error {
	b := s.b
	if p := s.pos; p < len(b) {
		switch ch := b[p]; {
		case ch == '"' && c.quickStr(s):
			return nil
		case c.kind == kDecimal && (ch >= '0' && ch <= '9' || ch == '-'):
			if v, end, ok := jsonarrow.PlainDecimal(b, p, c.precision, c.scale); ok {
				if c.dec.Len() < c.dec.Cap() {
					c.dec.UnsafeAppend(decimal128.FromI64(v))
				} else {
					c.dec.Append(decimal128.FromI64(v))
				}
				s.pos = end
				return nil
			}
		case c.kind == kList && ch == '[' && depth < maxDepth:
			return c.list(s, depth+1)
		case c.kind == kStruct && ch == '{' && depth < maxDepth:
			s.pos++
			c.nc.add(0, true)
			return c.object(s, depth+1)
		case c.kind == kInt64 && (ch >= '0' && ch <= '9' || ch == '-'):
			if v, end, ok := jsonarrow.PlainDecimal(b, p, 19, 0); ok { // a plain integer
				if c.i64.Len() < c.i64.Cap() {
					c.i64.UnsafeAppend(v)
				} else {
					c.i64.Append(v)
				}
				s.pos = end
				return nil
			}
		}
	}
	return c.decode(s, depth+1)
}

// skipWS returns the position of the first byte at or after i that is not JSON white space.
func skipWS(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
