package jsonarrow

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/arrowtype"
)

// apply widens t by one JSON value read from dec, through the Type API as Merge uses it (encoding/json reads the
// text here, so that these tests check the lattice, not a scanner: the consumers' tests run Merge on theirs).
func apply(t *testing.T, dec *json.Decoder, typ *Type) {
	t.Helper()
	tok, err := dec.Token()
	if err != nil {
		t.Fatal(err)
	}
	switch v := tok.(type) {
	case nil:
	case bool:
		typ.Widen(Bool)
	case string:
		typ.Widen(String)
	case json.Number:
		if _, ok := ParseInt([]byte(v)); ok {
			typ.Widen(Int)
		} else {
			typ.Widen(Float)
		}
	case json.Delim:
		k, into := Struct, func() *Type { return typ.Elem() }
		if v == '{' {
			into = nil
		} else {
			k = List
		}
		typ.Widen(k)
		for dec.More() {
			target := &Type{} // a value of a type widened to string is read and dropped
			switch {
			case typ.Kind == Struct:
				key, err := dec.Token()
				if err != nil {
					t.Fatal(err)
				}
				target = typ.Field([]byte(key.(string)))
			case typ.Kind == List && into != nil:
				target = into()
			case v == '{':
				if _, err := dec.Token(); err != nil { // the key
					t.Fatal(err)
				}
			}
			apply(t, dec, target)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			t.Fatal(err)
		}
	}
}

// TestInference widens types by sample objects and checks the schema each sample infers.
func TestInference(t *testing.T) {
	tests := []struct {
		name    string
		samples []string
		want    string // the fields, "name: type" joined by "; "
	}{
		{"kinds", []string{`{"i": 1, "f": 1.5, "b": true, "s": "x", "n": null}`}, "i: int64; f: float64; b: bool; s: string; n: string"},
		{"int widens to float", []string{`{"a": 1}`, `{"a": 2.5}`, `{"a": 3}`}, "a: float64"},
		{"null fits anything", []string{`{"a": null}`, `{"a": 7}`, `{"a": null}`}, "a: int64"},
		{"a mix becomes string", []string{`{"a": 1, "b": true, "c": [1]}`, `{"a": "x", "b": 2, "c": {"x": 1}}`}, "a: string; b: string; c: string"},
		{"string stays string", []string{`{"a": {"x": 1}}`, `{"a": 3}`, `{"a": {"y": 1}}`}, "a: string"},
		{"fields in the order first seen, nested too", []string{`{"o": {"x": 1}, "a": 1}`, `{"b": 2, "o": {"y": "s", "x": 2}}`},
			"o: struct<x: int64, y: string>; a: int64; b: int64"},
		{"list elements widen", []string{`{"l": [1, null]}`, `{"l": [2.5]}`, `{"l": []}`}, "l: list<float64>"},
		{"list of structs", []string{`{"l": [{"k": "a"}, {"v": [true]}]}`}, "l: list<struct<k: string, v: list<bool>>>"},
		{"empty list", []string{`{"l": []}`}, "l: list<string>"},
		{"always-empty object is its text", []string{`{"e": {}}`, `{"e": {}}`}, "e: string"},
		{"integers past 18 digits", []string{`{"a": 9223372036854775807, "b": 9223372036854775808, "c": -12}`}, "a: int64; b: float64; c: int64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := NewObject()
			for _, s := range tc.samples {
				dec := json.NewDecoder(strings.NewReader(s))
				dec.UseNumber()
				apply(t, dec, root)
				if _, err := dec.Token(); err != io.EOF {
					t.Fatalf("sample %s: want one value, got more (%v)", s, err)
				}
			}
			var got []string
			for _, f := range root.ArrowFields() {
				got = append(got, f.Name+": "+arrowtype.Format(f.Type))
				if !f.Nullable {
					t.Errorf("field %s is not nullable", f.Name)
				}
			}
			if strings.Join(got, "; ") != tc.want {
				t.Errorf("got  %s\nwant %s", strings.Join(got, "; "), tc.want)
			}
			if root.NumFields() != len(got) {
				t.Errorf("NumFields %d, want %d", root.NumFields(), len(got))
			}
			for _, f := range root.ArrowFields() {
				if !root.Has(f.Name) {
					t.Errorf("Has(%q) is false", f.Name)
				}
			}
			if root.Has("no such field") {
				t.Error(`Has("no such field") is true`)
			}
		})
	}
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"-7", -7, true}, {"123456789012345678", 123456789012345678, true},
		{"9223372036854775807", 9223372036854775807, true}, {"-9223372036854775808", -9223372036854775808, true},
		{"9223372036854775808", 0, false}, {"1.5", 0, false}, {"1e3", 0, false}, {"", 0, false}, {"-", 0, false},
		{"12a", 0, false},
	}
	for _, tc := range tests {
		got, ok := ParseInt([]byte(tc.in))
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("ParseInt(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestKindAt(t *testing.T) {
	for c, want := range map[byte]string{'{': "an object", '[': "an array", '"': "a string", 't': "a boolean",
		'f': "a boolean", 'n': "null", '-': "a number", '0': "a number", '9': "a number", 'x': "", ',': "", ' ': ""} {
		if got := KindAt(c); got != want {
			t.Errorf("KindAt(%q) = %q, want %q", c, got, want)
		}
	}
}
