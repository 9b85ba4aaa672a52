package kafka

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/jetflow-dev/jetflow/internal/offheap"
)

// TestStrCol builds string and binary columns batch after batch — values, nulls (none, from the first value, or
// only late in a batch, when the validity bits start), empty values, batches larger than the last one's reserve
// and smaller — and compares each with what Arrow's builder makes of the same values.
func TestStrCol(t *testing.T) {
	for _, dt := range []arrow.DataType{arrow.BinaryTypes.String, arrow.BinaryTypes.Binary} {
		t.Run(dt.String(), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			c := &strCol{mem: mem, dt: dt}
			defer c.release()
			rng := rand.New(rand.NewPCG(3, 4))
			for batch, rows := range []int{0, 1, 70, 3, 500, 500, 2000, 10, 300, 300} {
				firstNull := []int{0, rows / 2, rows}[batch%3] // rows: a batch without nulls
				want := array.NewBuilder(mem, dt)
				bb, ok := want.(*array.BinaryBuilder)
				if !ok {
					bb = want.(*array.StringBuilder).BinaryBuilder
				}
				for i := range rows {
					switch {
					case i >= firstNull && (i == firstNull || rng.IntN(5) == 0):
						c.appendNull()
						want.AppendNull()
					default:
						v := []byte(strings.Repeat(fmt.Sprint(i%10), rng.IntN(300)))
						c.append(v)
						bb.Append(v)
					}
				}
				d := c.finish()
				got := array.MakeFromData(d)
				d.Release()
				w := want.NewArray()
				if !array.Equal(got, w) {
					t.Errorf("batch %d (%d rows): got %v, want %v", batch, rows, got, w)
				}
				if got.NullN() != w.NullN() {
					t.Errorf("batch %d: %d nulls, want %d", batch, got.NullN(), w.NullN())
				}
				got.Release()
				w.Release()
				want.Release()
			}
		})
	}
}

// TestNestedColumns decodes random messages with lists and structs at several depths, nulls and absent fields,
// into batches of a few rows (so every column is finished and started again many times), and compares each batch
// with what Arrow's own JSON reader builds of the same messages.
func TestNestedColumns(t *testing.T) {
	cols := []Column{
		{Name: "id", Type: "int64"}, {Name: "tags", Type: "list<string>"},
		{Name: "o", Type: "struct<a: string, n: list<int64>, in: struct<b: string, c: int32>>"},
		{Name: "rows", Type: "list<struct<k: string, v: list<string>>>"},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	maybe := func(v any) any { // absent, null or v
		switch rng.IntN(6) {
		case 0:
			return nil
		case 1:
			return json.RawMessage("null")
		}
		return v
	}
	strs := func() []any {
		out := make([]any, rng.IntN(4))
		for i := range out {
			out[i] = maybe("s" + strconv.Itoa(rng.IntN(1000)))
		}
		return out
	}
	var msgs []string
	for i := range 400 {
		m := map[string]any{"id": i}
		set := func(k string, v any) {
			if v != nil {
				m[k] = v
			}
		}
		set("tags", maybe(strs()))
		in := map[string]any{}
		if v := maybe("b"); v != nil {
			in["b"] = v
		}
		if v := maybe(rng.IntN(100)); v != nil {
			in["c"] = v
		}
		o := map[string]any{"a": "x" + strconv.Itoa(i), "in": maybe(in)}
		if v := maybe([]int{i, -i}); v != nil {
			o["n"] = v
		}
		set("o", maybe(o))
		rows := make([]any, rng.IntN(3))
		for j := range rows {
			rows[j] = maybe(map[string]any{"k": "k" + strconv.Itoa(j), "v": maybe(strs())})
		}
		set("rows", maybe(rows))
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, string(b))
	}
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newTestConsumer(t, mem, Config{Schema: cols, BatchRows: 7})
	want, _, err := array.RecordFromJSON(mem, c.schema, bytes.NewReader([]byte("["+strings.Join(msgs, ",")+"]")))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Release()
	var at int64
	r := c.newPartReader(t.Context(), c.schema, func(rec arrow.RecordBatch) error {
		w := want.NewSlice(at, at+rec.NumRows())
		defer w.Release()
		if !array.RecordEqual(rec, w) {
			t.Errorf("rows %d to %d:\ngot  %v\nwant %v", at, at+rec.NumRows(), rec, w)
		}
		at += rec.NumRows()
		return nil
	})
	defer r.b.release()
	for i, m := range msgs {
		if err := r.record(&kgo.Record{Topic: "t", Offset: int64(i), Value: []byte(m)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.flush(); err != nil {
		t.Fatal(err)
	}
	if at != int64(len(msgs)) {
		t.Fatalf("%d rows, want %d", at, len(msgs))
	}
}

// TestAppendJSONReadsAsStr checks the one-pass scan and copy against str on strings of every length up to past
// three words, with a quote, a backslash, a control character, multi-byte or invalid UTF-8 at every position, and
// the message ending right after the string or inside it: appendJSON appends what str returns, or declines
// (appending nothing) where str reports an error or must unescape.
func TestAppendJSONReadsAsStr(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	c := &strCol{mem: mem, dt: arrow.BinaryTypes.String}
	defer c.release()
	specials := []string{"", `\"`, `\\`, `\n`, `\u00e9`, "\x01", "é", "😀", "\xff", "\xc3", `"`}
	var want [][]byte
	declined := 0
	for n := range 28 {
		for _, sp := range specials {
			for at := 0; at <= n; at += max(1, n/5) {
				body := strings.Repeat("a", at) + sp + strings.Repeat("b", n-at)
				for _, after := range []string{"", `, "next": 1}`, "}"} {
					msg := []byte(`"` + body + `"` + after)
					if after == "" && sp == `"` {
						msg = msg[:len(msg)-1] // unterminated
					}
					var s jscan
					s.reset(msg)
					v, err := s.str()
					c.reserve(1, len(msg)+16)
					before := c.n
					end, ok := c.appendJSON(msg, 0)
					switch {
					case ok && (err != nil || end != s.pos):
						t.Fatalf("%q: appendJSON took it (end %d), str: %q %v (end %d)", msg, end, v, err, s.pos)
					case ok:
						want = append(want, bytes.Clone(v))
					case c.n != before:
						t.Fatalf("%q: declined but appended", msg)
					case err == nil && !bytes.Contains(msg[:s.pos], []byte(`\`)):
						t.Fatalf("%q: declined a plain string str reads as %q", msg, v)
					default:
						declined++
					}
				}
			}
		}
	}
	d := c.finish()
	got := array.MakeFromData(d)
	d.Release()
	defer got.Release()
	if got.Len() != len(want) || declined == 0 {
		t.Fatalf("%d values appended, want %d; %d declined", got.Len(), len(want), declined)
	}
	for i, w := range want {
		if v := got.(*array.String).Value(i); v != string(w) {
			t.Fatalf("value %d: %q, want %q", i, v, w)
		}
	}
}
