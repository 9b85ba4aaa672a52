package iceberg

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// keyScanPartition commits partition key as the engine does with a key scan: StartKeyScan, the source's keys
// (only the key column) of scope, then rows; between the scan and the commit, during runs (another writer's
// commit). It returns what the key scan read of the table.
func keyScanPartition(t *testing.T, l *Loader, mem memory.Allocator, key string, scope stage.KeyScope, sourceKeys []int, rows []string, during func()) *keyScan {
	t.Helper()
	ctx := context.Background()
	p := testkit.PartitionFor(key)
	w, err := l.Begin(ctx, mergeSchema(), p)
	if err != nil {
		t.Fatal(err)
	}
	kw := w.(stage.KeyScanWriter)
	if err := kw.StartKeyScan(ctx, scope); err != nil {
		t.Fatal(err)
	}
	keySchema := arrow.NewSchema([]arrow.Field{{Name: "order_id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	var js []string
	for _, k := range sourceKeys {
		js = append(js, fmt.Sprintf(`{"order_id": %d}`, k))
	}
	kb := testkit.Records(t, mem, keySchema, "["+strings.Join(js, ",")+"]")
	err = kw.WriteKeys(ctx, kb)
	kb.Release()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if len(rows) > 0 {
		b := mergeRows(t, mem, rows...)
		n = b.NumRows()
		err = w.Write(ctx, b)
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if during != nil {
		during()
	}
	if _, err := w.Commit(ctx, testkit.CommitInfoFor(p, n)); err != nil {
		t.Fatal(errorsJoin(err, w.Abort(ctx)))
	}
	return w.(*mergeWriter).ks
}

func errorsJoin(a, b error) error {
	if b == nil {
		return a
	}
	return fmt.Errorf("%w (abort: %v)", a, b)
}

// TestMergeKeyScan: deletes: {detect: key_scan} deletes the keys the source no longer holds, in the partition's
// merge commit, with tombstones; keeps a key committed to the table after the scan started (the scan could not
// see it) and a key updated since; a re-run changes nothing. Arrow memory is all released (checked allocator).
func TestMergeKeyScan(t *testing.T) {
	for _, strategy := range []string{"merge_on_read", "copy_on_write"} {
		t.Run(strategy, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			edit := func(c *Config) {
				c.Mode, c.Key, c.VersionBy, c.DeleteWhen, c.PartitionBy = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null", []string{"bucket(2, order_id)"}
				c.Merge.Strategy, c.Deletes.Detect = strategy, "key_scan"
			}
			dir := t.TempDir()
			l := newLoader(t, dir, edit)
			if got := l.KeyScanColumns(); !slices.Equal(got, []string{"order_id"}) {
				t.Fatalf("KeyScanColumns = %v", got)
			}
			b := mergeRows(t, mem, "1:new@10:00", "2:new@10:00", "3:new@10:00", "4:new@10:00", "5:new@10:00")
			testkit.LoadPartition(context.Background(), t, l, mergeSchema(), testkit.PartitionFor("p1"), b)
			b.Release()

			other := newLoader(t, dir, func(c *Config) { edit(c); c.Deletes.Detect = "none" })
			// The source lost keys 3, 5 and 1; key 1 is updated in the table by another writer after the scan
			// started (newer than what the scan's snapshot of the table held), key 9 inserted: both stay.
			keyScanPartition(t, l, mem, "p2", stage.KeyScope{}, []int{2, 4}, []string{"2:paid@11:00"}, func() {
				b := mergeRows(t, mem, "9:new@11:00", "1:late@12:00")
				testkit.LoadPartition(context.Background(), t, other, mergeSchema(), testkit.PartitionFor("other"), b)
				b.Release()
			})
			want := []string{"1:late@12:00", "2:paid@11:00", "4:new@10:00", "9:new@11:00"}
			if got := mergeState(t, l, mem, true); !slices.Equal(got, want) {
				t.Fatalf("after the key scan the table holds\n%v\nwant\n%v", got, want)
			}
			// A late re-run of p1 (the old rows of 3 and 5) does not bring the deleted keys back: tombstones.
			b = mergeRows(t, mem, "1:new@10:00", "2:new@10:00", "3:new@10:00", "4:new@10:00", "5:new@10:00")
			testkit.LoadPartition(context.Background(), t, other, mergeSchema(), testkit.PartitionFor("p1"), b)
			b.Release()
			if got := mergeState(t, l, mem, false); !slices.Equal(got, want) {
				t.Fatalf("after a re-run of p1 the table holds\n%v\nwant\n%v", got, want)
			}
			// A re-run of p2 whose scan finds every key the table holds deletes nothing.
			keyScanPartition(t, l, mem, "p2", stage.KeyScope{}, []int{1, 2, 4, 9}, []string{"2:paid@11:00"}, nil)
			if got := mergeState(t, l, mem, false); !slices.Equal(got, want) {
				t.Fatalf("after a re-run of p2 the table holds\n%v\nwant\n%v", got, want)
			}
			// A partition without rows whose scan lost keys 1 and 9 deletes them.
			keyScanPartition(t, l, mem, "p3", stage.KeyScope{}, []int{2, 4}, nil, nil)
			if got, want := mergeState(t, l, mem, true), []string{"2:paid@11:00", "4:new@10:00"}; !slices.Equal(got, want) {
				t.Fatalf("after a key scan without rows the table holds\n%v\nwant\n%v", got, want)
			}
		})
	}
}

// TestMergeKeyScanScope: a partition's key scan reads and deletes only the keys of its scope, its range of the
// partition column (an integer or a time): a key gone from the source outside that range stays, the table's
// file that holds no row of the range is not read, and only the range's rows are. The whole table's scope
// reads every file.
func TestMergeKeyScanScope(t *testing.T) {
	at := func(hh int) time.Time { return time.Date(2026, 1, 1, hh, 0, 0, 0, time.UTC) }
	all := []string{"1:new@10:00", "2:new@10:00", "3:new@10:00", "4:new@10:00", "5:new@10:00",
		"11:new@12:00", "12:new@12:00", "13:new@12:00", "14:new@12:00", "15:new@12:00"}
	for _, tc := range []struct {
		name       string
		scope      stage.KeyScope
		sourceKeys []int
		gone       []string // what leaves the table
		files      int
		rows       int64
	}{
		{"integer range", stage.KeyScope{Column: "order_id", Lo: int64(1), Hi: int64(10)}, []int{2, 4},
			[]string{"1:new@10:00", "3:new@10:00", "5:new@10:00"}, 1, 5},
		{"time range", stage.KeyScope{Column: "updated_at", Lo: at(11), Hi: at(13)}, []int{13},
			[]string{"11:new@12:00", "12:new@12:00", "14:new@12:00", "15:new@12:00"}, 1, 5},
		{"empty range", stage.KeyScope{Column: "order_id", Lo: int64(6), Hi: int64(11)}, nil, nil, 0, 0},
		{"whole table", stage.KeyScope{}, []int{2, 4, 11, 13, 14, 15},
			[]string{"1:new@10:00", "3:new@10:00", "5:new@10:00", "12:new@12:00"}, 2, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			l := newLoader(t, t.TempDir(), func(c *Config) {
				c.Mode, c.Key, c.VersionBy, c.Deletes.Detect = "merge", []string{"order_id"}, "updated_at", "key_scan"
			})
			// Two commits, two data files: keys 1-5 at 10:00, keys 11-15 at 12:00.
			for i, rows := range [][]string{all[:5], all[5:]} {
				b := mergeRows(t, mem, rows...)
				testkit.LoadPartition(context.Background(), t, l, mergeSchema(), testkit.PartitionFor(fmt.Sprint("load", i)), b)
				b.Release()
			}
			ks := keyScanPartition(t, l, mem, "scoped", tc.scope, tc.sourceKeys, nil, nil)
			want := slices.DeleteFunc(slices.Clone(all), func(r string) bool { return slices.Contains(tc.gone, r) })
			slices.Sort(want)
			if got := mergeState(t, l, mem, true); !slices.Equal(got, want) {
				t.Fatalf("after the key scan of %+v the table holds\n%v\nwant\n%v", tc.scope, got, want)
			}
			if ks.files != tc.files || ks.rows != tc.rows {
				t.Fatalf("the key scan of %+v read %d data files and %d rows of the table, want %d and %d (its scope alone)", tc.scope, ks.files, ks.rows, tc.files, tc.rows)
			}
		})
	}
}

// TestMergeKeyScanScopeColumn: a scope on a column the table does not have fails the partition for good, before
// any key is read, naming the column.
func TestMergeKeyScanScopeColumn(t *testing.T) {
	l := newLoader(t, t.TempDir(), func(c *Config) {
		c.Mode, c.Key, c.VersionBy, c.Deletes.Detect = "merge", []string{"order_id"}, "updated_at", "key_scan"
	})
	w, err := l.Begin(context.Background(), mergeSchema(), testkit.PartitionFor("p"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort(context.Background())
	err = w.(stage.KeyScanWriter).StartKeyScan(context.Background(), stage.KeyScope{Column: "created_at", Lo: int64(0), Hi: int64(1)})
	if err == nil || !stage.IsPermanent(err) || !strings.Contains(err.Error(), `"created_at"`) {
		t.Fatalf("a scope on a column the table lacks: %v", err)
	}
}
