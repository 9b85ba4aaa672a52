// Package stagetest runs the stage tests a pipeline declares: the `tests:` list of a pipeline file and the cases of
// its sibling <name>.test.yaml. A case feeds input rows (inline YAML or a CSV/JSON/Parquet fixture) through one
// stage or a range of transformers, reads one partition from the consumer, or writes through a loader into a
// temporary directory and reads the files back, and compares what comes out with the expected rows, schema or
// error. `jetflow test` is a thin command over Run; Go tests call Run directly.
package stagetest

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"gopkg.in/yaml.v3"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/pipelines"
)

// Case is one decoded stage test.
type Case struct {
	Name string
	// Stage names the one stage under test (consumer, transformer or loader); From and To name a range of
	// transformers instead. All three empty: every transformer.
	Stage, From, To string
	Input           Data
	Expect          Expectation
	PartitionKey    string // "" : "test" for transformers and loaders; the only partition for consumers
	Run             string // run instance label; "" : the instance that holds 2026-01-01
	SortBy          []string
	// Serve holds recorded HTTP responses for a consumer case: the consumer's url: is pointed at a local server
	// that answers each request with the fixture of the entry that matches its path and query.
	Serve []Served

	File      string     // where the case is written
	Node      *yaml.Node // the case's mapping, for positions
	dir       string     // fixtures are relative to it
	stageNode *yaml.Node
	doc       *yaml.Node // the parsed *.test.yaml document the case belongs to, for --update
}

// Data is input or expected rows: inline (Rows, with an optional Schema) or a fixture File.
type Data struct {
	Rows     *yaml.Node // sequence of mappings; nil when not given
	RowsKey  *yaml.Node // the rows: key, where --update splices the new rows
	rowsEnd  int        // last line of the rows as written
	Schema   *arrow.Schema
	File     string // absolute or relative to the test file's directory, as written
	FileNode *yaml.Node
}

// Served is one recorded response: Request is a path with an optional query ("/v1/orders?page=2"); a request
// matches when its path is equal and it carries every parameter of the query with the same value.
type Served struct {
	Request string
	File    string
	node    *yaml.Node
}

// Expectation is what a case checks: exactly one of rows (inline or file), schema, or error.
type Expectation struct {
	Data
	Error    string
	HasError bool
	Node     *yaml.Node // the expect: mapping
}

// Where is "file:line:col" of a node in the case's file.
func (c *Case) where(n *yaml.Node) string {
	if n == nil {
		n = c.Node
	}
	return fmt.Sprintf("%s:%d:%d", c.File, n.Line, n.Column)
}

// fixturePath resolves a fixture path against the test file's directory.
func (c *Case) fixturePath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// caseDecoder turns yaml nodes into cases, collecting positioned errors.
type caseDecoder struct {
	file string
	errs pipelines.ErrorList
}

func (d *caseDecoder) errorf(n *yaml.Node, format string, args ...any) {
	e := &pipelines.Error{File: d.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return deref(n.Content[0])
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// decodeCases reads a sequence of cases; where names it in errors ("tests", or "the file").
func (d *caseDecoder) decodeCases(list *yaml.Node, where string) []*Case {
	list = deref(list)
	if isNull(list) {
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		d.errorf(list, "%s: want a list of test cases (- name: ..., input: ..., expect: ...), got a %s", where, kindWord(list))
		return nil
	}
	var out []*Case
	names := map[string]*yaml.Node{}
	for i, item := range list.Content {
		c := d.decodeCase(deref(item), fmt.Sprintf("%s[%d]", where, i))
		if c == nil {
			continue
		}
		if first, dup := names[c.Name]; dup {
			d.errorf(c.Node, "%s[%d]: a case named %q is already defined at line %d; case names must be unique", where, i, c.Name, first.Line)
			continue
		}
		names[c.Name] = c.Node
		out = append(out, c)
	}
	return out
}

var caseKeys = []string{"name", "stages", "input", "expect", "partition", "sort_by", "serve"}

func (d *caseDecoder) decodeCase(n *yaml.Node, path string) *Case {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: want a test case mapping (name:, input:, expect:), got a %s", path, kindWord(n))
		return nil
	}
	c := &Case{File: d.file, Node: n, dir: filepath.Dir(d.file)}
	before := len(d.errs)
	var expect *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		switch k.Value {
		case "name":
			c.Name = d.str(v, path+".name")
			if c.Name != "" && strings.ContainsAny(c.Name, "/\n") {
				d.errorf(v, "%s.name: %q: a case name may not contain / or a line break (-run matches pipeline/case)", path, c.Name)
			}
		case "stages":
			c.stageNode = k
			d.decodeStages(c, v, path+".stages")
		case "input":
			c.Input = d.decodeData(v, path+".input", false)
		case "expect":
			expect = v
			d.decodeExpect(c, v, path+".expect")
		case "partition":
			d.decodePartition(c, v, path+".partition")
		case "sort_by":
			c.SortBy = d.strList(v, path+".sort_by")
		case "serve":
			d.decodeServe(c, v, path+".serve")
		default:
			d.errorf(k, "%s: unknown key %q; a case has %s", path, k.Value, strings.Join(caseKeys, ", "))
		}
	}
	if c.Name == "" && len(d.errs) == before {
		d.errorf(n, "%s: the case has no name: write name: followed by a short description", path)
	}
	if expect == nil {
		d.errorf(n, "%s: the case has no expect: write expect: with rows:, file:, schema: or error:", path)
	}
	if len(d.errs) > before {
		return nil
	}
	return c
}

func (d *caseDecoder) decodeStages(c *Case, v *yaml.Node, path string) {
	switch v.Kind {
	case yaml.ScalarNode:
		c.Stage = d.str(v, path)
	case yaml.MappingNode:
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, val := v.Content[i], deref(v.Content[i+1])
			switch k.Value {
			case "from":
				c.From = d.str(val, path+".from")
			case "to":
				c.To = d.str(val, path+".to")
			default:
				d.errorf(k, "%s: unknown key %q; write a stage name, or from: and to: naming transformers", path, k.Value)
			}
		}
	default:
		d.errorf(v, "%s: want a stage name or {from: NAME, to: NAME}, got a %s", path, kindWord(v))
	}
}

func (d *caseDecoder) decodeData(v *yaml.Node, path string, inExpect bool) Data {
	var data Data
	if v.Kind != yaml.MappingNode {
		d.errorf(v, "%s: want a mapping with rows: (and optionally schema:) or file:, got a %s", path, kindWord(v))
		return data
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], deref(v.Content[i+1])
		switch k.Value {
		case "rows":
			if isNull(val) {
				val = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: val.Line, Column: val.Column}
				v.Content[i+1] = val
			}
			if val.Kind != yaml.SequenceNode {
				d.errorf(val, "%s.rows: want a list of rows such as - {id: 1, name: a}, got a %s", path, kindWord(val))
				continue
			}
			for j, row := range val.Content {
				if r := deref(row); r.Kind != yaml.MappingNode {
					d.errorf(r, "%s.rows[%d]: want a row mapping column: value, got a %s", path, j, kindWord(r))
				}
			}
			data.Rows, data.RowsKey, data.rowsEnd = val, k, lastLine(val)
		case "schema":
			data.Schema = d.decodeSchema(val, path+".schema")
		case "file":
			data.File = d.str(val, path+".file")
			data.FileNode = val
		case "error":
			if !inExpect {
				d.errorf(k, "%s: unknown key %q; input has rows:, schema: or file:", path, k.Value)
			}
		default:
			want := "rows:, schema: or file:"
			if inExpect {
				want = "rows:, file:, schema: or error:"
			}
			d.errorf(k, "%s: unknown key %q; want %s", path, k.Value, want)
		}
	}
	if data.Rows != nil && data.File != "" {
		d.errorf(v, "%s: give rows: or file:, not both", path)
	}
	if !inExpect && data.Rows == nil && data.File == "" {
		d.errorf(v, "%s: give the input rows: (a list of mappings) or a fixture file: (CSV, JSON or Parquet)", path)
	}
	if data.File != "" && data.Schema != nil && !inExpect {
		switch strings.ToLower(filepath.Ext(data.File)) {
		case ".parquet":
			d.errorf(v, "%s: a Parquet fixture carries its own schema; remove schema:", path)
		}
	}
	return data
}

func (d *caseDecoder) decodeExpect(c *Case, v *yaml.Node, path string) {
	c.Expect.Node = v
	c.Expect.Data = d.decodeData(v, path, true)
	kinds := 0
	for i := 0; i+1 < len(v.Content); i += 2 {
		switch v.Content[i].Value {
		case "error":
			c.Expect.HasError = true
			c.Expect.Error = d.str(deref(v.Content[i+1]), path+".error")
			kinds++
		case "rows", "file":
			kinds++
		}
	}
	if kinds == 0 && c.Expect.Schema != nil {
		kinds = 1
	}
	switch {
	case kinds == 0 && v.Kind == yaml.MappingNode:
		d.errorf(v, "%s: say what to expect: rows:, file:, schema: or error:", path)
	case kinds > 1:
		d.errorf(v, "%s: expect one of rows:, file: or error: (schema: may go with rows:)", path)
	case c.Expect.HasError && c.Expect.Schema != nil:
		d.errorf(v, "%s: an error expectation has no schema:", path)
	}
}

func (d *caseDecoder) decodeServe(c *Case, v *yaml.Node, path string) {
	if v.Kind != yaml.MappingNode {
		d.errorf(v, "%s: want a mapping of request path to response file, such as {/v1/orders: testdata/orders.json}, got a %s", path, kindWord(v))
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], deref(v.Content[i+1])
		if !strings.HasPrefix(k.Value, "/") {
			d.errorf(k, "%s: %q: a request is a path starting with / (and an optional ?query)", path, k.Value)
			continue
		}
		c.Serve = append(c.Serve, Served{Request: k.Value, File: d.str(val, path+"."+k.Value), node: val})
	}
}

func (d *caseDecoder) decodePartition(c *Case, v *yaml.Node, path string) {
	if v.Kind != yaml.MappingNode {
		d.errorf(v, "%s: want {key: ..., run: ...}, got a %s", path, kindWord(v))
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], deref(v.Content[i+1])
		switch k.Value {
		case "key":
			c.PartitionKey = d.str(val, path+".key")
		case "run":
			c.Run = d.str(val, path+".run")
		default:
			d.errorf(k, "%s: unknown key %q; want key: (the partition's key) or run: (a run instance label)", path, k.Value)
		}
	}
}

// decodeSchema reads a mapping column → type text ("int64", "decimal(18,4) not null"), in the written order.
func (d *caseDecoder) decodeSchema(v *yaml.Node, path string) *arrow.Schema {
	if v.Kind != yaml.MappingNode {
		d.errorf(v, "%s: want a mapping of column: type, such as {id: int64, total: decimal(18,4)}, got a %s", path, kindWord(v))
		return nil
	}
	fields := make([]arrow.Field, 0, len(v.Content)/2)
	ok := true
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], deref(v.Content[i+1])
		text := d.str(val, path+"."+k.Value)
		nullable := true
		if t, found := strings.CutSuffix(strings.TrimSpace(text), "not null"); found {
			text, nullable = strings.TrimSpace(t), false
		}
		dt, err := arrowtype.Parse(text)
		if err != nil {
			d.errorf(val, "%s.%s: %v", path, k.Value, err)
			ok = false
			continue
		}
		fields = append(fields, arrow.Field{Name: k.Value, Type: dt, Nullable: nullable})
	}
	if !ok {
		return nil
	}
	return arrow.NewSchema(fields, nil)
}

func (d *caseDecoder) str(v *yaml.Node, path string) string {
	if v.Kind != yaml.ScalarNode || isNull(v) {
		d.errorf(v, "%s: want a text value, got %s", path, kindWord(v))
		return ""
	}
	return v.Value
}

func (d *caseDecoder) strList(v *yaml.Node, path string) []string {
	if v.Kind == yaml.ScalarNode && !isNull(v) {
		return []string{v.Value}
	}
	if v.Kind != yaml.SequenceNode {
		d.errorf(v, "%s: want a list of column names, got a %s", path, kindWord(v))
		return nil
	}
	out := make([]string, 0, len(v.Content))
	for i, item := range v.Content {
		out = append(out, d.str(deref(item), fmt.Sprintf("%s[%d]", path, i)))
	}
	return out
}

// lastLine is the last line on which n or a node inside it starts.
func lastLine(n *yaml.Node) int {
	line := n.Line
	for _, c := range n.Content {
		line = max(line, lastLine(c))
	}
	return line
}

func kindWord(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return fmt.Sprintf("scalar %q", n.Value)
	}
	return "document"
}
