package main

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/loaders/iceberg"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/cdctest"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// TestCDCKilledAndRestarted streams a table's changes into Iceberg with `jetflow run --stream` while a writer
// makes multi-row transactions of inserts, updates (with and without the TOASTed column) and deletes, and
// SIGKILLs the stream ten times at random moments (the first once the initial load is committed) before
// restarting it. Once the
// writer stops, the last stream catches up and the Iceberg table equals SELECT * FROM items, read by iceberg-go's
// scanner and by DuckDB applying the position delete files itself. Then cdc status
// reports the slot, cdc drop drops it, and a stream of the dropped slot stops with exit 4 saying what to do.
func TestCDCKilledAndRestarted(t *testing.T) {
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

	l, err := iceberg.New(stage.BuildContext{Pipeline: "items", Alloc: memory.NewGoAllocator()},
		&iceberg.Config{Catalog: iceberg.CatalogConfig{Warehouse: filepath.Join(dir, "wh")}, Table: "lake.items"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want := cdctest.TableRows(t, dsn)
	var got []string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		tbl, err := l.LoadTable(context.Background())
		if err == nil {
			got = cdctest.LakeRows(t, tbl)
			if slices.Equal(got, want) {
				break
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the lake is not SELECT * FROM items two minutes after the writer stopped:\n%s\nstream log:\n%s", cdctest.Diff(want, got), out.String())
		}
		time.Sleep(500 * time.Millisecond)
	}

	tbl, err := l.LoadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	duck := duckDBLiveRows(t, tbl, `id || '|' || status || '|' || coalesce(n::VARCHAR, '') || '|' || coalesce(md5(payload), '')`)
	if !slices.Equal(duck, want) {
		t.Errorf("DuckDB over the data files minus the position deletes reads the lake unlike SELECT * FROM items:\n%s", cdctest.Diff(want, duck))
	}

	st := jetflow(t, dir, env, "cdc", "status", "p.yaml").must(t, exitOK)
	for _, s := range []string{"slot items_lake: active (pid ", "confirmed  0/", "last commit: 0/"} {
		if !strings.Contains(st.stdout, s) {
			t.Errorf("cdc status does not say %q:\n%s", s, st.stdout)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if r := finish(t, cmd, cmd.Wait(), out.String(), ""); r.code != exitOK {
		t.Fatalf("stream stopped by SIGTERM exited %d:\n%s", r.code, r.stdout)
	}
	st = jetflow(t, dir, env, "cdc", "status", "p.yaml").must(t, exitOK)
	if !strings.Contains(st.stdout, "slot items_lake: inactive") {
		t.Errorf("cdc status of a stopped stream:\n%s", st.stdout)
	}
	dr := jetflow(t, dir, env, "cdc", "drop", "p.yaml").must(t, exitOK)
	if !strings.Contains(dr.stdout, "dropped slot items_lake\ndropped publication items_lake\n") {
		t.Errorf("cdc drop:\n%s", dr.stdout)
	}
	r := jetflow(t, dir, env, "run", "p.yaml", "--stream").must(t, exitError)
	if !strings.Contains(r.stderr, "replication slot dropped") || !strings.Contains(r.stderr, "new name") {
		t.Errorf("a stream of a dropped slot says:\n%s", r.stderr)
	}
}
