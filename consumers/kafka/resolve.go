package kafka

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
// top-level fields matched by name. A column the writer lacks is null (if the reader's field is nullable), a
// field only the writer has is skipped, a field whose Arrow type differs from its column's is promoted if Avro
// allows it (int → long, …) and otherwise makes the message bad.

// resolved is one writer's schema resolved against a batcher's reader columns.
type resolved struct {
	id      uint32
	err     error           // every message with this id is bad
	steps   []rstep         // the writer's fields, in its order
	missing []array.Builder // reader columns the writer does not have: null
}

type rstep struct {
	n   *anode
	col bool // decoded into a reader column; else skipped
}

// avroResolved decodes one message body v written with schema id.
func (b *batcher) avroResolved(id uint32, v []byte) error {
	res := b.last
	if res == nil || res.id != id {
		res = b.resolved[id]
		if res == nil {
			w, err := b.reg.writer(b.ctx, id)
			if err != nil {
				b.nullValue()
				return err
			}
			res = b.resolve(w)
			b.resolved[id] = res
		}
		b.last = res
	}
	if res.err != nil {
		b.nullValue()
		return res.err
	}
	for _, m := range res.missing {
		m.AppendNull()
	}
	r := &b.avroR
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
			return fmt.Errorf("schema id %d: %w", id, err)
		}
	}
	if r.pos != len(v) {
		return fmt.Errorf("schema id %d: %d bytes after the Avro record", id, len(v)-r.pos)
	}
	return nil
}

// resolve compiles the decoders of writer's schema w onto the batcher's reader columns.
func (b *batcher) resolve(w *writerSchema) *resolved {
	res := &resolved{id: w.id}
	if w.err != nil {
		res.err = w.err
		return res
	}
	schema := b.rb.Schema()
	named := map[string]*avro.SchemaNode{}
	has := make([]bool, len(b.rfields))
	for i, f := range w.plan {
		ri, ok := b.rindex[f.name]
		if !ok {
			res.steps = append(res.steps, rstep{n: newANode(f.name, f.node, nil, named)})
			continue
		}
		n := newANode(f.name, f.node, b.rb.Field(ri), named)
		if want := schema.Field(ri).Type; !arrow.TypeEqual(w.fields[i].Type, want) {
			if n.promote = promotionOf(n.kind, w.fields[i].Type, want); n.promote == pNone {
				res.err = fmt.Errorf("writer's schema id %d: field %s is %s, which its column (%s) cannot take",
					w.id, f.name, arrowtype.Format(w.fields[i].Type), arrowtype.Format(want))
				return res
			}
		}
		has[ri] = true
		res.steps = append(res.steps, rstep{n: n, col: true})
	}
	for ri, f := range b.rfields {
		if has[ri] {
			continue
		}
		if !f.nullable {
			res.err = fmt.Errorf("writer's schema id %d has no field %s, and the reader's schema does not allow it to be null", w.id, f.name)
			return res
		}
		res.missing = append(res.missing, b.rb.Field(ri))
	}
	return res
}

// skip reads past one value of the node's schema without appending it.
func (a *anode) skip(r *areader, depth int) error {
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
			if count > int64(len(r.b)) {
				return fmt.Errorf("block of %d items is longer than the message", count)
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
func (a *anode) promoted(r *areader) error {
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
