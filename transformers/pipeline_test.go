package transformers

import (
	"strconv"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
)

// TestPipelineValidate carries a source schema through a chain of these transformers the way `jetflow validate`
// does, and checks that a schema error points at the file, line and key that caused it.
func TestPipelineValidate(t *testing.T) {
	const head = `name: orders
consumer:
  type: generate
  rows: 10
  columns:
    - {name: id, type: int64}
    - {name: email, type: string, null_rate: 0.1}
    - {name: total, type: float64}
    - {name: addr, type: "struct<city: string, zip: string>"}
transformers:
`
	cases := []struct {
		name, transformers, wantSchema string
		wantErr                        []string
	}{
		{
			name: "chain",
			transformers: `  - {type: select, columns: [id, email, total, addr]}
  - {type: cast, columns: {total: "decimal(18,4)"}, safe: false}
  - {type: flatten}
  - {type: rename, columns: {addr_city: city}}
  - {type: hash, columns: [email]}
  - {type: metadata, loaded_at: ""}
  - type: schema
    extra: drop
    columns:
      - {name: id, type: int64, nullable: false}
      - {name: city, type: string}
      - {name: total, type: "decimal(18,4)"}
      - {name: email, type: string}
      - {name: _partition_id, type: string, nullable: false}
`,
			wantSchema: "id: int64 not null, city: string, total: decimal(18,4), email: string, _partition_id: string not null",
		},
		{
			name: "unknown column at its line",
			transformers: `  - {type: select, columns: [id, email]}
  - type: cast
    columns:
      emial: string
`,
			wantErr: []string{"t.yaml:14:", "transformers[1].columns.emial", `did you mean "email"?`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := head + tc.transformers + "loaders: [{type: parquet, path: " + strconv.Quote(t.TempDir()) + "}]\n"
			p, err := pipelines.Options{}.Parse("t.yaml", []byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			mem := checkedMem(t)
			b, err := p.Build(stage.BuildContext{Alloc: mem})
			if err != nil {
				t.Fatal(err)
			}
			schemas, err := p.Validate(t.Context(), b, false)
			if tc.wantErr != nil {
				errContains(t, err, tc.wantErr...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := schemas[len(schemas)-1]
			var parts []string
			for _, f := range got.Fields() {
				s := f.Name + ": " + arrowtype.Format(f.Type)
				if !f.Nullable {
					s += " not null"
				}
				parts = append(parts, s)
			}
			if s := strings.Join(parts, ", "); s != tc.wantSchema {
				t.Errorf("schema after the chain:\n got %s\nwant %s", s, tc.wantSchema)
			}
		})
	}
}
