package transformers

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/jetflow-dev/jetflow/stage"
)

// SelectConfig is the `select` transformer's YAML config.
type SelectConfig struct {
	Columns []string `yaml:"columns" required:"true" doc:"The columns to keep, in the order the output has them."`
}

// DropConfig is the `drop` transformer's YAML config.
type DropConfig struct {
	Columns []string `yaml:"columns" required:"true" doc:"The columns to remove; the others keep their order."`
}

// RenameConfig is the `rename` transformer's YAML config.
type RenameConfig struct {
	Columns map[string]string `yaml:"columns" required:"true" doc:"Old name: new name, for each column to rename; the others keep their names and order."`
}

// ReorderConfig is the `reorder` transformer's YAML config.
type ReorderConfig struct {
	Columns []string `yaml:"columns" required:"true" doc:"The columns to put first, in this order; the columns not listed follow in their input order."`
}

func init() {
	stage.RegisterTransformer("select", "Keeps only the listed columns, in the listed order. The column arrays are shared with the input, not copied.",
		func(_ stage.BuildContext, c *SelectConfig) (stage.Transformer, error) {
			if err := noDuplicates(c.Columns, "columns"); err != nil {
				return nil, err
			}
			return &projection{plan: func(in *arrow.Schema) ([]int, []arrow.Field, error) {
				idx := make([]int, len(c.Columns))
				fields := make([]arrow.Field, len(c.Columns))
				for i, name := range c.Columns {
					j, err := findColumn(in, name, fmt.Sprintf("columns[%d]", i))
					if err != nil {
						return nil, nil, err
					}
					idx[i], fields[i] = j, in.Field(j)
				}
				return idx, fields, nil
			}}, nil
		})
	stage.RegisterTransformer("drop", "Removes the listed columns; the others keep their order and their arrays.",
		func(_ stage.BuildContext, c *DropConfig) (stage.Transformer, error) {
			if err := noDuplicates(c.Columns, "columns"); err != nil {
				return nil, err
			}
			return &projection{plan: func(in *arrow.Schema) ([]int, []arrow.Field, error) {
				dropped := make(map[int]bool, len(c.Columns))
				for i, name := range c.Columns {
					j, err := findColumn(in, name, fmt.Sprintf("columns[%d]", i))
					if err != nil {
						return nil, nil, err
					}
					dropped[j] = true
				}
				var idx []int
				var fields []arrow.Field
				for j, f := range in.Fields() {
					if !dropped[j] {
						idx, fields = append(idx, j), append(fields, f)
					}
				}
				return idx, fields, nil
			}}, nil
		})
	stage.RegisterTransformer("rename", "Renames columns; types, nullability, order and arrays stay as they are.",
		func(_ stage.BuildContext, c *RenameConfig) (stage.Transformer, error) {
			for old, name := range c.Columns {
				if name == "" {
					return nil, stage.FieldErrorf("columns."+old, "the new name is empty; give the column a name")
				}
			}
			return &projection{plan: func(in *arrow.Schema) ([]int, []arrow.Field, error) {
				fields := in.Fields()
				for _, old := range sortedKeys(c.Columns) {
					j, err := findColumn(in, old, "columns."+old)
					if err != nil {
						return nil, nil, err
					}
					fields[j].Name = c.Columns[old]
				}
				idx := make([]int, len(fields))
				for i := range idx {
					idx[i] = i
				}
				return idx, fields, nil
			}}, nil
		})
	stage.RegisterTransformer("reorder", "Moves the listed columns to the front in the listed order; the others follow in their input order.",
		func(_ stage.BuildContext, c *ReorderConfig) (stage.Transformer, error) {
			if err := noDuplicates(c.Columns, "columns"); err != nil {
				return nil, err
			}
			return &projection{plan: func(in *arrow.Schema) ([]int, []arrow.Field, error) {
				idx := make([]int, 0, in.NumFields())
				first := make(map[int]bool, len(c.Columns))
				for i, name := range c.Columns {
					j, err := findColumn(in, name, fmt.Sprintf("columns[%d]", i))
					if err != nil {
						return nil, nil, err
					}
					idx, first[j] = append(idx, j), true
				}
				for j := range in.NumFields() {
					if !first[j] {
						idx = append(idx, j)
					}
				}
				fields := make([]arrow.Field, len(idx))
				for i, j := range idx {
					fields[i] = in.Field(j)
				}
				return idx, fields, nil
			}}, nil
		})
}

// projection is a transformer whose output columns are input columns, unchanged or renamed: it shares their
// arrays. plan is recomputed per batch (it costs a few map lookups per column, nothing per row), which keeps the
// transformer free of state and safe to share between partitions.
type projection struct {
	plan func(in *arrow.Schema) (idx []int, fields []arrow.Field, err error)
}

func (p *projection) schema(in *arrow.Schema) ([]int, *arrow.Schema, error) {
	idx, fields, err := p.plan(in)
	if err != nil {
		return nil, nil, err
	}
	if err := checkUnique(fields, "columns"); err != nil {
		return nil, nil, err
	}
	md := in.Metadata()
	return idx, arrow.NewSchema(fields, &md), nil
}

func (p *projection) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	_, s, err := p.schema(in)
	return s, err
}

func (p *projection) Transform(_ context.Context, batch arrow.RecordBatch) (arrow.RecordBatch, error) {
	idx, s, err := p.schema(batch.Schema())
	if err != nil {
		return nil, err
	}
	return project(s, batch, idx), nil
}

// noDuplicates rejects a name listed twice, which is always a slip.
func noDuplicates(names []string, path string) error {
	seen := make(map[string]int, len(names))
	for i, n := range names {
		if first, dup := seen[n]; dup {
			return stage.FieldErrorf(fmt.Sprintf("%s[%d]", path, i), "%q is listed twice (first at %s[%d])", n, path, first)
		}
		seen[n] = i
	}
	return nil
}
