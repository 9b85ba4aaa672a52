package kafka

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/jetflow-dev/jetflow/internal/offheap"
)

// TestDecodeJSON decodes messages into declared columns and checks each row, including what does not fit.
func TestDecodeJSON(t *testing.T) {
	cols := []Column{
		{Name: "i", Type: "int32"}, {Name: "l", Type: "int64"}, {Name: "f", Type: "float64"}, {Name: "b", Type: "bool"},
		{Name: "s", Type: "string"}, {Name: "d", Type: "decimal(6,2)"}, {Name: "ts", Type: "timestamp[ms, UTC]"},
		{Name: "day", Type: "date32"}, {Name: "xs", Type: "list<int64>"}, {Name: "o", Type: "struct<a: string, n: int32>"},
	}
	tests := []struct {
		name string
		msg  string
		row  string // the decoded row, "" when the message is bad
		err  string // part of the error of a bad message
	}{
		{"all types", `{"i": 1, "l": 9007199254740993, "f": 1.5, "b": true, "s": "é\n", "d": "12.34", "ts": "2026-11-22T10:00:00.5Z", "day": "2026-11-22", "xs": [1, 2], "o": {"a": "x", "n": 3}}`,
			`i=1 l=9007199254740993 f=1.5 b=true s=é
 d=12.34 ts=2026-11-22T10:00:00.5Z day=2026-11-22 xs=[1,2] o={"a":"x","n":3}`, ""},
		{"absent and null fields", `{"i": null, "extra": {"deep": [1, {"x": null}]}}`,
			"i=(null) l=(null) f=(null) b=(null) s=(null) d=(null) ts=(null) day=(null) xs=(null) o=(null)", ""},
		{"escapes and surrogates", `{"s": "a\"b\\c\u00e9\ud83d\ude00"}`,
			`i=(null) l=(null) f=(null) b=(null) s=a"b\cé😀 d=(null) ts=(null) day=(null) xs=(null) o=(null)`, ""},
		{"non-string kept as JSON text", `{"s": {"k": [1, true]}}`,
			`i=(null) l=(null) f=(null) b=(null) s={"k": [1, true]} d=(null) ts=(null) day=(null) xs=(null) o=(null)`, ""},
		{"whole float into int", `{"i": 3.0}`,
			"i=3 l=(null) f=(null) b=(null) s=(null) d=(null) ts=(null) day=(null) xs=(null) o=(null)", ""},
		{"int32 overflow", `{"i": 2147483648}`, "", "field i: 2147483648 overflows int32"},
		{"int64 overflow", `{"l": 9223372036854775808}`, "", "field l: 9223372036854775808 overflows int64"},
		{"float overflow", `{"f": 1e400}`, "", "field f: 1e400 overflows float64"},
		{"decimal overflow", `{"d": 123456.7}`, "", "overflows decimal(6,2)"},
		{"nested overflow", `{"o": {"a": "x", "n": 99999999999}}`, "", "field o.n: 99999999999 overflows int32"},
		{"invalid UTF-8", "{\"s\": \"ab\xff\"}", "", "field s: invalid UTF-8 in a string"},
		{"lone surrogate", `{"s": "\ud800"}`, "", "field s: invalid UTF-8"},
		{"not an integer", `{"l": 1.5}`, "", "field l: 1.5 is not an integer"},
		{"wrong kind", `{"b": "yes"}`, "", "field b: a string does not fit its type bool"},
		{"bad list element", `{"xs": [1, "two"]}`, "", "field xs[]: a string does not fit"},
		{"not an object", `[1, 2]`, "", "the value is an array, want a JSON object"},
		{"truncated", `{"i": 1`, "", "unexpected end of JSON"},
		{"trailing data", `{"i": 1} x`, "", "data after the JSON object"},
		{"trailing comma", `{"i": 1,}`, "", "trailing comma"},
		{"empty object", `{ }`, "i=(null) l=(null) f=(null) b=(null) s=(null) d=(null) ts=(null) day=(null) xs=(null) o=(null)", ""},
		{"white space everywhere", "{ \"i\" :\t1 ,\n\"o\" : { \"n\" : 2 } }",
			`i=1 l=(null) f=(null) b=(null) s=(null) d=(null) ts=(null) day=(null) xs=(null) o={"a":null,"n":2}`, ""},
		{"long strings, escapes and UTF-8 past the first 8 bytes", `{"s": "0123456789abcdef\tXYZé0123456789\u00e9"}`,
			"i=(null) l=(null) f=(null) b=(null) s=0123456789abcdef\tXYZé0123456789é d=(null) ts=(null) day=(null) xs=(null) o=(null)", ""},
		{"escaped keys, keys out of order", `{"l": 2, "\u0069": 1, "x": 0, "\u006c": 3}`,
			"i=1 l=2 f=(null) b=(null) s=(null) d=(null) ts=(null) day=(null) xs=(null) o=(null)", ""},
		{"missing comma", `{"i": 1 "l": 2}`, "", `want , or }, got '"' at byte 8`},
		{"missing colon", `{"i" 1}`, "", "want : after an object key"},
		{"key not a string", `{1: 2}`, "", "want an object key"},
		{"control character in a long string", "{\"s\": \"0123456789\x01\"}", "", "control character in a string"},
		{"unterminated long string", `{"s": "0123456789abcdefgh`, "", "unterminated string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			c := newTestConsumer(t, mem, Config{Schema: cols, OnError: "skip"})
			// A good message on each side of the one under test: a bad message must not shift its neighbours.
			rows, errs := decodeAll(t, c, `{"i": 7}`, tc.msg, `{"i": 8}`)
			first, last := "i=7 ", "i=8 "
			if len(rows) < 2 || !strings.HasPrefix(rows[0], first) || !strings.HasPrefix(rows[len(rows)-1], last) {
				t.Fatalf("neighbour rows damaged: %q", rows)
			}
			if tc.err == "" {
				if len(errs) > 0 || len(rows) != 3 || rows[1] != tc.row {
					t.Fatalf("got rows %q errs %q, want row\n%s", rows, errs, tc.row)
				}
				return
			}
			if len(rows) != 2 || len(errs) != 0 {
				t.Fatalf("bad message: got rows %q errs %q, want it left out", rows, errs)
			}
		})
	}
	// The same messages with on_error: fail report the error, naming the message.
	for _, tc := range tests {
		if tc.err == "" {
			continue
		}
		t.Run("fail/"+tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			c := newTestConsumer(t, mem, Config{Schema: cols, OnError: "fail"})
			_, errs := decodeAll(t, c, tc.msg)
			if len(errs) != 1 || !strings.Contains(errs[0], tc.err) || !strings.Contains(errs[0], "message t/0@0") {
				t.Fatalf("errors %q, want one naming message t/0@0 with %q", errs, tc.err)
			}
		})
	}
}

// TestDecodeJSONFastPaths runs a batch of messages through the decoder's in-place paths (field names matched in
// two 8-byte loads, plain integers, strings at any depth) and the cases they hand on to the general path: long
// names, names near the end of a message, names that only start like a field's, numbers that are not plain
// integers, bad strings in lists and structs, and nulls after values in a column whose validity bits are
// written only from its first null.
func TestDecodeJSONFastPaths(t *testing.T) {
	cols := []Column{
		{Name: "id", Type: "int64"}, {Name: "s", Type: "string"}, {Name: "a_name_of_twenty_chars", Type: "string"},
		{Name: "tags", Type: "list<string>"}, {Name: "o", Type: "struct<city: string, n: int64>"},
	}
	msgs := []struct {
		msg, row, err string
	}{
		{`{"id": 1, "s": "x", "a_name_of_twenty_chars": "long", "tags": ["a", "b"], "o": {"city": "Paris", "n": -5}}`,
			`id=1 s=x a_name_of_twenty_chars=long tags=["a","b"] o={"city":"Paris","n":-5}`, ""},
		{`{"id":-42,"s":"y"}`, `id=-42 s=y a_name_of_twenty_chars=(null) tags=(null) o=(null)`, ""},
		{`{"idx": 9, "id": 2, "ss": "no", "s": null}`, `id=2 s=(null) a_name_of_twenty_chars=(null) tags=(null) o=(null)`, ""},
		{`{"id": 3, "s": "after a null"}`, `id=3 s=after a null a_name_of_twenty_chars=(null) tags=(null) o=(null)`, ""},
		{`{"id": 1e2}`, `id=100 s=(null) a_name_of_twenty_chars=(null) tags=(null) o=(null)`, ""},
		{`{"id": 7.0, "tags": [], "o": {}}`, `id=7 s=(null) a_name_of_twenty_chars=(null) tags=[] o={"city":null,"n":null}`, ""},
		{`{"id": 123456789012345678}`, `id=123456789012345678 s=(null) a_name_of_twenty_chars=(null) tags=(null) o=(null)`, ""},
		{`{"id": 1234567890123456789}`, `id=1234567890123456789 s=(null) a_name_of_twenty_chars=(null) tags=(null) o=(null)`, ""},
		{`{"tags": ["a", 1, null], "id": 4}`, `id=4 s=(null) a_name_of_twenty_chars=(null) tags=["a","1",null] o=(null)`, ""},
		{`{"id": 01}`, "", "malformed number"},
		{`{"id": -}`, "", "malformed number"},
		{`{"id": 1.5}`, "", "field id: 1.5 is not an integer"},
		{"{\"tags\": [\"a\", \"b\xff\"]}", "", "field tags[]: invalid UTF-8"},
		{"{\"o\": {\"city\": \"\xff\"}}", "", "field o.city: invalid UTF-8"},
		{"{\"s\": \"\x01\"}", "", "control character in a string"},
		{`{"s": ` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`, "", "JSON nested more than 64 levels deep"},
		{`{"tags": ` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`, "", "JSON nested more than 64 levels deep"},
		{`{"tags": ["a" "b"]}`, "", `want , or ], got '"'`},
		{`{"tags": ["a",]}`, "", "trailing comma"},
		{`{"tags": ["a"`, "", "unexpected end of JSON"},
		{`{"tags": [,"a"]}`, "", "unexpected ','"},
		{`{"id": 5, "s": "last"}`, `id=5 s=last a_name_of_twenty_chars=(null) tags=(null) o=(null)`, ""},
	}
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newTestConsumer(t, mem, Config{Schema: cols, OnError: "fail", BatchRows: 1000})
	var want []string
	for _, m := range msgs {
		rows, errs := decodeAll(t, c, m.msg)
		switch {
		case m.err == "" && (len(errs) > 0 || len(rows) != 1 || rows[0] != m.row):
			t.Errorf("%s: rows %q errs %q, want %s", m.msg, rows, errs, m.row)
		case m.err != "" && (len(errs) != 1 || !strings.Contains(errs[0], m.err)):
			t.Errorf("%s: errs %q, want %q", m.msg, errs, m.err)
		}
		if m.err == "" {
			want = append(want, m.row)
		}
	}
	// All of them in one batch: a bad message cuts the batch, the rows around it stay whole.
	skip := newTestConsumer(t, mem, Config{Schema: cols, OnError: "skip", BatchRows: 1000})
	var all []string
	for _, m := range msgs {
		all = append(all, m.msg)
	}
	rows, _ := decodeAll(t, skip, all...)
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("one batch:\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}

// TestMetadataAndRaw checks the metadata columns and format raw, and the size limit in both formats.
func TestMetadataAndRaw(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newTestConsumer(t, mem, Config{Format: "raw", MaxMessageBytes: 8, OnError: "dead_letter",
		DeadLetter: DeadLetterConfig{Path: t.TempDir()},
		Metadata:   []string{"key", "headers", "topic", "partition", "offset", "timestamp"}})
	rows, errs := decodeAll(t, c, "abc", "0123456789", "\xff")
	want := []string{
		`value=YWJj kafka_key=azA= kafka_headers=[{"key":"h","value":"dg=="}] kafka_topic=t kafka_partition=0 kafka_offset=0 kafka_timestamp=2023-11-14T22:13:20Z`,
		`value=/w== kafka_key=azI= kafka_headers=[{"key":"h","value":"dg=="}] kafka_topic=t kafka_partition=0 kafka_offset=2 kafka_timestamp=2023-11-14T22:13:20.002Z`,
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "message t/0@1: the value is 10 bytes, over max_message_bytes (8)") {
		t.Errorf("errors %q, want the oversized message dead-lettered", errs)
	}
}

// TestRawValues reads values into format raw's column across several batches: a null value (a tombstone) is
// null, an empty one empty.
func TestRawValues(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newTestConsumer(t, mem, Config{Format: "raw", BatchRows: 2})
	var got []string
	r := c.newPartReader(t.Context(), c.schema, func(rec arrow.RecordBatch) error {
		for i := range int(rec.NumRows()) {
			got = append(got, rec.Column(0).ValueStr(i))
		}
		return nil
	})
	defer r.b.release()
	for i, v := range [][]byte{[]byte("abc"), nil, {}, []byte("\x00\xff"), nil} {
		if err := r.record(&kgo.Record{Topic: "t", Offset: int64(i), Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.flush(); err != nil {
		t.Fatal(err)
	}
	if want := "YWJj (null)  AP8= (null)"; strings.Join(got, " ") != want {
		t.Errorf("values %q, want %q", strings.Join(got, " "), want)
	}
}
