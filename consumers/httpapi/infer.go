package httpapi

import (
	"encoding/json"
	"fmt"
	"strconv"

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

func (in *inferrer) record(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("a record is %s, want an object", tokenKind(tok))
	}
	in.rows++
	return in.root.mergeObject(dec)
}

func (t *itype) mergeObject(dec *json.Decoder) error {
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := kt.(string)
		i, ok := t.index[key]
		if !ok {
			i = len(t.fields)
			t.fields = append(t.fields, &ifield{name: key, t: &itype{}})
			t.index[key] = i
		}
		if err := t.fields[i].t.merge(dec); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return err
}

// merge reads one value and widens t to hold it.
func (t *itype) merge(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	var k ikind
	switch v := tok.(type) {
	case nil:
		return nil
	case bool:
		k = iBool
	case string:
		k = iString
	case json.Number:
		k = iFloat
		if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			k = iInt
		}
	case json.Delim:
		if v == '{' {
			k = iStruct
		} else {
			k = iList
		}
	}
	t.widen(k)
	switch {
	case k == iStruct && t.kind == iStruct:
		return t.mergeObject(dec)
	case k == iList && t.kind == iList:
		for dec.More() {
			if err := t.elem.merge(dec); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	case k == iStruct || k == iList:
		return skipRest(dec, tok.(json.Delim))
	}
	return nil
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
