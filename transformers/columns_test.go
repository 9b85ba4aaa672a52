package transformers

import (
	"testing"

	"github.com/jetflow-dev/jetflow/testkit"
)

func TestProjections(t *testing.T) {
	const inSchema = "id: int64 not null, name: string, total: decimal(9,2), at: timestamp[us, UTC]"
	const inRows = `
- {id: 1, name: ada, total: 12.50, at: "2026-01-01T10:00:00Z"}
- {id: 2, name: null, total: null, at: null}
- {id: 3, name: bob, total: -0.01, at: "2026-01-02T00:00:00Z"}
`
	cases := []struct {
		name       string
		cfg        string
		wantSchema string
		wantRows   string
		wantErr    []string
	}{
		{
			name: "select reorders", cfg: "{type: select, columns: [name, id]}",
			wantSchema: "name: string, id: int64 not null",
			wantRows:   "[{id: 1, name: ada}, {id: 2}, {id: 3, name: bob}]",
		},
		{
			name: "drop keeps order", cfg: "{type: drop, columns: [name]}",
			wantSchema: "id: int64 not null, total: decimal(9,2), at: timestamp[us, UTC]",
			wantRows:   `[{id: 1, total: 12.50, at: "2026-01-01T10:00:00Z"}, {id: 2}, {id: 3, total: -0.01, at: "2026-01-02T00:00:00Z"}]`,
		},
		{
			name: "rename", cfg: "{type: rename, columns: {name: customer, id: order_id}}",
			wantSchema: "order_id: int64 not null, customer: string, total: decimal(9,2), at: timestamp[us, UTC]",
			wantRows: `[{order_id: 1, customer: ada, total: 12.50, at: "2026-01-01T10:00:00Z"}, {order_id: 2},
				{order_id: 3, customer: bob, total: -0.01, at: "2026-01-02T00:00:00Z"}]`,
		},
		{
			name: "reorder", cfg: "{type: reorder, columns: [at, name]}",
			wantSchema: "at: timestamp[us, UTC], name: string, id: int64 not null, total: decimal(9,2)",
			wantRows:   inRows,
		},
		{name: "select unknown column", cfg: "{type: select, columns: [id, nmae]}", wantErr: []string{"columns[1]", `no column "nmae"`, `did you mean "name"?`, "id, name, total, at"}},
		{name: "drop unknown column", cfg: "{type: drop, columns: [totl]}", wantErr: []string{"columns[0]", `did you mean "total"?`}},
		{name: "rename unknown column", cfg: "{type: rename, columns: {idd: x}}", wantErr: []string{"columns.idd", `did you mean "id"?`}},
		{name: "rename onto existing", cfg: "{type: rename, columns: {name: id}}", wantErr: []string{`two columns named "id"`}},
		{name: "reorder unknown", cfg: "{type: reorder, columns: [xx]}", wantErr: []string{`no column "xx"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := checkedMem(t)
			in := testkit.RecordsYAML(t, mem, schemaOf(t, inSchema), inRows)
			defer in.Release()
			tr := mustBuild(t, mem, tc.cfg)
			if tc.wantErr != nil {
				_, err := tr.OutputSchema(in.Schema())
				errContains(t, err, tc.wantErr...)
				_, err = tryRun(t, mem, tr, in)
				errContains(t, err, tc.wantErr...)
				return
			}
			want := testkit.RecordsYAML(t, mem, schemaOf(t, tc.wantSchema), tc.wantRows)
			defer want.Release()
			checkVariants(t, mem, tr, in, want, true)
		})
	}
}

func TestProjectionConfigErrors(t *testing.T) {
	cases := []struct{ cfg, want string }{
		{"{type: select, columns: [a, a]}", `"a" is listed twice`},
		{"{type: select}", "columns"},
		{"{type: rename, columns: {a: ''}}", "new name is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.cfg, func(t *testing.T) {
			mem := checkedMem(t)
			_, err := build(t, mem, tc.cfg)
			errContains(t, err, tc.want, "t.yaml:")
		})
	}
}

func TestProjectionSharesArrays(t *testing.T) {
	mem := checkedMem(t)
	in := testkit.RecordsYAML(t, mem, schemaOf(t, "a: int64, b: string"), "[{a: 1, b: x}]")
	defer in.Release()
	for _, cfg := range []string{"{type: select, columns: [b]}", "{type: rename, columns: {b: c}}", "{type: reorder, columns: [b]}"} {
		got, err := mustBuild(t, mem, cfg).Transform(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		if got.Column(0).Data() != in.Column(0).Data() && got.Column(0).Data() != in.Column(1).Data() {
			t.Errorf("%s copied the column arrays instead of sharing them", cfg)
		}
		got.Release()
	}
}
