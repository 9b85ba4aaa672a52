package kafka

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/avro"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
)

const testAvroSchema = `{"type": "record", "name": "Order", "namespace": "shop", "fields": [
	{"name": "id", "type": "long"},
	{"name": "name", "type": "string"},
	{"name": "qty", "type": ["null", "int"]},
	{"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
	{"name": "ratio", "type": "double"},
	{"name": "ok", "type": "boolean"},
	{"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
	{"name": "day", "type": {"type": "int", "logicalType": "date"}},
	{"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["NEW", "PAID"]}},
	{"name": "tags", "type": {"type": "array", "items": "string"}},
	{"name": "attrs", "type": {"type": "map", "values": "long"}},
	{"name": "addr", "type": ["null", {"type": "record", "name": "Addr", "fields": [
		{"name": "city", "type": "string"}, {"name": "zip", "type": ["null", "string"]}]}]},
	{"name": "kind2", "type": "Kind"}
]}`

// encodeAvro encodes a message given in Avro's JSON encoding with twmb/avro, an independent encoder.
func encodeAvro(t *testing.T, s *avro.Schema, jsonText string) []byte {
	t.Helper()
	var v any
	if err := s.DecodeJSON([]byte(jsonText), &v); err != nil {
		t.Fatalf("avro JSON %s: %v", jsonText, err)
	}
	b, err := s.Encode(v)
	if err != nil {
		t.Fatalf("avro encode %s: %v", jsonText, err)
	}
	return b
}

// TestDecodeAvro decodes Avro messages written by twmb/avro into Arrow, and rejects broken ones.
func TestDecodeAvro(t *testing.T) {
	s := avro.MustParse(testAvroSchema)
	good := encodeAvro(t, s, `{"id": 7, "name": "é", "qty": {"int": 3}, "price": "\u0004\u00d2", "ratio": 0.5, "ok": true,
		"at": 1700000000123, "day": 20000, "kind": "PAID", "tags": ["a", "b"], "attrs": {"x": 1},
		"addr": {"shop.Addr": {"city": "Paris", "zip": null}}, "kind2": "NEW"}`)
	nulls := encodeAvro(t, s, `{"id": -1, "name": "", "qty": null, "price": "", "ratio": 0, "ok": false, "at": 0, "day": 0,
		"kind": "NEW", "tags": [], "attrs": {}, "addr": null, "kind2": "PAID"}`)
	badUTF8 := append([]byte(nil), good...)
	badUTF8[2] = 0xff // the first byte of "é" (id 7 is one byte, the name's length another)

	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newTestConsumer(t, mem, Config{Format: "avro", AvroSchema: testAvroSchema, OnError: "dead_letter",
		DeadLetter: DeadLetterConfig{Path: t.TempDir()}})
	var types []string
	for _, f := range c.schema.Fields() {
		types = append(types, f.Name+": "+arrowtype.Format(f.Type))
	}
	wantTypes := "id: int64, name: string, qty: int32, price: decimal(10,2), ratio: float64, ok: bool, at: timestamp[ms, UTC], " +
		"day: date32, kind: string, tags: list<string>, attrs: map<string, int64>, addr: struct<city: string, zip: string>, kind2: string"
	if got := strings.Join(types, ", "); got != wantTypes {
		t.Errorf("schema\n%s\nwant\n%s", got, wantTypes)
	}
	rows, errs := decodeAll(t, c, string(good), string(good[:len(good)-3]), string(badUTF8), string(nulls), string(append(good, 0)))
	want := []string{
		`id=7 name=é qty=3 price=12.34 ratio=0.5 ok=true at=2023-11-14T22:13:20.123Z day=2024-10-04 kind=PAID tags=["a","b"] attrs=[{"key":"x","value":1}] addr={"city":"Paris","zip":null} kind2=NEW`,
		`id=-1 name= qty=(null) price=0 ratio=0 ok=false at=1970-01-01T00:00:00Z day=1970-01-01 kind=NEW tags=[] attrs=[] addr=(null) kind2=PAID`,
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	wantErrs := []string{"message ends inside a value", "field name: invalid UTF-8", "1 bytes after the Avro record"}
	if len(errs) != len(wantErrs) {
		t.Fatalf("errors %q, want %d", errs, len(wantErrs))
	}
	for i, w := range wantErrs {
		if !strings.Contains(errs[i], w) {
			t.Errorf("error %d: %q, want %q", i, errs[i], w)
		}
	}
}

func TestAvroConfig(t *testing.T) {
	for _, tc := range []struct{ schema, err string }{
		{`"long"`, "want a record"},
		{`{"type": "record", "name": "R", "fields": [{"name": "u", "type": ["int", "string"]}]}`, `unions other than ["null", T]`},
		{`{"type": "record", "name": "R", "fields": [{"name": "u", "type": `, "avro_schema"},
	} {
		cfg := Config{Format: "avro", AvroSchema: tc.schema, Brokers: []string{"x:1"}, Topics: []string{"t"}, BatchRows: 1}
		_, err := stage.Build(stageContext(), &cfg, build)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("schema %s: error %v, want %q", tc.schema, err, tc.err)
		}
	}
}
