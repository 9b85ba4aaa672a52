package httpapi

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

type ikind uint8

// The inference lattice: null fits anything; int widens to float; any other mix of kinds becomes string (a
// string column keeps non-string values as their JSON text, so nothing read later is lost).
const (
	iNull ikind = iota
	iBool
	iInt
	iFloat
	iString
	iStruct
	iList
)

// itype is an inferred JSON type.
type itype struct {
	kind   ikind
	fields []*ifield // struct, in order of first appearance
	index  map[string]int
	elem   *itype // list
}

type ifield struct {
	name string
	t    *itype
}

// inferrer is a recordSink that merges every record into one inferred struct type.
type inferrer struct {
	root itype
	rows int
}

func newInferrer() *inferrer { return &inferrer{root: itype{kind: iStruct, index: map[string]int{}}} }

func (in *inferrer) record(s *scanner) error {
	c, err := s.peekValue()
	if err != nil {
		return err
	}
	if c != '{' {
		return fmt.Errorf("a record is %s, want an object", kindAt(c))
	}
	s.pos++
	in.rows++
	return in.root.mergeObject(s, 1)
}

func (t *itype) mergeObject(s *scanner, depth int) error {
	first := true
	for {
		more, err := s.more('}', &first)
		if err != nil || !more {
			return err
		}
		key, err := s.key()
		if err != nil {
			return err
		}
		i, ok := t.index[string(key)]
		if !ok {
			i = len(t.fields)
			t.fields = append(t.fields, &ifield{name: string(key), t: &itype{}})
			t.index[string(key)] = i
		}
		if err := t.fields[i].t.merge(s, depth+1); err != nil {
			return err
		}
	}
}

// merge reads one value and widens t to hold it.
func (t *itype) merge(s *scanner, depth int) error {
	if depth > maxDepth {
		return s.errorf("JSON nested more than %d levels deep", maxDepth)
	}
	c, err := s.peekValue()
	if err != nil {
		return err
	}
	var k ikind
	switch {
	case c == 'n':
		_, err := s.literal()
		return err
	case c == 't' || c == 'f':
		k = iBool
	case c == '"':
		k = iString
	case c == '-' || c >= '0' && c <= '9':
		b, err := s.number()
		if err != nil {
			return err
		}
		k = iFloat
		if _, ok := parseInt(b); ok {
			k = iInt
		}
		t.widen(k)
		return nil
	case c == '{':
		k = iStruct
	case c == '[':
		k = iList
	default:
		return s.errorf("invalid character %s looking for the beginning of a value", quoteChar(c))
	}
	t.widen(k)
	switch {
	case k == iStruct && t.kind == iStruct:
		s.pos++
		return t.mergeObject(s, depth)
	case k == iList && t.kind == iList:
		s.pos++
		first := true
		for {
			more, err := s.more(']', &first)
			if err != nil || !more {
				return err
			}
			if err := t.elem.merge(s, depth+1); err != nil {
				return err
			}
		}
	}
	return s.skip(nil, depth)
}

func (t *itype) widen(k ikind) {
	switch {
	case t.kind == k:
	case t.kind == iNull:
		t.kind = k
		switch k {
		case iStruct:
			t.index = map[string]int{}
		case iList:
			t.elem = &itype{}
		}
	case t.kind == iInt && k == iFloat, t.kind == iFloat && k == iInt:
		t.kind = iFloat
	default:
		t.kind, t.fields, t.index, t.elem = iString, nil, nil, nil
	}
}

func (t *itype) arrow() arrow.DataType {
	switch t.kind {
	case iBool:
		return arrow.FixedWidthTypes.Boolean
	case iInt:
		return arrow.PrimitiveTypes.Int64
	case iFloat:
		return arrow.PrimitiveTypes.Float64
	case iStruct:
		if len(t.fields) == 0 {
			return arrow.BinaryTypes.String // an always-empty object: keep its text
		}
		return arrow.StructOf(t.arrowFields()...)
	case iList:
		return arrow.ListOf(t.elem.arrow())
	}
	return arrow.BinaryTypes.String
}

func (t *itype) arrowFields() []arrow.Field {
	fs := make([]arrow.Field, len(t.fields))
	for i, f := range t.fields {
		fs[i] = arrow.Field{Name: f.name, Type: f.t.arrow(), Nullable: true}
	}
	return fs
}

// schema is the inferred schema of the records seen.
func (in *inferrer) schema() *arrow.Schema { return arrow.NewSchema(in.root.arrowFields(), nil) }
