package iceberg

import (
	"context"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"

	"github.com/jetflow-dev/jetflow/testkit"
)

// TestCompactDeletes: after merge_on_read merges, CompactDeletes leaves a snapshot without delete files that
// reads the same, by iceberg-go's scanner and by DuckDB over the data files alone; a second run does nothing; a
// merge after it finds its keys in the rewritten files. A merge that commits while the compaction is between
// planning and commit makes it plan again on the new head, and its changes stay.
func TestCompactDeletes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		conflict bool
	}{{"alone", false}, {"a merge commits meanwhile", true}} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			ctx := context.Background()
			l := newOrdersMergeLoader(t, nil)
			load := func(name string, rows ...string) {
				t.Helper()
				b := mergeRows(t, mem, rows...)
				testkit.LoadPartition(ctx, t, l, mergeSchema(), testkit.PartitionFor(name), b)
				b.Release()
			}
			load("p1", "1:new@10:00", "2:new@10:00", "3:new@10:00", "4:new@10:00", "5:new@10:00", "6:new@10:00")
			load("p2", "2:paid@11:00", "3:gone!@11:00", "7:new@11:00")
			load("p3", "4:paid@12:00", "5:gone!@12:00")
			want := []string{"1:new@10:00", "2:paid@11:00", "4:paid@12:00", "6:new@10:00", "7:new@11:00"}
			if got := mergeState(t, l, mem, false); !slices.Equal(got, want) {
				t.Fatalf("before compaction: %v, want %v", got, want)
			}
			if _, dels := snapshotFiles(t, l); len(dels) == 0 {
				t.Fatal("the merges wrote no delete files: nothing to compact")
			}
			wantAttempts := 1
			if tc.conflict {
				maintenanceCommitHook = func(attempt int) {
					if attempt == 0 {
						load("p4", "1:paid@13:00", "6:gone!@13:00")
					}
				}
				t.Cleanup(func() { maintenanceCommitHook = nil })
				want = []string{"1:paid@13:00", "2:paid@11:00", "4:paid@12:00", "7:new@11:00"}
				wantAttempts = 2
			}
			res, err := l.CompactDeletes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res.DataFiles == 0 || res.DeleteFiles == 0 || res.RowsDeleted == 0 || res.Attempts != wantAttempts {
				t.Errorf("result %+v: want data and delete files replaced in %d attempt(s)", res, wantAttempts)
			}
			if _, dels := snapshotFiles(t, l); len(dels) != 0 {
				t.Fatalf("delete files remain after compaction: %v", dels)
			}
			// DuckDB reads the data files alone now (no delete file to anti-join).
			if got := mergeState(t, l, mem, true); !slices.Equal(got, want) {
				t.Fatalf("after compaction: %v, want %v", got, want)
			}
			snap := loadTable(t, l).CurrentSnapshot().SnapshotID
			again, err := l.CompactDeletes(ctx)
			if err != nil || again.DataFiles != 0 || loadTable(t, l).CurrentSnapshot().SnapshotID != snap {
				t.Fatalf("second compaction: %+v, %v; want nothing done and no snapshot", again, err)
			}
			load("p5", "2:sent@14:00", "4:gone!@14:00", "8:new@14:00")
			want = slices.DeleteFunc(slices.Clone(want), func(s string) bool { return s[0] == '2' || s[0] == '4' })
			want = append(want, "2:sent@14:00", "8:new@14:00")
			slices.Sort(want)
			if got := mergeState(t, l, mem, true); !slices.Equal(got, want) {
				t.Fatalf("merge after compaction: %v, want %v", got, want)
			}
			// The rewritten files' properties describe them: an append-mode rerun relies on them.
			tbl := loadTable(t, l)
			fs, err := tbl.FS(ctx)
			if err != nil {
				t.Fatal(err)
			}
			files, err := liveFiles(ctx, fs, tbl.CurrentSnapshot(), func(df iceberg.DataFile) bool { return true })
			if err != nil {
				t.Fatal(err)
			}
			for _, df := range files {
				if _, err := segmentsOf(tbl.Properties(), df); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestLiveSegments(t *testing.T) {
	segs := []segment{{"a", 3}, {"b", 2}, {"c", 4}}
	for _, tc := range []struct {
		gone positions
		want []segment
	}{
		{nil, segs},
		{positions{0, 2}, []segment{{"a", 1}, {"b", 2}, {"c", 4}}},
		{positions{3, 4}, []segment{{"a", 3}, {"c", 4}}},
		{positions{2, 3, 8}, []segment{{"a", 2}, {"b", 1}, {"c", 3}}},
		{positions{0, 1, 2, 3, 4, 5, 6, 7, 8}, nil},
	} {
		if got := liveSegments(segs, tc.gone); !slices.Equal(got, tc.want) {
			t.Errorf("gone %v: %v, want %v", tc.gone, got, tc.want)
		}
	}
}
