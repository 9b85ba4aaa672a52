package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"

	"github.com/jetflow-dev/jetflow/loaders/iceberg"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/cdctest"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// TestCDCTruncateKilled kills `jetflow run --stream` (on_truncate: clear) in the commit of the partition that
// holds a TRUNCATE: first before the catalog takes the snapshot, then after the lake commit but before the state
// store records it, so that the next start commits the clear again. The truncate's transaction changes rows
// before it and inserts after it. Each time the lake must end equal to SELECT * FROM items, read by iceberg-go's
// scanner and by DuckDB.
func TestCDCTruncateKilled(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Start(t).CreateDatabase(t)
	cdctest.CreateItems(t, dsn, 300)
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", cdctest.PipelineWithSlot("items_truncate", "wh", "300ms", "    on_truncate: clear\n"))
	env := []string{"PG_DSN=" + dsn}
	stream := func(extra ...string) (*syncBuffer, func() result) {
		cmd := command(dir, append(env, extra...), "run", "p.yaml", "--stream")
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return out, func() result {
			if len(extra) == 0 {
				waitLakeEqual(t, dir, cdctest.TableRows(t, dsn), cmd, out)
				cmd.Process.Signal(syscall.SIGTERM)
			}
			return finish(t, cmd, cmd.Wait(), out.String(), "")
		}
	}
	_, stop := stream()
	if r := stop(); r.code != exitOK {
		t.Fatalf("the initial load exited %d:\n%s", r.code, r.stdout)
	}

	// While the stream is stopped: changes, then a transaction that changes rows, truncates and inserts.
	cdctest.Exec(t, dsn, `UPDATE items SET status = 'paid' WHERE id <= 50`, `DELETE FROM items WHERE id > 250`)
	cdctest.Exec(t, dsn, `BEGIN; UPDATE items SET status = 'gone' WHERE id % 2 = 0; INSERT INTO items VALUES (1000, 'gone too', 1, 'x');
		TRUNCATE items; INSERT INTO items SELECT g, 'after', g, repeat('y', 3000) FROM generate_series(2001, 2040) g;
		DELETE FROM items WHERE id = 2002; COMMIT`)
	for _, fp := range []string{"iceberg.commit=kill", "engine.before-state-commit=kill"} {
		out, wait := stream("JETFLOW_FAILPOINTS=" + fp)
		if r := wait(); !r.killed || !strings.Contains(out.String(), "failpoint") {
			t.Fatalf("%s: the stream exited %d, not killed by the failpoint:\n%s", fp, r.code, r.stdout)
		}
	}
	tbl := lakeTableAt(t, dir)
	if tbl.Properties()["jetflow.merge.truncated-before"] == "" {
		t.Fatal("the partition committed before the kill did not clear the table (no jetflow.merge.truncated-before)")
	}

	w := cdctest.StartWriter(dsn, 41, 2040)
	_, stop = stream()
	time.Sleep(time.Second)
	w.Finish(t)
	if r := stop(); r.code != exitOK {
		t.Fatalf("the stream after the kills exited %d:\n%s", r.code, r.stdout)
	}
	want := cdctest.TableRows(t, dsn)
	duck := testkit.IcebergDuckDBRows(t, lakeTableAt(t, dir), `id || '|' || status || '|' || coalesce(n::VARCHAR, '') || '|' || coalesce(md5(payload), '')`)
	if !slices.Equal(duck, want) {
		t.Errorf("DuckDB over the data files minus the position deletes reads the lake unlike SELECT * FROM items:\n%s", cdctest.Diff(want, duck))
	}
}

// lakeTableAt loads the Iceberg table lake.items under dir/wh.
func lakeTableAt(t *testing.T, dir string) *table.Table {
	t.Helper()
	l, err := iceberg.New(stage.BuildContext{Pipeline: "items", Alloc: memory.NewGoAllocator()},
		&iceberg.Config{Catalog: iceberg.CatalogConfig{Warehouse: filepath.Join(dir, "wh")}, Table: "lake.items"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tbl, err := l.LoadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}
