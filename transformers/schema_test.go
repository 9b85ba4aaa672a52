package transformers

import (
	"testing"
)

func TestSchema(t *testing.T) {
	const inSchema = "id: int64, name: string, total: decimal(9,2), at: timestamp[us, UTC]"
	const inRows = `
- {id: 1, name: ada, total: 12.50, at: "2026-01-01T10:00:00Z"}
- {id: 2, name: null, total: null, at: null}
- {id: 3, name: bob, total: -0.01, at: "2026-01-02T00:00:00Z"}
`
	cases := []struct {
		name, inRows, cfg, wantSchema, wantRows string
		wantErr                                 []string
	}{
		{
			name: "order, names, types and nullability", inRows: inRows,
			cfg:        `{type: schema, columns: [{name: order_id, from: id, type: int32, nullable: false}, {name: at, type: "timestamp[ms]"}, {name: total, type: "decimal(18,4)"}, {name: name, type: string}]}`,
			wantSchema: "order_id: int32 not null, at: timestamp[ms], total: decimal(18,4), name: string",
			wantRows:   `[{order_id: 1, at: "2026-01-01T10:00:00", total: 12.5000, name: ada}, {order_id: 2}, {order_id: 3, at: "2026-01-02T00:00:00", total: -0.0100, name: bob}]`,
		},
		{
			name: "missing columns as nulls, extra dropped", inRows: inRows,
			cfg:        `{type: schema, missing: fill_null, extra: drop, columns: [{name: id, type: int64}, {name: region, type: string}]}`,
			wantSchema: "id: int64, region: string", wantRows: "[{id: 1}, {id: 2}, {id: 3}]",
		},
		{
			name: "extra columns fail", inRows: inRows, cfg: `{type: schema, columns: [{name: id, type: int64}]}`,
			wantErr: []string{"name, total, at", "extra: drop"},
		},
		{
			name: "missing column fails", inRows: inRows, cfg: `{type: schema, extra: drop, columns: [{name: idd, type: int64}]}`,
			wantErr: []string{"columns[0]", `did you mean "id"?`, "missing: fill_null"},
		},
		{
			name: "null in a not-null column", inRows: inRows, cfg: `{type: schema, extra: drop, columns: [{name: name, type: string, nullable: false}]}`,
			wantErr: []string{`column "name", row 1`, "declared not null", "holds a null"},
		},
		{
			name: "value that does not fit", inRows: inRows, cfg: `{type: schema, extra: drop, columns: [{name: total, type: "decimal(3,2)"}]}`,
			wantErr: []string{`column "total", row 0`, "12.50"},
		},
		{
			name: "unsafe value that does not fit a not-null column", inRows: `[{id: 1000}]`, cfg: `{type: schema, safe: false, extra: drop, columns: [{name: id, type: int8, nullable: false}]}`,
			wantErr: []string{`column "id", row 0`, "value 1000 does not fit int8"},
		},
		{
			name: "impossible type", inRows: inRows, cfg: `{type: schema, extra: drop, columns: [{name: at, type: "list<int64>"}]}`,
			wantErr: []string{"columns[0].type", "cannot be cast"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runCase(t, inSchema, tc.inRows, tc.cfg, tc.wantErr, tc.wantSchema, tc.wantRows, true)
		})
	}
}

func TestSchemaConfigErrors(t *testing.T) {
	cases := []struct{ cfg, want string }{
		{"{type: schema, columns: [{name: a, type: int64}, {name: a, type: int32}]}", "columns[1].name"},
		{"{type: schema, columns: [{name: a, type: int64}, {name: b, from: a, type: int32}]}", "feeds two output columns"},
		{"{type: schema, columns: [{name: a, type: bigint}]}", "columns[0].type"},
		{"{type: schema, columns: [{name: a, type: int64}], extra: keep}", "extra"},
	}
	for _, tc := range cases {
		t.Run(tc.cfg, func(t *testing.T) {
			_, err := build(t, checkedMem(t), tc.cfg)
			errContains(t, err, tc.want)
		})
	}
}
