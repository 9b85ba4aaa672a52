package postgres

import (
	"context"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"golang.org/x/sync/errgroup"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

const benchRows = 1_000_000

// benchTable is the mixed table: bigint, int, numeric(18,4), short text, bool, nullable text,
// timestamptz, plus a date, a float8 and a nullable int8: ten columns.
const benchTable = `CREATE TABLE bench (
	id int8 NOT NULL, n int4 NOT NULL, amount numeric(18,4) NOT NULL, code text NOT NULL, flag bool NOT NULL,
	note text, at timestamptz NOT NULL, day date NOT NULL, score float8 NOT NULL, ref int8)`

const benchFill = `INSERT INTO bench SELECT g, g % 100000, (g * 1.2345)::numeric(18,4), 'c' || (g % 1000), g % 2 = 0,
	CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END, '2026-01-01'::timestamptz + g * interval '1 second',
	'2026-01-01'::date + (g % 365), g / 7.0, CASE WHEN g % 5 = 0 THEN NULL ELSE g * 3 END
	FROM generate_series(1, 1000000) g`

const benchSelect = `SELECT id, n, amount, code, flag, note, at, day, score, ref FROM bench`

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs read b.N times and reports rows/s, client CPU per row (user+sys of this process, which includes
// nothing of the server's) and heap allocations per row.
func measure(b *testing.B, read func() int) {
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	b.ResetTimer()
	rows := 0
	for range b.N {
		rows += read()
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&ms1)
	if rows == 0 {
		b.Fatal("read no rows")
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(rows), "cpu-ns/row")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(rows), "allocs/row")
}

// BenchmarkRead compares, on one connection over the same 1M-row table: the wire ceiling (binary rows read and
// discarded), pgx's ordinary Query + Rows.Scan into Go values, and this consumer into Arrow batches, in both read
// modes. Run: go test ./consumers/postgres -run '^$' -bench BenchmarkRead -benchtime 3x
func BenchmarkRead(b *testing.B) {
	dsn := pgtest.Start(b).CreateDatabase(b)
	exec(b, dsn, benchTable, benchFill, "VACUUM ANALYZE bench")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)

	b.Run("wire-binary", func(b *testing.B) {
		formats := make([]int16, 10)
		for i := range formats {
			formats[i] = 1
		}
		measure(b, func() int {
			rr := conn.PgConn().ExecParams(ctx, benchSelect, nil, nil, nil, formats)
			n := 0
			for rr.NextRow() {
				n++
			}
			if _, err := rr.Close(); err != nil {
				b.Fatal(err)
			}
			return n
		})
	})
	b.Run("wire-copy-binary", func(b *testing.B) {
		measure(b, func() int {
			tag, err := conn.PgConn().CopyTo(ctx, io.Discard, "COPY ("+benchSelect+") TO STDOUT (FORMAT binary)")
			if err != nil {
				b.Fatal(err)
			}
			return int(tag.RowsAffected())
		})
	})
	b.Run("pgx-scan", func(b *testing.B) {
		measure(b, func() int {
			rows, err := conn.Query(ctx, benchSelect)
			if err != nil {
				b.Fatal(err)
			}
			var (
				id, ref pgtype.Int8
				n       int32
				amount  pgtype.Numeric
				code    string
				flag    bool
				note    pgtype.Text
				at      time.Time
				day     time.Time
				score   float64
				count   int
			)
			for rows.Next() {
				if err := rows.Scan(&id, &n, &amount, &code, &flag, &note, &at, &day, &score, &ref); err != nil {
					b.Fatal(err)
				}
				count++
			}
			if err := rows.Err(); err != nil {
				b.Fatal(err)
			}
			return count
		})
	})
	// Two partitions on two connections at once: what parallel reading gains when server and client share 2 cores.
	b.Run("consumer-extended-2conn", func(b *testing.B) {
		mem := memory.NewCheckedAllocator(offheap.New(0)) // as jetflow run allocates
		defer mem.AssertSize(b, 0)
		c := newConsumer(b, mem, Config{DSN: stage.Secret(dsn), Table: "bench",
			Partition: PartitionConfig{Column: "id", Count: 2}})
		ps, err := c.Partitions(ctx, testkit.RunInstance())
		if err != nil || len(ps) != 2 {
			b.Fatalf("partitions: %v, %d", err, len(ps))
		}
		measure(b, func() int {
			var g errgroup.Group
			counts := make([]int, len(ps))
			for i, p := range ps {
				g.Go(func() error {
					return c.Read(ctx, p, func(r arrow.RecordBatch) error { counts[i] += int(r.NumRows()); return nil })
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
			return counts[0] + counts[1]
		})
	})
	for _, mode := range []string{"extended", "copy"} {
		b.Run("consumer-"+mode, func(b *testing.B) {
			mem := memory.NewCheckedAllocator(offheap.New(0)) // as jetflow run allocates
			defer mem.AssertSize(b, 0)
			c := newConsumer(b, mem, Config{DSN: stage.Secret(dsn), Table: "bench", ReadMode: mode})
			if _, err := c.Schema(ctx); err != nil {
				b.Fatal(err)
			}
			p := testkit.PartitionFor("all")
			measure(b, func() int {
				n := 0
				if err := c.Read(ctx, p, func(r arrow.RecordBatch) error { n += int(r.NumRows()); return nil }); err != nil {
					b.Fatal(err)
				}
				return n
			})
		})
	}
}
