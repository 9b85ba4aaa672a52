package kavro

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/avro"
)

// encode encodes a value given in Avro's JSON encoding with twmb/avro, an independent encoder.
func encode(t *testing.T, schema, jsonText string) []byte {
	t.Helper()
	s := avro.MustParse(schema)
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

// builders makes the builders of a schema's columns, and a function returning the rows built so far as text.
func builders(t *testing.T, mem memory.Allocator, fields []arrow.Field) ([]array.Builder, func() string) {
	t.Helper()
	rb := array.NewRecordBuilder(mem, arrow.NewSchema(fields, nil))
	t.Cleanup(rb.Release)
	cols := make([]array.Builder, len(fields))
	for i := range cols {
		cols[i] = rb.Field(i)
	}
	return cols, func() string {
		rec := rb.NewRecordBatch()
		defer rec.Release()
		var parts []string
		for i, c := range rec.Columns() {
			parts = append(parts, rec.ColumnName(i)+"="+c.String())
		}
		return strings.Join(parts, " ")
	}
}

const writer = `{"type": "record", "name": "R", "fields": [{"name": "id", "type": "int"}, {"name": "gone", "type": "string"}]}`

// TestRecordAndResolve decodes records with a fixed schema (Record) and with a writer's schema resolved against
// the reader's (Resolve): defaults for the fields the writer lacks, promotions, fields only the writer has
// skipped, and the errors that still leave one value in every column.
func TestRecordAndResolve(t *testing.T) {
	for _, tc := range []struct {
		name, reader string
		values       []string // in the writer's JSON encoding
		want, err    string
	}{
		{"same schema", writer, []string{`{"id": 1, "gone": "a"}`, `{"id": -2, "gone": ""}`}, `id=[1 -2] gone=["a" ""]`, ""},
		{"promoted, skipped, default",
			`{"type": "record", "name": "R", "fields": [{"name": "id", "type": "long"}, {"name": "new", "type": "string", "default": "x"}]}`,
			[]string{`{"id": 7, "gone": "skipped"}`}, `id=[7] new=["x"]`, ""},
		{"nullable without default",
			`{"type": "record", "name": "R", "fields": [{"name": "id", "type": "double"}, {"name": "n", "type": ["null", "int"]}]}`,
			[]string{`{"id": 3, "gone": "z"}`}, `id=[3] n=[(null)]`, ""},
		{"no default", `{"type": "record", "name": "R", "fields": [{"name": "must", "type": "int"}]}`,
			[]string{`{"id": 1, "gone": "a"}`}, `must=[(null)]`, "has no field must"},
		{"cannot promote", `{"type": "record", "name": "R", "fields": [{"name": "id", "type": "boolean"}]}`,
			[]string{`{"id": 1, "gone": "a"}`}, `id=[(null)]`, "field id is int32, which its column (bool) cannot take"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			fields, err := Columns(tc.reader)
			if err != nil {
				t.Fatal(err)
			}
			cols, rows := builders(t, mem, fields)
			rd, err := NewReader(tc.reader, cols)
			if err != nil {
				t.Fatal(err)
			}
			res := rd.Resolve(Compile(9, writer))
			var errs []string
			for _, v := range tc.values {
				if err := res.Decode(encode(t, writer, v)); err != nil {
					errs = append(errs, err.Error())
				}
			}
			if got := rows(); got != tc.want {
				t.Errorf("rows %s, want %s", got, tc.want)
			}
			if got := strings.Join(errs, "; "); tc.err == "" && got != "" || !strings.Contains(got, tc.err) {
				t.Errorf("errors %q, want %q", got, tc.err)
			}
		})
	}
}

// TestRecordErrors checks a fixed-schema decoder appends one value to every column whatever the message.
func TestRecordErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fields, err := Columns(writer)
	if err != nil {
		t.Fatal(err)
	}
	cols, rows := builders(t, mem, fields)
	d, err := NewRecord(writer, cols)
	if err != nil {
		t.Fatal(err)
	}
	good := encode(t, writer, `{"id": 5, "gone": "ok"}`)
	for _, tc := range []struct {
		v   []byte
		err string
	}{
		{good, ""},
		{good[:2], "field gone: message ends inside a value"},
		{append(append([]byte{}, good...), 0), "1 bytes after the Avro record"},
	} {
		if err := d.Decode(tc.v); tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Decode(%x) = %v, want %q", tc.v, err, tc.err)
		}
	}
	d.AppendNull()
	if got, want := rows(), `id=[5 5 5 (null)] gone=["ok" (null) "ok" (null)]`; got != want {
		t.Errorf("rows %s, want %s", got, want)
	}
}
