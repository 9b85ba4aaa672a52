package transformers

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/testkit"
)

func TestFlattenExplode(t *testing.T) {
	cases := []struct {
		name                 string
		inSchema, inRows     string
		cfg                  string
		wantSchema, wantRows string
		rowwise              bool
		wantErr              []string
	}{
		{
			name:     "flatten nested structs with nulls at each level",
			inSchema: "id: int64, addr: struct<city: string, geo: struct<lat: float64, lon: float64>>, tag: string",
			inRows: `
- {id: 1, addr: {city: Paris, geo: {lat: 48.8, lon: 2.3}}, tag: a}
- {id: 2, addr: null, tag: b}
- {id: 3, addr: {city: null, geo: null}, tag: null}
- {id: 4, addr: {city: Oslo, geo: {lat: null, lon: 10.7}}}
`,
			cfg:        "{type: flatten}",
			wantSchema: "id: int64, addr_city: string, addr_geo_lat: float64, addr_geo_lon: float64, tag: string",
			wantRows: `
- {id: 1, addr_city: Paris, addr_geo_lat: 48.8, addr_geo_lon: 2.3, tag: a}
- {id: 2, tag: b}
- {id: 3}
- {id: 4, addr_city: Oslo, addr_geo_lon: 10.7}
`,
			rowwise: true,
		},
		{
			name:       "flatten one level with a separator",
			inSchema:   "s: struct<a: int32 not null, t: struct<b: int32>> not null",
			inRows:     "[{s: {a: 1, t: {b: 2}}}, {s: {a: 3, t: null}}]",
			cfg:        "{type: flatten, columns: [s], separator: '.', recursive: false}",
			wantSchema: "s.a: int32 not null, s.t: struct<b: int32>",
			wantRows:   "[{s.a: 1, s.t: {b: 2}}, {s.a: 3, s.t: null}]",
			rowwise:    true,
		},
		{name: "flatten a non-struct", inSchema: "n: int64", inRows: "[]", cfg: "{type: flatten, columns: [n]}", wantErr: []string{"columns[0]", "not a struct"}},
		{name: "flatten name clash", inSchema: "s: struct<a: int32>, s_a: int32", inRows: "[]", cfg: "{type: flatten}", wantErr: []string{`two columns named "s_a"`}},
		{
			name:     "explode drops empty and null lists",
			inSchema: "id: int64, xs: list<string>, note: string",
			inRows: `
- {id: 1, xs: [a, b], note: one}
- {id: 2, xs: [], note: two}
- {id: 3, xs: null, note: null}
- {id: 4, xs: [null, c], note: four}
`,
			cfg:        "{type: explode, column: xs}",
			wantSchema: "id: int64, xs: string, note: string",
			wantRows:   "[{id: 1, xs: a, note: one}, {id: 1, xs: b, note: one}, {id: 4, xs: null, note: four}, {id: 4, xs: c, note: four}]",
		},
		{
			name:       "explode outer with positions",
			inSchema:   "id: int64 not null, xs: large_list<int32 not null>",
			inRows:     "[{id: 1, xs: [10, 20]}, {id: 2, xs: []}, {id: 3, xs: null}, {id: 4, xs: [30]}]",
			cfg:        "{type: explode, column: xs, keep_empty: true, position: pos}",
			wantSchema: "id: int64 not null, xs: int32, pos: int32",
			wantRows:   "[{id: 1, xs: 10, pos: 0}, {id: 1, xs: 20, pos: 1}, {id: 2}, {id: 3}, {id: 4, xs: 30, pos: 0}]",
		},
		{
			name:       "explode an empty batch",
			inSchema:   "id: int64, xs: list<int64>",
			inRows:     "[]",
			cfg:        "{type: explode, column: xs}",
			wantSchema: "id: int64, xs: int64",
			wantRows:   "[]",
		},
		{name: "explode a non-list", inSchema: "id: int64", inRows: "[]", cfg: "{type: explode, column: id}", wantErr: []string{"column", "explode takes a list"}},
		{name: "explode unknown column", inSchema: "items: list<int64>", inRows: "[]", cfg: "{type: explode, column: item}", wantErr: []string{`did you mean "items"?`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runCase(t, tc.inSchema, tc.inRows, tc.cfg, tc.wantErr, tc.wantSchema, tc.wantRows, tc.rowwise)
		})
	}
}

func TestExplodeOneRowAndLarge(t *testing.T) {
	mem := checkedMem(t)
	schema := schemaOf(t, "id: int64, xs: list<int64>")
	var in, want strings.Builder
	in.WriteString("[")
	want.WriteString("[")
	first := true
	for i := range 3000 {
		if i > 0 {
			in.WriteString(",")
		}
		fmt.Fprintf(&in, `{"id": %d, "xs": [`, i)
		for k := range i % 4 {
			if k > 0 {
				in.WriteString(",")
			}
			fmt.Fprintf(&in, "%d", i*10+k)
			if !first {
				want.WriteString(",")
			}
			first = false
			fmt.Fprintf(&want, `{"id": %d, "xs": %d}`, i, i*10+k)
		}
		in.WriteString("]}")
	}
	in.WriteString("]")
	want.WriteString("]")
	inRec := testkit.Records(t, mem, schema, in.String())
	defer inRec.Release()
	wantRec := testkit.Records(t, mem, schemaOf(t, "id: int64, xs: int64"), want.String())
	defer wantRec.Release()
	tr := mustBuild(t, mem, "{type: explode, column: xs}")
	got := run(t, mem, tr, inRec)
	testkit.AssertRecordsEqual(t, wantRec, got)
	got.Release()

	one := inRec.NewSlice(3, 4) // id 3: [30, 31, 32]
	defer one.Release()
	got = run(t, mem, tr, one)
	defer got.Release()
	if got.NumRows() != 3 || got.Column(1).ValueStr(2) != "32" {
		t.Errorf("one row: got %d rows, last item %s", got.NumRows(), got.Column(1).ValueStr(int(got.NumRows())-1))
	}
}
