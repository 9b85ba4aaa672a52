package transformers

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
)

// FlattenConfig is the `flatten` transformer's YAML config.
type FlattenConfig struct {
	Columns   []string `yaml:"columns" doc:"The struct columns to flatten; empty (the default) flattens every struct column."`
	Separator string   `yaml:"separator" default:"_" doc:"Put between a struct column's name and its field's name: address_city."`
	Recursive bool     `yaml:"recursive" default:"true" doc:"Also flatten structs inside structs (address_geo_lat); false stops after one level."`
}

func init() {
	stage.RegisterTransformer("flatten", "Replaces struct columns by one column per field, named parent, separator, field, in place. A row whose struct is null gets nulls in every field column. The field arrays are shared with the input unless a null struct forces a new validity bitmap.",
		func(bc stage.BuildContext, c *FlattenConfig) (stage.Transformer, error) {
			if err := noDuplicates(c.Columns, "columns"); err != nil {
				return nil, err
			}
			return &flatten{mem: bc.Alloc, cfg: c}, nil
		})
}

type flatten struct {
	mem memory.Allocator
	cfg *FlattenConfig
}

// targets says which top-level columns to flatten.
func (f *flatten) targets(in *arrow.Schema) (map[int]bool, error) {
	out := map[int]bool{}
	if len(f.cfg.Columns) == 0 {
		for j, fl := range in.Fields() {
			if fl.Type.ID() == arrow.STRUCT {
				out[j] = true
			}
		}
		return out, nil
	}
	for i, name := range f.cfg.Columns {
		path := fmt.Sprintf("columns[%d]", i)
		j, err := findColumn(in, name, path)
		if err != nil {
			return nil, err
		}
		if in.Field(j).Type.ID() != arrow.STRUCT {
			return nil, stage.FieldErrorf(path, "column %q is %s, not a struct", name, in.Field(j).Type)
		}
		out[j] = true
	}
	return out, nil
}

func (f *flatten) fields(prefix string, st *arrow.StructType, nullable bool, depth int) []arrow.Field {
	var out []arrow.Field
	for _, c := range st.Fields() {
		name := prefix + f.cfg.Separator + c.Name
		if cst, ok := c.Type.(*arrow.StructType); ok && f.cfg.Recursive {
			out = append(out, f.fields(name, cst, nullable || c.Nullable, depth+1)...)
			continue
		}
		out = append(out, arrow.Field{Name: name, Type: c.Type, Nullable: nullable || c.Nullable, Metadata: c.Metadata})
	}
	return out
}

func (f *flatten) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	targets, err := f.targets(in)
	if err != nil {
		return nil, err
	}
	var fields []arrow.Field
	for j, fl := range in.Fields() {
		if targets[j] {
			fields = append(fields, f.fields(fl.Name, fl.Type.(*arrow.StructType), fl.Nullable, 0)...)
		} else {
			fields = append(fields, fl)
		}
	}
	if err := checkUnique(fields, "separator"); err != nil {
		return nil, err
	}
	md := in.Metadata()
	return arrow.NewSchema(fields, &md), nil
}

func (f *flatten) Transform(_ context.Context, batch arrow.RecordBatch) (arrow.RecordBatch, error) {
	schema, err := f.OutputSchema(batch.Schema())
	if err != nil {
		return nil, err
	}
	targets, _ := f.targets(batch.Schema())
	var cols []arrow.Array
	defer func() { releaseAll(cols) }()
	for j := range int(batch.NumCols()) {
		col := batch.Column(j)
		if !targets[j] {
			col.Retain()
			cols = append(cols, col)
			continue
		}
		cols, err = f.appendFields(cols, col.(*array.Struct))
		if err != nil {
			return nil, err
		}
	}
	return array.NewRecordBatch(schema, cols, batch.NumRows()), nil
}

// appendFields appends the (retained) field arrays of s, with s's nulls merged into each.
func (f *flatten) appendFields(cols []arrow.Array, s *array.Struct) ([]arrow.Array, error) {
	for k := range s.NumField() {
		child, err := withParentNulls(f.mem, s, s.Field(k))
		if err != nil {
			return cols, err
		}
		if cs, ok := child.(*array.Struct); ok && f.cfg.Recursive {
			cols, err = f.appendFields(cols, cs)
			child.Release()
			if err != nil {
				return cols, err
			}
			continue
		}
		cols = append(cols, child)
	}
	return cols, nil
}

// withParentNulls returns child (a field of parent, already sliced like it) with the rows where parent is null
// made null as well. When parent has no nulls, child itself is returned, retained.
func withParentNulls(mem memory.Allocator, parent, child arrow.Array) (arrow.Array, error) {
	if parent.NullN() == 0 || child.DataType().ID() == arrow.NULL {
		child.Retain()
		return child, nil
	}
	n, off := child.Len(), child.Data().Offset()
	bitmap := memory.NewResizableBuffer(mem)
	defer bitmap.Release()
	bitmap.Resize(int(bitutil.BytesForBits(int64(off + n))))
	pb := parent.NullBitmapBytes()
	if cb := child.NullBitmapBytes(); cb != nil && child.NullN() > 0 {
		bitutil.BitmapAnd(pb, cb, int64(parent.Data().Offset()), int64(off), bitmap.Bytes(), int64(off), int64(n))
	} else {
		bitutil.CopyBitmap(pb, parent.Data().Offset(), n, bitmap.Bytes(), off)
	}
	d := child.Data()
	bufs := append([]*memory.Buffer{bitmap}, d.Buffers()[1:]...)
	nulls := n - bitutil.CountSetBits(bitmap.Bytes(), off, n)
	var nd *array.Data
	// Dictionary returns a typed nil inside the interface when there is none.
	if dict, ok := d.Dictionary().(*array.Data); ok && dict != nil {
		nd = array.NewDataWithDictionary(d.DataType(), n, bufs, nulls, off, dict)
	} else {
		nd = array.NewData(d.DataType(), n, bufs, d.Children(), nulls, off)
	}
	defer nd.Release()
	return array.MakeFromData(nd), nil
}
