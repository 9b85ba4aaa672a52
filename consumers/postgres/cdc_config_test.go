package postgres

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestCDCValidate checks change capture's config, then what validate --connect finds missing on a real server
// (REPLICA IDENTITY, the replication privilege, the publication): every error on its key's line, saying what
// to run. testdata/cdc_validate.golden holds the messages (go test -run TestCDCValidate -update rewrites it).
func TestCDCValidate(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.CreateDatabase(t)
	exec(t, dsn, `CREATE TABLE full_t (id int8 PRIMARY KEY, v text)`, `ALTER TABLE full_t REPLICA IDENTITY FULL`,
		`CREATE TABLE default_t (id int8 PRIMARY KEY, v text)`, `CREATE VIEW view_t AS SELECT 1 AS id`,
		`CREATE PUBLICATION other_pub FOR TABLE default_t`,
		// Roles are the server's, shared by the tests' databases: created once.
		`DO $$ BEGIN CREATE ROLE plain LOGIN PASSWORD 'plain-pw'; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
		`GRANT SELECT ON full_t TO plain`)
	plainDSN := strings.Replace(dsn, "postgres:"+srv.Password+"@", "plain:plain-pw@", 1)
	cases := []struct {
		name, dsn, consumer, loader string
	}{
		{"valid", dsn, "table: full_t\n  cdc: {slot: s1}", ""},
		{"bad names, query, windows", dsn, "query: SELECT 1\n  partition: {column: id, every: 1h}\n  cdc:\n    slot: Bad-Slot\n    publication: \"p q\"", ""},
		{"missing slot, incremental", dsn, "table: full_t\n  incremental: {column: id}\n  cdc: {publication: p}", ""},
		{"replica identity default", dsn, "table: default_t\n  cdc: {slot: s2}", ""},
		{"publication without the table", dsn, "table: full_t\n  cdc: {slot: s2, publication: other_pub}", ""},
		{"view, no publication and not to create", dsn, "table: view_t\n  cdc: {slot: s3, create_publication: false}", ""},
		{"user without replication or ownership", plainDSN, "table: full_t\n  cdc: {slot: s4}", ""},
		// on_truncate: clear needs every loader to clear: refused at the consumer's key for a loader type that never
		// clears, at the loader's own key for an iceberg loader that is not a versioned merge.
		{"on_truncate clear into parquet", dsn, "table: full_t\n  cdc: {slot: s5, on_truncate: clear}", ""},
		{"on_truncate clear into an iceberg append", dsn, "table: full_t\n  cdc: {slot: s5, on_truncate: clear}",
			"  - {type: iceberg, catalog: {warehouse: /tmp/x}, table: a.b}\n"},
		{"on_truncate clear into a merge without version_by", dsn, "table: full_t\n  cdc: {slot: s5, on_truncate: clear}",
			"  - {type: iceberg, catalog: {warehouse: /tmp/x}, table: a.b, mode: merge, key: [id]}\n"},
	}
	var out strings.Builder
	for _, tc := range cases {
		loader := tc.loader
		if loader == "" {
			loader = "  - {type: parquet, path: /tmp/x/}\n"
		}
		src := "name: items\nconsumer:\n  type: postgres\n  dsn: ${PG_DSN}\n  " + tc.consumer + "\nloaders:\n" + loader
		fmt.Fprintf(&out, "## %s\n", tc.name)
		p, err := pipelines.Options{LookupEnv: func(k string) (string, bool) { return tc.dsn, k == "PG_DSN" }}.Parse("items.yaml", []byte(src))
		if err != nil {
			fmt.Fprintf(&out, "%v\n\n", err)
			continue
		}
		b, err := p.Build(stage.BuildContext{Alloc: memory.NewGoAllocator()})
		if err != nil {
			fmt.Fprintf(&out, "%v\n\n", err)
			continue
		}
		if _, ok := b.Source.(*CDC); !ok {
			t.Fatalf("%s: built %T, want *CDC", tc.name, b.Source)
		}
		_, err = p.Validate(t.Context(), b, true)
		b.Source.(*CDC).Close()
		fmt.Fprintf(&out, "%v\n\n", err)
	}
	got := strings.ReplaceAll(out.String(), dsnWhere(t, dsn), "HOST/DB")
	testkit.Golden(t, filepath.Join("testdata", "cdc_validate.golden"), got, *update)
}

// dsnWhere is how errors name the server of dsn: host:port/database.
func dsnWhere(t *testing.T, dsn string) string {
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s:%d/%s", pc.Host, pc.Port, pc.Database)
}

// TestCDCDocPipeline keeps the pipeline of docs/CDC.md true: it passes validate --connect against a table set up
// as the page says.
func TestCDCDocPipeline(t *testing.T) {
	doc, err := os.ReadFile("../../docs/CDC.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	src, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/CDC.md has no yaml block")
	}
	dsn := pgtest.Start(t).CreateDatabase(t)
	exec(t, dsn, `CREATE TABLE orders (order_id int8 PRIMARY KEY, status text, total numeric(12,2))`,
		`ALTER TABLE orders REPLICA IDENTITY FULL`)
	p, err := pipelines.Options{LookupEnv: func(k string) (string, bool) { return dsn, k == "ORDERS_PG_DSN" }}.Parse("orders_cdc.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Build(stage.BuildContext{Alloc: memory.NewGoAllocator()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Source.(*CDC).Close()
	if _, err := p.Validate(t.Context(), b, true); err != nil {
		t.Fatalf("the pipeline of docs/CDC.md does not validate: %v", err)
	}
}

func TestIsSlotName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"s1": true, "jetflow_orders_2": true, strings.Repeat("a", 63): true,
		"": false, strings.Repeat("a", 64): false, "Bad": false, "a-b": false, "a b": false, "é": false, `a"`: false,
	} {
		if got := isSlotName(name); got != want {
			t.Errorf("isSlotName(%q) = %v, want %v", name, got, want)
		}
	}
}
