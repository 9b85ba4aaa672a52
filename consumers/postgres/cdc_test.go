package postgres

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/loaders/iceberg"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// cdcPipeline streams table items of dsn into an Iceberg merge table under wh.
func cdcPipeline(t *testing.T, dsn, wh, extra string) *pipelines.Pipeline {
	t.Helper()
	return parsePipeline(t, "items.yaml", `name: items
consumer:
  type: postgres
  dsn: ${PG_DSN}
  table: public.items
  partition: {column: id, count: 3}
  batch_rows: 100
  cdc:
    slot: items_lake
    roll: {interval: 300ms}
`+extra+`loaders:
  - type: iceberg
    catalog:
      warehouse: ${WH}
    table: lake.items
    partition_by: [bucket(4, id)]
    mode: merge
    key: [id]
    version_by: _lsn
    delete_when: _op = 'd'
`, map[string]string{"PG_DSN": dsn, "WH": wh})
}

// createItems makes the items table with rows 1..n; payload is stored out of line (TOAST) and never compressed.
func createItems(t *testing.T, dsn string, n int) {
	exec(t, dsn, `CREATE TABLE items (id int8 PRIMARY KEY, status text NOT NULL, n int4, payload text)`,
		`ALTER TABLE items ALTER payload SET STORAGE EXTERNAL`,
		`ALTER TABLE items REPLICA IDENTITY FULL`,
		fmt.Sprintf(`INSERT INTO items SELECT g, 'new', g, repeat(md5(g::text), 100) FROM generate_series(1, %d) g`, n))
}

// writer changes items in multi-row transactions until stopped: inserts, updates of n alone (the TOASTed
// payload unchanged), updates of the payload, and deletes.
type writer struct {
	stop chan struct{}
	done chan error
	txns int
}

func startWriter(t *testing.T, dsn string, seed uint64, next int64) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			w.done <- err
			return
		}
		defer conn.Close(ctx)
		rng := rand.New(rand.NewPCG(seed, 7))
		for {
			select {
			case <-w.stop:
				w.done <- nil
				return
			default:
			}
			tx, err := conn.Begin(ctx)
			if err != nil {
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
					w.done <- err
					return
				}
			}
			if err := tx.Commit(ctx); err != nil {
				w.done <- err
				return
			}
			w.txns++
			time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
		}
	}()
	return w
}

func (w *writer) finish(t *testing.T) {
	t.Helper()
	close(w.stop)
	if err := <-w.done; err != nil {
		t.Fatalf("writer: %v", err)
	}
}

// tableRows is SELECT * FROM items as text lines (the payload by its md5).
func tableRows(t *testing.T, dsn string) []string {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, dsn)
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

// lakeRows is the Iceberg table read by iceberg-go's scanner, as tableRows writes rows.
func lakeRows(t *testing.T, wh string) []string {
	t.Helper()
	ctx := context.Background()
	l, err := iceberg.New(stage.BuildContext{Pipeline: "items", Alloc: memory.NewGoAllocator()},
		&iceberg.Config{Catalog: iceberg.CatalogConfig{Warehouse: wh}, Table: "lake.items"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tbl, err := l.LoadTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return testkit.IcebergRows(t, tbl, func(col func(string) arrow.Array, i int) string {
		n, pl := col("n").(*array.Int32), col("payload").(*array.String)
		ns, ps := "", ""
		if n.IsValid(i) {
			ns = fmt.Sprint(n.Value(i))
		}
		if pl.IsValid(i) {
			ps = md5hex(pl.Value(i))
		}
		return fmt.Sprintf("%d|%s|%s|%s", col("id").(*array.Int64).Value(i), col("status").(*array.String).Value(i), ns, ps)
	})
}

// streaming runs an engine's stream until stop.
type streaming struct {
	cancel context.CancelFunc
	done   chan error
}

func startCDC(t *testing.T, p *pipelines.Pipeline, mem memory.Allocator, store state.Store) *streaming {
	t.Helper()
	eng := pipelineEngine(t, p, mem, store, 2)
	ctx, cancel := context.WithCancel(t.Context())
	s := &streaming{cancel: cancel, done: make(chan error, 1)}
	go func() {
		_, err := eng.Stream(ctx, pipelines.StreamRun())
		s.done <- err
	}()
	return s
}

func (s *streaming) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	if err := <-s.done; err != nil {
		t.Fatalf("stream: %v", err)
	}
}

// waitEqual waits until the lake equals the table, failing with the difference after a minute.
func waitEqual(t *testing.T, dsn, wh string, s *streaming, when string) {
	t.Helper()
	want := tableRows(t, dsn)
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case err := <-s.done:
			t.Fatalf("%s: the stream ended: %v", when, err)
		default:
		}
		got := lakeRows(t, wh)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the lake is not SELECT * FROM items after a minute:\n%s", when, diffRows(want, got))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func diffRows(want, got []string) string {
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

// TestCDCIntoIcebergMerge races a writer (multi-row transactions of inserts, updates with and without the
// TOASTed column, deletes) against the initial load and the stream into an Iceberg merge table; once the writer
// stops the lake equals the table. The stream is then stopped (as SIGTERM does) and restarted while the writer
// runs again, and restarted once more with a new, empty state store: it resumes from the checkpoint in the
// Iceberg snapshot summaries. Every time the lake ends equal to the table.
func TestCDCIntoIcebergMerge(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	createItems(t, dsn, 2000)
	wh := t.TempDir()
	p := cdcPipeline(t, dsn, wh, "")
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	store := tempStore(t)

	w := startWriter(t, dsn, 1, 2000)
	s := startCDC(t, p, mem, store)
	time.Sleep(2 * time.Second)
	w.finish(t)
	waitEqual(t, dsn, wh, s, "initial load racing the writer")
	s.stop(t)
	t.Logf("round 1: %d transactions", w.txns)

	w = startWriter(t, dsn, 2, 4000)
	time.Sleep(300 * time.Millisecond)
	s = startCDC(t, p, mem, store)
	time.Sleep(1500 * time.Millisecond)
	w.finish(t)
	waitEqual(t, dsn, wh, s, "restart with the state store")
	s.stop(t)

	w = startWriter(t, dsn, 3, 6000)
	s = startCDC(t, p, mem, tempStore(t))
	time.Sleep(time.Second)
	w.finish(t)
	waitEqual(t, dsn, wh, s, "restart without the state store")
	s.stop(t)
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
