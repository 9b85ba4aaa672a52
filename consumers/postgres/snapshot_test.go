package postgres

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// seqsOf reads partition p and returns the seq column's values, sorted.
func seqsOf(ctx context.Context, c *Consumer, p stage.Partition) ([]int64, error) {
	var out []int64
	err := c.Read(ctx, p, func(b arrow.RecordBatch) error {
		col := b.Column(0).(*array.Int64)
		for i := 0; i < col.Len(); i++ {
			out = append(out, col.Value(i))
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, err
}

// TestSnapshotConsistency: every transaction of the writer inserts one row into each of two partitions with the
// same seq, so a consistent read sees the same seqs in both. Partitions are read one after the other with a
// commit in between, and in parallel while a writer commits as fast as it can.
func TestSnapshotConsistency(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	exec(t, dsn, `CREATE TABLE s (seq int8 NOT NULL, part int4 NOT NULL)`,
		`INSERT INTO s SELECT g, p FROM generate_series(1, 50000) g, (VALUES (0), (1)) v(p)`)
	insert := func(t *testing.T, conn *pgx.Conn, seq int64) {
		if _, err := conn.Exec(context.Background(), `INSERT INTO s VALUES ($1, 0), ($1, 1)`, seq); err != nil {
			t.Error(err)
		}
	}
	cfg := func(snapshot string) Config {
		return Config{DSN: stage.Secret(dsn), Query: `SELECT seq FROM s WHERE part >= {{ .Partition.Lo }} AND part < {{ .Partition.Hi }}`,
			Partition: PartitionConfig{Column: "part", Ranges: [][]string{{"0", "1"}, {"1", "2"}}}, Snapshot: snapshot, BatchRows: 4096}
	}
	writer, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close(context.Background())
	next := int64(1_000_000)

	for _, tc := range []struct {
		snapshot string
		same     bool
	}{{"export", true}, {"none", false}} {
		t.Run("sequential/"+tc.snapshot, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			c := newConsumer(t, mem, cfg(tc.snapshot))
			ps, err := c.Partitions(t.Context(), testkit.RunInstance())
			if err != nil {
				t.Fatal(err)
			}
			a, err := seqsOf(t.Context(), c, ps[0])
			if err != nil {
				t.Fatal(err)
			}
			next++
			insert(t, writer, next) // committed between the two partitions' reads
			b, err := seqsOf(t.Context(), c, ps[1])
			if err != nil {
				t.Fatal(err)
			}
			if same := fmt.Sprint(a) == fmt.Sprint(b); same != tc.same {
				t.Errorf("partitions saw the same rows: %v, want %v (%d and %d rows)", same, tc.same, len(a), len(b))
			}
		})
	}

	t.Run("parallel under concurrent inserts", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(offheap.NewGuarded())
		defer mem.AssertSize(t, 0)
		c := newConsumer(t, mem, cfg("export"))
		ps, err := c.Partitions(t.Context(), testkit.RunInstance())
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := next + 1; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				insert(t, writer, seq)
			}
		}()
		time.Sleep(50 * time.Millisecond) // the writer is committing before the snapshot is taken
		got := make([][]int64, len(ps))
		var g errgroup.Group
		for i, p := range ps {
			g.Go(func() error {
				time.Sleep(time.Duration(i) * 100 * time.Millisecond) // the second partition starts later
				var err error
				got[i], err = seqsOf(t.Context(), c, p)
				return err
			})
		}
		err = g.Wait()
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got[0]) != fmt.Sprint(got[1]) {
			t.Errorf("partitions read in one exported snapshot differ: %d and %d rows", len(got[0]), len(got[1]))
		}
	})
}

// TestKilledConnection: the server ends the backend mid-partition; Read returns a clear error naming the partition
// and the server's reason, and releases everything it built.
func TestKilledConnection(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	exec(t, dsn, `CREATE TABLE big (id int8, s text)`,
		`INSERT INTO big SELECT g, repeat('x', 40) FROM generate_series(1, 1000000) g`)
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newConsumer(t, mem, Config{DSN: stage.Secret(dsn), Table: "big", BatchRows: 1000})
	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	batches := 0
	err = c.Read(t.Context(), testkit.PartitionFor("all"), func(arrow.RecordBatch) error {
		batches++
		if batches == 1 {
			var n int
			err := admin.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE query LIKE 'SELECT "id", "s" FROM "big"%' AND pid <> pg_backend_pid()`).Scan(&n)
			if err != nil || n != 1 {
				return fmt.Errorf("terminate the reading backend: %d ended, %v", n, err)
			}
		}
		return nil
	})
	if err == nil {
		t.Fatalf("Read succeeded after its backend was terminated (%d batches)", batches)
	}
	for _, w := range []string{"partition all", "again whole"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	// The server's reason when it could send it. A backend terminated while blocked sending a row (the client's
	// socket buffer full) cannot: PostgreSQL never interleaves a message into one half sent, so it closes the
	// connection without its FATAL, and the error must say the connection was lost mid-result.
	if !strings.Contains(err.Error(), "terminating connection") && !strings.Contains(err.Error(), "connection lost mid-result") {
		t.Errorf("error %q gives neither the server's reason nor a connection lost mid-result", err)
	}
	t.Log(err)
}
