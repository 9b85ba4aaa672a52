package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"testing"

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
		c.Merge.KeepSnapshots = 2
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
	compactDeletesHook = func(attempt int) {
		if attempt == 0 {
			load("1:sent@15:00", "7:gone!@15:00")
		}
	}
	t.Cleanup(func() { compactDeletesHook = nil })
	res, err := l.CompactMerged(ctx)
	compactDeletesHook = nil
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || res.DataFiles == 0 {
		t.Errorf("result %+v: want the data files rewritten in a second attempt", res)
	}
	check("after a compaction that conflicted")
	if _, dels := snapshotFiles(t, l); len(dels) != 0 {
		t.Errorf("delete files remain after the compaction: %v", dels)
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
