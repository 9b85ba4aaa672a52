package stagetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"gopkg.in/yaml.v3"

	"github.com/jetflow-dev/jetflow/internal/records"
)

// posError is a problem at a node of a test file.
type posError struct {
	node *yaml.Node
	msg  string
}

func (e *posError) Error() string { return e.msg }

// rowsRecord builds one record of schema from a YAML sequence of row mappings. A key that is not a column is an
// error (a typo would otherwise pass as a null); a missing key is a null. Timestamps may be written with or without
// a zone whatever the column's type: a zoned column reads zone-less text as UTC, as the cast transformer does.
func rowsRecord(mem memory.Allocator, schema *arrow.Schema, rows *yaml.Node) (arrow.RecordBatch, error) {
	text := map[*yaml.Node]string{}
	for _, row := range rows.Content {
		row = deref(row)
		for i := 0; i+1 < len(row.Content); i += 2 {
			k, v := row.Content[i], deref(row.Content[i+1])
			idx := schema.FieldIndices(k.Value)
			if len(idx) != 1 {
				return nil, &posError{k, fmt.Sprintf("column %q is not in the schema (%s)", k.Value, columnList(schema))}
			}
			if tt, ok := schema.Field(idx[0]).Type.(*arrow.TimestampType); ok && v.Kind == yaml.ScalarNode && !isNull(v) {
				if norm, ok := normTimestamp(v.Value, tt.TimeZone != ""); ok {
					text[v] = norm
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := yamlToJSON(&buf, rows, text); err != nil {
		return nil, err
	}
	rec, _, err := array.RecordFromJSON(mem, schema, &buf, array.WithUseNumber())
	if err != nil {
		return nil, &posError{rows, fmt.Sprintf("the rows do not fit the schema %s: %v", columnList(schema), err)}
	}
	return rec, nil
}

var (
	zonedLayouts = []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07:00"}
	naiveLayouts = []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"}
)

// normTimestamp rewrites timestamp text into the form arrow's JSON reader takes for a zoned (an instant with Z)
// or a naive (wall-clock text) column. Text written with a zone goes to a naive column as its UTC wall clock.
func normTimestamp(s string, zoned bool) (string, bool) {
	var t time.Time
	found := false
	for _, l := range append(zonedLayouts, naiveLayouts...) {
		if v, err := time.Parse(l, s); err == nil {
			t, found = v, true
			break
		}
	}
	if !found {
		return "", false
	}
	if zoned {
		return t.UTC().Format(time.RFC3339Nano), true
	}
	return t.UTC().Format("2006-01-02T15:04:05.999999999"), true
}

func columnList(s *arrow.Schema) string {
	parts := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		parts[i] = f.Name + ": " + f.Type.String()
	}
	return strings.Join(parts, ", ")
}

// yamlToJSON rewrites YAML as JSON keeping each scalar's literal text, so 12.50 reaches a decimal column exactly and
// a date stays the text it was written as. testkit has the same walk behind a testing.TB; this one returns errors.
// override gives the text to use for some scalars instead of their own.
func yamlToJSON(buf *bytes.Buffer, n *yaml.Node, override map[*yaml.Node]string) error {
	n = deref(n)
	if t, ok := override[n]; ok {
		s, _ := json.Marshal(t)
		buf.Write(s)
		return nil
	}
	switch n.Kind {
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := yamlToJSON(buf, c, override); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			buf.Write(k)
			buf.WriteByte(':')
			if err := yamlToJSON(buf, n.Content[i+1], override); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			buf.WriteString("null")
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return &posError{n, err.Error()}
			}
			buf.WriteString(strconv.FormatBool(b))
		case "!!int":
			var i int64
			if err := n.Decode(&i); err != nil {
				var u uint64
				if err2 := n.Decode(&u); err2 != nil {
					return &posError{n, fmt.Sprintf("integer %q: %v", n.Value, err)}
				}
				buf.WriteString(strconv.FormatUint(u, 10))
				break
			}
			buf.WriteString(strconv.FormatInt(i, 10))
		case "!!float":
			if _, err := strconv.ParseFloat(n.Value, 64); err == nil && !strings.ContainsAny(n.Value, "_xX") {
				buf.WriteString(n.Value)
				break
			}
			var f float64
			if err := n.Decode(&f); err != nil {
				return &posError{n, fmt.Sprintf("number %q: %v", n.Value, err)}
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return &posError{n, fmt.Sprintf("%q has no JSON form, so it cannot be given inline; use a Parquet fixture", n.Value)}
			}
			buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
		default:
			s, _ := json.Marshal(n.Value)
			buf.Write(s)
		}
	default:
		return &posError{n, "unexpected YAML node"}
	}
	return nil
}

// readFixture reads a CSV (header row), JSON (an array of objects, or one object a line) or Parquet file into one
// record. CSV and JSON need schema (the columns they are read into); Parquet brings its own and ignores it.
func readFixture(ctx context.Context, mem memory.Allocator, path string, schema *arrow.Schema) (arrow.RecordBatch, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if ext == ".parquet" {
		return records.ReadParquetFiles(mem, path)
	}
	if schema == nil {
		return nil, fmt.Errorf("fixture %s: no schema to read it into: write schema: next to file:", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("fixture: %w", err)
	}
	defer f.Close()
	switch ext {
	case ".csv":
		return readCSV(mem, f, path, schema)
	case ".json", ".jsonl", ".ndjson":
		return readJSON(mem, f, path, schema)
	}
	return nil, fmt.Errorf("fixture %s: unknown format %q: use .csv, .json (or .jsonl) or .parquet", path, ext)
}

func readCSV(mem memory.Allocator, f io.Reader, path string, schema *arrow.Schema) (arrow.RecordBatch, error) {
	// The header decides the column order of the file; read it first so the columns map by name, not position.
	br := bufio.NewReader(f)
	header, err := br.ReadString('\n')
	if err != nil && header == "" {
		return nil, fmt.Errorf("fixture %s: empty CSV file: the first line names the columns", path)
	}
	names := strings.Split(strings.TrimRight(header, "\r\n"), ",")
	fields := make([]arrow.Field, len(names))
	for i, name := range names {
		name = strings.Trim(strings.TrimSpace(name), `"`)
		idx := schema.FieldIndices(name)
		if len(idx) != 1 {
			return nil, fmt.Errorf("fixture %s: CSV column %q is not in the schema (%s)", path, name, columnList(schema))
		}
		fields[i] = schema.Field(idx[0])
	}
	fileSchema := arrow.NewSchema(fields, nil)
	r := csv.NewReader(br, fileSchema, csv.WithAllocator(mem), csv.WithChunk(-1), csv.WithNullReader(true, ""))
	defer r.Release()
	var batches []arrow.RecordBatch
	defer func() { records.ReleaseAll(batches) }()
	for r.Next() {
		b := r.RecordBatch()
		b.Retain()
		batches = append(batches, b)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("fixture %s: %w", path, err)
	}
	rec, err := records.Concat(mem, fileSchema, batches)
	if err != nil {
		return nil, fmt.Errorf("fixture %s: %w", path, err)
	}
	defer rec.Release()
	return project(rec, schema)
}

func readJSON(mem memory.Allocator, f io.Reader, path string, schema *arrow.Schema) (arrow.RecordBatch, error) {
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("fixture %s: %w", path, err)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		rec, _, err := array.RecordFromJSON(mem, schema, bytes.NewReader(trimmed), array.WithUseNumber())
		if err != nil {
			return nil, fmt.Errorf("fixture %s: rows do not fit the schema %s: %w", path, columnList(schema), err)
		}
		return rec, nil
	}
	r := array.NewJSONReader(bytes.NewReader(trimmed), schema, array.WithAllocator(mem), array.WithChunk(-1))
	defer r.Release()
	var batches []arrow.RecordBatch
	defer func() { records.ReleaseAll(batches) }()
	for r.Next() {
		b := r.RecordBatch()
		b.Retain()
		batches = append(batches, b)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("fixture %s: rows do not fit the schema %s: %w", path, columnList(schema), err)
	}
	rec, err := records.Concat(mem, schema, batches)
	if err != nil {
		return nil, fmt.Errorf("fixture %s: %w", path, err)
	}
	return rec, nil
}

// project returns rec's columns in schema's order (rec must hold each of them).
func project(rec arrow.RecordBatch, schema *arrow.Schema) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		idx := rec.Schema().FieldIndices(f.Name)
		if len(idx) != 1 {
			return nil, fmt.Errorf("column %q is missing (the file has %s)", f.Name, columnList(rec.Schema()))
		}
		cols[i] = rec.Column(idx[0])
	}
	return array.NewRecordBatch(schema, cols, rec.NumRows()), nil
}

// rowsNode renders rec as a YAML sequence of flow mappings, one per row, in a form rowsRecord reads back to the
// same values: what --update writes.
func rowsNode(rec arrow.RecordBatch) *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for r := range int(rec.NumRows()) {
		// one flow mapping per row: a diff of the test file then shows one line per changed row
		row := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
		for c, f := range rec.Schema().Fields() {
			row.Content = append(row.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.Name},
				valueNode(rec.Column(c), r))
		}
		seq.Content = append(seq.Content, row)
	}
	return seq
}

func valueNode(arr arrow.Array, i int) *yaml.Node {
	if arr.IsNull(i) {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
	switch a := arr.(type) {
	case *array.Dictionary:
		return valueNode(a.Dictionary(), a.GetValueIndex(i))
	// Arrow's string values point into the batch's buffers, which are released (and, off the Go heap, unmapped)
	// before the nodes are written out: clone them.
	case *array.String:
		return strNode(strings.Clone(a.Value(i)))
	case *array.LargeString:
		return strNode(strings.Clone(a.Value(i)))
	case *array.StringView:
		return strNode(strings.Clone(a.Value(i)))
	case *array.Binary:
		return strNode(string(a.Value(i)))
	case *array.LargeBinary:
		return strNode(string(a.Value(i)))
	case *array.Boolean:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(a.Value(i))}
	case *array.Timestamp:
		tt := a.DataType().(*arrow.TimestampType)
		// Arrow's JSON reader wants an instant (with Z) for a zoned type and wall-clock text without a zone for
		// a naive one.
		layout := "2006-01-02T15:04:05.999999999"
		if tt.TimeZone != "" {
			layout += "Z07:00"
		}
		return plainNode(a.Value(i).ToTime(tt.Unit).UTC().Format(layout))
	case *array.Date32, *array.Date64:
		return plainNode(records.CellText(arr, i))
	case array.ListLike:
		if _, isMap := arr.(*array.Map); isMap {
			break
		}
		start, end := a.ValueOffsets(i)
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
		for j := start; j < end; j++ {
			seq.Content = append(seq.Content, valueNode(a.ListValues(), int(j)))
		}
		return seq
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
		for f := 0; f < a.NumField(); f++ {
			m.Content = append(m.Content, strNode(st.Field(f).Name), valueNode(a.Field(f), i))
		}
		return m
	}
	text := records.CellText(arr, i)
	switch arr.DataType().ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: text}
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL32, arrow.DECIMAL64, arrow.DECIMAL128, arrow.DECIMAL256:
		if _, err := strconv.ParseFloat(text, 64); err == nil {
			if !strings.ContainsAny(text, ".eE") {
				text += ".0" // stays a float in YAML, so the literal reaches the column as written
			}
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: text}
		}
	}
	return strNode(text)
}

// plainNode writes text unquoted with no tag: dates and timestamps, which YAML resolves to timestamps and the rows
// reader takes as their text.
func plainNode(text string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: text} }

func strNode(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	// Quote what YAML would otherwise read as another type (true, 12, 2026-01-01, null) so it stays a string.
	var probe yaml.Node
	if err := yaml.Unmarshal([]byte(s), &probe); err != nil || len(probe.Content) != 1 || probe.Content[0].ShortTag() != "!!str" || probe.Content[0].Value != s {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}
