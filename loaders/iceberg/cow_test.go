package iceberg

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/testkit"
)

// TestMergeCopyOnWriteInPlace: copy_on_write writes a changed row into the rewrite of the data file that held
// its key, so a merge that changes keys of N files replaces them by N files; only a key new to the table (or a
// merge that holds no stored key) adds a file. The table reads as the merge says with iceberg-go's scanner and
// with DuckDB over the data files alone, and the snapshot's file counts are the summary's.
func TestMergeCopyOnWriteInPlace(t *testing.T) {
	table := []string{"1:new@10:00", "2:new@10:00", "3:new@10:00", "11:new@10:00", "12:new@10:00", "13:new@10:00"}
	for _, tc := range []struct {
		name           string
		change         []string
		want           []string
		added, removed int // data files
	}{
		{"updates in both files", []string{"2:paid@11:00", "12:paid@11:00", "13:sent@11:00"},
			[]string{"1:new@10:00", "11:new@10:00", "12:paid@11:00", "13:sent@11:00", "2:paid@11:00", "3:new@10:00"}, 2, 2},
		{"an update and a delete in one file", []string{"1:paid@11:00", "3:gone!@11:00"},
			[]string{"1:paid@11:00", "11:new@10:00", "12:new@10:00", "13:new@10:00", "2:new@10:00"}, 1, 1},
		{"updates and an insert", []string{"2:paid@11:00", "11:paid@11:00", "20:new@11:00"},
			[]string{"1:new@10:00", "11:paid@11:00", "12:new@10:00", "13:new@10:00", "2:paid@11:00", "20:new@11:00", "3:new@10:00"}, 3, 2},
		{"an older version changes nothing", []string{"2:old@09:00"}, table, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			l := newLoader(t, t.TempDir(), func(c *Config) {
				c.Mode, c.Key, c.VersionBy, c.DeleteWhen = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null"
				c.Merge.Strategy = "copy_on_write"
			})
			// Two commits, two data files: keys 1-3 and 11-13.
			for i, rows := range [][]string{table[:3], table[3:]} {
				b := mergeRows(t, mem, rows...)
				testkit.LoadPartition(context.Background(), t, l, mergeSchema(), testkit.PartitionFor(fmt.Sprint("load", i)), b)
				b.Release()
			}
			b := mergeRows(t, mem, tc.change...)
			testkit.LoadPartition(context.Background(), t, l, mergeSchema(), testkit.PartitionFor("change"), b)
			b.Release()

			if got, want := mergeState(t, l, mem, true), slices.Sorted(slices.Values(tc.want)); !slices.Equal(got, want) {
				t.Fatalf("after the merge the table holds\n%v\nwant\n%v", got, want)
			}
			tbl, err := l.LoadTable(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			data, dels := snapshotFiles(t, l)
			if tc.added == 0 {
				if len(data) != 2 {
					t.Fatalf("a merge that changes nothing left %d data files, want the 2 loaded", len(data))
				}
				return
			}
			p := tbl.CurrentSnapshot().Summary.Properties
			if got := fmt.Sprint(p["added-data-files"], "/", p["deleted-data-files"]); got != fmt.Sprint(tc.added, "/", tc.removed) {
				t.Fatalf("the merge added/removed %s data files, want %d/%d: changed rows belong in the rewrites", got, tc.added, tc.removed)
			}
			if len(data) != 2+tc.added-tc.removed || len(dels) != 0 {
				t.Fatalf("the table has %d data files and %d delete files, want %d and none", len(data), len(dels), 2+tc.added-tc.removed)
			}
		})
	}
}
