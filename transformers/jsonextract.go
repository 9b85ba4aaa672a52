package transformers

import (
	"context"
	"fmt"
	"strings"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/stage"
)

// JSONExtractConfig is the `json_extract` transformer's YAML config.
type JSONExtractConfig struct {
	Column     string      `yaml:"column" required:"true" doc:"The string or json column holding one JSON object per row (null: every extracted field is null)."`
	Fields     []JSONField `yaml:"fields" required:"true" doc:"The values to extract, each into a new column appended after the input's columns."`
	DropSource bool        `yaml:"drop_source" doc:"Remove the JSON column from the output."`
	OnError    string      `yaml:"on_error" default:"fail" enum:"fail,set_null" doc:"What a row whose JSON does not parse, is not an object, or holds a value of another type does: fail (the batch fails with an error naming the row) or set_null (the row gets nulls in every extracted column)."`
}

// JSONField is one value json_extract takes out of the JSON objects.
type JSONField struct {
	Name string `yaml:"name" required:"true" doc:"Name of the new column."`
	Path string `yaml:"path" doc:"Keys from the object's top down, separated by dots: customer.address.city. Default: the column's name. A missing key gives a null."`
	Type string `yaml:"type" required:"true" doc:"Arrow type of the value: int64, float64, bool, string, decimal(18,4), timestamp[us, UTC] (from RFC 3339 text), list<string>, struct<...>. A number where a string is expected fails, as does any other mismatch."`
}

func init() {
	stage.RegisterTransformer("json_extract", "Parses a column of JSON objects and extracts values by key path into typed columns (json string → typed columns). Unknown keys are ignored; a missing key is a null.",
		func(bc stage.BuildContext, c *JSONExtractConfig) (stage.Transformer, error) {
			return newJSONExtract(bc.Alloc, c)
		})
}

// jsonNode is one level of the schema the JSON reader fills: the objects' keys, nested as the paths are.
type jsonNode struct {
	keys     []string
	children map[string]*jsonNode
	leafType map[string]arrow.DataType
}

func newJSONNode() *jsonNode {
	return &jsonNode{children: map[string]*jsonNode{}, leafType: map[string]arrow.DataType{}}
}

func (n *jsonNode) fields() []arrow.Field {
	out := make([]arrow.Field, len(n.keys))
	for i, k := range n.keys {
		if c, ok := n.children[k]; ok {
			out[i] = arrow.Field{Name: k, Type: arrow.StructOf(c.fields()...), Nullable: true}
		} else {
			out[i] = arrow.Field{Name: k, Type: n.leafType[k], Nullable: true}
		}
	}
	return out
}

type jsonExtract struct {
	mem    memory.Allocator
	cfg    *JSONExtractConfig
	schema *arrow.Schema // what the JSON reader builds per row
	paths  [][]string
	out    []arrow.Field
}

func newJSONExtract(mem memory.Allocator, c *JSONExtractConfig) (*jsonExtract, error) {
	root := newJSONNode()
	je := &jsonExtract{mem: mem, cfg: c}
	seen := map[string]int{}
	for i, f := range c.Fields {
		at := fmt.Sprintf("fields[%d]", i)
		if first, dup := seen[f.Name]; dup {
			return nil, stage.FieldErrorf(at+".name", "column %q is extracted twice (first at fields[%d])", f.Name, first)
		}
		seen[f.Name] = i
		dt, err := arrowtype.Parse(f.Type)
		if err != nil {
			return nil, stage.FieldErrorf(at+".type", "%v", err)
		}
		path := f.Path
		if path == "" {
			path = f.Name
		}
		keys := strings.Split(path, ".")
		node := root
		for d, k := range keys {
			if k == "" {
				return nil, stage.FieldErrorf(at+".path", "%q has an empty key; write keys separated by single dots: a.b.c", path)
			}
			last := d == len(keys)-1
			_, isLeaf := node.leafType[k]
			child, isNode := node.children[k]
			switch {
			case last && (isLeaf || isNode):
				return nil, stage.FieldErrorf(at+".path", "%q is extracted by another field too, or is an object whose keys are extracted; extract each key once", path)
			case last:
				node.keys = append(node.keys, k)
				node.leafType[k] = dt
			case isLeaf:
				return nil, stage.FieldErrorf(at+".path", "%q goes inside %q, which another field extracts as a value", path, strings.Join(keys[:d+1], "."))
			case !isNode:
				child = newJSONNode()
				node.children[k] = child
				node.keys = append(node.keys, k)
				fallthrough
			default:
				node = child
			}
		}
		je.paths = append(je.paths, keys)
		je.out = append(je.out, arrow.Field{Name: f.Name, Type: dt, Nullable: true})
	}
	je.schema = arrow.NewSchema(root.fields(), nil)
	return je, nil
}

func (je *jsonExtract) plan(in *arrow.Schema) (int, *arrow.Schema, error) {
	j, err := findColumn(in, je.cfg.Column, "column")
	if err != nil {
		return -1, nil, err
	}
	if !isString(valueType(in.Field(j).Type)) && !isJSON(in.Field(j).Type) {
		return -1, nil, stage.FieldErrorf("column", "column %q is %s; json_extract reads JSON text from a string or json column", je.cfg.Column, in.Field(j).Type)
	}
	var fields []arrow.Field
	for k, f := range in.Fields() {
		if k != j || !je.cfg.DropSource {
			fields = append(fields, f)
		}
	}
	for i, f := range je.out {
		if in.HasField(f.Name) && !(je.cfg.DropSource && f.Name == je.cfg.Column) {
			return -1, nil, stage.FieldErrorf(fmt.Sprintf("fields[%d].name", i), "the input already has a column %q; choose another name", f.Name)
		}
		fields = append(fields, f)
	}
	md := in.Metadata()
	return j, arrow.NewSchema(fields, &md), nil
}

func (je *jsonExtract) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	_, s, err := je.plan(in)
	return s, err
}

func (je *jsonExtract) Transform(ctx context.Context, batch arrow.RecordBatch) (arrow.RecordBatch, error) {
	j, schema, err := je.plan(batch.Schema())
	if err != nil {
		return nil, err
	}
	src := jsonText(batch.Column(j))
	defer src.Release()
	if _, ok := src.(*array.Dictionary); ok {
		// Decoded first; parsing each distinct text once would save work but needs a take per extracted column.
		c := &caster{mem: je.mem, safe: true}
		plain, err := c.cast(ctx, je.cfg.Column, src, castSpec{to: valueType(src.DataType())})
		if err != nil {
			return nil, err
		}
		defer plain.Release()
		src = plain
	}
	rb := array.NewRecordBuilder(je.mem, je.schema)
	defer rb.Release()
	rb.Reserve(src.Len())
	empty := []byte("{}")
	err = eachString(src, func(i int, s string, null bool) error {
		if null {
			return rb.UnmarshalJSON(empty)
		}
		// The decoder only reads the bytes, so they may alias the array's buffer.
		if err := rb.UnmarshalJSON(unsafe.Slice(unsafe.StringData(s), len(s))); err != nil {
			if je.cfg.OnError == "set_null" {
				return rb.UnmarshalJSON(empty) // the failed row was rolled back
			}
			shown := s
			if len(shown) > 200 {
				shown = shown[:200] + "..."
			}
			return fmt.Errorf("column %q, row %d: cannot extract from JSON %q: %v; fix the data or the field types, or set on_error: set_null", je.cfg.Column, i, shown, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	parsed := rb.NewRecordBatch()
	defer parsed.Release()

	cols := make([]arrow.Array, 0, schema.NumFields())
	var made []arrow.Array
	defer func() { releaseAll(made) }()
	for k := range int(batch.NumCols()) {
		if k != j || !je.cfg.DropSource {
			cols = append(cols, batch.Column(k))
		}
	}
	for _, path := range je.paths {
		leaf, err := je.leaf(parsed, path)
		if err != nil {
			return nil, err
		}
		made = append(made, leaf)
		cols = append(cols, leaf)
	}
	return array.NewRecordBatch(schema, cols, batch.NumRows()), nil
}

// leaf walks path through the parsed structs, merging each level's nulls into the value's.
func (je *jsonExtract) leaf(parsed arrow.RecordBatch, path []string) (arrow.Array, error) {
	idx := parsed.Schema().FieldIndices(path[0])
	cur := parsed.Column(idx[0])
	cur.Retain()
	for _, k := range path[1:] {
		s := cur.(*array.Struct)
		fi, _ := s.DataType().(*arrow.StructType).FieldIdx(k)
		next, err := withParentNulls(je.mem, s, s.Field(fi))
		cur.Release()
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}
