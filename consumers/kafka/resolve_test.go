package kafka

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/avro"

	"github.com/jetflow-dev/jetflow/consumers/kafka/internal/kavro"
	"github.com/jetflow-dev/jetflow/internal/offheap"
)

// resolveRows decodes messages written with writer (as schema id 7 of the registry) into the columns of reader,
// and returns the rows and the errors (on_error: fail, so each bad message's error comes back).
func resolveRows(t *testing.T, writer, reader string, values ...string) (rows, errs []string) {
	t.Helper()
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newTestConsumer(t, mem, Config{Format: "avro", AvroSchema: reader, OnError: "fail",
		Registry: RegistryConfig{URL: "http://127.0.0.1:1", Subject: "s"}})
	w := kavro.Compile(7, writer)
	if w.Err != nil {
		t.Fatal(w.Err)
	}
	c.reg.ids[7] = w // as if fetched
	msgs := make([]string, len(values))
	for i, v := range values {
		msgs[i] = string(append([]byte{0, 0, 0, 0, 7}, encodeAvro(t, avro.MustParse(writer), v)...))
	}
	return decodeAll(t, c, msgs...)
}

// TestResolveDefaults reads messages of an older writer's schema that lacks a field the reader's schema gives a
// default: every Avro type's default becomes the column's value, in every message.
func TestResolveDefaults(t *testing.T) {
	writer := `{"type": "record", "name": "R", "fields": [{"name": "id", "type": "long"}]}`
	for _, tc := range []struct {
		field string // the reader's field v, with its default
		want  string // the value of column v
	}{
		{`"type": "int", "default": 7`, "7"},
		{`"type": "long", "default": -9000000000`, "-9000000000"},
		{`"type": "float", "default": 0.5`, "0.5"},
		{`"type": "double", "default": 1.25`, "1.25"},
		{`"type": "boolean", "default": true`, "true"},
		{`"type": "string", "default": "né"`, "né"},
		{`"type": "bytes", "default": "\u0000\u00ff"`, "AP8="},
		{`"type": {"type": "fixed", "name": "F", "size": 2}, "default": "ab"`, "YWI="},
		{`"type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}, "default": "B"`, "B"},
		{`"type": {"type": "int", "logicalType": "date"}, "default": 20415`, "2025-11-23"},
		{`"type": {"type": "long", "logicalType": "timestamp-millis"}, "default": 1500`, "1970-01-01T00:00:01.5Z"},
		{`"type": {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2}, "default": "\u0004\u00d2"`, "12.34"},
		{`"type": {"type": "array", "items": "long"}, "default": [1, 2]`, "[1,2]"},
		{`"type": {"type": "map", "values": "string"}, "default": {"k": "v"}`, `[{"key":"k","value":"v"}]`},
		{`"type": {"type": "record", "name": "In", "fields": [{"name": "x", "type": "long"}, {"name": "y", "type": ["null", "string"]}]}, "default": {"x": 5, "y": null}`,
			`{"x":5,"y":null}`},
		{`"type": ["string", "null"], "default": "first branch"`, "first branch"},
		{`"type": ["null", "string"], "default": null`, "(null)"},
		{`"type": ["null", "string"]`, "(null)"}, // nullable, no default: null, as before
	} {
		t.Run(tc.field, func(t *testing.T) {
			reader := `{"type": "record", "name": "R", "fields": [{"name": "id", "type": "long"}, {"name": "v", ` + tc.field + `}]}`
			rows, errs := resolveRows(t, writer, reader, `{"id": 1}`, `{"id": 2}`)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			for i, row := range rows {
				want := "id=" + []string{"1", "2"}[i] + " v=" + tc.want
				if row != want {
					t.Errorf("row %d: %q, want %q", i, row, want)
				}
			}
			if len(rows) != 2 {
				t.Errorf("%d rows, want 2", len(rows))
			}
		})
	}
}

// TestResolveNested resolves records inside records, arrays and maps field by field: a field added to a nested
// record gets its default or null, one removed is skipped, fields in another order land in their columns, and a
// nested field the reader can take neither way makes the message bad, named by its path.
func TestResolveNested(t *testing.T) {
	const writerV1 = `{"type": "record", "name": "Order", "fields": [
		{"name": "id", "type": "long"},
		{"name": "address", "type": {"type": "record", "name": "Address", "fields": [
			{"name": "zip", "type": "string"}, {"name": "city", "type": "string"}, {"name": "old", "type": {"type": "array", "items": "int"}}]}},
		{"name": "lines", "type": {"type": "array", "items": {"type": "record", "name": "Line", "fields": [
			{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
		{"name": "by_day", "type": ["null", {"type": "map", "values": "Line"}]}]}`
	const reader = `{"type": "record", "name": "Order", "fields": [
		{"name": "id", "type": "long"},
		{"name": "address", "type": {"type": "record", "name": "Address", "fields": [
			{"name": "city", "type": "string"}, {"name": "zip", "type": "string"},
			{"name": "country", "type": "string", "default": "FR"},
			{"name": "geo", "type": ["null", {"type": "record", "name": "Geo", "fields": [{"name": "lat", "type": "double"}]}]}]}},
		{"name": "lines", "type": {"type": "array", "items": {"type": "record", "name": "Line", "fields": [
			{"name": "sku", "type": "string"}, {"name": "qty", "type": "long"}, {"name": "unit", "type": "string", "default": "pcs"}]}}},
		{"name": "by_day", "type": ["null", {"type": "map", "values": "Line"}], "default": null}]}`
	rows, errs := resolveRows(t, writerV1, reader,
		`{"id": 1, "address": {"zip": "75001", "city": "Paris", "old": [1, 2]}, "lines": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}],
		  "by_day": {"map": {"mon": {"sku": "c", "qty": 3}}}}`,
		`{"id": 2, "address": {"zip": "69001", "city": "Lyon", "old": []}, "lines": [], "by_day": null}`)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := []string{
		`id=1 address={"city":"Paris","country":"FR","geo":null,"zip":"75001"} lines=[{"qty":2,"sku":"a","unit":"pcs"},{"qty":1,"sku":"b","unit":"pcs"}] by_day=[{"key":"mon","value":{"qty":3,"sku":"c","unit":"pcs"}}]`,
		`id=2 address={"city":"Lyon","country":"FR","geo":null,"zip":"69001"} lines=[] by_day=(null)`,
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}

	for _, tc := range []struct{ name, writer, err string }{
		{"nested field without default, not nullable",
			`{"type": "record", "name": "R", "fields": [{"name": "address", "type": {"type": "record", "name": "A", "fields": [{"name": "city", "type": "string"}]}}]}`,
			"writer's schema id 7 has no field address.zip, and the reader's schema gives it no default and does not allow it to be null"},
		{"nested type the column cannot take",
			`{"type": "record", "name": "R", "fields": [{"name": "address", "type": {"type": "record", "name": "A", "fields": [{"name": "city", "type": "long"}, {"name": "zip", "type": "string"}]}}]}`,
			"writer's schema id 7: field address.city is int64, which its column (string) cannot take"},
		{"array items the column cannot take",
			`{"type": "record", "name": "R", "fields": [{"name": "lines", "type": {"type": "array", "items": "string"}}]}`,
			"field lines[] is string, which its column"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reader := `{"type": "record", "name": "R", "fields": [
				{"name": "address", "type": ["null", {"type": "record", "name": "A", "fields": [{"name": "city", "type": "string"}, {"name": "zip", "type": "string"}]}]},
				{"name": "lines", "type": ["null", {"type": "array", "items": {"type": "record", "name": "L", "fields": [{"name": "sku", "type": "string"}]}}]}]}`
			value := `{"address": {"city": "Paris"}}`
			switch {
			case strings.Contains(tc.writer, `"long"`):
				value = `{"address": {"city": 1, "zip": "z"}}`
			case strings.Contains(tc.writer, `"lines"`):
				value = `{"lines": ["x"]}`
			}
			rows, errs := resolveRows(t, tc.writer, reader, value)
			if len(rows) != 0 || len(errs) != 1 || !strings.Contains(errs[0], tc.err) {
				t.Errorf("rows %q, errors %q; want one error with %q", rows, errs, tc.err)
			}
		})
	}
}
