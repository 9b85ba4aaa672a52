package kafka

import (
	"bytes"
	"encoding/json"
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
