package iceberg

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// keyScanPartition commits partition key as the engine does with a key scan: StartKeyScan, the source's keys
// (only the key column), then rows; between the scan and the commit, during runs (another writer's commit).
func keyScanPartition(t *testing.T, l *Loader, mem memory.Allocator, key string, sourceKeys []int, rows []string, during func()) {
	t.Helper()
	ctx := context.Background()
	p := testkit.PartitionFor(key)
	w, err := l.Begin(ctx, mergeSchema(), p)
	if err != nil {
		t.Fatal(err)
	}
	kw := w.(stage.KeyScanWriter)
	if err := kw.StartKeyScan(ctx); err != nil {
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
			keyScanPartition(t, l, mem, "p2", []int{2, 4}, []string{"2:paid@11:00"}, func() {
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
			keyScanPartition(t, l, mem, "p2", []int{1, 2, 4, 9}, []string{"2:paid@11:00"}, nil)
			if got := mergeState(t, l, mem, false); !slices.Equal(got, want) {
				t.Fatalf("after a re-run of p2 the table holds\n%v\nwant\n%v", got, want)
			}
			// A partition without rows whose scan lost keys 1 and 9 deletes them.
			keyScanPartition(t, l, mem, "p3", []int{2, 4}, nil, nil)
			if got, want := mergeState(t, l, mem, true), []string{"2:paid@11:00", "4:new@10:00"}; !slices.Equal(got, want) {
				t.Fatalf("after a key scan without rows the table holds\n%v\nwant\n%v", got, want)
			}
		})
	}
}
