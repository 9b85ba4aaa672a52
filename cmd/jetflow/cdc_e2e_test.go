package main

import (
	"context"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"
	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/loaders/iceberg"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/cdctest"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// TestCDCKilledAndRestarted streams a table's changes into Iceberg with `jetflow run --stream` while a writer
// makes multi-row transactions of inserts, updates (with and without the TOASTed column) and deletes, and
// SIGKILLs the stream ten times at random moments (the first once the initial load is committed) before
// restarting it. Once the
// writer stops, the last stream catches up and the Iceberg table equals SELECT * FROM items, read by iceberg-go's
// scanner and by DuckDB applying the position delete files itself. Then cdc status
// reports the slot. The slot is then dropped under the stream, which stops with exit 4 saying what to do; cdc
// drop and a new start load the table again, and the lake equals the table once more.
func TestCDCKilledAndRestarted(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Start(t).CreateDatabase(t)
	cdctest.CreateItems(t, dsn, 20000)
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", cdctest.Pipeline("wh", "500ms", ""))
	env := []string{"PG_DSN=" + dsn}
	w := cdctest.StartWriter(dsn, 11, 20000)
	rng := rand.New(rand.NewPCG(5, 5))
	for round := range 10 {
		cmd := command(dir, env, "run", "p.yaml", "--stream")
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			// The initial load must commit whole once: a kill in the middle makes the next start load again from
			// a new snapshot, and rows deleted in between stay in the lake (docs/CDC.md says so).
			waitFor(t, "the initial load and a first stream partition", 3*time.Minute, func() bool {
				return strings.Count(out.String(), "partition committed") >= 4
			})
		}
		time.Sleep(time.Duration(300+rng.IntN(2500)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		r := finish(t, cmd, cmd.Wait(), out.String(), "")
		if !r.killed {
			t.Fatalf("round %d: the stream ended before SIGKILL (code %d):\n%s", round, r.code, r.stdout)
		}
	}
	cmd := command(dir, env, "run", "p.yaml", "--stream")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	w.Finish(t)
	t.Logf("writer: %d transactions", w.Txns)

	want := cdctest.TableRows(t, dsn)
	tbl := waitLakeEqual(t, dir, want, cmd, &out)
	duck := testkit.IcebergDuckDBRows(t, tbl, `id || '|' || status || '|' || coalesce(n::VARCHAR, '') || '|' || coalesce(md5(payload), '')`)
	if !slices.Equal(duck, want) {
		t.Errorf("DuckDB over the data files minus the position deletes reads the lake unlike SELECT * FROM items:\n%s", cdctest.Diff(want, duck))
	}

	st := jetflow(t, dir, env, "cdc", "status", "p.yaml").must(t, exitOK)
	for _, s := range []string{"slot items_lake: active (pid ", "confirmed  0/", "last commit: 0/"} {
		if !strings.Contains(st.stdout, s) {
			t.Errorf("cdc status does not say %q:\n%s", s, st.stdout)
		}
	}
	// A slot dropped under the stream (its walsender terminated first, as a DBA must): the stream stops, saying
	// the initial load must be redone and how; cdc drop then makes the next start load the table again.
	dropSlot(t, dsn, "items_lake")
	r := finish(t, cmd, cmd.Wait(), out.String(), "")
	if r.code != exitError || !strings.Contains(r.stdout, "replication slot dropped") || !strings.Contains(r.stdout, "initial load must be redone") ||
		!strings.Contains(r.stdout, "jetflow cdc drop") {
		t.Fatalf("a stream whose slot was dropped exited %d saying:\n%s", r.code, r.stdout)
	}
	st = jetflow(t, dir, env, "cdc", "status", "p.yaml").must(t, exitOK)
	if !strings.Contains(st.stdout, "slot items_lake: does not exist") {
		t.Errorf("cdc status of a dropped slot:\n%s", st.stdout)
	}
	dr := jetflow(t, dir, env, "cdc", "drop", "p.yaml").must(t, exitOK)
	if !strings.Contains(dr.stdout, "dropped publication items_lake\n") || !strings.Contains(dr.stdout, "loads the table again") {
		t.Errorf("cdc drop:\n%s", dr.stdout)
	}
	cdctest.Exec(t, dsn, `UPDATE items SET n = n + 100 WHERE id % 7 = 0`, `INSERT INTO items VALUES (1000000, 'late', 1, 'x')`)
	cmd = command(dir, env, "run", "p.yaml", "--stream")
	out = syncBuffer{}
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitLakeEqual(t, dir, cdctest.TableRows(t, dsn), cmd, &out)
	cmd.Process.Signal(syscall.SIGTERM)
	if r := finish(t, cmd, cmd.Wait(), out.String(), ""); r.code != exitOK {
		t.Fatalf("stream stopped by SIGTERM exited %d:\n%s", r.code, r.stdout)
	}
	st = jetflow(t, dir, env, "cdc", "status", "p.yaml").must(t, exitOK)
	if !strings.Contains(st.stdout, "slot items_lake: inactive") {
		t.Errorf("cdc status of a stopped stream:\n%s", st.stdout)
	}
}

// TestCDCInitialLoadKilled SIGKILLs `jetflow run --stream` twice in the middle of its initial load (read in
// eight partitions one at a time) while a writer inserts, updates and deletes: each restart loads the table
// again on the slot the first start created, the stream then starts at the slot's consistent point, and the
// lake ends equal to the table (rows deleted between the starts included).
func TestCDCInitialLoadKilled(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Start(t).CreateDatabase(t)
	cdctest.CreateItems(t, dsn, 20000)
	dir := t.TempDir()
	p := strings.NewReplacer("count: 3", "count: 8", "slot: items_lake", "slot: items_reload").
		Replace(cdctest.Pipeline("wh", "500ms", "    snapshot_workers: 1\n"))
	writeFile(t, dir, "p.yaml", p)
	env := []string{"PG_DSN=" + dsn}
	w := cdctest.StartWriter(dsn, 12, 20000)
	for round := range 3 {
		cmd := command(dir, env, "run", "p.yaml", "--stream")
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if round == 2 {
			time.Sleep(time.Second)
			w.Finish(t)
			waitLakeEqual(t, dir, cdctest.TableRows(t, dsn), cmd, &out)
			cmd.Process.Signal(syscall.SIGTERM)
			if r := finish(t, cmd, cmd.Wait(), out.String(), ""); r.code != exitOK {
				t.Fatalf("stream stopped by SIGTERM exited %d:\n%s", r.code, r.stdout)
			}
			if !strings.Contains(out.String(), "an interrupted initial load") {
				t.Errorf("the last start did not resume an interrupted initial load:\n%s", out.String())
			}
			return
		}
		waitFor(t, "a first partition of the initial load", 3*time.Minute, func() bool {
			return strings.Contains(out.String(), "partition committed")
		})
		cmd.Process.Signal(syscall.SIGKILL)
		r := finish(t, cmd, cmd.Wait(), out.String(), "")
		if n := strings.Count(r.stdout, "partition committed"); !r.killed || n >= 8 {
			t.Fatalf("round %d: want a kill within the initial load, got %d partitions committed (killed: %v):\n%s", round, n, r.killed, r.stdout)
		}
		time.Sleep(500 * time.Millisecond) // the writer deletes rows the killed load committed
	}
}

// waitLakeEqual waits until the Iceberg table lake.items under dir/wh holds want, killing the stream cmd and
// failing with the difference and its log after two minutes. It returns the table.
func waitLakeEqual(t *testing.T, dir string, want []string, cmd *exec.Cmd, out *syncBuffer) *table.Table {
	t.Helper()
	l, err := iceberg.New(stage.BuildContext{Pipeline: "items", Alloc: memory.NewGoAllocator()},
		&iceberg.Config{Catalog: iceberg.CatalogConfig{Warehouse: filepath.Join(dir, "wh")}, Table: "lake.items"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var got []string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		tbl, err := l.LoadTable(context.Background())
		if err == nil {
			if got = cdctest.LakeRows(t, tbl); slices.Equal(got, want) {
				return tbl
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the lake is not SELECT * FROM items after two minutes:\n%s\nstream log:\n%s", cdctest.Diff(want, got), out.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// dropSlot terminates the walsender reading slot and drops the slot, trying again while a reconnecting stream
// holds it.
func dropSlot(t *testing.T, dsn, slot string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	waitFor(t, "the slot dropped", time.Minute, func() bool {
		if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active`, slot); err != nil {
			t.Fatal(err)
		}
		_, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot($1)`, slot)
		return err == nil
	})
}
