package postgres

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/loaders/iceberg"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/cdctest"
	"github.com/jetflow-dev/jetflow/testkit/faultproxy"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// cdcPipeline streams table items of dsn into an Iceberg merge table under wh.
func cdcPipeline(t *testing.T, dsn, wh, extra string) *pipelines.Pipeline {
	t.Helper()
	return parsePipeline(t, "items.yaml", cdctest.Pipeline("${WH}", "300ms", "  batch_rows: 100\n"+extra),
		map[string]string{"PG_DSN": dsn, "WH": wh})
}

// lakeRows is the Iceberg table under wh, as cdctest.LakeRows writes rows (none before the table exists).
func lakeRows(t *testing.T, wh string) []string {
	t.Helper()
	tbl := lakeTable(t, wh)
	if tbl == nil {
		return nil
	}
	return cdctest.LakeRows(t, tbl)
}

// lakeTable is the Iceberg table lake.items under wh, or nil before it is created.
func lakeTable(t *testing.T, wh string) *table.Table {
	t.Helper()
	l, err := iceberg.New(stage.BuildContext{Pipeline: "items", Alloc: memory.NewGoAllocator()},
		&iceberg.Config{Catalog: iceberg.CatalogConfig{Warehouse: wh}, Table: "lake.items"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tbl, err := l.LoadTable(context.Background())
	if err != nil {
		return nil // not created yet
	}
	return tbl
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
	want := cdctest.TableRows(t, dsn)
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
			t.Fatalf("%s: the lake is not SELECT * FROM items after a minute:\n%s", when, cdctest.Diff(want, got))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestCDCIntoIcebergMerge races a writer (multi-row transactions of inserts, updates with and without the
// TOASTed column, deletes) against the initial load and the stream into an Iceberg merge table; once the writer
// stops the lake equals the table. The stream is then stopped (as SIGTERM does) and restarted while the writer
// runs again, and restarted once more with a new, empty state store: it resumes from the checkpoint in the
// Iceberg snapshot summaries. Every time the lake ends equal to the table.
func TestCDCIntoIcebergMerge(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	cdctest.CreateItems(t, dsn, 2000)
	wh := t.TempDir()
	p := cdcPipeline(t, dsn, wh, "")
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	store := tempStore(t)

	w := cdctest.StartWriter(dsn, 1, 2000)
	s := startCDC(t, p, mem, store)
	time.Sleep(2 * time.Second)
	w.Finish(t)
	waitEqual(t, dsn, wh, s, "initial load racing the writer")
	s.stop(t)
	t.Logf("round 1: %d transactions", w.Txns)

	w = cdctest.StartWriter(dsn, 2, 4000)
	time.Sleep(300 * time.Millisecond)
	s = startCDC(t, p, mem, store)
	time.Sleep(1500 * time.Millisecond)
	w.Finish(t)
	waitEqual(t, dsn, wh, s, "restart with the state store")
	s.stop(t)

	w = cdctest.StartWriter(dsn, 3, 6000)
	s = startCDC(t, p, mem, tempStore(t))
	time.Sleep(time.Second)
	w.Finish(t)
	waitEqual(t, dsn, wh, s, "restart without the state store")
	s.stop(t)
}

// TestCDCConnectionCut cuts the replication connection mid-stream (through testkit/faultproxy) while a writer
// runs: the stream reconnects, starts again after the committed position, and the lake ends equal to the table.
func TestCDCConnectionCut(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.CreateDatabase(t)
	cdctest.CreateItems(t, dsn, 500)
	target := net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port))
	proxy := faultproxy.Start(t, target)
	wh := t.TempDir()
	p := cdcPipeline(t, strings.Replace(dsn, target, proxy.Addr, 1), wh, "")
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	s := startCDC(t, p, mem, tempStore(t))
	waitEqual(t, dsn, wh, s, "initial load")
	w := cdctest.StartWriter(dsn, 4, 500)
	// The next connection past 300 KB from the server is the replication stream's (the loader reads no
	// PostgreSQL): cut it, twice.
	proxy.CutAfter(300_000, 2)
	deadline := time.Now().Add(time.Minute)
	for proxy.Cuts() < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	w.Finish(t)
	if proxy.Cuts() < 2 {
		t.Fatalf("the proxy cut %d connections in a minute, want 2", proxy.Cuts())
	}
	waitEqual(t, dsn, wh, s, "after two cuts")
	s.stop(t)
}

// TestCDCServerRestart restarts the PostgreSQL server under a running stream while a writer commits, so that
// changes are in flight: read into a partition not yet committed, or not yet read. The server ends the
// replication connection; the stream reconnects once it is back and starts again after the committed position,
// the writer connects again and goes on, and the lake ends equal to the table (iceberg-go's scanner and DuckDB).
func TestCDCServerRestart(t *testing.T) {
	t.Parallel()
	srv := pgtest.StartPrivate(t)
	dsn := srv.CreateDatabase(t)
	cdctest.CreateItems(t, dsn, 500)
	wh := t.TempDir()
	p := cdcPipeline(t, dsn, wh, "")
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	s := startCDC(t, p, mem, tempStore(t))
	waitEqual(t, dsn, wh, s, "initial load")
	w := cdctest.StartWriter(dsn, 8, 500)
	waitCommitted(t, w, 200)
	srv.Restart(t)
	waitCommitted(t, w, w.Committed()+200)
	w.Finish(t)
	if w.Reconnects() == 0 {
		t.Fatal("the writer did not lose its connection: the server restarted before or after it wrote")
	}
	waitEqual(t, dsn, wh, s, "after the server restarted")
	s.stop(t)
	want := cdctest.TableRows(t, dsn)
	duck := testkit.IcebergDuckDBRows(t, lakeTable(t, wh), `id || '|' || status || '|' || coalesce(n::VARCHAR, '') || '|' || coalesce(md5(payload), '')`)
	if !slices.Equal(duck, want) {
		t.Errorf("DuckDB reads the lake unlike SELECT * FROM items:\n%s", cdctest.Diff(want, duck))
	}
}

// waitCommitted waits until the writer has committed n transactions, failing the test after a minute.
func waitCommitted(t *testing.T, w *cdctest.Writer, n int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d transactions written", n), func() bool { return w.Committed() >= n })
}
