package iceberg

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// Compaction merges the files of many jetflow partitions; a later commit of one of them (a --force re-run, a
// retry) must still leave each of its rows exactly once: it finds its rows in the compacted files through their
// properties and rewrites those files without them.
func TestCompactThenRerun(t *testing.T) {
	ctx := context.Background()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	l := newLoader(t, t.TempDir(), func(c *Config) { c.PartitionBy = []string{"tenant_id"} })

	// 6 partitions of 30 ids over 3 tenants.
	want := newExpected(t, l)
	defer want.release()
	put := want.put
	for i := range 6 {
		put(fmt.Sprint(i), orders(t, mem, i*30, 30))
	}
	check := func(step string) {
		t.Helper()
		want.assertHeld(t, step, l, mem)
	}
	check("loaded")

	res, err := l.Compact(ctx, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Groups != 3 || res.FilesRemoved != 18 || res.FilesAdded != 3 {
		t.Fatalf("compaction %+v, want 3 groups, 18 files into 3", res)
	}
	check("compacted")

	// A forced re-run with the same rows, one with fewer and changed rows (a wrong run of rows cut would show),
	// and one with none.
	put("2", orders(t, mem, 60, 30))
	check("re-run of 2 with the same rows")
	put("3", testkit.Records(t, mem, ordersSchema(), `[
		{"id": 95, "tenant_id": "t2", "total": "7.0000", "updated_at": "2026-11-22T00:00:00Z"},
		{"id": 1000, "tenant_id": "t9", "total": "8.0000", "updated_at": "2026-11-22T00:00:00Z"}]`))
	check("re-run of 3 with other rows")
	put("5", testkit.Records(t, mem, ordersSchema(), `[]`))
	check("re-run of 5 with no rows")

	// Compacting again merges compacted files with new small ones; the runs carry over.
	res, err = l.Compact(ctx, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Groups == 0 {
		t.Fatalf("second compaction did nothing: %+v", res)
	}
	check("compacted again")
	put("0", orders(t, mem, 0, 10))
	check("re-run of 0 after the second compaction")

	// A commit group re-running two partitions at once (one snapshot) cuts both out of the compacted files.
	grouped := newLoader(t, filepath.Dir(l.cfg.Catalog.Warehouse), func(c *Config) {
		c.PartitionBy = []string{"tenant_id"}
		c.Commit.MaxPartitions = 2
		c.Commit.MaxInterval = stage.Duration(time.Minute)
	})
	var ws []stage.PartitionWriter
	for _, key := range []string{"4", "2"} {
		w, err := grouped.Begin(ctx, ordersSchema(), testkit.PartitionFor(key))
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	recs := []arrow.RecordBatch{orders(t, mem, 120, 5), orders(t, mem, 60, 7)}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, key := range []string{"4", "2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = ws[i].Write(ctx, recs[i]); errs[i] == nil {
				_, errs[i] = ws[i].Commit(ctx, testkit.CommitInfoFor(testkit.PartitionFor(key), recs[i].NumRows()))
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, key := range []string{"4", "2"} {
		want.record(key, recs[i])
	}
	check("grouped re-run of 4 and 2")

	// Expiry removes the summaries, not the properties.
	if _, err := l.ExpireSnapshots(ctx, ExpireOptions{RetainLast: 1}); err != nil {
		t.Fatal(err)
	}
	put("1", orders(t, mem, 30, 30))
	check("re-run of 1 after expiry")
}
