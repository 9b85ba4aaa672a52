package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/jetflow-dev/jetflow/bench/benchkit"
)

// The PostgreSQL table of the issue: 10 mixed columns, made with generate_series.
const pgTableSQL = `CREATE TABLE %[1]s (id int8 PRIMARY KEY, n int4 NOT NULL, amount numeric(18,4) NOT NULL, code text NOT NULL,
	ok bool NOT NULL, note text, at timestamptz NOT NULL, qty int8 NOT NULL, ratio float8, day date NOT NULL);
INSERT INTO %[1]s SELECT g, g %% 1000, (g %% 100000) / 7.0, 'c' || (g %% 50), g %% 3 = 0,
	CASE WHEN g %% 5 = 0 THEN NULL ELSE 'note ' || g END, timestamptz '2026-11-22' + g * interval '1 millisecond',
	g * 7, CASE WHEN g %% 4 = 0 THEN NULL ELSE g / 3.0 END, date '2026-01-01' + (g %% 300) FROM generate_series(1, %[2]d) g`

const pgSelect = `SELECT id, n, amount, code, ok, note, at, qty, ratio, day FROM `

// pgBench measures reading a PostgreSQL table: the wire ceiling, pgx's Rows.Scan, psql's binary COPY, the
// postgres consumer into Arrow (one connection, and the table cut by ctid into 1, 2 and 4 page ranges read at
// once), and jetflow end to end into Parquet at two sizes.
func pgBench(bin, work string, rows int64) error {
	ctx := context.Background()
	dsn, conn, stop, err := benchkit.Postgres(ctx)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(os.Stderr, "bench: creating PostgreSQL tables of %d and %d rows\n", rows/10, rows)
	for _, t := range []struct {
		name string
		n    int64
	}{{"bench_small", rows / 10}, {"bench_large", rows}} {
		if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+t.name); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf(pgTableSQL, t.name, t.n)); err != nil {
			return fmt.Errorf("create %s: %w", t.name, err)
		}
		if _, err := conn.Exec(ctx, "VACUUM ANALYZE "+t.name); err != nil {
			return err
		}
	}
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return err
	}
	postmaster, _, _ := benchkit.ProcStat(backend)
	if postmaster == 0 {
		return fmt.Errorf("cannot read the server's processes in /proc (backend %d)", backend)
	}
	var cases []benchkit.Case
	var serverCPU []time.Duration // each case's, from /proc: with 2 cores shared, what the server used sets the pace
	server0 := benchkit.ServerCPU(postmaster)
	add := func(c benchkit.Case, err error) error {
		if err == nil {
			cases = append(cases, c)
			s := benchkit.ServerCPU(postmaster)
			serverCPU = append(serverCPU, s-server0)
			server0 = s
		}
		return err
	}

	if err := add(benchkit.InProcess("wire ceiling: pgconn binary, values discarded", rows, func() error {
		rr := conn.PgConn().ExecParams(ctx, pgSelect+"bench_large", nil, nil, nil, []int16{1})
		for rr.NextRow() {
			_ = rr.Values()
		}
		_, err := rr.Close()
		return err
	})); err != nil {
		return err
	}
	if err := add(benchkit.InProcess("pgx Query + Rows.Scan", rows, func() error {
		r, err := conn.Query(ctx, pgSelect+"bench_large")
		if err != nil {
			return err
		}
		defer r.Close()
		var (
			id, qty int64
			n       int32
			amount  pgtype.Numeric
			code    string
			ok      bool
			note    *string
			at, day time.Time
			ratio   *float64
		)
		for r.Next() {
			if err := r.Scan(&id, &n, &amount, &code, &ok, &note, &at, &qty, &ratio, &day); err != nil {
				return err
			}
		}
		return r.Err()
	})); err != nil {
		return err
	}
	psql := exec.Command("psql", dsn, "-q", "-c", "COPY ("+pgSelect+"bench_large) TO STDOUT (FORMAT binary)")
	var psqlErr bytes.Buffer
	psql.Stdout, psql.Stderr = nil, &psqlErr // stdout: /dev/null
	t0 := time.Now()
	psqlRSS, err := benchkit.RunPeakRSS(psql)
	if err != nil {
		return fmt.Errorf("psql COPY: %w\n%s", err, psqlErr.Bytes())
	}
	_ = add(benchkit.Case{Name: "psql COPY binary > /dev/null", Rows: rows, Elapsed: time.Since(t0),
		CPU: psql.ProcessState.UserTime() + psql.ProcessState.SystemTime(), RSSKB: psqlRSS}, nil)

	// One connection without partitions, then the table cut by ctid into 1, 2 and 4 page ranges read at once.
	const ours, firstCTID = 3, 4
	ctids := []int{1, 2, 4}
	for _, parts := range append([]int{0}, ctids...) {
		name, cut := "jetflow postgres consumer → Arrow", ""
		if parts > 0 {
			name += fmt.Sprintf(", by: ctid, %d partition(s)", parts)
			cut = fmt.Sprintf("  snapshot: export\n  partition: {by: ctid, count: %d}\n", parts)
		}
		yaml := fmt.Sprintf("name: pgbench\nconsumer:\n  type: postgres\n  dsn: %q\n  table: public.bench_large\n%sloaders:\n  - {type: parquet, path: %s}\n",
			dsn, cut, filepath.Join(work, "unused"))
		if err := add(benchkit.InProcess(name, rows, func() error { _, err := benchkit.ReadConsumer(ctx, yaml, "2026-11-22"); return err })); err != nil {
			return err
		}
	}
	for _, t := range []struct {
		table string
		n     int64
	}{{"bench_small", rows / 10}, {"bench_large", rows}} {
		if err := add(pgEndToEnd(bin, work, dsn, t.table, t.n)); err != nil {
			return err
		}
	}

	fmt.Printf("\nPostgreSQL, %d rows × 10 columns, server and client on the same 2 cores:\n", rows)
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\trows\tseconds\trows/s\tclient CPU ns/row\tserver CPU ns/row\trows per client CPU-s\tpeak RSS MB\tvs ceiling\t")
	ceiling := cases[0].RowsPerSec()
	perRow := func(d time.Duration, c benchkit.Case) float64 { return float64(d.Nanoseconds()) / float64(c.Rows) }
	for i, c := range cases {
		rss := "-"
		if c.RSSKB > 0 {
			rss = fmt.Sprintf("%.0f", float64(c.RSSKB)/1024)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t%.2fx\t\n", c.Name, c.Rows, c.Elapsed.Seconds(), c.RowsPerSec(),
			perRow(c.CPU, c), perRow(serverCPU[i], c), float64(c.Rows)/c.CPU.Seconds(), rss, c.RowsPerSec()/ceiling)
	}
	tw.Flush()
	scan := cases[1]
	fmt.Printf("client CPU per row, consumer / Rows.Scan: %.2fx (target ≤ 0.5x)\n", perRow(cases[ours].CPU, cases[ours])/perRow(scan.CPU, scan))
	fmt.Print("by: ctid, rows/s against the single-connection wire ceiling, and rows per client CPU-second:")
	for i, parts := range ctids {
		c := cases[firstCTID+i]
		fmt.Printf(" %d: %.2fx, %.0f;", parts, c.RowsPerSec()/ceiling, float64(c.Rows)/c.CPU.Seconds())
	}
	c := cases[firstCTID+len(ctids)-1]
	fmt.Printf("\n  on %d cores the server is the ceiling: with %d partitions the server kept %.2f cores busy, this client %.2f\n",
		runtime.NumCPU(), ctids[len(ctids)-1], serverCPU[firstCTID+len(ctids)-1].Seconds()/c.Elapsed.Seconds(), c.CPU.Seconds()/c.Elapsed.Seconds())
	small, large := cases[len(cases)-2], cases[len(cases)-1]
	fmt.Printf("end-to-end peak RSS %d rows / %d rows: %.2fx (target ≤ 1.3x); Sling v1.4.5 reference: 72k rows/s, 862 MB\n",
		large.Rows, small.Rows, float64(large.RSSKB)/float64(small.RSSKB))
	return nil
}

// pgEndToEnd runs `jetflow run` postgres → Parquet (zstd) on one connection and reads the child's peak RSS.
func pgEndToEnd(bin, work, dsn, table string, rows int64) (benchkit.Case, error) {
	dir := filepath.Join(work, "pg-"+table)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return benchkit.Case{}, err
	}
	yaml := fmt.Sprintf("name: pg_%s\nconsumer:\n  type: postgres\n  dsn: ${BENCH_PG_DSN}\n  table: public.%s\nloaders:\n  - {type: parquet, path: out, compression: zstd}\n", table, table)
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(yaml), 0o644); err != nil {
		return benchkit.Case{}, err
	}
	cmd := exec.Command(bin, "run", "p.yaml", "--run", "2026-11-22", "--workers", "1", "--progress", "none", "--log-level", "warn")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BENCH_PG_DSN="+dsn)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	rss, err := benchkit.RunPeakRSS(cmd)
	if err != nil {
		return benchkit.Case{}, fmt.Errorf("jetflow run %s: %w\n%s", table, err, stderr.Bytes())
	}
	return benchkit.Case{Name: fmt.Sprintf("jetflow run postgres → Parquet, %d rows", rows), Rows: rows, Elapsed: time.Since(t0),
		CPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), RSSKB: rss}, nil
}
