package postgres

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/testkit"
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
	p, err := pipelines.Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}.Parse("orders.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	built, err := p.Build(stage.BuildContext{Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	defer built.Source.(*Consumer).Close()
	job := &engine.Job{Pipeline: p.Name, Fingerprint: p.Fingerprint(), Source: built.Source,
		Retry:       engine.RetryPolicy{Attempts: 3, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		PartitionID: func(run, key string) string { return pipelines.PartitionID(p.Name, run, key) }}
	for i, l := range built.Loaders {
		job.Loaders = append(job.Loaders, engine.NamedLoader{Name: built.LoaderNames[i], Loader: l})
	}
	store, err := state.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	eng, err := engine.New(job, store, engine.Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}

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
