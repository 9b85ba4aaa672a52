package transformers

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
)

// ExplodeConfig is the `explode` transformer's YAML config.
type ExplodeConfig struct {
	Column    string `yaml:"column" required:"true" doc:"The list column to explode: each item becomes a row, with the other columns repeated."`
	KeepEmpty bool   `yaml:"keep_empty" doc:"Keep rows whose list is null or empty, with a null item (as SQL's explode_outer); by default they are dropped."`
	Position  string `yaml:"position" doc:"When set, add a column of this name holding each item's 0-based position in its list (int32)."`
}

func init() {
	stage.RegisterTransformer("explode", "Turns each item of a list column into a row of its own, repeating the other columns (list → rows). The list column keeps its name and takes the item type.",
		func(bc stage.BuildContext, c *ExplodeConfig) (stage.Transformer, error) {
			return &explode{mem: bc.Alloc, cfg: c}, nil
		})
}

type explode struct {
	mem memory.Allocator
	cfg *ExplodeConfig
}

func (e *explode) plan(in *arrow.Schema) (int, *arrow.Schema, error) {
	j, err := findColumn(in, e.cfg.Column, "column")
	if err != nil {
		return -1, nil, err
	}
	fields := in.Fields()
	var item arrow.Field
	switch t := fields[j].Type.(type) {
	case *arrow.ListType:
		item = t.ElemField()
	case *arrow.LargeListType:
		item = t.ElemField()
	default:
		return -1, nil, stage.FieldErrorf("column", "column %q is %s; explode takes a list or large_list column", e.cfg.Column, fields[j].Type)
	}
	fields[j] = arrow.Field{Name: fields[j].Name, Type: item.Type, Nullable: item.Nullable || e.cfg.KeepEmpty}
	if e.cfg.Position != "" {
		if in.HasField(e.cfg.Position) {
			return -1, nil, stage.FieldErrorf("position", "the input already has a column %q; choose another name", e.cfg.Position)
		}
		fields = append(fields, arrow.Field{Name: e.cfg.Position, Type: arrow.PrimitiveTypes.Int32, Nullable: e.cfg.KeepEmpty})
	}
	md := in.Metadata()
	return j, arrow.NewSchema(fields, &md), nil
}

func (e *explode) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	_, s, err := e.plan(in)
	return s, err
}

func (e *explode) Transform(ctx context.Context, batch arrow.RecordBatch) (arrow.RecordBatch, error) {
	j, schema, err := e.plan(batch.Schema())
	if err != nil {
		return nil, err
	}
	col := batch.Column(j)
	rows, items := array.NewInt64Builder(e.mem), array.NewInt64Builder(e.mem)
	defer rows.Release()
	defer items.Release()
	posB := array.NewInt32Builder(e.mem)
	defer posB.Release()
	var values arrow.Array
	switch l := col.(type) {
	case *array.List:
		values = l.ListValues()
		explodeOffsets(l, sliceOffsets(l, l.Offsets()), e.cfg.KeepEmpty, rows, items, posB, e.cfg.Position != "")
	case *array.LargeList:
		values = l.ListValues()
		explodeOffsets(l, sliceOffsets(l, l.Offsets()), e.cfg.KeepEmpty, rows, items, posB, e.cfg.Position != "")
	default:
		return nil, fmt.Errorf("column %q: internal error: %T is not a list", e.cfg.Column, col)
	}
	rowIdx, itemIdx := rows.NewInt64Array(), items.NewInt64Array()
	defer rowIdx.Release()
	defer itemIdx.Release()
	ctx = compute.WithAllocator(ctx, e.mem)
	cols := make([]arrow.Array, 0, schema.NumFields())
	defer func() { releaseAll(cols) }()
	for k := range int(batch.NumCols()) {
		var out arrow.Array
		if k == j {
			out, err = compute.TakeArray(ctx, values, itemIdx)
		} else {
			out, err = compute.TakeArray(ctx, batch.Column(k), rowIdx)
		}
		if err != nil {
			return nil, fmt.Errorf("explode %q: repeating column %q: %w", e.cfg.Column, batch.Schema().Field(k).Name, err)
		}
		cols = append(cols, out)
	}
	if e.cfg.Position != "" {
		cols = append(cols, posB.NewArray())
	}
	return array.NewRecordBatch(schema, cols, int64(rowIdx.Len())), nil
}

// explodeOffsets lists, for each output row, the input row it repeats and the index of its item in the list's
// values array (null for the null item of an empty or null list kept by keepEmpty). Offsets index the values
// array directly, so a sliced list needs no adjustment.
func explodeOffsets[O int32 | int64](l arrow.Array, offs []O, keepEmpty bool, rows, items *array.Int64Builder, pos *array.Int32Builder, withPos bool) {
	n := l.Len()
	total := 0
	if n > 0 {
		total = int(offs[n] - offs[0])
	}
	if keepEmpty {
		total += n
	}
	rows.Reserve(total)
	items.Reserve(total)
	if withPos {
		pos.Reserve(total)
	}
	valid := validityOf(l)
	for i := range n {
		lo, hi := offs[i], offs[i+1]
		if valid.null(i) {
			hi = lo // a null list may still span values; they are not items
		}
		if hi == lo {
			if keepEmpty {
				rows.UnsafeAppend(int64(i))
				items.UnsafeAppendBoolToBitmap(false)
				if withPos {
					pos.UnsafeAppendBoolToBitmap(false)
				}
			}
			continue
		}
		for k := lo; k < hi; k++ {
			rows.UnsafeAppend(int64(i))
			items.UnsafeAppend(int64(k))
			if withPos {
				pos.UnsafeAppend(int32(k - lo))
			}
		}
	}
}

// sliceOffsets returns the n+1 offsets of a list array's own rows: Offsets() spans its whole buffer, slices
// included.
func sliceOffsets[O int32 | int64](l arrow.Array, offs []O) []O {
	if len(offs) == 0 { // an empty list array may have no offsets buffer
		return make([]O, 1)
	}
	off := l.Data().Offset()
	return offs[off : off+l.Len()+1]
}
