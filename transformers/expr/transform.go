package expr

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"gopkg.in/yaml.v3"

	"github.com/jetflow-dev/jetflow/internal/selvec"
	"github.com/jetflow-dev/jetflow/stage"
)

func init() {
	stage.RegisterTransformer("filter",
		"Keeps the rows for which a boolean expression is true; rows where it is false or null are dropped. "+
			"The expression language is documented in transformers/expr/README.md.",
		newFilter)
	stage.RegisterTransformer("derive",
		"Adds or replaces columns computed by expressions, in the order written; each expression sees the "+
			"columns derived before it. The expression language is documented in transformers/expr/README.md.",
		newDerive)
}

// FilterConfig configures the filter transformer.
type FilterConfig struct {
	Where string `yaml:"where" required:"true" doc:"Boolean expression, such as \"status = 'paid' and total > 0\". Rows where it is false or null are dropped."`
}

// DeriveConfig configures the derive transformer.
type DeriveConfig struct {
	Columns *yaml.Node `yaml:"columns" required:"true" doc:"Columns to add or replace, in order: a mapping of name to expression ({year: year(updated_at)}) or a list of {name, expr}. A name that exists replaces that column in place; a new one is appended."`
}

// Column is one derived column.
type Column struct {
	Name string
	Expr string
	path string // config path for errors, such as "columns.year"
	// exprPath is the path of the expression's own value ("columns[2].expr" in the list form), so that an error
	// inside the expression is placed at its character in the file.
	exprPath string
}

var _ stage.ValueError = (*Error)(nil)

// at is the path of c's expression.
func (c Column) at() string {
	if c.exprPath != "" {
		return c.exprPath
	}
	return c.path
}

// program is the expressions of one transformer, compiled per input schema. It is shared by the per-partition
// instances, which differ only in their constants.
type program struct {
	exprs []Column
	mem   memory.Allocator
	// filter is true for the filter transformer (one boolean expression), false for derive.
	filter bool
	// partition is true when an expression reads now(), run_instance() or partition_id().
	partition bool

	mu    sync.Mutex
	plans []*plan // few: one per distinct input schema seen
}

const maxPlans = 8

type plan struct {
	in, out *arrow.Schema
	exprs   []*Compiled
	slot    []int // derive: output column index of each expression
}

// Transformer is a filter or derive transformer; it implements stage.PartitionTransformer to give now(),
// run_instance() and partition_id() their values.
type Transformer struct {
	prog *program
	k    Constants
}

var _ stage.PartitionTransformer = (*Transformer)(nil)

// NewFilter builds a filter transformer over where.
func NewFilter(mem memory.Allocator, where string) (*Transformer, error) {
	n, err := Parse(where)
	if err != nil {
		return nil, err
	}
	prog := &program{exprs: []Column{{Name: "where", Expr: where, path: "where"}}, mem: mem, filter: true, partition: usesPartition(n)}
	return &Transformer{prog: prog}, nil
}

// NewDerive builds a derive transformer over columns, applied in order.
func NewDerive(mem memory.Allocator, columns []Column) (*Transformer, error) {
	var errs []error
	seen := map[string]bool{}
	partition := false
	for i, c := range columns {
		if columns[i].path == "" {
			columns[i].path = fmt.Sprintf("columns[%d]", i)
		}
		if c.Name == "" {
			errs = append(errs, stage.FieldErrorf(columns[i].path, "column name is empty"))
			continue
		}
		if seen[c.Name] {
			errs = append(errs, stage.FieldErrorf(columns[i].path, "column %q is derived twice; combine the two expressions", c.Name))
		}
		seen[c.Name] = true
		n, err := Parse(c.Expr)
		if err != nil {
			errs = append(errs, stage.FieldErrorf(columns[i].at(), "%w", err))
			continue
		}
		partition = partition || usesPartition(n)
	}
	if len(columns) == 0 {
		errs = append(errs, stage.FieldErrorf("columns", "no columns to derive: give at least one name: expression"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Transformer{prog: &program{exprs: columns, mem: mem, partition: partition}}, nil
}

func newFilter(bc stage.BuildContext, c *FilterConfig) (stage.Transformer, error) {
	t, err := NewFilter(bc.Alloc, c.Where)
	if err != nil {
		return nil, stage.FieldErrorf("where", "%w", err)
	}
	return t, nil
}

func newDerive(bc stage.BuildContext, c *DeriveConfig) (stage.Transformer, error) {
	cols, err := columnsOf(c.Columns)
	if err != nil {
		return nil, err
	}
	return NewDerive(bc.Alloc, cols)
}

// columnsOf reads derive's columns in the order written: a mapping keeps its order in the YAML node, which a Go
// map would lose.
func columnsOf(n *yaml.Node) ([]Column, error) {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		return nil, stage.FieldErrorf("columns", "required: a mapping of column name to expression")
	}
	var out []Column
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind != yaml.ScalarNode || k.Kind != yaml.ScalarNode {
				return nil, stage.FieldErrorf("columns."+k.Value, "want an expression as text, such as year(updated_at)")
			}
			out = append(out, Column{Name: k.Value, Expr: v.Value, path: "columns." + k.Value})
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			path := fmt.Sprintf("columns[%d]", i)
			var c struct {
				Name string `yaml:"name"`
				Expr string `yaml:"expr"`
			}
			if err := item.Decode(&c); err != nil || item.Kind != yaml.MappingNode || c.Expr == "" {
				return nil, stage.FieldErrorf(path, "want {name: ..., expr: ...}")
			}
			out = append(out, Column{Name: c.Name, Expr: c.Expr, path: path, exprPath: path + ".expr"})
		}
	default:
		return nil, stage.FieldErrorf("columns", "want a mapping of column name to expression, such as {year: year(updated_at)}")
	}
	return out, nil
}

// ForPartition returns an instance whose now(), run_instance() and partition_id() are those of p.
func (t *Transformer) ForPartition(p stage.Partition) (stage.Transformer, error) {
	if !t.prog.partition {
		return t, nil // nothing differs between partitions
	}
	return &Transformer{prog: t.prog, k: Constants{Now: time.Now().UTC(), RunInstance: p.Run.Label, PartitionID: p.ID, Set: true}}, nil
}

// OutputSchema checks every expression against in and returns the schema Transform yields for it.
func (t *Transformer) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	pl, err := t.prog.planFor(in)
	if err != nil {
		return nil, err
	}
	return pl.out, nil
}

func (p *program) planFor(in *arrow.Schema) (*plan, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pl := range p.plans {
		if pl.in == in || pl.in.Equal(in) {
			return pl, nil
		}
	}
	pl, err := p.compile(in)
	if err != nil {
		return nil, err
	}
	if len(p.plans) == maxPlans { // input schemas that keep changing must not grow memory without end
		p.plans = p.plans[1:]
	}
	p.plans = append(p.plans, pl)
	return pl, nil
}

func (p *program) compile(in *arrow.Schema) (*plan, error) {
	pl := &plan{in: in}
	if p.filter {
		c, err := Compile(p.exprs[0].Expr, in)
		if err != nil {
			return nil, stage.FieldErrorf("where", "%w", err)
		}
		if c.Type().ID() != arrow.BOOL && c.Type().ID() != arrow.NULL {
			return nil, stage.FieldErrorf("where", "want a boolean condition, got an expression of type %s", typeName(c.Type()))
		}
		pl.exprs, pl.out = []*Compiled{c}, in
		return pl, nil
	}
	var errs []error
	fields := in.Fields()
	for _, col := range p.exprs {
		schema := arrow.NewSchema(fields, nil)
		c, err := Compile(col.Expr, schema)
		if err != nil {
			errs = append(errs, stage.FieldErrorf(col.at(), "%w", err))
			continue
		}
		f := arrow.Field{Name: col.Name, Type: c.Type(), Nullable: true}
		slot := schema.FieldIndices(col.Name)
		if len(slot) > 0 {
			fields[slot[0]] = f
			pl.slot = append(pl.slot, slot[0])
		} else {
			fields = append(fields, f)
			pl.slot = append(pl.slot, len(fields)-1)
		}
		pl.exprs = append(pl.exprs, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	pl.out = arrow.NewSchema(fields, nil)
	if md := in.Metadata(); md.Len() > 0 {
		pl.out = arrow.NewSchema(fields, &md)
	}
	return pl, nil
}

// Transform filters or derives one batch. It does not own batch; the result is the caller's.
func (t *Transformer) Transform(ctx context.Context, batch arrow.RecordBatch) (arrow.RecordBatch, error) {
	pl, err := t.prog.planFor(batch.Schema())
	if err != nil {
		return nil, err
	}
	if t.prog.filter {
		return t.filter(ctx, pl, batch)
	}
	return t.derive(ctx, pl, batch)
}

func (t *Transformer) filter(ctx context.Context, pl *plan, batch arrow.RecordBatch) (arrow.RecordBatch, error) {
	mask, err := pl.exprs[0].Eval(ctx, t.prog.mem, batch, t.k)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	defer mask.Release()
	if mask.DataType().ID() == arrow.NULL {
		return nil, nil // null is never true
	}
	b := mask.(*array.Boolean)
	sel := selvec.FromMask(b)
	switch {
	case sel.Len() == 0:
		return nil, nil
	case sel.All():
		batch.Retain()
		return batch, nil
	}
	out, err := selvec.Take(ctx, t.prog.mem, batch, b, sel)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return out, nil
}

func (t *Transformer) derive(ctx context.Context, pl *plan, batch arrow.RecordBatch) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, len(pl.out.Fields()))
	for i := range batch.NumCols() {
		cols[i] = batch.Column(int(i))
		cols[i].Retain()
	}
	defer releaseAll(cols)
	cur := batch
	for k, c := range pl.exprs {
		// Each expression sees the columns derived before it.
		if k > 0 {
			cur = array.NewRecordBatch(c.schema, cols[:c.schema.NumFields()], batch.NumRows())
		}
		arr, err := c.Eval(ctx, t.prog.mem, cur, t.k)
		if k > 0 {
			cur.Release()
		}
		if err != nil {
			return nil, fmt.Errorf("derive %s: %w", pl.out.Field(pl.slot[k]).Name, err)
		}
		if old := cols[pl.slot[k]]; old != nil {
			old.Release()
		}
		cols[pl.slot[k]] = arr
	}
	return array.NewRecordBatch(pl.out, cols, batch.NumRows()), nil
}
