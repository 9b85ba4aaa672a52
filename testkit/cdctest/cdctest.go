// Package cdctest drives a changing PostgreSQL table for change-capture tests: a table of items with a TOASTed
// column, a writer of random multi-row transactions, and the table's and an Iceberg table's rows as text lines
// to compare.
package cdctest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/table"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jetflow-dev/jetflow/testkit"
)

// Pipeline is the pipeline "items": table items of ${PG_DSN} streamed through slot items_lake into the Iceberg
// merge table lake.items of the warehouse, cut every interval (a YAML duration), with more of the consumer's keys
// (at two spaces) from extra.
func Pipeline(warehouse, interval, extra string) string {
	return PipelineWithSlot("items_lake", warehouse, interval, extra)
}

// PipelineWithSlot is Pipeline reading through slot: a slot belongs to the whole server, so tests that share one
// server each need their own.
func PipelineWithSlot(slot, warehouse, interval, extra string) string {
	return `name: items
consumer:
  type: postgres
  dsn: ${PG_DSN}
  table: public.items
  partition: {column: id, count: 3}
  cdc:
    slot: ` + slot + `
    roll: {interval: ` + interval + `}
` + extra + `loaders:
  - type: iceberg
    catalog:
      warehouse: ` + warehouse + `
    table: lake.items
    partition_by: [bucket(4, id)]
    mode: merge
    key: [id]
    version_by: _lsn
    delete_when: _op = 'd'
`
}

// CreateItems makes the items table with rows 1..n; payload is stored out of line (TOAST) and never compressed.
func CreateItems(t testing.TB, dsn string, n int) {
	t.Helper()
	Exec(t, dsn, `CREATE TABLE items (id int8 PRIMARY KEY, status text NOT NULL, n int4, payload text)`,
		`ALTER TABLE items ALTER payload SET STORAGE EXTERNAL`,
		`ALTER TABLE items REPLICA IDENTITY FULL`,
		fmt.Sprintf(`INSERT INTO items SELECT g, 'new', g, repeat(md5(g::text), 100) FROM generate_series(1, %d) g`, n))
}

// Writer changes items in multi-row transactions until stopped: inserts, updates of n alone (the TOASTed
// payload unchanged), updates of the payload, and deletes. When the server goes away (a restart, a terminated
// backend), the writer connects again and goes on; the transaction it was in is lost or committed, as the
// server decided.
type Writer struct {
	stop       chan struct{}
	done       chan error
	Txns       int // transactions committed, once finished
	committed  atomic.Int64
	reconnects atomic.Int64
}

// Committed is how many transactions the writer committed so far.
func (w *Writer) Committed() int64 { return w.committed.Load() }

// Reconnects is how many times the writer connected again after losing its connection.
func (w *Writer) Reconnects() int64 { return w.reconnects.Load() }

// StartWriter starts a writer whose updates and deletes pick ids up to next and whose inserts take the ids
// after it.
func StartWriter(dsn string, seed uint64, next int64) *Writer {
	w := &Writer{stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			w.done <- err
			return
		}
		defer func() { conn.Close(ctx) }()
		// lost reconnects after an error that lost the connection, and says whether it did.
		lost := func(err error) bool {
			var pe *pgconn.PgError
			if !conn.IsClosed() && !(errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "57") || strings.HasPrefix(pe.Code, "08"))) {
				return false
			}
			conn.Close(ctx)
			for {
				select {
				case <-w.stop:
					return true
				case <-time.After(50 * time.Millisecond):
				}
				if c, err := pgx.Connect(ctx, dsn); err == nil {
					conn = c
					w.reconnects.Add(1)
					return true
				}
			}
		}
		rng := rand.New(rand.NewPCG(seed, 7))
	txns:
		for {
			select {
			case <-w.stop:
				w.done <- nil
				return
			default:
			}
			tx, err := conn.Begin(ctx)
			if err != nil {
				if lost(err) {
					continue
				}
				w.done <- err
				return
			}
			for range 1 + rng.IntN(8) {
				id := 1 + rng.Int64N(next)
				var sql string
				switch rng.IntN(5) {
				case 0:
					next++
					id = next
					sql = `INSERT INTO items VALUES ($1, 'new', 0, repeat(md5(random()::text), 100))`
				case 1:
					sql = `UPDATE items SET n = n + 1, status = 'paid' WHERE id = $1`
				case 2:
					sql = `UPDATE items SET payload = repeat(md5(random()::text), 100), n = n + 1 WHERE id = $1`
				case 3:
					sql = `DELETE FROM items WHERE id = $1`
				case 4:
					sql = `UPDATE items SET status = 'sent' WHERE id = $1`
				}
				if _, err := tx.Exec(ctx, sql, id); err != nil {
					if lost(err) {
						continue txns
					}
					w.done <- err
					return
				}
			}
			if err := tx.Commit(ctx); err != nil {
				if lost(err) {
					continue
				}
				w.done <- err
				return
			}
			w.Txns++
			w.committed.Add(1)
			time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
		}
	}()
	return w
}

// Finish stops the writer, failing the test if it failed.
func (w *Writer) Finish(t testing.TB) {
	t.Helper()
	close(w.stop)
	if err := <-w.done; err != nil {
		t.Fatalf("writer: %v", err)
	}
}

// TableRows is SELECT * FROM items as text lines (the payload by its md5).
func TableRows(t testing.TB, dsn string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id || '|' || status || '|' || coalesce(n::text, '') || '|' || coalesce(md5(payload), '') FROM items`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// LakeRows is the Iceberg table read by iceberg-go's scanner, as TableRows writes rows.
func LakeRows(t testing.TB, tbl *table.Table) []string {
	t.Helper()
	return testkit.IcebergRows(t, tbl, func(col func(string) arrow.Array, i int) string {
		n, pl := col("n").(*array.Int32), col("payload").(*array.String)
		ns, ps := "", ""
		if n.IsValid(i) {
			ns = fmt.Sprint(n.Value(i))
		}
		if pl.IsValid(i) {
			ps = MD5(pl.Value(i))
		}
		return fmt.Sprintf("%d|%s|%s|%s", col("id").(*array.Int64).Value(i), col("status").(*array.String).Value(i), ns, ps)
	})
}

// Diff shows the rows only one side holds (at most 20 of each).
func Diff(want, got []string) string {
	var b strings.Builder
	w, g := map[string]bool{}, map[string]bool{}
	for _, r := range want {
		w[r] = true
	}
	for _, r := range got {
		g[r] = true
	}
	n := 0
	for _, r := range want {
		if !g[r] && n < 20 {
			fmt.Fprintf(&b, "- %s (table only)\n", r[:min(len(r), 60)])
			n++
		}
	}
	for _, r := range got {
		if !w[r] && n < 40 {
			fmt.Fprintf(&b, "+ %s (lake only)\n", r[:min(len(r), 60)])
			n++
		}
	}
	fmt.Fprintf(&b, "(%d rows in the table, %d in the lake)", len(want), len(got))
	return b.String()
}

// Exec runs statements on dsn, failing the test on an error.
func Exec(t testing.TB, dsn string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// MD5 is s's md5 in hex, as PostgreSQL's md5() writes it.
func MD5(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
