package transformers

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// columnMap replaces some columns by functions of themselves, in place and under the same names (hash, mask,
// cast); the other columns' arrays are shared with the input.
type columnMap struct {
	mem   memory.Allocator
	names []string // the columns to replace
	paths []string // the config key of each, for errors
	// outField returns the field column i becomes (its name is kept), or a FieldError at paths[i].
	outField func(i int, f arrow.Field) (arrow.Field, error)
	// apply computes column i's new array from the input's; the result must have the type outField gave.
	apply func(ctx context.Context, i int, name string, col arrow.Array) (arrow.Array, error)
}

// plan returns the output schema and, per output column, the index in names of its function or -1.
func (m *columnMap) plan(in *arrow.Schema) (*arrow.Schema, []int, error) {
	fields := in.Fields()
	which := make([]int, len(fields))
	for j := range which {
		which[j] = -1
	}
	for i, name := range m.names {
		j, err := findColumn(in, name, m.paths[i])
		if err != nil {
			return nil, nil, err
		}
		f, err := m.outField(i, fields[j])
		if err != nil {
			return nil, nil, err
		}
		fields[j] = arrow.Field{Name: fields[j].Name, Type: f.Type, Nullable: f.Nullable}
		which[j] = i
	}
	md := in.Metadata()
	return arrow.NewSchema(fields, &md), which, nil
}

func (m *columnMap) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	s, _, err := m.plan(in)
	return s, err
}

func (m *columnMap) Transform(ctx context.Context, batch arrow.RecordBatch) (arrow.RecordBatch, error) {
	schema, which, err := m.plan(batch.Schema())
	if err != nil {
		return nil, err
	}
	ctx = compute.WithAllocator(ctx, m.mem)
	cols := make([]arrow.Array, len(which))
	made := make([]arrow.Array, 0, len(m.names))
	defer func() { releaseAll(made) }()
	for j, i := range which {
		if i < 0 {
			cols[j] = batch.Column(j)
			continue
		}
		out, err := m.apply(ctx, i, m.names[i], batch.Column(j))
		if err != nil {
			return nil, err
		}
		made = append(made, out)
		if !arrow.TypeEqual(out.DataType(), schema.Field(j).Type) {
			return nil, fmt.Errorf("column %q: internal error: built %s, want %s", m.names[i], out.DataType(), schema.Field(j).Type)
		}
		cols[j] = out
	}
	return array.NewRecordBatch(schema, cols, batch.NumRows()), nil
}

// valueType is the type of a column's values, looking through a dictionary.
func valueType(dt arrow.DataType) arrow.DataType {
	if d, ok := dt.(*arrow.DictionaryType); ok {
		return d.ValueType
	}
	return dt
}

// perDictionaryValue applies fn, a function of each value alone, to col: for a dictionary column it maps the
// dictionary once and takes the results by index, so each distinct value is computed once.
func perDictionaryValue(ctx context.Context, col arrow.Array, fn func(arrow.Array) (arrow.Array, error)) (arrow.Array, error) {
	d, ok := col.(*array.Dictionary)
	if !ok {
		return fn(col)
	}
	mapped, err := fn(d.Dictionary())
	if err != nil {
		return nil, err
	}
	defer mapped.Release()
	return compute.TakeArray(ctx, mapped, d.Indices())
}
