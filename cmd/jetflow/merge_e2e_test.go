package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/internal/failpoint"
	"github.com/jetflow-dev/jetflow/loaders/iceberg"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// TestMergeKeepsLakeEqualToTable drives a real PostgreSQL orders table through rounds of inserts, updates, soft
// deletes and hard deletes (found by deletes: {detect: key_scan}), with each strategy, running an incremental (updated_at) merge pipeline after each round; after every round, and
// after a --force re-run of the first round's run instance, the Iceberg table equals the table's live rows,
// read by iceberg-go's scanner and by DuckDB applying the position delete files itself. In round 2 the run is
// first killed (SIGKILL) after writing the files, before telling the catalog, and after the commit but before
// the state store; the run after those ends with the same table.
func TestMergeKeepsLakeEqualToTable(t *testing.T) {
	srv := pgtest.Start(t)
	for _, strategy := range []string{"merge_on_read", "copy_on_write"} {
		t.Run(strategy, func(t *testing.T) { testMergeRounds(t, srv.CreateDatabase(t), strategy) })
	}
}

func testMergeRounds(t *testing.T, dsn, strategy string) {
	ctx := context.Background()
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`CREATE TABLE orders (order_id bigint PRIMARY KEY, status text NOT NULL, amount numeric(12,2),
		updated_at timestamptz NOT NULL DEFAULT clock_timestamp(), deleted_at timestamptz)`)
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", `name: orders_lake
consumer:
  type: postgres
  dsn: ${PG_DSN}
  table: orders
  incremental: { column: updated_at }
loaders:
  - type: iceberg
    catalog: { warehouse: wh }
    table: lake.orders
    partition_by: [bucket(4, order_id)]
    mode: merge
    key: [order_id]
    version_by: updated_at
    delete_when: deleted_at is not null
    merge: { strategy: `+strategy+` }
    deletes: { detect: key_scan }
`)
	env := []string{"PG_DSN=" + dsn}
	l, err := iceberg.New(stage.BuildContext{Pipeline: "orders_lake", Alloc: memory.NewGoAllocator()}, &iceberg.Config{Catalog: iceberg.CatalogConfig{Warehouse: dir + "/wh"}, Table: "lake.orders"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	rng := rand.New(rand.NewPCG(16, 1))
	next := 1
	insert := func(n int) {
		for range n {
			exec(`INSERT INTO orders (order_id, status, amount) VALUES ($1, 'new', $2)`, next, fmt.Sprintf("%d.%02d", rng.IntN(1000), rng.IntN(100)))
			next++
		}
	}
	someIDs := func(n int) []int64 {
		var ids []int64
		for range n {
			ids = append(ids, int64(1+rng.IntN(next-1)))
		}
		return ids
	}
	insert(200)
	for round := 1; round <= 3; round++ {
		if round > 1 {
			insert(40)
			exec(`UPDATE orders SET status = 'paid', amount = amount + 1, updated_at = clock_timestamp() WHERE order_id = ANY($1) AND deleted_at IS NULL`, someIDs(30))
			exec(`UPDATE orders SET deleted_at = clock_timestamp(), updated_at = clock_timestamp() WHERE order_id = ANY($1) AND deleted_at IS NULL`, someIDs(8))
			exec(`DELETE FROM orders WHERE order_id = ANY($1)`, someIDs(6)) // hard deletes: found by key_scan
		}
		run := fmt.Sprintf("2026-11-%02d", round)
		if round == 2 && strategy == "merge_on_read" {
			// SIGKILL at each step of the merge commit, then the next attempt: nothing lands twice.
			for _, point := range []string{iceberg.FailBeforeCommit, iceberg.FailCommit, "engine.before-state-commit"} {
				r := jetflow(t, dir, append([]string{failpoint.EnvVar + "=" + point + "=kill"}, env...), "run", "p.yaml", "--run", run)
				if !r.killed {
					t.Fatalf("process was not killed at %s (code %d)\n%s", point, r.code, r.stderr)
				}
			}
		}
		jetflow(t, dir, env, "run", "p.yaml", "--run", run).must(t, exitOK)
		assertLakeEqualsTable(t, l, db, fmt.Sprintf("round %d", round))
	}
	// A forced re-run of round 1 reads the rows still in its range: their versions are the table's, so nothing
	// changes; the rows updated since are newer in the table and stay.
	jetflow(t, dir, env, "run", "p.yaml", "--run", "2026-11-01", "--force").must(t, exitOK)
	assertLakeEqualsTable(t, l, db, "--force of round 1")
}

// assertLakeEqualsTable compares the live rows of orders with the Iceberg table, read twice independently.
func assertLakeEqualsTable(t *testing.T, l *iceberg.Loader, db *pgx.Conn, when string) {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Query(ctx, `SELECT order_id || '|' || status || '|' || coalesce(amount::text, '') || '|' ||
		(extract(epoch FROM updated_at) * 1000000)::bigint FROM orders WHERE deleted_at IS NULL ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)

	tbl, err := l.LoadTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	scanned := testkit.IcebergRows(t, tbl, func(col func(string) arrow.Array, i int) string {
		amt := col("amount").(*array.Decimal128)
		a := ""
		if amt.IsValid(i) {
			a = amt.Value(i).ToString(amt.DataType().(*arrow.Decimal128Type).Scale)
		}
		return fmt.Sprintf("%d|%s|%s|%d", col("order_id").(*array.Int64).Value(i), col("status").(*array.String).Value(i), a,
			col("updated_at").(*array.Timestamp).Value(i))
	})
	if d := diffLines(want, scanned); d != "" {
		t.Fatalf("%s: iceberg-go's scanner reads the lake unlike SELECT * FROM orders:\n%s", when, d)
	}

	duck := testkit.IcebergDuckDBRows(t, tbl, `order_id || '|' || status || '|' || coalesce(amount::VARCHAR, '') || '|' || epoch_us(updated_at)`)
	if d := diffLines(want, duck); d != "" {
		t.Fatalf("%s: DuckDB over the data files minus the position deletes reads the lake unlike SELECT * FROM orders:\n%s", when, d)
	}
}

func diffLines(want, got []string) string {
	var b strings.Builder
	w, g := map[string]bool{}, map[string]bool{}
	for _, s := range want {
		w[s] = true
	}
	for _, s := range got {
		g[s] = true
	}
	for _, s := range want {
		if !g[s] {
			fmt.Fprintf(&b, "  missing %s\n", s)
		}
	}
	for _, s := range got {
		if !w[s] {
			fmt.Fprintf(&b, "  extra   %s\n", s)
		}
	}
	if b.Len() == 0 && len(want) != len(got) {
		fmt.Fprintf(&b, "  %d rows, want %d (duplicates)\n", len(got), len(want))
	}
	return b.String()
}
