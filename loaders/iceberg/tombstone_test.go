package iceberg

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/testkit"
)

// tombstoneParts are partitions whose outcome depends on the commit order unless deletes leave tombstones.
// Serially in version order: key 1 new, paid, deleted (11:30); key 2 new, deleted (11:00), back (12:00); key 3
// new, late (11:00), deleted (12:00); key 4 deleted while missing (11:00), its older insert (10:30) must not
// come back; key 5 new, updated; key 6 deleted while missing (09:00), then inserted newer (09:30).
var tombstoneParts = [][]string{
	{"1:new@10:00", "2:new@10:00", "3:new@10:00", "5:new@10:00"},
	{"1:paid@11:00", "2:gone!@11:00", "4:gone!@11:00", "6:gone!@09:00"},
	{"2:back@12:00", "3:gone!@12:00", "4:new@10:30", "6:new@09:30"},
	{"1:gone!@11:30", "3:late@11:00", "5:upd@10:30"},
}

var tombstoneWant = []string{"2:back@12:00", "5:upd@10:30", "6:new@09:30"}

// TestMergeTombstonesAnyOrder commits the partitions above in every order (merge_on_read) and in a few orders
// (copy_on_write): the table always equals the serial run in version order, so a delete followed by a late
// older row of its key never brings the key back.
func TestMergeTombstonesAnyOrder(t *testing.T) {
	var orders [][]int
	var perm func(prefix, rest []int)
	perm = func(prefix, rest []int) {
		if len(rest) == 0 {
			orders = append(orders, prefix)
			return
		}
		for i := range rest {
			perm(append(slices.Clip(prefix), rest[i]), append(slices.Clone(rest[:i]), rest[i+1:]...))
		}
	}
	perm(nil, []int{0, 1, 2, 3})
	for _, strategy := range []string{"merge_on_read", "copy_on_write"} {
		for n, order := range orders {
			if strategy == "copy_on_write" && n%6 != 0 {
				continue
			}
			t.Run(fmt.Sprintf("%s/%v", strategy, order), func(t *testing.T) {
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				defer mem.AssertSize(t, 0)
				l := newLoader(t, t.TempDir(), func(c *Config) {
					c.Mode, c.Key, c.VersionBy, c.DeleteWhen, c.PartitionBy = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null", []string{"bucket(2, order_id)"}
					c.Merge.Strategy = strategy
				})
				for _, i := range order {
					b := mergeRows(t, mem, tombstoneParts[i]...)
					testkit.LoadPartition(context.Background(), t, l, mergeSchema(), testkit.PartitionFor(fmt.Sprint("p", i)), b)
					b.Release()
				}
				// A re-run of every partition, in the same order, changes nothing.
				for _, i := range order {
					b := mergeRows(t, mem, tombstoneParts[i]...)
					testkit.LoadPartition(context.Background(), t, l, mergeSchema(), testkit.PartitionFor(fmt.Sprint("p", i)), b)
					b.Release()
				}
				if got := mergeState(t, l, mem, n == 0); !slices.Equal(got, tombstoneWant) {
					t.Fatalf("committed in order %v, the table holds\n%v\nwant (serial in version order)\n%v", order, got, tombstoneWant)
				}
			})
		}
	}
}

// tombstoneLoader is a merge loader of mergeSchema's rows (key order_id, version updated_at, deleted when
// deleted_at is set) and load, which commits rows ("id:status@hh:mm") as the partition key.
func tombstoneLoader(t *testing.T, mem memory.Allocator) (*Loader, func(key string, rows ...string)) {
	l := newLoader(t, t.TempDir(), func(c *Config) {
		c.Mode, c.Key, c.VersionBy, c.DeleteWhen = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null"
	})
	return l, func(key string, rows ...string) {
		b := mergeRows(t, mem, rows...)
		defer b.Release()
		testkit.LoadPartition(context.Background(), t, l, mergeSchema(), testkit.PartitionFor(key), b)
	}
}

// TestMergeTombstonesFold: every delete commit adds a tombstone file until more than tombstoneFold are live,
// when a commit folds them into one; a newer row of a tombstoned key folds too and drops its tombstone, so
// the tombstones are the keys whose newest event is a delete. Folding keeps every other tombstone in force.
func TestMergeTombstonesFold(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	l, load := tombstoneLoader(t, mem)
	ctx := context.Background()
	files := func() []string { return tombstoneFiles(loadTable(t, l).Metadata()) }
	var snaps []int64
	for k := 1; k <= tombstoneFold; k++ {
		load(fmt.Sprint("d", k), fmt.Sprintf("%d:gone!@12:00", k))
		if got := len(files()); got != k {
			t.Fatalf("after %d delete commits: %d tombstone files, want %d", k, got, k)
		}
		// A commit that only leaves tombstones still makes a snapshot, which concurrent merges conflict with.
		s := loadTable(t, l).CurrentSnapshot()
		if s == nil || slices.Contains(snaps, s.SnapshotID) {
			t.Fatalf("the delete commit %d of a missing key made no snapshot of its own", k)
		}
		snaps = append(snaps, s.SnapshotID)
	}
	load("d9", "9:gone!@12:00")
	if got := files(); len(got) != 1 {
		t.Fatalf("past %d files: %d tombstone files, want them folded into 1", tombstoneFold, len(got))
	}
	load("back", "3:back@13:00") // newer than key 3's tombstone: it goes in, and its tombstone goes
	fs := files()
	if len(fs) != 1 {
		t.Fatalf("a superseded tombstone: %d tombstone files, want 1 (folded)", len(fs))
	}
	// Every older row of the other deleted keys stays out; key 3's older row loses to its stored newer row.
	var late []string
	for k := 1; k <= 9; k++ {
		late = append(late, fmt.Sprintf("%d:late@11:00", k))
	}
	load("late", late...)
	if got, want := mergeState(t, l, mem, true), []string{"3:back@13:00"}; !slices.Equal(got, want) {
		t.Fatalf("after late older rows: table holds %v, want %v", got, want)
	}
	tbl := loadTable(t, l)
	w := &mergeWriter{l: l, schema: mergeSchema()}
	var keys []string
	tfs, err := tbl.FS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tombstoneFiles(tbl.Metadata()) {
		if err := w.readTombstones(ctx, tfs, p, func(_ []byte, rec arrow.RecordBatch, row int, _ ordVal) {
			keys = append(keys, testkit.CellText(rec.Column(0), row))
		}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(keys)
	if want := []string{"1", "2", "4", "5", "6", "7", "8", "9"}; !slices.Equal(keys, want) {
		t.Fatalf("tombstones of keys %v, want %v (key 3 came back newer)", keys, want)
	}
	// The live tombstone files are no orphans.
	orphans, _, err := Orphans(ctx, tbl, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orphans {
		if strings.Contains(o, fs[0][strings.LastIndexByte(fs[0], '/')+1:]) {
			t.Fatalf("the live tombstone file %s is listed as an orphan", o)
		}
	}
}

// TestMergeTombstonesFoldNewest: a key deleted again at a newer version has two tombstones until the next fold,
// which keeps the newest alone: a late row older than the second delete (but newer than the first) stays out,
// and every key keeps one tombstone, its newest.
func TestMergeTombstonesFoldNewest(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	l, load := tombstoneLoader(t, mem)
	ctx := context.Background()
	load("first", "1:gone!@12:00", "2:gone!@12:00", "3:gone!@12:00")
	load("again", "2:gone!@13:00", "3:gone!@11:00") // key 3's is older than its tombstone: no new one
	for k := range tombstoneFold - 1 {              // new keys' deletes until a fold
		load(fmt.Sprint("d", k), fmt.Sprintf("%d:gone!@12:00", 10+k))
	}
	tbl := loadTable(t, l)
	if got := len(tombstoneFiles(tbl.Metadata())); got != 1 {
		t.Fatalf("%d tombstone files, want them folded into 1", got)
	}
	w := &mergeWriter{l: l, schema: mergeSchema()}
	tfs, err := tbl.FS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, p := range tombstoneFiles(tbl.Metadata()) {
		if err := w.readTombstones(ctx, tfs, p, func(_ []byte, rec arrow.RecordBatch, row int, _ ordVal) {
			k := testkit.CellText(rec.Column(0), row)
			got[k] = append(got[k], testkit.CellText(rec.Column(1), row))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 3+tombstoneFold-1 || len(got["2"]) != 1 || !strings.Contains(got["2"][0], "13:00") || !strings.Contains(got["3"][0], "12:00") {
		t.Fatalf("tombstones after the fold: %v; want one per key, key 2's of 13:00 and key 3's of 12:00", got)
	}
	load("late", "2:late@12:30", "3:late@11:30", "1:late@12:00")
	if got := mergeState(t, l, mem, false); len(got) != 0 {
		t.Fatalf("late rows older than their keys' deletes went in: %v", got)
	}
}
