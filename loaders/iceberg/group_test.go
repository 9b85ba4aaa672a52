package iceberg

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// TestCommitGroups: 8 partitions written at once with max_partitions 4 make 2 snapshots of 4; re-committing one
// of them replaces only its own files.
func TestCommitGroups(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	l := newLoader(t, t.TempDir(), func(c *Config) {
		c.PartitionBy = []string{"day(updated_at)"}
		c.Commit.MaxPartitions = 4
		c.Commit.MaxInterval = stage.Duration(time.Minute) // groups fill up long before
	})
	ctx := context.Background()
	var writers []stage.PartitionWriter
	for i := range 8 {
		w, err := l.Begin(ctx, ordersSchema(), testkit.PartitionFor(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		writers = append(writers, w)
	}
	var wg sync.WaitGroup
	tokens := make([]string, 8)
	errs := make([]error, 8)
	for i, w := range writers {
		rec := orders(t, mem, i*10, 10)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer rec.Release()
			if errs[i] = w.Write(ctx, rec); errs[i] != nil {
				return
			}
			res, err := w.Commit(ctx, testkit.CommitInfoFor(testkit.PartitionFor(fmt.Sprint(i)), 10))
			tokens[i], errs[i] = res.Token, err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("partition %d: %v", i, err)
		}
	}
	snaps := loadTable(t, l).Metadata().Snapshots()
	if len(snaps) != 2 {
		t.Fatalf("%d snapshots, want 2 groups of 4", len(snaps))
	}
	for _, s := range snaps {
		if n := len(strings.Split(s.Summary.Properties[PropPartitionIDs], ",")); n != 4 {
			t.Errorf("snapshot %d names %d partitions, want 4", s.SnapshotID, n)
		}
	}
	distinct := map[string]int{}
	for _, tok := range tokens {
		distinct[tok]++
	}
	if len(distinct) != 2 {
		t.Errorf("commit tokens %v: want 2 snapshot ids, 4 partitions each", tokens)
	}

	// Partition 5 again, alone now: its 10 rows are replaced, the other 70 stay.
	again := orders(t, mem, 50, 10)
	defer again.Release()
	testkit.LoadPartition(ctx, t, l, ordersSchema(), testkit.PartitionFor("5"), again)
	got := scan(t, l, mem, nil)
	defer got.Release()
	if got.NumRows() != 80 {
		t.Errorf("%d rows after re-committing one grouped partition, want 80", got.NumRows())
	}
}

// TestCommitGroupInterval: a finished partition waits at most max_interval for a partition still being
// written, then commits alone; aborting the straggler does not strand anyone.
func TestCommitGroupInterval(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	l := newLoader(t, t.TempDir(), func(c *Config) {
		c.Commit.MaxPartitions = 10
		c.Commit.MaxInterval = stage.Duration(300 * time.Millisecond)
	})
	ctx := context.Background()
	straggler, err := l.Begin(ctx, ordersSchema(), testkit.PartitionFor("slow"))
	if err != nil {
		t.Fatal(err)
	}
	rec := orders(t, mem, 0, 10)
	defer rec.Release()
	t0 := time.Now()
	testkit.LoadPartition(ctx, t, l, ordersSchema(), testkit.PartitionFor("fast"), rec)
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Errorf("the commit returned after %v, before max_interval, with another partition still being written", d)
	}
	if err := straggler.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	// With nobody else writing, a commit goes at once.
	t0 = time.Now()
	more := orders(t, mem, 10, 10)
	defer more.Release()
	testkit.LoadPartition(ctx, t, l, ordersSchema(), testkit.PartitionFor("alone"), more)
	if d := time.Since(t0); d > 250*time.Millisecond {
		t.Errorf("a lone partition waited %v for a group", d)
	}
	if n := len(loadTable(t, l).Metadata().Snapshots()); n != 2 {
		t.Errorf("%d snapshots, want 2", n)
	}
}
