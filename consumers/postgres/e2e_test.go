package postgres

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/state/sqlite"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/faultproxy"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// TestPipelineKilledBackend runs a whole pipeline (postgres → parquet) on the engine, with two workers reading
// partitions in one exported snapshot, while the server terminates the first backend it sees reading: the
// engine retries that partition, and the Parquet output holds every row exactly once.
func TestPipelineKilledBackend(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	const rows = 400_000
	exec(t, dsn, `CREATE TABLE orders (id int8 PRIMARY KEY, total numeric(12,2) NOT NULL, note text)`,
		`INSERT INTO orders SELECT g, g / 100.0, CASE WHEN g % 10 = 0 THEN NULL ELSE 'n' || g END FROM generate_series(1, 400000) g`)
	out := t.TempDir()
	src := `name: orders
run_instance: {every: 1d}
retries: {attempts: 3, backoff: 10ms}
consumer:
  type: postgres
  dsn: ${PG_DSN}
  table: public.orders
  partition: {column: id, count: 4}
  snapshot: export
  batch_rows: 5000
loaders:
  - type: parquet
    path: ${OUT}/orders/
`
	env := map[string]string{"PG_DSN": dsn, "OUT": out}
	p := parsePipeline(t, "orders.yaml", src, env)
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	eng := pipelineEngine(t, p, mem, tempStore(t), 2)

	// The killer ends the first backend it finds streaming a partition, once.
	var killed atomic.Int64
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		admin, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer admin.Close(context.Background())
		for ctx.Err() == nil && killed.Load() == 0 {
			var n int64
			_ = admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE state = 'active' AND query LIKE 'SELECT "id", "total", "note" FROM%' AND pid <> pg_backend_pid()`).Scan(&n)
			killed.Add(n)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	run, err := p.ParseRun("2026-11-22")
	if err != nil {
		t.Fatal(err)
	}
	report, err := eng.Run(t.Context(), run)
	stop()
	<-done
	if err != nil {
		t.Fatalf("run: %v (report %+v)", err, report)
	}
	if killed.Load() == 0 {
		t.Fatal("no backend was terminated: the reads finished before the killer saw one")
	}
	retried := 0
	for _, pr := range report.Partitions {
		if pr.Outcome != "committed" {
			t.Errorf("partition %s: %s %s", pr.Key, pr.Outcome, pr.Error)
		}
		if pr.Attempts > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Errorf("%d backends terminated but no partition needed a second attempt: %+v", killed.Load(), report.Partitions)
	}
	rec := testkit.ReadParquet(t, mem, filepath.Join(out, "orders"))
	if rec == nil {
		t.Fatal("no Parquet output")
	}
	defer rec.Release()
	ids := rec.Column(rec.Schema().FieldIndices("id")[0]).(*array.Int64)
	seen := make(map[int64]bool, rows)
	for i := 0; i < ids.Len(); i++ {
		if seen[ids.Value(i)] {
			t.Fatalf("id %d written twice", ids.Value(i))
		}
		seen[ids.Value(i)] = true
	}
	if len(seen) != rows {
		t.Errorf("%d distinct ids written, want %d", len(seen), rows)
	}
}

// Incremental loads through the engine: a first run loads what is there, a run whose commit fails pins its plan,
// its retry loads the same range although rows were added meanwhile, and the next run loads only the new rows.
// The Parquet output holds every row exactly once.
func TestIncrementalRunsThroughTheEngine(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	exec(t, dsn, `CREATE TABLE events (id int8 PRIMARY KEY, v text)`,
		`INSERT INTO events SELECT g, 'e' || g FROM generate_series(1, 1000) g`)
	out := t.TempDir()
	src := `name: events
retries: {attempts: 1}
consumer:
  type: postgres
  dsn: ${PG_DSN}
  table: public.events
  incremental: {column: id}
loaders:
  - type: parquet
    path: ${OUT}/events/
`
	env := map[string]string{"PG_DSN": dsn, "OUT": out}
	p := parsePipeline(t, "events.yaml", src, env)
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	store := tempStore(t)
	runOnce := func(label string) *engine.Report {
		t.Helper()
		eng := pipelineEngine(t, p, mem, store, 1)
		run, err := p.ParseRun(label)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := eng.Run(t.Context(), run)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := runOnce("2026-11-21"); !rep.OK() || rep.Rows != 1000 {
		t.Fatalf("first run: %+v", rep)
	}
	exec(t, dsn, `INSERT INTO events SELECT g, 'e' || g FROM generate_series(1001, 1500) g`)
	// The second run plans (and pins) 1001..1500, then its load fails: the destination directory is a file.
	dest := filepath.Join(out, "events")
	if err := os.Rename(dest, dest+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dest, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// An unwritable destination is a fatal fault: the run stops at once, with the fault.
	run, err := p.ParseRun("2026-11-22")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := pipelineEngine(t, p, mem, store, 1).Run(t.Context(), run)
	if !stage.IsFatal(err) {
		t.Fatalf("second run: err = %v, want the fatal fault of its unwritable destination", err)
	}
	if err := os.Remove(dest); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dest+".away", dest); err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Fatalf("second run should fail while its destination is unwritable: %+v", rep)
	}
	exec(t, dsn, `INSERT INTO events SELECT g, 'e' || g FROM generate_series(1501, 2000) g`)
	if rep := runOnce("2026-11-22"); !rep.OK() || rep.Rows != 500 {
		t.Fatalf("retry should load the pinned 500 rows (1001..1500), not the 1000 there are now: %+v", rep)
	}
	if rep := runOnce("2026-11-23"); !rep.OK() || rep.Rows != 500 {
		t.Fatalf("next run should load the 500 newest rows: %+v", rep)
	}
	got := testkit.ReadParquet(t, mem, filepath.Join(out, "events"))
	defer got.Release()
	testkit.AssertIDsOnce(t, got.Column(0).(*array.Int64), 1, 2000)
}

// The connection drops in the middle of a partition's result (a proxy cuts it after 200 KB): the engine retries
// the partition, and the Parquet output holds every row exactly once.
func TestConnectionCutMidPartition(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.CreateDatabase(t)
	exec(t, dsn, `CREATE TABLE big (id int8 PRIMARY KEY, note text NOT NULL)`,
		`INSERT INTO big SELECT g, repeat('x', 40) || g FROM generate_series(1, 100000) g`)
	proxy := faultproxy.Start(t, net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port)))
	viaProxy := strings.Replace(dsn, net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port)), proxy.Addr, 1)
	out := t.TempDir()
	src := `name: big
retries: {attempts: 3, backoff: 10ms, max_backoff: 50ms}
consumer:
  type: postgres
  dsn: ${PG_DSN}
  table: public.big
  partition: {column: id, count: 2}
  batch_rows: 2000
loaders:
  - type: parquet
    path: ${OUT}/big/
`
	env := map[string]string{"PG_DSN": viaProxy, "OUT": out}
	p := parsePipeline(t, "big.yaml", src, env)
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	eng := pipelineEngine(t, p, mem, tempStore(t), 1)
	run, err := p.ParseRun("2026-11-22")
	if err != nil {
		t.Fatal(err)
	}
	// Planning reads little; the first result stream past 200 KB is a partition's rows.
	proxy.CutAfter(200_000, 1)
	report, err := eng.Run(t.Context(), run)
	if err != nil || !report.OK() {
		t.Fatalf("run: %v %+v", err, report)
	}
	if proxy.Cuts() != 1 {
		t.Fatalf("the proxy cut %d connections, want 1", proxy.Cuts())
	}
	retried := false
	for _, pr := range report.Partitions {
		retried = retried || pr.Attempts > 1
	}
	if !retried {
		t.Fatalf("no partition took a second attempt after the cut: %+v", report.Partitions)
	}
	rec := testkit.ReadParquet(t, mem, filepath.Join(out, "big"))
	defer rec.Release()
	testkit.AssertIDsOnce(t, rec.Column(0).(*array.Int64), 1, 100000)
}

// parsePipeline reads a pipeline given as text, with ${VAR}s from env.
func parsePipeline(t *testing.T, file, src string, env map[string]string) *pipelines.Pipeline {
	t.Helper()
	p, err := pipelines.Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}.Parse(file, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pipelineEngine builds p on mem and returns an engine for it over a fresh SQLite state store; the consumer and
// the store are closed when the test ends.
func pipelineEngine(t testing.TB, p *pipelines.Pipeline, mem memory.Allocator, store state.Store, workers int) *engine.Engine {
	t.Helper()
	built, err := p.Build(stage.BuildContext{Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { built.Source.(interface{ Close() error }).Close() })
	eng, err := engine.New(p.Job(built), store, engine.Options{Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// tempStore opens a SQLite state store in the test's temporary directory, closed when the test ends.
func tempStore(t testing.TB) state.Store {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// TestLogicalTypesInParquet runs postgres → parquet on the engine and asks DuckDB what it reads: a uuid column
// carries the Arrow uuid extension to the loader, which annotates it with Parquet's UUID logical type, so
// readers see UUIDs rather than 16-byte blobs; json and jsonb columns carry the Arrow json extension, which the
// loader annotates with Parquet's JSON logical type (DuckDB reads JSON). Enum columns stay strings (VARCHAR).
func TestLogicalTypesInParquet(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	exec(t, dsn, `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`,
		`CREATE TABLE things (id int8 PRIMARY KEY, u uuid, us uuid[], j json, jb jsonb, m mood, ms mood[])`,
		`INSERT INTO things VALUES
			(1, '01020304-0506-0708-090a-0b0c0d0e0fff', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{"a": 1}', '{"b": 2}', 'ok', '{sad}'),
			(2, NULL, NULL, NULL, NULL, NULL, NULL)`)
	out := t.TempDir()
	src := `name: things
consumer:
  type: postgres
  dsn: ${PG_DSN}
  table: public.things
loaders:
  - type: parquet
    path: ${OUT}/things/
`
	p := parsePipeline(t, "things.yaml", src, map[string]string{"PG_DSN": dsn, "OUT": out})
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	eng := pipelineEngine(t, p, mem, tempStore(t), 1)
	run, err := p.ParseRun("2026-11-22")
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := eng.Run(t.Context(), run); err != nil || !rep.OK() {
		t.Fatalf("run: %v %+v", err, rep)
	}
	files := testkit.ParquetFiles(t, filepath.Join(out, "things"))
	if len(files) != 1 {
		t.Fatalf("want one Parquet file, got %v", files)
	}
	rows := testkit.DuckDBQuery(t, fmt.Sprintf(`SELECT typeof(u) AS tu, typeof(us) AS tus, typeof(j) AS tj,
		typeof(jb) AS tjb, typeof(m) AS tm, typeof(ms) AS tms, u::VARCHAR AS u, us::VARCHAR AS us,
		j->>'a' AS ja, jb->>'b' AS jbb, m AS m FROM read_parquet('%s') WHERE id = 1`, files[0]))
	want := map[string]string{"tu": "UUID", "tus": "UUID[]", "tj": "JSON", "tjb": "JSON", "tm": "VARCHAR", "tms": "VARCHAR[]",
		"u": "01020304-0506-0708-090a-0b0c0d0e0fff", "us": "[a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11]", "ja": "1", "jbb": "2", "m": "ok"}
	if len(rows) != 1 {
		t.Fatalf("DuckDB read %d rows with id 1, want 1", len(rows))
	}
	for k, v := range want {
		if rows[0][k] != v {
			t.Errorf("DuckDB %s = %q, want %q", k, rows[0][k], v)
		}
	}
	rec := testkit.ReadParquet(t, mem, filepath.Join(out, "things"))
	defer rec.Release()
	// arrow-go's reader maps Parquet's JSON annotation to binary, whatever the stored Arrow schema says.
	for col, want := range map[string]string{"u": "extension<arrow.uuid>", "j": "binary", "m": "utf8"} {
		if got := rec.Schema().Field(rec.Schema().FieldIndices(col)[0]).Type.String(); got != want {
			t.Errorf("arrow-go reads %s back as %s, want %s", col, got, want)
		}
	}
}
