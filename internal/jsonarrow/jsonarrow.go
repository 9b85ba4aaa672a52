// Package jsonarrow holds what the JSON readers of the consumers (kafka, httpapi) share: the inference of an
// Arrow schema from sample JSON values, the Column that turns a JSON token into a value of a scalar Arrow type (one
// table of the types read, so CheckType, the accepted kinds of value, the conversions and their errors are the
// same in both), and the small helpers of their decoders.
//
// Each consumer keeps its own scanner and its own list and struct building, because their inputs differ: kafka's
// reads a message whole in memory, so it compares field names and the gaps of a learnt layout in place and
// builds strings straight from the message; httpapi's streams a body of any size through a fixed buffer, where
// a token may straddle two reads. Inference reads through the Scanner interface, since it runs on a sample, off
// the hot path; Column takes a token already read, so neither decoder pays an interface call per byte.
package jsonarrow

import (
	"strconv"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
)

// Kind is a JSON value's place in the inference lattice: null fits anything; int widens to float; any other mix
// of kinds becomes string (a string column keeps non-string values as their JSON text, so nothing read later is
// lost).
type Kind uint8

const (
	Null Kind = iota // only nulls seen so far
	Bool
	Int
	Float
	String
	Struct
	List
)

// Type is the type inferred for a JSON value so far; it only widens.
type Type struct {
	Kind   Kind
	fields []*field // Struct: in order of first appearance
	index  map[string]int
	elem   *Type // List
}

type field struct {
	name string
	t    Type
}

// NewObject returns the type of a top-level object, to merge records into.
func NewObject() *Type { return &Type{Kind: Struct} }

// Widen makes t able to hold values of kind k.
func (t *Type) Widen(k Kind) {
	switch {
	case t.Kind == k:
	case t.Kind == Null:
		t.Kind = k
	case t.Kind == Int && k == Float, t.Kind == Float && k == Int:
		t.Kind = Float
	default:
		t.Kind, t.fields, t.index, t.elem = String, nil, nil, nil
	}
}

// Field returns the type of a struct's field, added (as null) if the struct has not had it before.
func (t *Type) Field(name []byte) *Type {
	if i, ok := t.index[Bstr(name)]; ok {
		return &t.fields[i].t
	}
	if t.index == nil {
		t.index = map[string]int{}
	}
	n := string(name)
	t.index[n] = len(t.fields)
	t.fields = append(t.fields, &field{name: n})
	return &t.fields[len(t.fields)-1].t
}

// Elem returns the type of a list's elements.
func (t *Type) Elem() *Type {
	if t.elem == nil {
		t.elem = &Type{}
	}
	return t.elem
}

// Has tells whether a struct has had a field of that name.
func (t *Type) Has(name string) bool {
	_, ok := t.index[name]
	return ok
}

// NumFields is the number of fields a struct has had.
func (t *Type) NumFields() int { return len(t.fields) }

// Arrow is the Arrow type of the values seen.
func (t *Type) Arrow() arrow.DataType {
	switch t.Kind {
	case Bool:
		return arrow.FixedWidthTypes.Boolean
	case Int:
		return arrow.PrimitiveTypes.Int64
	case Float:
		return arrow.PrimitiveTypes.Float64
	case Struct:
		if len(t.fields) == 0 {
			return arrow.BinaryTypes.String // an always-empty object: no fields to make a struct of, keep its text
		}
		return arrow.StructOf(t.ArrowFields()...)
	case List:
		return arrow.ListOf(t.Elem().Arrow())
	}
	return arrow.BinaryTypes.String // strings, mixed kinds, and fields only ever null
}

// ArrowFields are the fields of a struct type, nullable, in the order first seen.
func (t *Type) ArrowFields() []arrow.Field {
	out := make([]arrow.Field, len(t.fields))
	for i, f := range t.fields {
		out[i] = arrow.Field{Name: f.name, Type: f.t.Arrow(), Nullable: true}
	}
	return out
}

// Scanner is what inference reads JSON through. Each method works at the scanner's position, after white space.
type Scanner interface {
	// PeekValue returns the next byte of a value without taking it; the end of the input is an error.
	PeekValue() (byte, error)
	// Take takes the byte PeekValue returned ('{' or '[').
	Take()
	// Literal reads true, false or null.
	Literal() (byte, error)
	// Str reads a string; Number reads a number and returns its text.
	Str() ([]byte, error)
	Number() ([]byte, error)
	// More reads the separator before an object's or array's next member (first: the loop's state) and returns
	// false after the closing byte.
	More(closing byte, first *bool) (bool, error)
	// Key reads an object key and its colon.
	Key() ([]byte, error)
	// Skip reads any value; with dst it appends the value's text.
	Skip(dst *[]byte, depth int) error
	// NotAValue is the error for a byte that starts no JSON value; TooDeep for nesting past the scanner's limit.
	NotAValue(c byte) error
	TooDeep() error
}

// Merge reads one value and widens t to hold it; depth is the value's nesting, maxDepth the most allowed.
func Merge(s Scanner, t *Type, depth, maxDepth int) error {
	if depth > maxDepth {
		return s.TooDeep()
	}
	c, err := s.PeekValue()
	if err != nil {
		return err
	}
	switch {
	case c == 'n':
		_, err := s.Literal()
		return err
	case c == 't' || c == 'f':
		if _, err := s.Literal(); err != nil {
			return err
		}
		t.Widen(Bool)
		return nil
	case c == '"':
		if _, err := s.Str(); err != nil {
			return err
		}
		t.Widen(String)
		return nil
	case c == '-' || c >= '0' && c <= '9':
		b, err := s.Number()
		if err != nil {
			return err
		}
		if _, ok := ParseInt(b); ok {
			t.Widen(Int)
		} else {
			t.Widen(Float)
		}
		return nil
	case c == '{':
		if t.Widen(Struct); t.Kind != Struct {
			return s.Skip(nil, depth)
		}
		s.Take()
		return MergeObject(s, t, depth, maxDepth)
	case c == '[':
		if t.Widen(List); t.Kind != List {
			return s.Skip(nil, depth)
		}
		s.Take()
		first := true
		for {
			more, err := s.More(']', &first)
			if err != nil || !more {
				return err
			}
			if err := Merge(s, t.Elem(), depth+1, maxDepth); err != nil {
				return err
			}
		}
	}
	return s.NotAValue(c)
}

// MergeObject reads an object's members after its '{' into struct type t.
func MergeObject(s Scanner, t *Type, depth, maxDepth int) error {
	first := true
	for {
		more, err := s.More('}', &first)
		if err != nil || !more {
			return err
		}
		k, err := s.Key()
		if err != nil {
			return err
		}
		if err := Merge(s, t.Field(k), depth+1, maxDepth); err != nil {
			return err
		}
	}
}

// ParseInt parses a plain decimal integer, the common case, without strconv's error path.
func ParseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	d := b
	if neg {
		d = b[1:]
	}
	if len(d) == 0 || len(d) > 18 {
		if len(d) > 18 {
			v, err := strconv.ParseInt(Bstr(b), 10, 64)
			return v, err == nil
		}
		return 0, false
	}
	var v int64
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// KindAt names the kind of JSON value that starts with c ("an object"), or "" if no value starts with c.
func KindAt(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	}
	return ""
}

// Bstr views b as a string without copying, for parsers and lookups that do not keep it.
func Bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
