package testkit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"gopkg.in/yaml.v3"

	"github.com/jetflow-dev/jetflow/internal/records"
	"github.com/jetflow-dev/jetflow/stage"
)

// Records builds one record batch of schema from a JSON array of objects, one object per row, keyed by column
// name: `[{"id": 1, "total": "12.50", "at": "2026-11-22T10:00:00"}]`. A missing key or null is a null. Decimals
// may be written as numbers or strings, timestamps and dates as text (see array.FromJSON for every type's form).
// The caller releases the result.
func Records(t testing.TB, mem memory.Allocator, schema *arrow.Schema, jsonRows string) arrow.RecordBatch {
	t.Helper()
	rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(jsonRows))
	if err != nil {
		t.Fatalf("testkit.Records: rows do not fit schema %s: %v\nrows:\n%s", schema, err, jsonRows)
	}
	return rec
}

// RecordsYAML is Records with the rows written as a YAML sequence of mappings, which reads better for wide
// tables:
//
//	rec := testkit.RecordsYAML(t, mem, schema, `
//	- {id: 1, total: 12.50, at: 2026-11-22T10:00:00}
//	- {id: 2, total: null}
//	`)
//
// Scalars keep their literal text, so 12.50 reaches a decimal column exactly and an unquoted date stays a date.
func RecordsYAML(t testing.TB, mem memory.Allocator, schema *arrow.Schema, yamlRows string) arrow.RecordBatch {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(yamlRows), &doc); err != nil {
		t.Fatalf("testkit.RecordsYAML: invalid YAML: %v\nrows:\n%s", err, yamlRows)
	}
	var buf bytes.Buffer
	if len(doc.Content) == 0 {
		buf.WriteString("[]")
	} else {
		root := doc.Content[0]
		if root.Kind != yaml.SequenceNode {
			t.Fatalf("testkit.RecordsYAML: line %d: want a sequence of rows (- {col: value}), got a %s", root.Line, kindName(root.Kind))
		}
		if err := yamlToJSON(&buf, root); err != nil {
			t.Fatalf("testkit.RecordsYAML: %v", err)
		}
	}
	return Records(t, mem, schema, buf.String())
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

// yamlToJSON rewrites a YAML node as JSON, keeping each scalar's literal text: decoding into Go values first would
// turn 12.50 into the float 12.5 and a date into a time.Time with a zone.
func yamlToJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.AliasNode:
		return yamlToJSON(buf, n.Alias)
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := yamlToJSON(buf, c); err != nil {
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
			if err := yamlToJSON(buf, n.Content[i+1]); err != nil {
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
				return fmt.Errorf("line %d: %w", n.Line, err)
			}
			buf.WriteString(strconv.FormatBool(b))
		case "!!int":
			// YAML allows 0x1F and 1_000; JSON does not.
			var i int64
			if err := n.Decode(&i); err != nil {
				var u uint64
				if err2 := n.Decode(&u); err2 != nil {
					return fmt.Errorf("line %d: integer %q: %w", n.Line, n.Value, err)
				}
				buf.WriteString(strconv.FormatUint(u, 10))
				break
			}
			buf.WriteString(strconv.FormatInt(i, 10))
		case "!!float":
			if _, err := strconv.ParseFloat(n.Value, 64); err == nil && !strings.ContainsAny(n.Value, "_xX") {
				buf.WriteString(n.Value) // literal text, so a decimal column gets exactly what was written
				break
			}
			var f float64
			if err := n.Decode(&f); err != nil {
				return fmt.Errorf("line %d: number %q: %w", n.Line, n.Value, err)
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("line %d: %q has no JSON form; Arrow's JSON reader cannot build it", n.Line, n.Value)
			}
			buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
		default: // strings, timestamps, binary: their text
			s, _ := json.Marshal(n.Value)
			buf.Write(s)
		}
	default:
		return fmt.Errorf("line %d: unexpected YAML %s", n.Line, kindName(n.Kind))
	}
	return nil
}

// ConcatRecords joins batches of one schema into a single record batch allocated from mem. It returns nil for no
// batches (there is no schema to give the result). The inputs are not released; the caller releases the result.
// It panics when the batches' schemas differ, which is a bug in the test or in the stage under test.
func ConcatRecords(mem memory.Allocator, batches []arrow.RecordBatch) arrow.RecordBatch {
	if len(batches) == 0 {
		return nil
	}
	rec, err := Concat(mem, batches[0].Schema(), batches)
	if err != nil {
		panic(fmt.Sprintf("testkit.ConcatRecords: %v", err))
	}
	return rec
}

// Concat joins batches of schema into one record; with no batches it returns an empty record of schema, and
// one batch comes back retained. The caller releases the result.
func Concat(mem memory.Allocator, schema *arrow.Schema, batches []arrow.RecordBatch) (arrow.RecordBatch, error) {
	return records.Concat(mem, schema, batches)
}

// ReleaseAll releases every batch, for the slices ReadPartition and Transform return.
func ReleaseAll(batches []arrow.RecordBatch) { records.ReleaseAll(batches) }

// RunInstance is the run instance PartitionFor puts its partitions in: the day 2026-01-01.
func RunInstance() stage.RunInstance {
	return stage.RunInstance{
		Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		End:   time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC),
		Label: "2026-01-01",
	}
}

// PartitionFor returns a partition of RunInstance() with the given key and an id derived from it, as the engine
// would set one: the same key always gives the same id, different keys different ids.
func PartitionFor(key string) stage.Partition {
	run := RunInstance()
	sum := sha256.Sum256([]byte("testkit\x00" + run.Label + "\x00" + key))
	return stage.Partition{ID: hex.EncodeToString(sum[:12]), Key: key, Run: run}
}
