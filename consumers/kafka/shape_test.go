package kafka

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
)

var shapeColumns = []Column{
	{Name: "id", Type: "int64"}, {Name: "s", Type: "string"}, {Name: "d", Type: "decimal(10,2)"},
	{Name: "tags", Type: "list<string>"}, {Name: "o", Type: "struct<city: string, zip: string, deep: struct<a: int64>>"},
	{Name: "items", Type: "list<struct<k: string, v: int64>>"}, {Name: "a_field_name_longer_than_sixteen", Type: "bool"},
}

// TestShapeReadsAsTheGeneralLoop decodes the same messages with shapes and with the general loop alone and
// compares every row and error. The messages come in runs of one layout (so shapes are learnt and matched), and
// the layouts differ in every way a gap can: field order, white space, absent, extra, repeated and escaped keys,
// nulls, values of the wrong kind, nested objects and lists of objects, truncation and syntax errors, at any
// member.
func TestShapeReadsAsTheGeneralLoop(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			var msgs []string
			for range 30 {
				l := randomLayout(rng)
				for range 1 + rng.IntN(4) {
					msgs = append(msgs, l.message(rng))
				}
			}
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			for _, onError := range []string{"skip", "fail"} {
				c := newTestConsumer(t, mem, Config{Schema: shapeColumns, OnError: onError, BatchRows: 50})
				gotRows, gotErrs := decodeAll(t, c, msgs...)
				wantRows, wantErrs := decodeWith(t, c, func(b *batcher) { b.obj.NoShapes() }, msgs...)
				if strings.Join(gotRows, "\n") != strings.Join(wantRows, "\n") || strings.Join(gotErrs, "\n") != strings.Join(wantErrs, "\n") {
					for i := range max(len(gotRows), len(wantRows)) {
						if i >= len(gotRows) || i >= len(wantRows) || gotRows[i] != wantRows[i] {
							t.Errorf("on_error %s: first differing row %d:\nshaped:  %s\ngeneral: %s", onError, i, at(gotRows, i), at(wantRows, i))
							break
						}
					}
					t.Fatalf("on_error %s: shaped errors %q\ngeneral errors %q\nmessages:\n%s", onError, gotErrs, wantErrs, strings.Join(msgs, "\n"))
				}
				if len(wantRows) == 0 {
					t.Fatal("no rows: the generator makes nothing but bad messages")
				}
			}
		})
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(none)"
}

// layout is how a producer writes messages: which fields, in which order, with which white space and quirks.
type layout struct {
	fields []layoutField
	ws     []string // white space at each separator position, cycled
	flaw   string   // "", or a syntax flaw applied to every message
}

type layoutField struct {
	key   string // as written, quoted, possibly escaped
	value func(rng *rand.Rand) string
}

var spaces = []string{"", "", " ", " ", "\n  ", "\t", "  "}

func randomLayout(rng *rand.Rand) layout {
	str := func(vals ...string) func(*rand.Rand) string {
		return func(r *rand.Rand) string { return vals[r.IntN(len(vals))] }
	}
	sometimes := func(p float64, odd string, f func(*rand.Rand) string) func(*rand.Rand) string {
		return func(r *rand.Rand) string {
			if r.Float64() < p {
				return odd
			}
			return f(r)
		}
	}
	l := layout{}
	for range 1 + rng.IntN(4) {
		l.ws = append(l.ws, spaces[rng.IntN(len(spaces))])
	}
	ws := func(i int) string { return l.ws[i%len(l.ws)] }
	num := func(r *rand.Rand) string { return fmt.Sprint(r.IntN(2000) - 1000) }
	object := func(keys []string, vals []func(*rand.Rand) string) func(*rand.Rand) string {
		order := rng.Perm(len(keys))
		keep := 1 + rng.IntN(len(keys))
		return func(r *rand.Rand) string {
			var b strings.Builder
			b.WriteString("{")
			for j, k := range order[:keep] {
				if j > 0 {
					b.WriteString("," + ws(j))
				}
				fmt.Fprintf(&b, "%s%q%s:%s%s", ws(j+1), keys[k], ws(j+2), ws(j+3), vals[k](r))
			}
			return b.String() + ws(keep) + "}"
		}
	}
	candidates := []layoutField{
		{`"id"`, sometimes(0.05, "null", sometimes(0.03, `"x"`, sometimes(0.03, "1.5", num)))},
		{`"\u0069d"`, num},
		{`"s"`, sometimes(0.05, "null", sometimes(0.03, `"a\"b"`, sometimes(0.02, "\"\xff\"", sometimes(0.03, "[1, 2]", str(`"x"`, `"hello world"`, `"é"`, `""`, `"0123456789abcdefghij"`)))))},
		{`"d"`, sometimes(0.05, "null", sometimes(0.03, "1e2", sometimes(0.02, "123456789012.5", str("1.25", "-3", "0.5", `"7.10"`))))},
		{`"tags"`, sometimes(0.05, "null", sometimes(0.03, `"x"`, str(`[]`, `["a"]`, `["a", "b"]`, `["a",null]`, `[ "x" ,"y" ]`, `["a", 1]`)))},
		{`"o"`, sometimes(0.05, "null", sometimes(0.03, "[]", object(
			[]string{"city", "zip", "deep", "other"},
			[]func(*rand.Rand) string{str(`"Paris"`, `"Oslo"`, "null"), str(`"75001"`, `"0150"`), sometimes(0.1, "null", object([]string{"a", "b"}, []func(*rand.Rand) string{num, str(`{"x": [1]}`)})), str("1", `{"nested": "skip me"}`)})))},
		{`"items"`, sometimes(0.05, "null", func(r *rand.Rand) string {
			item := object([]string{"k", "v"}, []func(*rand.Rand) string{str(`"a"`, `"b"`), num})
			var parts []string
			for range r.IntN(3) {
				parts = append(parts, item(r))
			}
			return "[" + strings.Join(parts, ", ") + "]"
		})},
		{`"a_field_name_longer_than_sixteen"`, sometimes(0.05, "null", str("true", "false"))},
		{`"extra"`, str(`{"deep": [1, {"x": null}]}`, `"skip"`, "12")},
		{`"s"`, str(`"repeated: the first one wins"`)},
	}
	for _, i := range rng.Perm(len(candidates))[:1+rng.IntN(len(candidates))] {
		l.fields = append(l.fields, candidates[i])
	}
	if rng.IntN(8) == 0 {
		l.flaw = []string{"truncate", "trailing comma", "missing colon", "missing comma", "trailing data", "empty"}[rng.IntN(6)]
	}
	return l
}

func (l layout) message(rng *rand.Rand) string {
	if l.flaw == "empty" {
		return "{" + l.ws[0] + "}"
	}
	var b strings.Builder
	b.WriteString(l.ws[0] + "{")
	for j, f := range l.fields {
		if j > 0 {
			if l.flaw != "missing comma" || j != len(l.fields)-1 {
				b.WriteString(",")
			}
			b.WriteString(l.ws[j%len(l.ws)])
		}
		colon := ":"
		if l.flaw == "missing colon" && j == len(l.fields)-1 {
			colon = ""
		}
		b.WriteString(l.ws[(j+1)%len(l.ws)] + f.key + l.ws[(j+2)%len(l.ws)] + colon + l.ws[(j+3)%len(l.ws)] + f.value(rng))
	}
	if l.flaw == "trailing comma" {
		b.WriteString(",")
	}
	b.WriteString(l.ws[len(l.fields)%len(l.ws)] + "}")
	m := b.String()
	switch l.flaw {
	case "truncate":
		m = m[:rng.IntN(len(m))]
	case "trailing data":
		m += " x"
	}
	return m
}

// FuzzShapeReadsAsTheGeneralLoop checks any two messages, each read twice in turns (so each is read against the
// shape the other taught), against the general loop alone. `go test -fuzz FuzzShape ./consumers/kafka` runs it.
func FuzzShapeReadsAsTheGeneralLoop(f *testing.F) {
	f.Add(`{"id": 1, "s": "x", "o": {"city": "Paris"}}`, `{"id": 2, "s": "y", "o": {"city": "Oslo", "zip": "1"}}`)
	f.Add(`{"id": 1, "items": [{"k": "a", "v": 1}, {"k": "b"}]}`, `{"id": 1, "items": [{"v": 2, "k": "a"}]}`)
	f.Add(`{"s": "a", "s": "b"}`, `{"s": "a", "x": 1, "s": "b"}`)
	f.Add(`{ }`, `{"id": 3 }`)
	f.Fuzz(func(t *testing.T, a, b string) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		c := newTestConsumer(t, mem, Config{Schema: shapeColumns, OnError: "skip", BatchRows: 3})
		msgs := []string{a, b, a, a, b, b}
		gotRows, gotErrs := decodeAll(t, c, msgs...)
		wantRows, wantErrs := decodeWith(t, c, func(b *batcher) { b.obj.NoShapes() }, msgs...)
		if strings.Join(gotRows, "\n") != strings.Join(wantRows, "\n") || strings.Join(gotErrs, "\n") != strings.Join(wantErrs, "\n") {
			t.Fatalf("shaped rows %q errors %q\ngeneral rows %q errors %q", gotRows, gotErrs, wantRows, wantErrs)
		}
	})
}
