package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math/bits"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/testkit"
)

// TestCompactMerged: with merge.compact_every, every third merge commit is followed by a compaction snapshot that
// leaves one data file per Iceberg partition and no delete file, and the table reads the same (iceberg-go's
// scanner, DuckDB over the data and delete files) as the merges alone make it, before and after, and after more
// merges. A merge that commits while a compaction is between planning and commit makes it plan again on the new
// head, and its changes stay.
func TestCompactMerged(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	l := newOrdersMergeLoader(t, func(c *Config) {
		c.Merge.CompactEvery = 3
		c.KeepSnapshots = 2
	})
	model := map[string]string{}
	step := 0
	load := func(rows ...string) {
		t.Helper()
		step++
		b := mergeRows(t, mem, rows...)
		testkit.LoadPartition(ctx, t, l, mergeSchema(), testkit.PartitionFor(fmt.Sprintf("p%d", step)), b)
		b.Release()
		for _, r := range rows {
			if slices.Contains([]byte(r), '!') {
				delete(model, r[:1])
			} else {
				model[r[:1]] = r
			}
		}
	}
	check := func(what string) {
		t.Helper()
		if got, want := mergeState(t, l, mem, true), slices.Sorted(maps.Values(model)); !slices.Equal(got, want) {
			t.Fatalf("%s: the table holds %v, want %v", what, got, want)
		}
	}
	compactions := func() int { return compactionCount(t, l) }
	load("1:new@10:00", "2:new@10:00", "3:new@10:00", "4:new@10:00", "5:new@10:00", "6:new@10:00")
	load("2:paid@11:00", "3:gone!@11:00", "7:new@11:00")
	if n := compactions(); n != 0 {
		t.Fatalf("%d compactions after two merges, want none", n)
	}
	check("before the compaction")
	before, _ := snapshotFiles(t, l)
	load("4:paid@12:00", "5:gone!@12:00", "8:new@12:00")
	if n := compactions(); n != 1 {
		t.Fatalf("%d compactions after three merges, want one", n)
	}
	if n := len(loadTable(t, l).Metadata().Snapshots()); n != 2 {
		t.Errorf("%d snapshots after the compaction with keep_snapshots: 2", n)
	}
	data, dels := snapshotFiles(t, l)
	if len(data) > 2 || len(dels) != 0 {
		t.Errorf("after the compaction: %d data files and %d delete files, want at most one data file per bucket and no delete file", len(data), len(dels))
	}
	check("after the compaction")
	load("1:paid@13:00", "6:gone!@13:00")
	load("2:sent@14:00", "9:new@14:00")
	check("after more merges")
	load("3:new@14:30")
	check("after the second compaction")
	// The files the first compaction replaced were used by expired snapshots alone now: deleted.
	for _, f := range before {
		if _, err := os.Stat(f); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("data file %s replaced two compactions ago is still there (%v)", f, err)
		}
	}

	// A merge commits while a compaction is between planning and commit (and runs no compaction of its own).
	l.cfg.Merge.CompactEvery = 0
	load("8:paid@14:45", "2:gone!@14:45")
	res := compactDuring(t, l, func() { load("1:sent@15:00", "7:gone!@15:00") })
	if res.Attempts != 2 || res.DataFiles == 0 {
		t.Errorf("result %+v: want the data files rewritten in a second attempt", res)
	}
	check("after a compaction that conflicted")
	// The files left in place keep one delete file each at most (their own were merged into it).
	if data, dels := snapshotFiles(t, l); len(dels) > len(data) {
		t.Errorf("%d delete files for %d data files after the compaction: %v", len(dels), len(data), dels)
	}
	snap := loadTable(t, l).CurrentSnapshot().SnapshotID
	if again, err := l.CompactMerged(ctx); err != nil || again.DataFiles != 0 || loadTable(t, l).CurrentSnapshot().SnapshotID != snap {
		t.Fatalf("second compaction: %+v, %v; want nothing done and no snapshot", again, err)
	}
}

// TestCompactAfterDeleteFiles: the merges compact before merge.compact_every commits once they have written the
// loader's budget of delete files since the last compaction, and count again from there.
func TestCompactAfterDeleteFiles(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	l := newOrdersMergeLoader(t, func(c *Config) { c.Merge.CompactEvery = 100 })
	l.compactDeletes = 2
	model := map[string]string{}
	// Each update of key 1 deletes its stored row from one data file: one delete file a merge.
	rounds := []struct {
		rows        []string
		compactions int
	}{
		{[]string{"1:new@10:00", "2:new@10:00", "3:new@10:00"}, 0},
		{[]string{"1:paid@11:00"}, 0},
		{[]string{"1:sent@12:00", "2:gone!@12:00"}, 1}, // the second delete file (at least): the budget of two is reached
		{[]string{"1:back@13:00"}, 1},                  // counted from the compaction again
	}
	for i, r := range rounds {
		b := mergeRows(t, mem, r.rows...)
		testkit.LoadPartition(ctx, t, l, mergeSchema(), testkit.PartitionFor(fmt.Sprintf("p%d", i)), b)
		b.Release()
		for _, row := range r.rows {
			if slices.Contains([]byte(row), '!') {
				delete(model, row[:1])
			} else {
				model[row[:1]] = row
			}
		}
		if n := compactionCount(t, l); n != r.compactions {
			t.Fatalf("round %d: %d compactions, want %d", i, n, r.compactions)
		}
		if got, want := mergeState(t, l, mem, true), slices.Sorted(maps.Values(model)); !slices.Equal(got, want) {
			t.Fatalf("round %d: the table holds %v, want %v", i, got, want)
		}
	}
}

// TestCompactMergedIncremental: a stream of merges, each followed by a compaction, has its compactions rewrite
// what the merges wrote since the last one and the compaction outputs of about that size (size tiers), not the
// table: over the rounds the rows rewritten stay within a logarithmic factor of the rows written, far below
// rewriting the table every time, and each partition keeps a logarithmic number of files with at most one delete
// file each (the updates' delete files of the outputs left in place are merged into one). The table reads the
// same before and after each compaction (iceberg-go's scanner, DuckDB over the data and delete files), also when
// a merge commits while a compaction that merges delete files is between planning and commit.
func TestCompactMergedIncremental(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	l := newOrdersMergeLoader(t, func(c *Config) { c.Merge.CompactEvery = 0 }) // compacted below, after each merge
	const rounds, per = 30, 200
	load := func(name string, b arrow.RecordBatch) {
		t.Helper()
		testkit.LoadPartition(ctx, t, l, mergeSchema(), testkit.PartitionFor(name), b)
		b.Release()
	}
	var written, rewritten, full, merged int64
	for r := range rounds {
		// New keys, and an update of three stored keys (one delete file for each data file holding them).
		load(fmt.Sprintf("i%d", r), ordersBatch(mem, r*per+1, (r+1)*per+1, 1, "new", r, false))
		written += per
		if r > 0 {
			load(fmt.Sprintf("u%d", r), ordersBatch(mem, r*7%(r*per)+1, r*per+1, r*per/3+1, "paid", r, false))
			written += 3
		}
		deep := r%10 == 9
		before := mergeState(t, l, mem, false)
		res, err := l.CompactMerged(ctx)
		if err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		rewritten += res.RowsWritten
		full += int64(len(before)) // what rewriting every file at every compaction would write
		merged += int64(res.DeletesMerged)
		if got := mergeState(t, l, mem, deep); !slices.Equal(got, before) {
			t.Fatalf("round %d: the compaction changed the table: %d rows before, %d after", r, len(before), len(got))
		}
		if len(before) != (r+1)*per {
			t.Fatalf("round %d: the table holds %d rows, want %d", r, len(before), (r+1)*per)
		}
	}
	// Each row is rewritten once from the merges' files, then only into a file at least twice the size.
	bound := written * int64(2+bits.Len(uint(rounds)))
	if rewritten > bound || 4*rewritten > full {
		t.Errorf("the compactions rewrote %d rows for %d written; want at most %d, and well below the %d of rewriting the table each time", rewritten, written, bound, full)
	}
	if merged == 0 {
		t.Error("no compaction merged the delete files of a file it left in place")
	}
	checkFiles := func(what string) {
		t.Helper()
		data, dels := snapshotFiles(t, l)
		if max := 2 * (2 + bits.Len(uint(rounds))); len(data) > max || len(dels) > len(data) {
			t.Errorf("%s: %d data files and %d delete files in 2 partitions, want at most %d data files and a delete file each", what, len(data), len(dels), max)
		}
	}
	checkFiles("after the rounds")

	// Updates of files the compactions leave in place, twice (two delete files on each), then a compaction that
	// merges them conflicts with a merge of more updates: it plans again, and every change stays.
	load("x1", ordersBatch(mem, 1, rounds*per+1, 97, "sent", rounds, false))
	load("x2", ordersBatch(mem, 2, rounds*per+1, 89, "sent", rounds+1, false))
	res := compactDuring(t, l, func() { load("x3", ordersBatch(mem, 3, rounds*per+1, 83, "back", rounds+2, false)) })
	if res.Attempts != 2 || res.DeletesMerged == 0 {
		t.Errorf("result %+v: want the delete files merged in a second attempt", res)
	}
	got := mergeState(t, l, mem, true)
	if len(got) != rounds*per {
		t.Fatalf("after the conflicted compaction the table holds %d rows, want %d", len(got), rounds*per)
	}
	for _, row := range got {
		var id int
		if _, err := fmt.Sscanf(row, "%d:", &id); err != nil {
			t.Fatal(err)
		}
		want := "new"
		switch {
		case (id-3)%83 == 0:
			want = "back"
		case (id-2)%89 == 0, (id-1)%97 == 0:
			want = "sent"
		case strings.Contains(row, ":paid-"):
			want = "paid"
		}
		if !strings.Contains(row, ":"+want+"-") {
			t.Errorf("row %s: want status %s", row, want)
		}
	}
	checkFiles("after the conflicted compaction")
}

// compactDuring runs l.CompactMerged with merge committing between its first planning and its commit, which makes
// it plan again on the new head.
func compactDuring(t *testing.T, l *Loader, merge func()) DeletesResult {
	t.Helper()
	maintenanceCommitHook = func(attempt int) {
		if attempt == 0 {
			merge()
		}
	}
	t.Cleanup(func() { maintenanceCommitHook = nil })
	res, err := l.CompactMerged(context.Background())
	maintenanceCommitHook = nil
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestExpiryKeepsEachLanesCheckpoint: the expiry after a compaction (keep_snapshots: 1) keeps, besides the
// newest snapshot, the newest one carrying each stream lane's checkpoint, so a recovery from the lake still finds
// every lane: one idle since the stream's first commit, and one whose newest commit a compaction's snapshot
// followed. The table's history stays bounded by the lanes, not by the commits.
func TestExpiryKeepsEachLanesCheckpoint(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	var logs strings.Builder // the expiries' warnings: none (a second expiry used to fail on files the first deleted)
	l := newLoaderWith(t, t.TempDir(), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})), memory.DefaultAllocator, func(c *Config) {
		c.Mode, c.Key, c.VersionBy, c.DeleteWhen = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null"
		c.PartitionBy = []string{"bucket(2, order_id)"}
		c.Merge.CompactEvery = 3
		c.KeepSnapshots = 1
	})
	commit := func(lane, checkpoint string, rows ...string) {
		t.Helper()
		p := testkit.PartitionFor(lane + "@" + checkpoint)
		w, err := l.Begin(ctx, mergeSchema(), p)
		if err != nil {
			t.Fatal(err)
		}
		b := mergeRows(t, mem, rows...)
		defer b.Release()
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		info := testkit.CommitInfoFor(p, b.NumRows())
		info.Lane, info.Checkpoint = lane, checkpoint
		if _, err := w.Commit(ctx, info); err != nil {
			t.Fatal(err)
		}
	}
	commit("orders/0", "100", "1:new@10:00", "2:new@10:00")
	for i := range 8 { // three compactions, each expiring all but the newest snapshot and the lanes'
		commit("orders/1", fmt.Sprint(i+1), fmt.Sprintf("%d:new@11:%02d", 3+i%4, i))
	}
	// Nine commits: compactions after the third, sixth and ninth, the last after lane orders/1's newest commit.
	if op := loadTable(t, l).CurrentSnapshot().Summary.Properties["jetflow.operation"]; op != "compact-merged" {
		t.Fatalf("the newest snapshot is %q, want the compaction after the ninth commit", op)
	}
	if logs.Len() > 0 {
		t.Errorf("warnings: %s", logs.String())
	}
	got, err := l.Checkpoints(ctx, "testkit", testkit.RunInstance())
	if err != nil {
		t.Fatal(err)
	}
	if c := got["orders/0"]; !slices.Equal(c, []string{"100"}) {
		t.Errorf("lane orders/0, idle since the first commit: checkpoints %v, want [100]", c)
	}
	if c := got["orders/1"]; len(c) == 0 || c[len(c)-1] != "8" {
		t.Errorf("lane orders/1: checkpoints %v, want the newest, 8, last", c)
	}
	if n := len(loadTable(t, l).Metadata().Snapshots()); n > 4 {
		t.Errorf("%d snapshots after the expiries, want the newest, a compaction's, and one per lane at most", n)
	}
	if got, want := mergeState(t, l, mem, true), []string{"1:new@10:00", "2:new@10:00", "3:new@11:04", "4:new@11:05", "5:new@11:06", "6:new@11:07"}; !slices.Equal(got, want) {
		t.Errorf("the table holds %v, want %v", got, want)
	}
}
