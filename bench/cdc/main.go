// Command cdc measures PostgreSQL change capture into an Iceberg merge table (merge_on_read) under a steady load:
// the commit latency (a source transaction's commit to the lake commit that holds it) with a 1 s roll interval,
// and the peak RSS of `jetflow run --stream` at the start and at the end of a long stream:
//
//	go run ./bench/cdc                      # 30 s at 2,000 changes/s (make bench)
//	go run ./bench/cdc -duration 10m        # the case: RSS over a 10-minute stream
//	BENCH_CDC_ARGS="--cpu-profile /tmp/cdc.cpu" go run ./bench/cdc   # extra flags for `jetflow run --stream`
//
// A writer commits a transaction every 50 ms (inserts, updates and deletes, rate/20 changes) and notes each
// one's end in the log (pg_current_wal_lsn() right after its commit, on its connection) and the time. The lake
// holds a transaction once the slot's confirmed position passes its end: the stream confirms a position only
// after the lake commit that holds it, so the measured latency includes that confirmation. Throughput against
// pg_recvlogical is BenchmarkCDC's (consumers/postgres).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/bench/benchkit"
)

const pipeline = `name: cdcbench
consumer:
  type: postgres
  dsn: ${PG_DSN}
  table: public.bench
  cdc:
    slot: bench_lake
    roll: {interval: %s}
loaders:
  - type: iceberg
    catalog: {warehouse: wh}
    table: lake.bench
    partition_by: [bucket(8, id)]
    mode: merge
    merge: {strategy: merge_on_read}
    key: [id]
    version_by: _lsn
    delete_when: _op = 'd'
%s%s`

// defaultInitialRows is the table's size before the stream starts (the initial load).
const defaultInitialRows = 100_000

func main() {
	duration := flag.Duration("duration", 30*time.Second, "how long the writer runs")
	rate := flag.Int("rate", 2000, "changes per second the writer commits")
	roll := flag.Duration("roll", time.Second, "the stream's roll interval")
	initial := flag.Int64("initial-rows", defaultInitialRows, "rows in the table before the stream starts (the initial load); the stream adds about 0.3 rows a change")
	buffer := flag.String("buffer-size", "", "the iceberg loader's buffer_size (its default when empty)")
	keep := flag.Int("keep-snapshots", 0, "the iceberg loader's keep_snapshots (0: its default, keep all)")
	flag.Parse()
	if err := run(*duration, *rate, *roll, *buffer, *keep, *initial); err != nil {
		fmt.Fprintln(os.Stderr, "bench/cdc:", err)
		os.Exit(1)
	}
}

// txn is a transaction the writer committed: its end in the log and when COMMIT returned.
type txn struct {
	end pglogrepl.LSN
	at  time.Time
}

// loaderLine is a line of the loader's settings, or nothing when value is empty (the loader's default then).
func loaderLine(key, value string) string {
	if value == "" {
		return ""
	}
	return "    " + key + ": " + value + "\n"
}

// keepValue is -keep-snapshots as a setting: empty for 0, the loader's default.
func keepValue(keep int) string {
	if keep <= 0 {
		return ""
	}
	return strconv.Itoa(keep)
}

func run(duration time.Duration, rate int, roll time.Duration, buffer string, keep int, initialRows int64) error {
	ctx := context.Background()
	work, bin, cleanup, err := benchkit.Workspace("cdc")
	if err != nil {
		return err
	}
	defer cleanup()
	dsn, conn, stop, err := benchkit.Postgres(ctx)
	if err != nil {
		return err
	}
	defer stop()
	if _, err := conn.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS bench;
		CREATE TABLE bench (id int8 PRIMARY KEY, n int4 NOT NULL, amount numeric(18,4), code text NOT NULL, note text, at timestamptz NOT NULL);
		ALTER TABLE bench REPLICA IDENTITY FULL;
		INSERT INTO bench SELECT g, g %% 1000, g / 7.0, 'c' || (g %% 50), CASE WHEN g %% 5 = 0 THEN NULL ELSE 'note ' || g END,
			timestamptz '2026-11-22' + g * interval '1 second' FROM generate_series(1, %d) g`, initialRows)); err != nil {
		return fmt.Errorf("create the table: %w", err)
	}
	if err := os.WriteFile(filepath.Join(work, "p.yaml"), []byte(fmt.Sprintf(pipeline, roll, loaderLine("keep_snapshots", keepValue(keep)), loaderLine("buffer_size", buffer))), 0o644); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(work, "stream.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(bin, append([]string{"run", "p.yaml", "--stream"}, strings.Fields(os.Getenv("BENCH_CDC_ARGS"))...)...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = work, append(os.Environ(), "PG_DSN="+dsn), log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
		}
	}()
	fail := func(err error) error {
		out, _ := os.ReadFile(log.Name())
		return fmt.Errorf("%w\nstream log:\n%s", err, out)
	}

	// The initial load is committed once the slot's confirmed position is set.
	if _, err := waitConfirmed(ctx, conn, 0, 5*time.Minute, exited); err != nil {
		return fail(fmt.Errorf("the initial load: %w", err))
	}
	fmt.Fprintf(os.Stderr, "bench/cdc: initial load committed; writing %d changes/s for %s\n", rate, duration)

	// The writer and the poller of the confirmed position; the RSS sampler.
	var (
		mu      sync.Mutex
		pending []txn
		lat     []time.Duration
		changes int64
	)
	wctx, stopWriter := context.WithTimeout(ctx, duration)
	defer stopWriter()
	werr := make(chan error, 1)
	go func() {
		werr <- write(wctx, dsn, rate, initialRows, func(t txn, n int) { mu.Lock(); pending = append(pending, t); changes += int64(n); mu.Unlock() })
	}()
	pctx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	perr := make(chan error, 1)
	go func() {
		perr <- poll(pctx, dsn, func(confirmed pglogrepl.LSN, now time.Time) {
			mu.Lock()
			defer mu.Unlock()
			i := 0
			for ; i < len(pending) && pending[i].end <= confirmed; i++ {
				lat = append(lat, now.Sub(pending[i].at))
			}
			pending = pending[i:]
		})
	}()
	pid := cmd.Process.Pid
	startAt := max(duration/10, 10*time.Second) // the first tenth (10 s at least): the stream's footprint once warm
	t0 := time.Now()
	var rssStart int64
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for rssStart == 0 {
		select {
		case <-tick.C:
		case err := <-exited:
			return fail(fmt.Errorf("the stream exited: %v", err))
		}
		if time.Since(t0) >= min(startAt, duration) {
			rssStart, _ = benchkit.VmHWM(pid)
		}
	}
	if err := <-werr; err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fail(fmt.Errorf("writer: %w", err))
	}
	wrote := time.Since(t0)
	mu.Lock()
	last := pglogrepl.LSN(0)
	if len(pending) > 0 {
		last = pending[len(pending)-1].end
	}
	mu.Unlock()
	if last > 0 {
		if _, err := waitConfirmed(ctx, conn, last, 2*time.Minute, exited); err != nil {
			return fail(fmt.Errorf("catching up: %w", err))
		}
	}
	rssEnd, _ := benchkit.VmHWM(pid)
	stopPoll()
	if err := <-perr; err != nil && !errors.Is(err, context.Canceled) {
		return fail(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		return fail(errors.New("no transaction reached the lake"))
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "changes\tchanges/s\ttxns\troll\tlatency p50\tp99\tmax\tpeak RSS at %s\tat end (%s)\tend/start\t\n", startAt.Round(time.Second), wrote.Round(time.Second))
	fmt.Fprintf(w, "%d\t%.0f\t%d\t%s\t%.2f s\t%.2f s\t%.2f s\t%.0f MiB\t%.0f MiB\t%.2f×\t\n", changes, float64(changes)/wrote.Seconds(), len(lat), roll,
		q(0.5).Seconds(), q(0.99).Seconds(), lat[len(lat)-1].Seconds(), float64(rssStart)/1024, float64(rssEnd)/1024, float64(rssEnd)/float64(rssStart))
	if err := w.Flush(); err != nil {
		return err
	}
	return tableMetadata(filepath.Join(work, "wh"))
}

// tableMetadata prints the size and snapshot count of the table's newest metadata file, which every commit reads
// and writes whole.
func tableMetadata(wh string) error {
	var files []string
	err := filepath.WalkDir(wh, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".metadata.json") {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		return err
	}
	var newest string
	var at time.Time
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.ModTime().After(at) {
			newest, at = f, fi.ModTime()
		}
	}
	b, err := os.ReadFile(newest)
	if err != nil {
		return err
	}
	var md struct {
		Snapshots []json.RawMessage `json:"snapshots"`
	}
	if err := json.Unmarshal(b, &md); err != nil {
		return fmt.Errorf("%s: %w", newest, err)
	}
	fmt.Printf("table metadata at the end: %d KiB, %d snapshots (%d metadata files written)\n", len(b)>>10, len(md.Snapshots), len(files))
	return nil
}

// write commits a transaction every 50 ms, of rate/20 changes: 40% inserts of new rows, 50% updates and 10%
// deletes of rows it inserted, until ctx ends. It reports each transaction's end and the changes it made.
func write(ctx context.Context, dsn string, rate int, initialRows int64, done func(txn, int)) error {
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	per := max(rate/20, 10)
	ins, upd, del := per*4/10, per*5/10, per-per*4/10-per*5/10
	rng := rand.New(rand.NewPCG(1, 2))
	next := initialRows + 1
	lo := int64(1) // rows below lo were deleted
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		var sql strings.Builder
		fmt.Fprintf(&sql, `BEGIN;
INSERT INTO bench SELECT g, g %% 1000, g / 7.0, 'c' || (g %% 50), 'note ' || g, now() FROM generate_series(%d, %d) g;
`, next, next+int64(ins)-1)
		next += int64(ins)
		ids := make([]string, upd)
		for i := range ids {
			ids[i] = fmt.Sprint(lo + rng.Int64N(next-lo))
		}
		fmt.Fprintf(&sql, "UPDATE bench SET n = n + 1, note = 'updated', at = now() WHERE id IN (%s);\n", strings.Join(ids, ","))
		fmt.Fprintf(&sql, "DELETE FROM bench WHERE id >= %d AND id < %d;\nCOMMIT;\nSELECT pg_current_wal_lsn()::text;", lo, lo+int64(del))
		lo += int64(del)
		res, err := conn.PgConn().Exec(context.Background(), sql.String()).ReadAll()
		if err != nil {
			return err
		}
		at := time.Now()
		rows := res[len(res)-1].Rows
		if len(rows) != 1 {
			return errors.New("no pg_current_wal_lsn() after the commit")
		}
		end, err := pglogrepl.ParseLSN(string(rows[0][0]))
		if err != nil {
			return err
		}
		done(txn{end: end, at: at}, per)
	}
}

// poll reads the slot's confirmed position every 10 ms until ctx ends.
func poll(ctx context.Context, dsn string, seen func(pglogrepl.LSN, time.Time)) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for {
		var s *string
		if err := conn.QueryRow(ctx, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'bench_lake'`).Scan(&s); err != nil {
			return err
		}
		if s != nil {
			l, err := pglogrepl.ParseLSN(*s)
			if err != nil {
				return err
			}
			seen(l, time.Now())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitConfirmed waits until the slot's confirmed position is past lsn (exists, for 0).
func waitConfirmed(ctx context.Context, conn *pgx.Conn, lsn pglogrepl.LSN, limit time.Duration, exited <-chan error) (pglogrepl.LSN, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		var s *string
		err := conn.QueryRow(ctx, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'bench_lake' AND active`).Scan(&s)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return 0, err
		}
		if s != nil {
			if l, err := pglogrepl.ParseLSN(*s); err == nil && l >= lsn && (lsn > 0 || l > 0) {
				return l, nil
			}
		}
		select {
		case err := <-exited:
			return 0, fmt.Errorf("the stream exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("the slot's confirmed position did not reach %s in %s", lsn, limit)
}
