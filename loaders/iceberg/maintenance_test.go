package iceberg

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/testkit"
)

// `jetflow iceberg compact` and `expire-snapshots` run beside writers of the table, such as a stream that commits
// every roll. A writer's commit before theirs makes them commit again on the new head instead of failing (a
// compaction keeps its rewrite while the files it replaces are live, and plans again once one was replaced), and
// the table still holds every partition's rows once, as iceberg-go's scanner and DuckDB read it.
func TestMaintenanceBesideWriter(t *testing.T) {
	type step func(t *testing.T, n int, put func(key string, rec arrow.RecordBatch), mem memory.Allocator)
	newPartitions := func(count int) step {
		return func(t *testing.T, n int, put func(string, arrow.RecordBatch), mem memory.Allocator) {
			if n < count {
				put(fmt.Sprint(100+n), orders(t, mem, 3000+n*30, 30))
			}
		}
	}
	for _, tc := range []struct {
		name         string
		expire       bool // expire-snapshots, else compact
		before       step // runs before the n-th commit attempt (counted over plans), with put loading a partition
		wantAttempts int  // commits tried by the plan that committed
	}{
		{name: "compact: partitions commit before its first three attempts", before: newPartitions(3), wantAttempts: 4},
		{name: "compact: a re-run replaces a file it rewrote", before: func(t *testing.T, n int, put func(string, arrow.RecordBatch), mem memory.Allocator) {
			if n == 0 {
				put("4", orders(t, mem, 5000, 7))
			}
		}, wantAttempts: 1},
		{name: "expire-snapshots: a partition commits before its first attempt", expire: true, before: newPartitions(1), wantAttempts: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			dir := t.TempDir()
			edit := func(c *Config) { c.PartitionBy = []string{"tenant_id"} }
			writer, maint := newLoader(t, dir, edit), newLoaderAlloc(t, dir, mem, edit)

			want := newExpected(t, writer)
			defer want.release()
			put := want.put
			for i := range 6 {
				put(fmt.Sprint(i), orders(t, mem, i*30, 30))
			}
			n := 0
			maintenanceCommitHook = func(int) { tc.before(t, n, put, mem); n++ }
			t.Cleanup(func() { maintenanceCommitHook = nil })

			attempts := 0
			if tc.expire {
				res, err := maint.ExpireSnapshots(ctx, ExpireOptions{RetainLast: 2})
				if err != nil {
					t.Fatal(err)
				}
				if res.Remaining != 2 || res.Expired == 0 {
					t.Errorf("expiry %+v: want all but 2 snapshots expired", res)
				}
				attempts = res.Attempts
			} else {
				res, err := maint.Compact(ctx, 0, 2)
				if err != nil {
					t.Fatal(err)
				}
				if res.Groups != 3 || res.FilesAdded != 3 {
					t.Errorf("compaction %+v: want 3 Iceberg partitions rewritten into 3 files", res)
				}
				attempts = res.Attempts
			}
			maintenanceCommitHook = nil
			if attempts != tc.wantAttempts {
				t.Errorf("committed at attempt %d, want %d", attempts, tc.wantAttempts)
			}
			want.assertHeld(t, "after", maint, mem)
			// A later re-run still replaces its rows, in compacted files too.
			put("2", orders(t, mem, 7000, 5))
			want.assertHeld(t, "re-run of 2 after", maint, mem)
		})
	}

	// A writer committing all along, as a stream does: every maintenance run succeeds.
	t.Run("a writer commits all along", func(t *testing.T) {
		ctx := context.Background()
		mem := memory.NewGoAllocator()
		dir := t.TempDir()
		edit := func(c *Config) { c.PartitionBy = []string{"tenant_id"} }
		writer, maint := newLoader(t, dir, edit), newLoader(t, dir, edit)
		want := newExpected(t, writer)
		defer want.release()
		recs := make([]arrow.RecordBatch, 30)
		for i := range recs {
			recs[i] = orders(t, mem, i*30, 30)
		}
		for i := range 6 {
			want.put(fmt.Sprint(i), recs[i])
		}
		var wg sync.WaitGroup
		done := make(chan struct{})
		wg.Go(func() {
			defer close(done)
			for i := 6; i < 30; i++ {
				want.put(fmt.Sprint(i), recs[i])
			}
		})
		runs := 0
		for running := true; running; runs++ {
			select {
			case <-done:
				running = false
			default:
			}
			if _, err := maint.Compact(ctx, 0, 2); err != nil {
				t.Fatalf("compaction %d beside the writer: %v", runs+1, err)
			}
			if _, err := maint.ExpireSnapshots(ctx, ExpireOptions{RetainLast: 3}); err != nil {
				t.Fatalf("expiry %d beside the writer: %v", runs+1, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		wg.Wait()
		want.assertHeld(t, "after", maint, mem)
	})
}

// expected is what a table of orders should hold, by jetflow partition key; put loads a partition through the
// writer and records it.
type expected struct {
	t      testing.TB
	writer *Loader
	mu     sync.Mutex
	recs   map[string]arrow.RecordBatch
}

func newExpected(t testing.TB, writer *Loader) *expected {
	return &expected{t: t, writer: writer, recs: map[string]arrow.RecordBatch{}}
}

func (e *expected) put(key string, rec arrow.RecordBatch) {
	e.t.Helper()
	load(e.t, e.writer, key, rec)
	e.record(key, rec)
}

// record sets what the table holds of partition key, which a caller loaded itself.
func (e *expected) record(key string, rec arrow.RecordBatch) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if old := e.recs[key]; old != nil {
		old.Release()
	}
	e.recs[key] = rec
}

func (e *expected) release() {
	for _, r := range e.recs {
		r.Release()
	}
}

// assertHeld checks that l's table holds exactly the expected rows, read by iceberg-go's scanner and by DuckDB
// over the live data files, that each compacted file has its property and each property a live file, and that
// no data file under the table's location is left unreferenced.
func (e *expected) assertHeld(t *testing.T, step string, l *Loader, mem memory.Allocator) {
	t.Helper()
	var all []arrow.RecordBatch
	var rows int64
	for _, k := range slices.Sorted(maps.Keys(e.recs)) {
		all = append(all, e.recs[k])
		rows += e.recs[k].NumRows()
	}
	exp := testkit.ConcatRecords(mem, all)
	defer exp.Release()
	got := scan(t, l, mem, nil)
	if got == nil {
		t.Fatalf("%s: the table has no snapshot", step)
	}
	defer got.Release()
	if d := testkit.DiffRecords(exp, got, testkit.SortBy("id")); d != "" {
		t.Fatalf("%s: iceberg-go's scan differs from what was loaded:\n%s", step, d)
	}
	files := dataFiles(t, l)
	res := testkit.DuckDBQuery(t, "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM read_parquet("+duckList(files)+")")
	if res[0]["n"] != fmt.Sprint(rows) || res[0]["ids"] != fmt.Sprint(rows) {
		t.Fatalf("%s: DuckDB over the %d live files: %v, want %d rows, each id once", step, len(files), res, rows)
	}
	tbl := loadTable(t, l)
	var live, props []string
	for _, f := range files {
		if fileHasTag(f, FileTag(compactedID)) {
			live = append(live, compactedKey(f))
		}
	}
	for k := range tbl.Properties() {
		if strings.HasPrefix(k, PropCompactedPrefix) {
			props = append(props, k)
		}
	}
	slices.Sort(live)
	slices.Sort(props)
	if !slices.Equal(live, props) {
		t.Fatalf("%s: compacted files %v, properties %v", step, live, props)
	}
	orphans, _, err := Orphans(context.Background(), tbl, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range orphans {
		if strings.HasSuffix(f, ".parquet") {
			t.Errorf("%s: data file %s is referenced by no snapshot: a failed attempt left it", step, f)
		}
	}
}

// TestKeepSnapshotsAppend: keep_snapshots bounds an append stream's history as it commits (a Kafka topic into
// Iceberg): once the table holds 4 snapshots more than the count, or than the last expiry left, all but the
// newest go, except the newest of each lane, which a recovery from the lake needs; the rows all stay. With more
// lanes than that margin the expiry still runs every few commits, not after each. 0 keeps every snapshot.
func TestKeepSnapshotsAppend(t *testing.T) {
	for _, tc := range []struct {
		keep, lanes  int // lanes besides events/0, which commits once first and then stays idle
		wantMax      int // snapshots the table holds at most after a commit
		wantExpiries int
	}{
		{keep: 0, lanes: 1, wantMax: 21},
		{keep: 3, lanes: 1, wantMax: 4 + 4, wantExpiries: 3}, // 8 → 4 (the newest 3 and events/0's), then 9 → 4
		{keep: 1, lanes: 6, wantMax: 7 + 4, wantExpiries: 4}, // 6 → 6, then 11 → 7: the 7 lanes' newest stay
	} {
		t.Run(fmt.Sprintf("keep_snapshots %d, %d lanes", tc.keep, tc.lanes+1), func(t *testing.T) {
			ctx := context.Background()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			var logs strings.Builder
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			l := newLoaderWith(t, t.TempDir(), log, mem, func(c *Config) { c.KeepSnapshots = tc.keep })
			commit := func(lane string, offset int) {
				t.Helper()
				p := testkit.PartitionFor(fmt.Sprintf("%s@%d", lane, offset))
				rec := orders(t, mem, offset*10, 10)
				defer rec.Release()
				w, err := l.Begin(ctx, ordersSchema(), p)
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Write(ctx, rec); err != nil {
					t.Fatal(err)
				}
				info := testkit.CommitInfoFor(p, rec.NumRows())
				info.Lane, info.Checkpoint = lane, fmt.Sprint(offset)
				if _, err := w.Commit(ctx, info); err != nil {
					t.Fatal(err)
				}
			}
			most := 0
			commit("events/0", 0)
			for i := 1; i <= 20; i++ {
				commit(fmt.Sprintf("events/%d", 1+(i-1)%tc.lanes), i)
				most = max(most, len(loadTable(t, l).Metadata().Snapshots()))
			}
			if most != tc.wantMax {
				t.Errorf("the table held up to %d snapshots, want %d", most, tc.wantMax)
			}
			if n := strings.Count(logs.String(), "expired snapshots after a commit"); n != tc.wantExpiries {
				t.Errorf("%d expiries over 21 commits, want %d", n, tc.wantExpiries)
			}
			got, err := l.Checkpoints(ctx, "testkit", testkit.RunInstance())
			if err != nil {
				t.Fatal(err)
			}
			if c := got["events/0"]; !slices.Equal(c, []string{"0"}) {
				t.Errorf("lane events/0, idle since the first commit: checkpoints %v, want [0]", c)
			}
			for lane := 1; lane <= tc.lanes; lane++ {
				last := 20 - (20-lane)%tc.lanes // the lane's newest offset
				if c := got[fmt.Sprintf("events/%d", lane)]; len(c) == 0 || c[len(c)-1] != fmt.Sprint(last) {
					t.Errorf("lane events/%d: checkpoints %v, want the newest, %d, last", lane, c, last)
				}
			}
			rows := scan(t, l, mem, nil)
			defer rows.Release()
			if rows.NumRows() != 21*10 {
				t.Errorf("%d rows, want %d", rows.NumRows(), 21*10)
			}
		})
	}
}
