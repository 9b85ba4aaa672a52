package records

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
)

// PlainJSONSchema is schema with every json extension type (at any depth) replaced by its string storage, for
// writers whose format has no JSON type (Iceberg); ok is false when schema has none.
func PlainJSONSchema(schema *arrow.Schema) (_ *arrow.Schema, ok bool) {
	fields := schema.Fields()
	for i, f := range fields {
		if dt, changed := plainJSON(f.Type); changed {
			fields[i].Type, ok = dt, true
		}
	}
	if !ok {
		return schema, false
	}
	md := schema.Metadata()
	return arrow.NewSchema(fields, &md), true
}

// PlainJSONBatch is batch with its json columns as their string storage, sharing the buffers; schema is
// PlainJSONSchema's result. The caller releases the result.
func PlainJSONBatch(schema *arrow.Schema, batch arrow.RecordBatch) arrow.RecordBatch {
	cols := make([]arrow.Array, batch.NumCols())
	for i, c := range batch.Columns() {
		d := plainJSONData(schema.Field(i).Type, c.Data())
		cols[i] = array.MakeFromData(d)
		d.Release()
	}
	out := array.NewRecordBatch(schema, cols, batch.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out
}

func plainJSON(dt arrow.DataType) (arrow.DataType, bool) {
	switch t := dt.(type) {
	case *extensions.JSONType:
		return t.StorageType(), true
	case *arrow.ListType:
		if e, ok := plainJSON(t.Elem()); ok {
			f := t.ElemField()
			f.Type = e
			return arrow.ListOfField(f), true
		}
	case *arrow.LargeListType:
		if e, ok := plainJSON(t.Elem()); ok {
			f := t.ElemField()
			f.Type = e
			return arrow.LargeListOfField(f), true
		}
	case *arrow.FixedSizeListType:
		if e, ok := plainJSON(t.Elem()); ok {
			f := t.ElemField()
			f.Type = e
			return arrow.FixedSizeListOfField(t.Len(), f), true
		}
	case *arrow.MapType:
		k, kok := plainJSON(t.KeyType())
		v, vok := plainJSON(t.ItemType())
		if kok || vok {
			m := arrow.MapOfFields(arrow.Field{Name: t.KeyField().Name, Type: k},
				arrow.Field{Name: t.ItemField().Name, Type: v, Nullable: t.ItemField().Nullable, Metadata: t.ItemField().Metadata})
			m.KeysSorted = t.KeysSorted
			return m, true
		}
	case *arrow.StructType:
		fields := t.Fields()
		changed := false
		for i, f := range fields {
			if ft, ok := plainJSON(f.Type); ok {
				fields[i].Type, changed = ft, true
			}
		}
		if changed {
			return arrow.StructOf(fields...), true
		}
	}
	return dt, false
}

// plainJSONData is d typed as to (a plainJSON result of d's type), with the same buffers; the caller releases it.
func plainJSONData(to arrow.DataType, d arrow.ArrayData) arrow.ArrayData {
	kids := d.Children()
	var toKids []arrow.DataType
	switch t := to.(type) {
	case arrow.ListLikeType: // a map's child is its key-value struct
		toKids = []arrow.DataType{t.Elem()}
	case *arrow.StructType:
		for _, f := range t.Fields() {
			toKids = append(toKids, f.Type)
		}
	}
	newKids := make([]arrow.ArrayData, len(kids))
	for i, k := range kids {
		if i < len(toKids) {
			newKids[i] = plainJSONData(toKids[i], k)
		} else {
			k.Retain()
			newKids[i] = k
		}
	}
	out := array.NewData(to, d.Len(), d.Buffers(), newKids, d.NullN(), d.Offset())
	for _, k := range newKids {
		k.Release()
	}
	return out
}
