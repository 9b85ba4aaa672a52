package postgres

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sync/errgroup"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// idsAndSum reads every partition (in parallel when parallel) and returns each id's count and the sum of v.
func idsAndSum(ctx context.Context, c *Consumer, ps []stage.Partition, parallel bool) (map[int64]int, int64, error) {
	var mu sync.Mutex
	ids, sum := map[int64]int{}, int64(0)
	read := func(p stage.Partition) error {
		return c.Read(ctx, p, func(b arrow.RecordBatch) error {
			id, v := b.Column(0).(*array.Int64), b.Column(1).(*array.Int64)
			mu.Lock()
			defer mu.Unlock()
			for i := range id.Len() {
				ids[id.Value(i)]++
				sum += v.Value(i)
			}
			return nil
		})
	}
	var g errgroup.Group
	for _, p := range ps {
		if !parallel {
			if err := read(p); err != nil {
				return nil, 0, err
			}
			continue
		}
		g.Go(func() error { return read(p) })
	}
	return ids, sum, g.Wait()
}

// TestCTIDPartitions: page ranges of a table with holes (deleted rows), of a partitioned table and of an empty
// table hold every row exactly once; fewer pages than count give fewer ranges, and the last range is open-ended.
func TestCTIDPartitions(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	exec(t, dsn,
		`CREATE TABLE holes (id int8 NOT NULL, v int8 NOT NULL)`,
		`INSERT INTO holes SELECT g, 1 FROM generate_series(1, 30000) g`,
		`DELETE FROM holes WHERE id % 7 = 0 OR id BETWEEN 10000 AND 12000`,
		`CREATE TABLE split (id int8 NOT NULL, v int8 NOT NULL) PARTITION BY RANGE (id)`,
		`CREATE TABLE split_a PARTITION OF split FOR VALUES FROM (0) TO (5000)`,
		`CREATE TABLE split_b PARTITION OF split FOR VALUES FROM (5000) TO (100000)`,
		`INSERT INTO split SELECT g, 1 FROM generate_series(1, 20000) g`,
		`CREATE TABLE empty (id int8 NOT NULL, v int8 NOT NULL)`,
		`CREATE TABLE tiny (id int8 NOT NULL, v int8 NOT NULL)`, `INSERT INTO tiny VALUES (1, 1)`,
		`CREATE VIEW holes_view AS SELECT * FROM holes`)
	for _, tc := range []struct {
		table string
		count int
		parts int // 0: count
		rows  int
	}{
		{"holes", 4, 0, 24000}, // 30000 less 4285 multiples of 7 and 2001 ids, of which 286 are both
		{"split", 3, 0, 20000},
		{"empty", 4, 1, 0},
		{"tiny", 4, 1, 1},
	} {
		t.Run(tc.table, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			c := newConsumer(t, mem, Config{DSN: stage.Secret(dsn), Table: tc.table, Snapshot: "export",
				Partition: PartitionConfig{By: byCTID, Count: tc.count}, BatchRows: 1000})
			ps, err := c.Partitions(t.Context(), testkit.RunInstance())
			if err != nil {
				t.Fatal(err)
			}
			if want := cmp.Or(tc.parts, tc.count); len(ps) != want {
				t.Fatalf("%d partitions, want %d: %v", len(ps), want, ps)
			}
			if last := ps[len(ps)-1]; last.Hi != int64(maxPage) || ps[0].Lo != int64(0) {
				t.Errorf("the ranges span [%v, %v), want [0, %d)", ps[0].Lo, last.Hi, maxPage)
			}
			ids, sum, err := idsAndSum(t.Context(), c, ps, false)
			if err != nil {
				t.Fatal(err)
			}
			for id, n := range ids {
				if n != 1 {
					t.Errorf("id %d read %d times", id, n)
				}
			}
			if len(ids) != tc.rows || sum != int64(tc.rows) {
				t.Errorf("read %d ids (sum %d), want %d", len(ids), sum, tc.rows)
			}
		})
	}
	t.Run("view", func(t *testing.T) {
		c := newConsumer(t, memory.NewGoAllocator(), Config{DSN: stage.Secret(dsn), Table: "holes_view",
			Partition: PartitionConfig{By: byCTID, Count: 1}})
		_, err := c.Partitions(t.Context(), testkit.RunInstance())
		if err == nil || !strings.Contains(err.Error(), "needs a table") {
			t.Fatalf("err = %v, want one saying ctid needs a table", err)
		}
	})
}

// TestCTIDConsistency: an UPDATE writes the row's new version on another page. Read range by range with an update
// committed in between, the moved row is read twice without a snapshot and once in the exported one; read in
// parallel while a writer moves value between rows and inserts rows in pairs, every transaction is all in or
// all out.
func TestCTIDConsistency(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	// No autovacuum: which page an update writes to stays the table's own doing.
	exec(t, dsn, `CREATE TABLE acct (id int8 NOT NULL, v int8 NOT NULL) WITH (autovacuum_enabled = off)`,
		`INSERT INTO acct SELECT g, 0 FROM generate_series(1, 40000) g`)
	writer := connect(t, dsn)
	newC := func(t *testing.T, mem memory.Allocator, snapshot string) (*Consumer, []stage.Partition) {
		c := newConsumer(t, mem, Config{DSN: stage.Secret(dsn), Table: "acct", Snapshot: "export",
			Partition: PartitionConfig{By: byCTID, Count: 4}, BatchRows: 4096})
		c.cfg.Snapshot = snapshot // "none" only to show what the snapshot prevents: validation refuses it
		ps, err := c.Partitions(t.Context(), testkit.RunInstance())
		if err != nil || len(ps) != 4 {
			t.Fatalf("partitions: %v, %v", ps, err)
		}
		return c, ps
	}

	for page, tc := range []struct {
		snapshot string
		twice    int
	}{{"export", 0}, {"none", 1}} {
		t.Run("sequential/"+tc.snapshot, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			c, ps := newC(t, mem, tc.snapshot)
			first, _, err := idsAndSum(t.Context(), c, ps[:1], false)
			if err != nil {
				t.Fatal(err)
			}
			// A row of the first range, already read, moves to the end of the table (the last range): its page
			// is full, and one page per subtest keeps it so (reading a page with dead rows frees their space).
			var moved int64
			q := `UPDATE acct SET v = v WHERE id = (SELECT min(id) FROM acct WHERE ctid >= $1::tid AND ctid < $2::tid) RETURNING id`
			if err := writer.QueryRow(t.Context(), q, fmt.Sprintf("(%d,0)", page), fmt.Sprintf("(%d,0)", page+1)).Scan(&moved); err != nil {
				t.Fatal(err)
			}
			rest, _, err := idsAndSum(t.Context(), c, ps[1:], false)
			if err != nil {
				t.Fatal(err)
			}
			twice := 0
			for id := range first {
				if rest[id] > 0 {
					twice++
				}
			}
			if twice != tc.twice || first[moved] != 1 {
				t.Errorf("%d rows read twice, want %d (row %d moved)", twice, tc.twice, moved)
			}
		})
	}

	t.Run("parallel under concurrent updates", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(offheap.NewGuarded())
		defer mem.AssertSize(t, 0)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next := int64(1_000_000); ; next += 2 {
				from := next/2%20000 + 1 // and to from + 20000: two rows, never the same
				select {
				case <-stop:
					return
				default:
				}
				// One transaction: a unit moves from one row to another, and a pair of rows of +1 and -1 arrives.
				_, err := writer.Exec(context.Background(), `WITH a AS (UPDATE acct SET v = v - 1 WHERE id = $1),
					b AS (UPDATE acct SET v = v + 1 WHERE id = $2) INSERT INTO acct VALUES ($3, 1), ($3 + 1, -1)`,
					from, from+20000, next)
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
		time.Sleep(50 * time.Millisecond) // the writer is committing before the snapshot is taken
		c, ps := newC(t, mem, "export")
		ids, sum, err := idsAndSum(t.Context(), c, ps, true)
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		for id, n := range ids {
			if n != 1 {
				t.Errorf("id %d read %d times", id, n)
			}
		}
		pairs := 0
		for id := range ids {
			if id >= 1_000_000 && id%2 == 0 {
				pairs++
				if ids[id+1] != 1 {
					t.Errorf("row %d was read without its pair %d", id, id+1)
				}
			}
		}
		if sum != 0 || len(ids) != 40000+2*pairs {
			t.Errorf("read %d rows summing to %d, want %d rows summing to 0", len(ids), sum, 40000+2*pairs)
		}
		t.Logf("%d rows, %d pairs inserted by the writer before the snapshot", len(ids), pairs)
	})
}
