package iceberg_test

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	_ "github.com/jetflow-dev/jetflow/builtin"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
)

// TestMergeValidate: mistakes in a merge config are reported by validate at the file position of the key at fault.
func TestMergeValidate(t *testing.T) {
	const head = `name: m
consumer:
  type: generate
  rows: 5
  columns:
    - {name: order_id, type: int64, sequence: true}
    - {name: updated_at, type: "timestamp[us, UTC]"}
    - {name: tags, type: "list<string>"}
    - {name: deleted_at, type: "timestamp[us, UTC]"}
loaders:
`
	for _, tc := range []struct {
		name, loader, want string
	}{
		{"valid", `  - {type: iceberg, table: a.o, catalog: {warehouse: w}, mode: merge, key: [order_id], version_by: updated_at, delete_when: deleted_at is not null}
`, ""},
		{"missing key", `  - {type: iceberg, table: a.o, catalog: {warehouse: w}, mode: merge}
`, "m.yaml:11:5: loaders[0].key: missing required key: mode: merge needs key"},
		{"key without merge", `  - {type: iceberg, table: a.o, catalog: {warehouse: w}, key: [order_id]}
`, "m.yaml:11:63: loaders[0].key: only mode: merge uses key"},
		{"unknown key column", `  - {type: iceberg, table: a.o, catalog: {warehouse: w}, mode: merge, key: [order_ix]}
`, `m.yaml:11:77: loaders[0].key[0]: the input has no column "order_ix" (did you mean "order_id"?)`},
		{"key column not a key type", `  - {type: iceberg, table: a.o, catalog: {warehouse: w}, mode: merge, key: [tags]}
`, `m.yaml:11:77: loaders[0].key[0]: column "tags" is list<item: utf8, nullable>, which cannot identify a row`},
		{"version not orderable", `  - {type: iceberg, table: a.o, catalog: {warehouse: w}, mode: merge, key: [order_id], version_by: tags}
`, `m.yaml:11:100: loaders[0].version_by: column "tags" is list<item: utf8, nullable>, which has no order`},
		{"delete_when not boolean", `  - {type: iceberg, table: a.o, catalog: {warehouse: w}, mode: merge, key: [order_id], delete_when: order_id + 1}
`, `m.yaml:11:101: loaders[0].delete_when: "order_id + 1" yields int64, not true or false`},
		{"delete_when unknown column", `  - {type: iceberg, table: a.o, catalog: {warehouse: w}, mode: merge, key: [order_id], delete_when: deleted is not null}
`, `m.yaml:11:101: loaders[0].delete_when: unknown column "deleted"`},
		{"parquet refuses merge", `  - {type: parquet, path: out, mode: merge}
`, "m.yaml:11:38: loaders[0].mode: the parquet loader cannot merge"},
		{"key_scan with a consumer that cannot scan keys", `  - {type: iceberg, table: a.o, catalog: {warehouse: w}, mode: merge, key: [order_id], deletes: {detect: key_scan}}
`, "m.yaml:11:106: loaders[0].deletes.detect: key_scan needs a consumer that can read the source's keys alone, and consumer (generate) cannot"},
		{"key_scan without key", `  - {type: iceberg, table: a.o, catalog: {warehouse: w}, mode: merge, deletes: {detect: key_scan}}
`, "loaders[0].deletes.detect: key_scan compares the source's keys with the table's, and there is no key"},
		{"key_scan without merge", `  - {type: iceberg, table: a.o, catalog: {warehouse: w}, deletes: {detect: key_scan}}
`, "loaders[0].deletes.detect: only mode: merge uses deletes.detect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pipelines.Options{}.Parse("m.yaml", []byte(head+tc.loader))
			if err == nil {
				var b *pipelines.Built
				b, err = p.Build(stage.BuildContext{Pipeline: p.Name, Alloc: memory.NewGoAllocator(), Dir: t.TempDir()})
				if err == nil {
					_, err = p.Validate(context.Background(), b, false)
				}
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}
