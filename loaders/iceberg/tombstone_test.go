package iceberg

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"

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

// tombstoneFileInfo reads tombstone file p of l's table: its keys in file order, its row groups, and whether its
// footer marks it as in key order.
func tombstoneFileInfo(t *testing.T, l *Loader, p string) (keys []int64, rowGroups int, sorted bool) {
	t.Helper()
	ctx := context.Background()
	tbl := loadTable(t, l)
	fs, err := tbl.FS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := &mergeWriter{l: l, schema: mergeSchema()}
	f, err := w.openTombstones(fs, p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	err = w.eachTombstone(ctx, f, nil, func(_ []byte, rec arrow.RecordBatch, row int, _ ordVal) {
		keys = append(keys, valueAt(rec.Column(0), row).i)
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys, f.fr.ParquetReader().MetaData().NumRowGroups(), f.sorted
}

// TestMergeTombstonesByKeyRange: tombstone files are written in key order, in row groups of tombRowGroup rows,
// and a merge reads only the row groups whose key range can hold one of its keys; so a stream that deletes its
// oldest keys, whose changes are all of newer keys, reads none of its tombstones however many it has.
func TestMergeTombstonesByKeyRange(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	l, load := tombstoneLoader(t, mem)
	n := 2*tombRowGroup + 100
	var rows []string
	for k := n; k >= 1; k-- { // in the reverse of key order
		rows = append(rows, fmt.Sprintf("%d:gone!@12:00", k))
	}
	load("deletes", rows...)
	files := tombstoneFiles(loadTable(t, l).Metadata())
	if len(files) != 1 {
		t.Fatalf("%d tombstone files, want 1", len(files))
	}
	keys, groups, sorted := tombstoneFileInfo(t, l, files[0])
	if len(keys) != n || !slices.IsSorted(keys) || !sorted || groups != 3 {
		t.Fatalf("the tombstone file holds %d keys (sorted: %v, marked sorted: %v) in %d row groups; want %d in key order, marked, in 3",
			len(keys), slices.IsSorted(keys), sorted, groups, n)
	}
	tbl := loadTable(t, l)
	fs, err := tbl.FS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w := &mergeWriter{l: l, schema: mergeSchema()}
	f, err := w.openTombstones(fs, files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	kv := func(ks ...int64) []ordVal {
		var out []ordVal
		for _, k := range ks {
			out = append(out, ordVal{kind: kInt, i: k})
		}
		return out
	}
	for _, c := range []struct {
		keys []int64
		want []int
	}{
		{[]int64{int64(n) + 1, int64(n) + 500}, nil},             // newer keys: none
		{[]int64{tombRowGroup + 10}, []int{1}},                   // the second row group's
		{[]int64{5, int64(n)}, []int{0, 2}},                      // the first's and the last's
		{[]int64{-3, 0, int64(n) + 1}, nil},                      // around the range
		{[]int64{1, tombRowGroup + 1, int64(n)}, []int{0, 1, 2}}, // each
	} {
		if got := f.rowGroups(kv(c.keys...)); !slices.Equal(got, c.want) {
			t.Errorf("keys %v: row groups %v read, want %v", c.keys, got, c.want)
		}
	}
	// Deleted keys stay deleted, and the changes of newer keys go in.
	load("late", "1:late@11:00", fmt.Sprintf("%d:late@11:00", tombRowGroup+10), fmt.Sprintf("%d:new@12:30", n+1))
	if got, want := mergeState(t, l, mem, false), []string{fmt.Sprintf("%d:new@12:30", n+1)}; !slices.Equal(got, want) {
		t.Fatalf("table holds %v, want %v", got, want)
	}
}

// TestMergeTombstonesFoldTiers: a fold takes the newest files and an older one only while it holds no more
// tombstones than those together, so a large file of tombstones is not rewritten at every fold (a stream that
// deletes keys for good folded every tombstone it ever wrote every tombstoneFold commits); the table still
// equals the serial run.
func TestMergeTombstonesFoldTiers(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	l, load := tombstoneLoader(t, mem)
	var rows []string
	for k := 1000; k < 1500; k++ {
		rows = append(rows, fmt.Sprintf("%d:gone!@12:00", k))
	}
	load("big", rows...)
	big := tombstoneFiles(loadTable(t, l).Metadata())
	for k := 1; k <= tombstoneFold; k++ {
		load(fmt.Sprint("d", k), fmt.Sprintf("%d:gone!@12:00", k), fmt.Sprintf("%d:gone!@12:00", 2000+k))
	}
	files := tombstoneFiles(loadTable(t, l).Metadata())
	if len(files) != 2 || files[0] != big[0] {
		t.Fatalf("after %d small delete commits: tombstone files %v; want the large one (%s) kept and the small ones folded into one", tombstoneFold, files, big[0])
	}
	keys, _, sorted := tombstoneFileInfo(t, l, files[1])
	if len(keys) != 2*tombstoneFold || !slices.IsSorted(keys) || !sorted {
		t.Fatalf("the folded file holds keys %v (marked sorted: %v); want the %d small commits' in order", keys, sorted, 2*tombstoneFold)
	}
	// A newer row of a key of the large file supersedes its tombstone: that file is folded too.
	load("back", "1200:back@13:00")
	files = tombstoneFiles(loadTable(t, l).Metadata())
	keys, _, _ = tombstoneFileInfo(t, l, files[0])
	if len(files) != 1 || len(keys) != 500-1+2*tombstoneFold || slices.Contains(keys, 1200) {
		t.Fatalf("after a superseded tombstone: %d files, %d tombstones; want 1 file of %d, without key 1200", len(files), len(keys), 500-1+2*tombstoneFold)
	}
	late := []string{"1:late@11:00", "1000:late@11:00", "1499:late@11:00", "2003:late@11:00", "1200:late@12:30"}
	load("late", late...)
	if got, want := mergeState(t, l, mem, true), []string{"1200:back@13:00"}; !slices.Equal(got, want) {
		t.Fatalf("table holds %v, want %v", got, want)
	}
}

// TestMergeTombstonesFoldUnsorted: a tombstone file without the key order mark (as jetflow wrote them before) is
// sorted in memory when a fold takes it; its tombstones stay in force, the newest of each key.
func TestMergeTombstonesFoldUnsorted(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	l, load := tombstoneLoader(t, mem)
	ctx := context.Background()
	load("first", "7:gone!@12:00")
	tbl := loadTable(t, l)
	fs, err := tbl.FS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// An unsorted file of keys 9, 3 (twice: 11:00 and 12:00), 5, in place of the first commit's, and larger than
	// the files after it: the first fold takes it all the same.
	w := &mergeWriter{l: l, schema: mergeSchema()}
	sc, idx := w.tombstoneSchema()
	old := []string{"9:gone!@12:00", "3:gone!@11:00", "5:gone!@12:00", "3:gone!@12:00"}
	for k := 1000; k > 990; k-- {
		old = append(old, fmt.Sprintf("%d:gone!@12:00", k))
	}
	b := mergeRows(t, mem, old...)
	defer b.Release()
	cols := make([]arrow.Array, len(idx))
	for i, c := range idx {
		cols[i] = b.Column(c)
	}
	rec := array.NewRecordBatch(sc, cols, b.NumRows())
	defer rec.Release()
	p := tombstoneDir(tbl.Location()) + "jetflow-tombstones-unsorted.parquet"
	if _, _, err := writeParquet(fs.(icebergio.WriteFileIO), p, sc, mem, func(fw *pqarrow.FileWriter) error { return fw.WriteBuffered(rec) }); err != nil {
		t.Fatal(err)
	}
	txn := tbl.NewTransaction()
	if err := txn.SetProperties(iceberg.Properties{tombstoneProp: "jetflow-tombstones-unsorted.parquet"}); err != nil {
		t.Fatal(err)
	}
	if _, err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, sorted := tombstoneFileInfo(t, l, p); sorted {
		t.Fatal("the unsorted file is marked sorted")
	}
	for k := 1; k <= tombstoneFold; k++ {
		load(fmt.Sprint("d", k), fmt.Sprintf("%d:gone!@12:00", 100+k))
	}
	files := tombstoneFiles(loadTable(t, l).Metadata())
	if len(files) != 1 {
		t.Fatalf("%d tombstone files, want 1 (folded)", len(files))
	}
	keys, _, sorted := tombstoneFileInfo(t, l, files[0])
	if want := []int64{3, 5, 9, 101, 102, 103, 104, 105, 106, 107, 108, 991, 992, 993, 994, 995, 996, 997, 998, 999, 1000}; !slices.Equal(keys, want) || !sorted {
		t.Fatalf("folded keys %v (marked sorted: %v), want %v", keys, sorted, want)
	}
	load("late", "3:late@11:30", "5:late@11:00", "9:new@12:30")
	if got, want := mergeState(t, l, mem, false), []string{"9:new@12:30"}; !slices.Equal(got, want) {
		t.Fatalf("table holds %v, want %v", got, want)
	}
}
