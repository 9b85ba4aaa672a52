package postgres

import (
	"context"
	"flag"
	osexec "os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// BenchmarkCDC measures changes/s drained from slots that hold the same changes (inserts of the bench table in
// transactions of 1,000 rows, then updates of every row): pg_recvlogical reading one slot to /dev/null (the
// baseline), this consumer decoding another into Arrow batches and dropping them, and a whole stream into an
// Iceberg merge table (merge_on_read) through the engine. Run once:
// go test ./consumers/postgres -run '^$' -bench BenchmarkCDC -benchtime 1x [-args -cdc-changes 2000000]
func BenchmarkCDC(b *testing.B) {
	rows := *cdcChanges / 2 // inserts, then as many updates
	srv := pgtest.Start(b)
	dsn := srv.CreateDatabase(b)
	exec(b, dsn, benchTable, `ALTER TABLE bench ADD PRIMARY KEY (id)`, `ALTER TABLE bench REPLICA IDENTITY FULL`)
	ctx := context.Background()
	wh := b.TempDir()
	store := tempStore(b)
	p, err := pipelines.Options{LookupEnv: func(k string) (string, bool) { return map[string]string{"PG_DSN": dsn, "WH": wh}[k], true }}.Parse("bench.yaml", []byte(`name: bench
consumer:
  type: postgres
  dsn: ${PG_DSN}
  table: bench
  cdc: {slot: bench_lake, publication: bench_pub, roll: {rows: 1000000, interval: 2s}}
loaders:
  - type: iceberg
    catalog:
      warehouse: ${WH}
    table: lake.bench
    partition_by: [bucket(8, id)]
    mode: merge
    key: [id]
    version_by: _lsn
    delete_when: _op = 'd'
`))
	if err != nil {
		b.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	// The initial load of the empty table creates the slot and the publication; then two more slots.
	s := startCDCB(b, p, mem, store)
	waitCheckpoint(b, store, "bench_lake", 0)
	s.cancel()
	<-s.done
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var startA, startB string
	for _, q := range []struct {
		slot string
		lsn  *string
	}{{"bench_a", &startA}, {"bench_b", &startB}} {
		if err := conn.QueryRow(ctx, `SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')`, q.slot).Scan(q.lsn); err != nil {
			b.Fatal(err)
		}
	}
	for lo := 0; lo < rows; lo += 1000 {
		if _, err := conn.Exec(ctx, `INSERT INTO bench SELECT g, g % 100000, (g * 1.2345)::numeric(18,4), 'c' || (g % 1000), g % 2 = 0,
			CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END, '2026-01-01'::timestamptz + g * interval '1 second',
			'2026-01-01'::date + (g % 365)::int4, g / 7.0, CASE WHEN g % 5 = 0 THEN NULL ELSE g * 3 END
			FROM generate_series($1::int8, $2::int8) g`, lo+1, lo+1000); err != nil {
			b.Fatal(err)
		}
	}
	for lo := 0; lo < rows; lo += 1000 {
		if _, err := conn.Exec(ctx, `UPDATE bench SET n = n + 1 WHERE id > $1 AND id <= $2`, lo, lo+1000); err != nil {
			b.Fatal(err)
		}
	}
	var end string
	if err := conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&end); err != nil {
		b.Fatal(err)
	}
	endLSN, _ := pglogrepl.ParseLSN(end)
	changes := float64(2 * rows)
	b.ResetTimer()

	t0 := time.Now()
	bin, _, err := pgtest.BinDir()
	if err != nil {
		b.Fatal(err)
	}
	cmd := osexec.Command(filepath.Join(bin, "pg_recvlogical"), "-d", dsn, "--slot", "bench_a", "--start", "--endpos", end,
		"-o", "proto_version=1", "-o", "publication_names=bench_pub", "-o", "binary=true", "-f", "/dev/null", "--no-loop")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("pg_recvlogical: %v\n%s", err, out)
	}
	base := time.Since(t0)
	b.ReportMetric(changes/base.Seconds(), "pg_recvlogical-changes/s")

	// The consumer alone: decoded into Arrow batches, dropped.
	src, err := stage.Build(stage.BuildContext{Pipeline: "bench", Alloc: mem}, &Config{DSN: stage.Secret(dsn), Table: "bench",
		CDC: &CDCConfig{Slot: "bench_b", Publication: "bench_pub", Roll: CDCRollConfig{Rows: 1_000_000, Interval: stage.Duration(2 * time.Second)}}}, build)
	if err != nil {
		b.Fatal(err)
	}
	c := src.(*CDC)
	defer c.Close()
	sctx, cancel := context.WithCancel(ctx)
	var got int64
	t0 = time.Now()
	err = c.Stream(sctx, stage.RunInstance{Label: "stream"}, func(context.Context, string) (string, bool, error) { return startB, true, nil },
		func(ctx context.Context, p stage.Partition, read stage.StreamRead) error {
			cp, err := read(ctx, func(rec arrow.RecordBatch) error { got += rec.NumRows(); return nil })
			if l, _ := pglogrepl.ParseLSN(cp); err == nil && l >= endLSN || got >= int64(changes) {
				cancel()
			}
			return err
		})
	consumer := time.Since(t0)
	cancel()
	if err != nil || got != int64(changes) {
		b.Fatalf("consumer: %d changes, %v", got, err)
	}
	b.ReportMetric(changes/consumer.Seconds(), "consumer-changes/s")

	// The whole stream into Iceberg.
	t0 = time.Now()
	s = startCDCB(b, p, mem, store)
	waitCheckpoint(b, store, "bench_lake", endLSN)
	lake := time.Since(t0)
	s.cancel()
	<-s.done
	b.ReportMetric(changes/lake.Seconds(), "iceberg-changes/s")
	b.ReportMetric(base.Seconds()/lake.Seconds(), "iceberg-vs-pg_recvlogical")
	b.Logf("%d changes: pg_recvlogical %s, consumer %s, stream into iceberg %s", int(changes), base, consumer, lake)
}

// cdcChanges is how many changes BenchmarkCDC's slots hold; the case is 2,000,000.
var cdcChanges = flag.Int("cdc-changes", 200_000, "changes BenchmarkCDC drains from each slot")

type benchStream struct {
	cancel context.CancelFunc
	done   chan error
}

func startCDCB(b *testing.B, p *pipelines.Pipeline, mem memory.Allocator, store state.Store) *benchStream {
	eng := pipelineEngine(b, p, mem, store, 2)
	ctx, cancel := context.WithCancel(context.Background())
	s := &benchStream{cancel: cancel, done: make(chan error, 1)}
	go func() {
		_, err := eng.Stream(ctx, pipelines.StreamRun())
		s.done <- err
	}()
	return s
}

// waitCheckpoint waits until the lane's committed checkpoint is at least lsn.
func waitCheckpoint(b *testing.B, store state.Store, lane string, lsn pglogrepl.LSN) {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		cp, ok, err := store.Checkpoint(context.Background(), "bench", lane)
		if err != nil {
			b.Fatal(err)
		}
		if l, err := pglogrepl.ParseLSN(cp); ok && err == nil && l >= lsn {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("no checkpoint of %s at %s after 10 minutes", lane, lsn)
}
