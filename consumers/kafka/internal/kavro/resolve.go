package kavro

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/twmb/avro"

	"github.com/jetflow-dev/jetflow/arrowtype"
)

// Schema evolution through a registry: a message is decoded with its writer's schema into the reader's columns,
// following Avro's resolution rules: record fields (at the top level and in nested records) are matched by name;
// a field the writer lacks gets the reader's default (any type), or null if the reader's field is nullable; a
// field only the writer has is skipped; a value whose type differs from the reader's is promoted if Avro allows
// it (int → long, …), and otherwise makes the message bad. Arrays and maps resolve their items the same way.

// Resolved is one writer's schema resolved against a Reader's columns.
type Resolved struct {
	ID      uint32
	cols    []array.Builder // the reader's columns, to fill a row whose message is bad
	err     error           // every message with this id is bad
	steps   []rstep         // the writer's fields, in its order
	missing []filler        // reader columns the writer does not have
	r       reader          // Decode's
}

type rstep struct {
	n   *node
	col bool // decoded into a reader column; else skipped
}

// filler appends the value of a reader's field the writer's schema lacks: its default, decoded from the default's
// Avro encoding (made once, when the writer's schema is resolved), or null.
type filler struct {
	b   array.Builder
	def *node // nil: null
	val []byte
}

func (f *filler) append() error {
	if f.def == nil {
		f.b.AppendNull()
		return nil
	}
	r := reader{b: f.val}
	return f.def.decode(&r, 0)
}

// namedTypes collects the named types (records, enums, fixed) a schema's fields define, so that references to
// them resolve whatever order the resolution visits the fields in.
func namedTypes(plan []*field) map[string]*avro.SchemaNode {
	named := map[string]*avro.SchemaNode{}
	for _, f := range plan {
		_, _, _ = avroArrow(f.node, named, 0) // checked when the schema was compiled
	}
	return named
}

// resolver resolves the nodes of one writer's schema against the reader's.
type resolver struct {
	id             uint32
	wNamed, rNamed map[string]*avro.SchemaNode
}

// node compiles the decoder of the writer's node w (Arrow type wt) into builder b of the reader's node r (Arrow
// type rt).
func (rz *resolver) node(name string, w, r *avro.SchemaNode, b array.Builder, wt, rt arrow.DataType) (*node, error) {
	if arrow.TypeEqual(wt, rt) {
		return newNode(name, w, b, rz.wNamed), nil
	}
	wi, nullIdx, nullable, _ := unwrapNullable(w)
	ri, _, _, _ := unwrapNullable(r)
	wi, ri = resolveNamed(wi, rz.wNamed), resolveNamed(ri, rz.rNamed)
	isRecord := func(n *avro.SchemaNode) bool { return n.Type == "record" || n.Type == "error" }
	switch {
	case isRecord(wi) && isRecord(ri):
		a := &node{kind: aRecord, name: name, b: b, nullable: nullable, nullIdx: nullIdx, st: b.(*array.StructBuilder)}
		wst, rst := wt.(*arrow.StructType), rt.(*arrow.StructType)
		has := make([]bool, len(ri.Fields))
		for j := range wi.Fields {
			wf := &wi.Fields[j]
			k, ok := rst.FieldIdx(wf.Name)
			if !ok {
				a.children = append(a.children, newNode(name+"."+wf.Name, &wf.Type, nil, rz.wNamed))
				continue
			}
			c, err := rz.node(name+"."+wf.Name, &wf.Type, &ri.Fields[k].Type, a.st.FieldBuilder(k), wst.Field(j).Type, rst.Field(k).Type)
			if err != nil {
				return nil, err
			}
			has[k] = true
			a.children = append(a.children, c)
		}
		for k := range ri.Fields {
			if has[k] {
				continue
			}
			fl, err := rz.filler(name+"."+ri.Fields[k].Name, &ri.Fields[k], a.st.FieldBuilder(k))
			if err != nil {
				return nil, err
			}
			a.fill = append(a.fill, fl)
		}
		return a, nil
	case wi.Type == "array" && ri.Type == "array":
		a := &node{kind: aArray, name: name, b: b, nullable: nullable, nullIdx: nullIdx, li: b.(*array.ListBuilder)}
		var err error
		a.elem, err = rz.node(name+"[]", wi.Items, ri.Items, a.li.ValueBuilder(), wt.(*arrow.ListType).Elem(), rt.(*arrow.ListType).Elem())
		return a, err
	case wi.Type == "map" && ri.Type == "map":
		mp := b.(*array.MapBuilder)
		a := &node{kind: aMap, name: name, b: b, nullable: nullable, nullIdx: nullIdx, mp: mp, key: mp.KeyBuilder().(*array.StringBuilder)}
		var err error
		a.elem, err = rz.node(name+"{}", wi.Values, ri.Values, mp.ItemBuilder(), wt.(*arrow.MapType).ItemType(), rt.(*arrow.MapType).ItemType())
		return a, err
	}
	// The kind first, on a node without builder: a record, list or map node would take b for a builder of its own
	// kind, and promotions are between primitives only.
	p := promotionOf(newNode(name, w, nil, rz.wNamed).kind, wt, rt)
	if p == pNone {
		return nil, fmt.Errorf("writer's schema id %d: field %s is %s, which its column (%s) cannot take",
			rz.id, name, arrowtype.Format(wt), arrowtype.Format(rt))
	}
	n := newNode(name, w, b, rz.wNamed)
	n.promote = p
	return n, nil
}

// filler makes the filler of reader's field f, which the writer's schema lacks, appending to b.
func (rz *resolver) filler(name string, f *avro.SchemaField, b array.Builder) (filler, error) {
	if !f.HasDefault {
		if _, _, nullable, _ := unwrapNullable(&f.Type); nullable {
			return filler{b: b}, nil
		}
		return filler{}, fmt.Errorf("writer's schema id %d has no field %s, and the reader's schema gives it no default and does not allow it to be null", rz.id, name)
	}
	s, err := f.Type.Schema()
	var val []byte
	if err == nil {
		val, err = s.AppendEncode(nil, f.Default)
	}
	if err != nil {
		return filler{}, fmt.Errorf("writer's schema id %d has no field %s, and the reader's default for it cannot be encoded: %w", rz.id, name, err)
	}
	return filler{b: b, def: newNode(name, &f.Type, b, rz.rNamed), val: val}, nil
}

// skip reads past one value of the node's schema without appending it.
func (a *node) skip(r *reader, depth int) error {
	if depth > maxAvroDepth {
		return errors.New("nested too deep")
	}
	if a.nullable {
		idx, err := r.long()
		if err != nil {
			return err
		}
		if idx == a.nullIdx {
			return nil
		}
		if idx != 1-a.nullIdx {
			return fmt.Errorf("union branch %d does not exist", idx)
		}
	}
	switch a.kind {
	case aBool:
		_, err := r.take(1)
		return err
	case aInt32, aDate32, aInt64, aTimestamp, aEnum:
		_, err := r.long()
		return err
	case aFloat32:
		_, err := r.take(4)
		return err
	case aFloat64:
		_, err := r.take(8)
		return err
	case aString, aBytes, aDecimalBytes:
		n, err := r.long()
		if err != nil {
			return err
		}
		v, err := r.take(n)
		if err == nil && a.kind == aString && !utf8.Valid(v) {
			err = errors.New("invalid UTF-8 in a string")
		}
		return err
	case aFixed, aDecimalFixed:
		_, err := r.take(int64(a.size))
		return err
	case aRecord:
		for _, c := range a.children {
			if err := c.skip(r, depth+1); err != nil {
				return err
			}
		}
	case aArray, aMap:
		for {
			count, err := r.long()
			if err != nil || count == 0 {
				return err
			}
			if count < 0 {
				size, err := r.long() // a block that says its size in bytes is skipped whole
				if err != nil {
					return err
				}
				if _, err := r.take(size); err != nil {
					return err
				}
				continue
			}
			if err := r.blockCount(count); err != nil {
				return err
			}
			for range count {
				if a.kind == aMap {
					n, err := r.long()
					if err != nil {
						return err
					}
					if _, err := r.take(n); err != nil {
						return err
					}
				}
				if err := a.elem.skip(r, depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// promotion is how a writer's value becomes a reader's of a wider type: Avro's promotions int → long, float,
// double; long → float, double; float → double; string ↔ bytes.
type promotion uint8

const (
	pNone promotion = iota
	pLong
	pFloat32
	pFloat64
	pBinary
	pString
)

// promotionOf is the promotion from a writer's node of kind k (Arrow type from) to a column of type to.
func promotionOf(k akind, from, to arrow.DataType) promotion {
	switch {
	case k == aInt32 && from.ID() == arrow.INT32 && to.ID() == arrow.INT64:
		return pLong
	case (k == aInt32 || k == aInt64) && to.ID() == arrow.FLOAT32:
		return pFloat32
	case (k == aInt32 || k == aInt64 || k == aFloat32) && to.ID() == arrow.FLOAT64:
		return pFloat64
	case k == aString && to.ID() == arrow.BINARY:
		return pBinary
	case k == aBytes && to.ID() == arrow.STRING:
		return pString
	}
	return pNone
}

// promoted reads one value of the node's (writer's) kind and appends it promoted.
func (a *node) promoted(r *reader) error {
	switch a.kind {
	case aInt32, aInt64:
		v, err := r.long()
		if err != nil {
			return err
		}
		if a.kind == aInt32 && (v < math.MinInt32 || v > math.MaxInt32) {
			return fmt.Errorf("%d overflows int", v)
		}
		switch a.promote {
		case pLong:
			a.b.(*array.Int64Builder).Append(v)
		case pFloat32:
			a.b.(*array.Float32Builder).Append(float32(v))
		default:
			a.b.(*array.Float64Builder).Append(float64(v))
		}
	case aFloat32:
		v, err := r.take(4)
		if err != nil {
			return err
		}
		a.b.(*array.Float64Builder).Append(float64(math.Float32frombits(binary.LittleEndian.Uint32(v))))
	default: // aString, aBytes
		n, err := r.long()
		if err != nil {
			return err
		}
		v, err := r.take(n)
		if err != nil {
			return err
		}
		if a.promote == pString {
			if !utf8.Valid(v) {
				return errors.New("invalid UTF-8 in bytes read as a string")
			}
			a.b.(*array.StringBuilder).BinaryBuilder.Append(v)
		} else {
			a.b.(*array.BinaryBuilder).Append(v)
		}
	}
	return nil
}
