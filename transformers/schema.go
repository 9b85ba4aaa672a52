package transformers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/stage"
)

// SchemaConfig is the `schema` transformer's YAML config.
type SchemaConfig struct {
	Columns []SchemaColumn `yaml:"columns" required:"true" doc:"Every output column, in order: the output has exactly these names, types and nullability."`
	Extra   string         `yaml:"extra" default:"fail" enum:"fail,drop" doc:"What an input column that no output column takes does: fail (validate reports it) or drop."`
	Missing string         `yaml:"missing" default:"fail" enum:"fail,fill_null" doc:"What an output column whose input column is absent does: fail, or fill_null (it must be nullable)."`
	Safe    bool           `yaml:"safe" default:"true" doc:"How type changes behave, as cast's safe: true fails on any overflow or loss and names the row; false truncates and turns what does not fit into nulls."`
}

// SchemaColumn is one column of the forced schema.
type SchemaColumn struct {
	Name     string `yaml:"name" required:"true" doc:"Output column name."`
	Type     string `yaml:"type" required:"true" doc:"Output type, as in the type reference: int32, decimal(18,4), timestamp[us], ..."`
	Nullable bool   `yaml:"nullable" default:"true" doc:"false declares the column not null: a null in it fails the batch with an error naming the row."`
	From     string `yaml:"from" doc:"Input column to take the values from, when its name differs (default: name)."`
}

func init() {
	stage.RegisterTransformer("schema", "Forces an exact output schema: column order, names, types and nullability, casting where types differ. With the Parquet loader's options it reproduces a legacy table's Parquet schema exactly. Data that does not fit fails with an error naming column and row.",
		buildSchema)
}

type schemaCol struct {
	out  arrow.Field
	from string
}

type forceSchema struct {
	mem  memory.Allocator
	cfg  *SchemaConfig
	cols []schemaCol
	cast *caster
}

func buildSchema(bc stage.BuildContext, c *SchemaConfig) (stage.Transformer, error) {
	fs := &forceSchema{mem: bc.Alloc, cfg: c, cast: &caster{mem: bc.Alloc, safe: c.Safe}}
	var errs []error
	names := map[string]int{}
	froms := map[string]int{}
	for i, col := range c.Columns {
		at := fmt.Sprintf("columns[%d]", i)
		if first, dup := names[col.Name]; dup {
			errs = append(errs, stage.FieldErrorf(at+".name", "column %q is listed twice (first at columns[%d])", col.Name, first))
			continue
		}
		names[col.Name] = i
		from := col.From
		if from == "" {
			from = col.Name
		}
		if first, dup := froms[from]; dup {
			errs = append(errs, stage.FieldErrorf(at, "input column %q feeds two output columns (also columns[%d]); add a cast or derive stage to copy it first", from, first))
			continue
		}
		froms[from] = i
		dt, err := arrowtype.Parse(col.Type)
		if err != nil {
			errs = append(errs, stage.FieldErrorf(at+".type", "%v", err))
			continue
		}
		fs.cols = append(fs.cols, schemaCol{out: arrow.Field{Name: col.Name, Type: dt, Nullable: col.Nullable}, from: from})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return fs, nil
}

// plan maps each output column to its input column index (-1: absent, filled with nulls).
func (fs *forceSchema) plan(in *arrow.Schema) (*arrow.Schema, []int, error) {
	idx := make([]int, len(fs.cols))
	used := make([]bool, in.NumFields())
	fields := make([]arrow.Field, len(fs.cols))
	var errs []error
	for i, c := range fs.cols {
		at := fmt.Sprintf("columns[%d]", i)
		fields[i] = c.out
		js := in.FieldIndices(c.from)
		switch {
		case len(js) == 0 && fs.cfg.Missing == "fill_null":
			if !c.out.Nullable {
				errs = append(errs, stage.FieldErrorf(at, "the input has no column %q, and a missing column gets nulls, which a not-null column cannot hold", c.from))
			}
			idx[i] = -1
			continue
		case len(js) == 0:
			_, err := findColumn(in, c.from, at)
			errs = append(errs, fmt.Errorf("%w; set missing: fill_null to fill absent columns with nulls", err))
			continue
		case len(js) > 1:
			errs = append(errs, stage.FieldErrorf(at, "column %q appears %d times in the input", c.from, len(js)))
			continue
		}
		j := js[0]
		idx[i], used[j] = j, true
		from := in.Field(j).Type
		if !castable(valueType(from), c.out.Type) && !arrow.TypeEqual(from, c.out.Type) {
			errs = append(errs, stage.FieldErrorf(at+".type", "column %q is %s and cannot be cast to %s", c.from, arrowtype.Format(from), arrowtype.Format(c.out.Type)))
		}
	}
	if fs.cfg.Extra == "fail" {
		var extra []string
		for j, u := range used {
			if !u {
				extra = append(extra, in.Field(j).Name)
			}
		}
		if len(extra) > 0 {
			errs = append(errs, stage.FieldErrorf("columns", "the input has columns the schema does not list: %s; list them, drop them first, or set extra: drop", strings.Join(extra, ", ")))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	md := in.Metadata()
	return arrow.NewSchema(fields, &md), idx, nil
}

func (fs *forceSchema) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	s, _, err := fs.plan(in)
	return s, err
}

func (fs *forceSchema) Transform(ctx context.Context, batch arrow.RecordBatch) (arrow.RecordBatch, error) {
	schema, idx, err := fs.plan(batch.Schema())
	if err != nil {
		return nil, err
	}
	ctx = compute.WithAllocator(ctx, fs.mem)
	n := int(batch.NumRows())
	cols := make([]arrow.Array, len(idx))
	defer releaseAll(cols)
	for i, j := range idx {
		f := schema.Field(i)
		if j < 0 {
			cols[i] = array.MakeArrayOfNull(fs.mem, f.Type, n)
			continue
		}
		col := batch.Column(j)
		if arrow.TypeEqual(col.DataType(), f.Type) {
			col.Retain()
			cols[i] = col
		} else if cols[i], err = fs.cast.cast(ctx, fs.cols[i].from, col, castSpec{to: f.Type}); err != nil {
			return nil, err
		}
		if !f.Nullable && cols[i].NullN() > 0 {
			row := 0
			for cols[i].IsValid(row) {
				row++
			}
			why := "the input holds a null there"
			if col.IsValid(row) {
				why = fmt.Sprintf("the value %s does not fit %s (safe: false turned it into a null)", quoteValue(col, row), arrowtype.Format(f.Type))
			}
			return nil, fmt.Errorf("column %q, row %d: null in a column declared not null: %s; declare it nullable: true or fill it first", f.Name, row, why)
		}
	}
	return array.NewRecordBatch(schema, cols, int64(n)), nil
}
