package transformers

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/testkit"
)

func TestJSONExtract(t *testing.T) {
	const inSchema = "id: int64, doc: string"
	const inRows = `
- {id: 1, doc: '{"user": {"name": "ada", "geo": {"lat": 48.5}}, "total": "12.50", "n": 3, "at": "2026-11-22T10:00:00Z", "tags": ["a", "b"], "extra": true}'}
- {id: 2, doc: null}
- {id: 3, doc: '{"user": null, "n": null}'}
- {id: 4, doc: '{"user": {"name": null, "geo": null}, "n": 7, "tags": []}'}
`
	const fields = `[{name: name, path: user.name, type: string}, {name: lat, path: user.geo.lat, type: float64}, {name: n, type: int64}, {name: total, type: 'decimal(9,2)'}, {name: at, type: 'timestamp[us, UTC]'}, {name: tags, type: 'list<string>'}]`
	cases := []struct {
		name, inRows, cfg, wantSchema, wantRows string
		wantErr                                 []string
	}{
		{
			name: "typed values by path", inRows: inRows, cfg: "{type: json_extract, column: doc, drop_source: true, fields: " + fields + "}",
			wantSchema: "id: int64, name: string, lat: float64, n: int64, total: decimal(9,2), at: timestamp[us, UTC], tags: list<string>",
			wantRows: `
- {id: 1, name: ada, lat: 48.5, n: 3, total: 12.50, at: "2026-11-22T10:00:00Z", tags: [a, b]}
- {id: 2}
- {id: 3}
- {id: 4, n: 7, tags: []}
`,
		},
		{
			name: "keeps the source", inRows: `[{id: 1, doc: '{"n": 1}'}]`, cfg: "{type: json_extract, column: doc, fields: [{name: n, type: int32}]}",
			wantSchema: "id: int64, doc: string, n: int32", wantRows: `[{id: 1, doc: '{"n": 1}', n: 1}]`,
		},
		{
			name: "bad JSON fails naming the row", inRows: `[{id: 1, doc: '{"n": 1}'}, {id: 2, doc: '{"n": '}]`,
			cfg: "{type: json_extract, column: doc, fields: [{name: n, type: int64}]}", wantErr: []string{`column "doc", row 1`, `{\"n\": `, "on_error: set_null"},
		},
		{
			name: "wrong type fails", inRows: `[{id: 1, doc: '{"n": "x"}'}]`,
			cfg: "{type: json_extract, column: doc, fields: [{name: n, type: int64}]}", wantErr: []string{"row 0"},
		},
		{
			name: "not an object fails", inRows: `[{id: 1, doc: '[1]'}]`,
			cfg: "{type: json_extract, column: doc, fields: [{name: n, type: int64}]}", wantErr: []string{"row 0", "'{'"},
		},
		{
			name: "on_error set_null", inRows: `[{id: 1, doc: '{"n": 1, "s": "a"}'}, {id: 2, doc: 'nope'}, {id: 3, doc: '{"n": "x", "s": "b"}'}, {id: 4, doc: '{"n": 4}'}]`,
			cfg:        "{type: json_extract, column: doc, on_error: set_null, drop_source: true, fields: [{name: n, type: int64}, {name: s, type: string}]}",
			wantSchema: "id: int64, n: int64, s: string", wantRows: "[{id: 1, n: 1, s: a}, {id: 2}, {id: 3}, {id: 4, n: 4}]",
		},
		{name: "source not a string", inRows: "[]", cfg: "{type: json_extract, column: id, fields: [{name: n, type: int64}]}", wantErr: []string{"column", "from a string or json column"}},
		{name: "name clash", inRows: "[]", cfg: "{type: json_extract, column: doc, fields: [{name: id, type: int64}]}", wantErr: []string{"fields[0].name", `already has a column "id"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runCase(t, inSchema, tc.inRows, tc.cfg, tc.wantErr, tc.wantSchema, tc.wantRows, true)
		})
	}
}

func TestJSONExtractConfigErrors(t *testing.T) {
	cases := []struct{ cfg, want string }{
		{"{type: json_extract, column: d, fields: [{name: a, type: int64}, {name: a, type: string}]}", "fields[1].name"},
		{"{type: json_extract, column: d, fields: [{name: a, type: intt}]}", "fields[0].type"},
		{"{type: json_extract, column: d, fields: [{name: a, path: x..y, type: int64}]}", "empty key"},
		{"{type: json_extract, column: d, fields: [{name: a, path: x, type: int64}, {name: b, path: x.y, type: int64}]}", "fields[1].path"},
		{"{type: json_extract, column: d, fields: [{name: a, type: int64}], on_error: skip}", "on_error"},
	}
	for _, tc := range cases {
		t.Run(tc.cfg, func(t *testing.T) {
			_, err := build(t, checkedMem(t), tc.cfg)
			errContains(t, err, tc.want)
		})
	}
}

func TestJSONExtractLarge(t *testing.T) {
	mem := checkedMem(t)
	var sb strings.Builder
	sb.WriteString("[")
	for i := range 5000 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"doc": "{\"a\": {\"b\": %d}}"}`, i)
	}
	sb.WriteString("]")
	in := testkit.Records(t, mem, schemaOf(t, "doc: string"), sb.String())
	defer in.Release()
	got := run(t, mem, mustBuild(t, mem, "{type: json_extract, column: doc, drop_source: true, fields: [{name: b, path: a.b, type: int64}]}"), in)
	defer got.Release()
	if got.NumRows() != 5000 || got.Column(0).ValueStr(4321) != "4321" || got.Column(0).NullN() != 0 {
		t.Errorf("got %d rows, row 4321 = %s, %d nulls", got.NumRows(), got.Column(0).ValueStr(4321), got.Column(0).NullN())
	}
}
