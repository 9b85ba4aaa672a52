package iceberg

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"

	"github.com/jetflow-dev/jetflow/testkit"
)

// TestPlanTasks: after every merge of a merge_on_read table (updates, deletes, a compaction), the cached plan
// lists the data files PlanFiles lists, each with the same delete files, record counts, sizes, partitions and
// bounds of the key and version columns; and a plan after one more merge reads only the manifests it added.
func TestPlanTasks(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	l := newOrdersMergeLoader(t, func(c *Config) { c.Merge.CompactEvery = 4 })
	rounds := [][]string{
		{"1:new@10:00", "2:new@10:00", "3:new@10:00", "4:new@10:00", "5:new@10:00"},
		{"2:paid@11:00", "3:gone!@11:00", "6:new@11:00"},
		{"4:paid@12:00", "1:sent@12:00", "7:new@12:00"},
		{"5:gone!@13:00", "6:paid@13:00"}, // the fourth merge: a compaction follows
		{"2:sent@14:00", "8:new@14:00"},
		{"7:gone!@15:00", "8:paid@15:00"},
	}
	sawCompaction := false
	for i, rows := range rounds {
		b := mergeRows(t, mem, rows...)
		testkit.LoadPartition(ctx, t, l, mergeSchema(), testkit.PartitionFor(fmt.Sprintf("p%d", i)), b)
		b.Release()
		tbl := loadTable(t, l)
		ids, err := l.mergeFieldIDs(tbl.Schema())
		if err != nil {
			t.Fatal(err)
		}
		before := l.plans.reads
		got, err := l.planTasks(ctx, tbl, ids)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := tbl.FS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mfs, err := tbl.CurrentSnapshot().Manifests(fs)
		if err != nil {
			t.Fatal(err)
		}
		compacted := tbl.CurrentSnapshot().Summary.Properties["jetflow.operation"] == "compact-merged" // rewrote every manifest
		sawCompaction = sawCompaction || compacted
		if i > 0 && !compacted && l.plans.reads-before >= len(mfs) {
			t.Errorf("round %d: the plan read %d of the %d manifests; want only those added since the last plan", i, l.plans.reads-before, len(mfs))
		}
		want, err := tbl.Scan().PlanFiles(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: %d tasks, PlanFiles gives %d", i, len(got), len(want))
		}
		byPath := map[string]int{}
		for j, w := range want {
			byPath[w.File.FilePath()] = j
		}
		for _, g := range got {
			j, ok := byPath[g.File.FilePath()]
			if !ok {
				t.Fatalf("round %d: data file %s is not one PlanFiles lists", i, g.File.FilePath())
			}
			w := want[j]
			if g.File.Count() != w.File.Count() || g.File.FileSizeBytes() != w.File.FileSizeBytes() || g.File.SpecID() != w.File.SpecID() ||
				!maps.Equal(g.File.Partition(), w.File.Partition()) || g.File.ContentType() != w.File.ContentType() {
				t.Errorf("round %d: %s differs from PlanFiles' entry", i, g.File.FilePath())
			}
			for _, id := range ids {
				if !slices.Equal(g.File.LowerBoundValues()[id], w.File.LowerBoundValues()[id]) || !slices.Equal(g.File.UpperBoundValues()[id], w.File.UpperBoundValues()[id]) {
					t.Errorf("round %d: %s: bounds of field %d differ from PlanFiles'", i, g.File.FilePath(), id)
				}
			}
			if gd, wd := deletePaths(g.DeleteFiles), deletePaths(w.DeleteFiles); !slices.Equal(gd, wd) {
				t.Errorf("round %d: %s: delete files %v, PlanFiles gives %v", i, g.File.FilePath(), gd, wd)
			}
		}
	}
	if !sawCompaction {
		t.Error("no round ended in a compaction (merge.compact_every: 4)")
	}
}

func deletePaths(dels []iceberg.DataFile) []string {
	out := make([]string, len(dels))
	for i, d := range dels {
		out[i] = d.FilePath()
	}
	slices.Sort(out)
	return out
}
