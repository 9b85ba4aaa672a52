package kavro

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/avro"
)

// fuzzSchemas are the writer schemas FuzzDecode decodes with: every kind the decoder has, nested.
var fuzzSchemas = []struct{ schema, seed string }{
	{`{"type": "record", "name": "R", "fields": [{"name": "b", "type": "boolean"}, {"name": "i", "type": "int"},
		{"name": "l", "type": "long"}, {"name": "f", "type": "float"}, {"name": "d", "type": "double"},
		{"name": "s", "type": "string"}, {"name": "by", "type": "bytes"},
		{"name": "fx", "type": {"type": "fixed", "name": "F", "size": 3}},
		{"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
		{"name": "n", "type": ["null", "long"]}]}`,
		`{"b": true, "i": -5, "l": 1234567890123, "f": 1.5, "d": -2.25, "s": "héllo", "by": "\u0001\u0002", "fx": "abc", "e": "B", "n": {"long": 7}}`},
	{`{"type": "record", "name": "R", "fields": [
		{"name": "a", "type": {"type": "array", "items": ["null", "string"]}},
		{"name": "m", "type": {"type": "map", "values": {"type": "record", "name": "In", "fields": [{"name": "x", "type": "int"}]}}},
		{"name": "aa", "type": {"type": "array", "items": {"type": "array", "items": "long"}}}]}`,
		`{"a": [{"string": "x"}, null], "m": {"k": {"x": 1}, "k2": {"x": -1}}, "aa": [[1, 2], [], [3]]}`},
	{`{"type": "record", "name": "R", "fields": [
		{"name": "dt", "type": {"type": "int", "logicalType": "date"}},
		{"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
		{"name": "tm", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
		{"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
		{"name": "decf", "type": {"type": "fixed", "name": "D", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 4}}]}`,
		`{"dt": 20000, "ts": 1700000000000000, "tm": null, "dec": "\u0001\u0000", "decf": "\u0000\u0000\u0000\u0000\u0000\u0000\u0001\u0000"}`},
}

// FuzzDecode checks that no message makes the Avro decoders panic or allocate by a count the message cannot
// hold, and that every column gets exactly one value per message, decoded as it was written (Record), resolved
// against the same schema, and resolved against a reader that skips every field the writer wrote (Resolved).
func FuzzDecode(f *testing.F) {
	for i, s := range fuzzSchemas {
		sc := avro.MustParse(s.schema)
		var v any
		if err := sc.DecodeJSON([]byte(s.seed), &v); err != nil {
			f.Fatalf("seed %d: %v", i, err)
		}
		b, err := sc.Encode(v)
		if err != nil {
			f.Fatalf("seed %d: %v", i, err)
		}
		f.Add(uint8(i), b)
		f.Add(uint8(i), b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, which uint8, msg []byte) {
		s := fuzzSchemas[int(which)%len(fuzzSchemas)].schema
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		fields, err := Columns(s)
		if err != nil {
			t.Fatal(err)
		}
		cols, rows := builders(t, mem, fields)
		d, err := NewRecord(s, cols)
		if err != nil {
			t.Fatal(err)
		}
		_ = d.Decode(msg)
		rd, err := NewReader(s, cols)
		if err != nil {
			t.Fatal(err)
		}
		_ = rd.Resolve(Compile(1, s)).Decode(msg)
		for i, c := range cols {
			if c.Len() != 2 {
				t.Fatalf("column %s has %d values after two messages, want 2", fields[i].Name, c.Len())
			}
		}
		rows()
		const skipAll = `{"type": "record", "name": "R", "fields": [{"name": "zz", "type": "int", "default": 3}]}`
		sfields, err := Columns(skipAll)
		if err != nil {
			t.Fatal(err)
		}
		scols, srows := builders(t, mem, sfields)
		srd, err := NewReader(skipAll, scols)
		if err != nil {
			t.Fatal(err)
		}
		_ = srd.Resolve(Compile(2, s)).Decode(msg)
		if scols[0].Len() != 1 {
			t.Fatalf("the skipping reader has %d values after one message, want 1", scols[0].Len())
		}
		srows()
	})
}
