package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/loaders/iceberg"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// TestMergeKeyScanPartitioned: with partition.column ranges, each partition's key scan covers its own range of
// order_id, on the source and in the lake. Two keys are hard-deleted, one in [1, 101) and one in [101, 201); a
// pipeline over [1, 101) alone deletes the first, reads 100 keys of the lake in one data file (its range, not the
// 300 keys in three files), and leaves the second, which is in no range it read; the pipeline over every range
// then deletes it, and the lake equals the table (iceberg-go's scanner and DuckDB).
func TestMergeKeyScanPartitioned(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t).CreateDatabase(t)
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	for _, sql := range []string{
		`CREATE TABLE orders (order_id bigint PRIMARY KEY, status text NOT NULL, amount numeric(12,2),
			updated_at timestamptz NOT NULL DEFAULT clock_timestamp(), deleted_at timestamptz)`,
		`INSERT INTO orders (order_id, status, amount) SELECT g, 'new', g FROM generate_series(1, 300) g`,
	} {
		if _, err := db.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	dir := t.TempDir()
	pipeline := func(name, ranges string) string {
		return writeFile(t, dir, name+".yaml", `name: `+name+`
consumer:
  type: postgres
  dsn: ${PG_DSN}
  table: orders
  partition: { column: order_id, ranges: `+ranges+` }
loaders:
  - type: iceberg
    catalog: { warehouse: wh }
    table: lake.orders
    mode: merge
    key: [order_id]
    version_by: updated_at
    deletes: { detect: key_scan }
`)
	}
	all := pipeline("orders_all", "[[1, 101], [101, 201], [201, 301]]")
	first := pipeline("orders_first", "[[1, 101]]")
	env := []string{"PG_DSN=" + dsn}
	l, err := iceberg.New(stage.BuildContext{Pipeline: "orders_all", Alloc: memory.NewGoAllocator()}, &iceberg.Config{Catalog: iceberg.CatalogConfig{Warehouse: dir + "/wh"}, Table: "lake.orders"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lakeHas := func(ids ...int64) []bool {
		t.Helper()
		tbl, err := l.LoadTable(ctx)
		if err != nil {
			t.Fatal(err)
		}
		keys := testkit.IcebergRows(t, tbl, func(col func(string) arrow.Array, i int) string {
			return fmt.Sprint(col("order_id").(*array.Int64).Value(i))
		})
		var has []bool
		for _, id := range ids {
			has = append(has, slices.Contains(keys, fmt.Sprint(id)))
		}
		return has
	}

	jetflow(t, dir, env, "run", all, "--run", "2026-11-01").must(t, exitOK)
	if _, err := db.Exec(ctx, `DELETE FROM orders WHERE order_id IN (50, 150)`); err != nil {
		t.Fatal(err)
	}
	r := jetflow(t, dir, env, "run", first, "--run", "2026-11-02", "--log-level", "debug").must(t, exitOK)
	if got := lakeHas(50, 150); !slices.Equal(got, []bool{false, true}) {
		t.Fatalf("after the key scan of [1, 101) the lake holds keys 50, 150: %v, want only 150 (outside the scope)", got)
	}
	var line string
	for l := range strings.Lines(r.stderr) {
		if strings.Contains(l, "iceberg: key scan") {
			line = l
		}
	}
	for _, want := range []string{"source_keys=99", "table_files=1", "table_keys=100", "gone=1"} {
		if !strings.Contains(line, want) {
			t.Fatalf("the key scan of [1, 101) logged %q, want %s: it read beyond its range\n%s", line, want, r.stderr)
		}
	}
	jetflow(t, dir, env, "run", all, "--run", "2026-11-03").must(t, exitOK)
	assertLakeEqualsTable(t, l, db, "after the key scan of every range")
}
