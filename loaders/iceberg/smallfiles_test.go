package iceberg

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// The settings that keep file counts sane, each checked by the files it leaves.
func TestSmallFiles(t *testing.T) {
	ctx := context.Background()
	// 3 tenants per batch: the fanout writer opens one file per tenant and per write.
	t.Run("fanout makes a file per Iceberg partition per commit", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		l := newLoader(t, t.TempDir(), func(c *Config) { c.PartitionBy = []string{"tenant_id"} })
		for i := range 4 {
			rec := orders(t, mem, i*30, 30)
			load(t, l, fmt.Sprint(i), rec)
			rec.Release()
		}
		if n := len(dataFiles(t, l)); n != 12 {
			t.Errorf("%d data files, want 12 (4 commits × 3 tenants)", n)
		}
	})
	t.Run("clustered input: one open file at a time", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		l := newLoader(t, t.TempDir(), func(c *Config) {
			c.PartitionBy = []string{"tenant_id"}
			c.Clustered = true
		})
		// Batches sorted by tenant: t0, t0, t1, t2.
		var batches []arrow.RecordBatch
		for _, tenant := range []int{0, 0, 1, 2} {
			batches = append(batches, testkit.Records(t, mem, ordersSchema(), fmt.Sprintf(
				`[{"id": %d, "tenant_id": "t%d", "updated_at": "2026-11-22T00:00:00Z"}, {"id": %d, "tenant_id": "t%d", "updated_at": "2026-11-22T00:00:00Z"}]`,
				len(batches)*2, tenant, len(batches)*2+1, tenant)))
		}
		defer testkit.ReleaseAll(batches)
		load(t, l, "sorted", batches...)
		if n := len(dataFiles(t, l)); n != 3 {
			t.Errorf("%d data files, want 3 (one per tenant)", n)
		}
		// Unsorted input is refused rather than written as many small files.
		w, err := l.Begin(ctx, ordersSchema(), testkit.PartitionFor("unsorted"))
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 2, 0} {
			if err = w.Write(ctx, batches[i]); err != nil {
				break
			}
		}
		if err == nil {
			_, err = w.Commit(ctx, testkit.CommitInfoFor(testkit.PartitionFor("unsorted"), 6))
		}
		w.Abort(ctx)
		if err == nil || !strings.Contains(err.Error(), "tenant_id=t0") || !strings.Contains(err.Error(), "not sorted by the partition spec") {
			t.Errorf("unsorted input with clustered: error %v, want one naming the partition that came back and the order", err)
		}
	})
	t.Run("target file size rolls files", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		// Files roll on bytes already flushed: row groups (and, at this small scale, pages) must be smaller than
		// the target.
		l := newLoader(t, t.TempDir(), func(c *Config) {
			// The orders' sequential ids and times are delta-encoded: 20,000 rows take some 14 KB.
			c.TargetFileSize, c.RowGroupSize = 4<<10, 1<<10
			c.Properties = map[string]string{"write.parquet.page-size-bytes": "512"}
		})
		var batches []arrow.RecordBatch
		for i := range 10 {
			batches = append(batches, orders(t, mem, i*2000, 2000))
		}
		defer testkit.ReleaseAll(batches)
		load(t, l, "big", batches...)
		files := dataFiles(t, l)
		var total int64
		for _, f := range files {
			info, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			total += info.Size()
		}
		if len(files) < 2 || int64(len(files)) < total/(8<<10) {
			t.Errorf("%d data files, %d bytes in all, at a 4 KiB target: files did not roll", len(files), total)
		}
	})
	t.Run("compact rewrites small files", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		l := newLoader(t, t.TempDir(), func(c *Config) { c.PartitionBy = []string{"tenant_id"} })
		var all []arrow.RecordBatch
		for i := range 6 {
			rec := orders(t, mem, i*30, 30)
			all = append(all, rec)
			load(t, l, fmt.Sprint(i), rec)
		}
		defer testkit.ReleaseAll(all)
		res, err := l.Compact(ctx, 0, 2)
		if err != nil {
			t.Fatal(err)
		}
		if res.Groups != 3 || res.FilesRemoved != 18 || res.FilesAdded != 3 {
			t.Errorf("compaction %+v, want 3 groups, 18 files into 3", res)
		}
		if n := len(dataFiles(t, l)); n != 3 {
			t.Errorf("%d data files after compaction, want 3", n)
		}
		want := testkit.ConcatRecords(mem, all)
		defer want.Release()
		got := scan(t, l, mem, nil)
		defer got.Release()
		testkit.AssertRecordsEqual(t, want, got, testkit.SortBy("id"))
	})
	t.Run("commit groups make fewer snapshots", func(t *testing.T) {
		// Covered by TestCommitGroups; here the setting reaches the config through its YAML name.
		l := newLoader(t, t.TempDir(), func(c *Config) { c.Commit.MaxPartitions = 8 })
		if l.group == nil || l.group.max != 8 || l.group.interval != stage.Duration(30e9).D() {
			t.Errorf("commit grouping not set up: %+v", l.group)
		}
	})
}
