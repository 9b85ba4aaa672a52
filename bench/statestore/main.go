// Command statestore measures the PostgreSQL state store (state/postgres, the real code) against a real PostgreSQL
// started by testkit/pgtest, under 1 to 100 concurrent workers, each running the loop the engine runs for every
// partition:
//
//	claim → renew × -renewals → add a write intent → commit → clear the intents
//
// plus the engine's completion check (List of the run instance) by the worker that commits a run instance's last
// partition (-parts partitions a run instance). Every case is measured against two baselines on the same server at
// the same concurrency and with the same connections: a bare `SELECT 1` round trip and a single-row UPDATE (each
// worker its own row), so the table reads as a ratio of the server's own ceiling.
//
//	go run ./bench/statestore                        # 1, 10, 50 and 100 workers, 0.3 s a case (a quick look)
//	go run ./bench/statestore -duration 5s           # the table in bench/RESULTS.md
//	go run ./bench/statestore -workers 100,200 -modes pods
//
// Two ways to connect (-modes): "process" is one jetflow process with N workers, as `jetflow run --workers N` is:
// one Store shared by every worker, whose pool has pgxpool's default size; "pods" is N processes of one worker
// each (a Kubernetes Indexed Job of N pods): a Store each, so N connections. The "conns" column is the most
// client connections the server had on the database while the case ran (pg_stat_activity).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jetflow-dev/jetflow/bench/benchkit"
	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/state/postgres"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

const database = "statestore_bench"

// The kinds of operation, in the order of the loop; each has its own counts and latencies.
const (
	kSelect1 = iota
	kUpdate
	kClaim
	kRenew
	kIntent
	kCommit
	kClear
	kList
	kCycle // one partition, claim to clear
	kAll   // every store operation
	nKinds
)

var kindNames = [nKinds]string{"SELECT 1", "UPDATE one row", "claim", "renew", "add intent", "commit", "clear intents",
	"list (completion check)", "partition (claim → clear)", "all store operations"}

type config struct {
	duration time.Duration
	renewals int
	parts    int
	lease    time.Duration
}

func main() {
	workersFlag := flag.String("workers", "1,10,50,100", "concurrent workers, comma-separated levels")
	modesFlag := flag.String("modes", "process,pods", "process (one Store shared by the workers) and/or pods (a Store each)")
	cfg := config{}
	flag.DurationVar(&cfg.duration, "duration", 300*time.Millisecond, "time each case runs")
	flag.IntVar(&cfg.renewals, "renewals", 3, "lease renewals per partition")
	flag.IntVar(&cfg.parts, "parts", 24, "partitions per run instance (a completion check after each run instance's last)")
	flag.DurationVar(&cfg.lease, "lease", time.Minute, "lease length claimed and renewed (the engine's default)")
	rtt := flag.Duration("rtt", 0, "round-trip time added between the workers and the server (a proxy delays each direction by half), as a server on another host has")
	flag.Parse()
	var levels []int
	for _, f := range strings.Split(*workersFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fail(fmt.Errorf("-workers %q: want positive integers separated by commas", *workersFlag))
		}
		levels = append(levels, n)
	}
	modes := strings.Split(*modesFlag, ",")
	for _, m := range modes {
		if m != "process" && m != "pods" {
			fail(fmt.Errorf("-modes %q: want process, pods or both", *modesFlag))
		}
	}
	if err := run(levels, modes, *rtt, cfg); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/statestore:", err)
	os.Exit(1)
}

func run(levels []int, modes []string, rtt time.Duration, cfg config) error {
	ctx := context.Background()
	load, _ := os.ReadFile("/proc/loadavg")
	srv, stop, err := pgtest.StartMain()
	if err != nil {
		return err
	}
	defer stop()
	admin, err := pgx.Connect(ctx, srv.DSN("postgres"))
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+database); err != nil {
		return err
	}
	dsn := srv.DSN(database)
	where := "server on the same cores as the workers"
	if rtt > 0 {
		addr, err := delayProxy(net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port)), rtt/2)
		if err != nil {
			return err
		}
		u, err := url.Parse(dsn)
		if err != nil {
			return err
		}
		u.Host = addr
		dsn = u.String()
		where += fmt.Sprintf(", behind a proxy adding %s a round trip", rtt)
	}
	var backend int
	if err := admin.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return err
	}
	if postmaster, _, _ = benchkit.ProcStat(backend); postmaster == 0 {
		return fmt.Errorf("cannot read the server's processes in /proc (backend %d)", backend)
	}
	var settings []string
	for _, name := range []string{"max_connections", "fsync", "synchronous_commit"} {
		var v string
		if err := admin.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
			return err
		}
		settings = append(settings, name+"="+v)
	}
	fields := strings.Fields(string(load))
	if len(fields) > 3 {
		fields = fields[:3]
	}
	fmt.Printf("\nPostgreSQL %s state store (state/postgres), %s (%s); load average %s at the start;\n"+
		"a partition = claim, %d renewals, an intent, commit, clear; a completion check every %d partitions; %s a case:\n",
		srv.Version, where, strings.Join(settings, ", "), strings.Join(fields, " "), cfg.renewals, cfg.parts, cfg.duration)
	fmt.Println(`mode "process": one jetflow process, one Store shared by its workers (pgxpool's default size); ` +
		`"pods": one Store per worker, as one pod each;`)
	fmt.Println(`the baselines (SELECT 1, UPDATE one row) connect the same way; "vs UPDATE": the store's operations/s over the UPDATE's:`)
	var rows []row
	for _, mode := range modes {
		for _, n := range levels {
			r, err := level(ctx, admin, dsn, mode, n, cfg)
			if err != nil {
				return fmt.Errorf("%s, %d workers: %w", mode, n, err)
			}
			rows = append(rows, r...)
		}
	}
	return table(rows)
}

// row is one line of the table.
type row struct {
	mode           string
	workers, conns int
	kind           int
	ops            int
	elapsed        time.Duration
	p50, p99       time.Duration
	serverUS       float64 // server CPU µs per operation (0: not measured for this kind alone)
	clientUS       float64
	vs             string // the store's operations/s as a ratio of the UPDATE baseline's, on the summary lines
}

func table(rows []row) error {
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tworkers\tconns\toperation\tops\tops/s\tp50 ms\tp99 ms\tserver CPU µs/op\tclient CPU µs/op\tvs UPDATE\t")
	for _, r := range rows {
		p50, p99 := fmt.Sprintf("%.2f", ms(r.p50)), fmt.Sprintf("%.2f", ms(r.p99))
		if r.kind == kAll {
			p50, p99 = "-", "-"
		}
		vs := r.vs
		if vs == "" {
			vs = "-"
		}
		server, client := "-", "-"
		if r.serverUS > 0 {
			server, client = fmt.Sprintf("%.0f", r.serverUS), fmt.Sprintf("%.0f", r.clientUS)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t\n", r.mode, r.workers, r.conns, kindNames[r.kind], r.ops,
			float64(r.ops)/r.elapsed.Seconds(), p50, p99, server, client, vs)
	}
	return tw.Flush()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// level runs the two baselines and the store loop at n workers in one mode.
func level(ctx context.Context, admin *pgx.Conn, dsn, mode string, n int, cfg config) ([]row, error) {
	pools, closePools, err := openPools(ctx, dsn, mode, n)
	if err != nil {
		return nil, err
	}
	defer closePools()
	if _, err := pools[0].Exec(ctx, `DROP TABLE IF EXISTS bench_rows; CREATE TABLE bench_rows (id int PRIMARY KEY, n bigint NOT NULL);
		INSERT INTO bench_rows SELECT g, 0 FROM generate_series(0, 999) g`); err != nil {
		return nil, err
	}
	var out []row
	sel, err := measure(ctx, admin, n, cfg.duration, func(ctx context.Context, w int, rec func(int, time.Duration)) error {
		t0 := time.Now()
		_, err := pools[w%len(pools)].Exec(ctx, "SELECT 1")
		rec(kSelect1, time.Since(t0))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("SELECT 1: %w", err)
	}
	out = append(out, sel.rows(n, kSelect1, kSelect1)...)
	upd, err := measure(ctx, admin, n, cfg.duration, func(ctx context.Context, w int, rec func(int, time.Duration)) error {
		t0 := time.Now()
		_, err := pools[w%len(pools)].Exec(ctx, "UPDATE bench_rows SET n = n + 1 WHERE id = $1", w)
		rec(kUpdate, time.Since(t0))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("UPDATE: %w", err)
	}
	out = append(out, upd.rows(n, kUpdate, kUpdate)...)
	closePools()

	schema := fmt.Sprintf("bench_%s_%d", mode, n)
	stores, closeStores, err := openStores(ctx, dsn, schema, mode, n)
	if err != nil {
		return nil, err
	}
	defer closeStores()
	var next atomic.Int64
	st, err := measure(ctx, admin, n, cfg.duration, func(ctx context.Context, w int, rec func(int, time.Duration)) error {
		return partition(ctx, stores[w%len(stores)], w, next.Add(1)-1, cfg, rec)
	})
	if err != nil {
		return nil, fmt.Errorf("state store: %w", err)
	}
	storeRows := st.rows(n, kClaim, kCycle)
	var storeOps int
	for _, r := range storeRows[:len(storeRows)-1] {
		storeOps += r.ops
	}
	updRate := float64(upd.ops[kUpdate]) / upd.elapsed.Seconds()
	storeRate := float64(storeOps) / st.elapsed.Seconds()
	out = append(out, storeRows...)
	all := row{workers: n, conns: st.conns, kind: kAll, ops: storeOps, elapsed: st.elapsed,
		vs: fmt.Sprintf("%.2fx", storeRate/updRate)}
	all.serverUS, all.clientUS = st.cpuPer(storeOps)
	out = append(out, all)
	for i := range out {
		out[i].mode = mode
	}
	return out, nil
}

// partition is the engine's work on one partition, as far as the state store sees it.
func partition(ctx context.Context, s state.Store, w int, n int64, cfg config, rec func(int, time.Duration)) error {
	run := fmt.Sprintf("run-%06d", n/int64(cfg.parts))
	idx := int(n % int64(cfg.parts))
	id := fmt.Sprintf("%s-%03d", run, idx)
	owner := fmt.Sprintf("bench-host:%d:%d", os.Getpid(), w)
	const pipeline, fingerprint = "orders", "f0f1f2f3f4f5f6f7"
	begin := time.Now()
	t0 := begin
	attempt, err := s.Claim(ctx, state.Claim{Pipeline: pipeline, RunLabel: run, ID: id, Key: id, Index: idx,
		Owner: owner, Lease: cfg.lease, Fingerprint: fingerprint})
	rec(kClaim, time.Since(t0))
	if err != nil {
		return err
	}
	for range cfg.renewals {
		t0 = time.Now()
		err := s.Renew(ctx, pipeline, id, owner, cfg.lease, 0)
		rec(kRenew, time.Since(t0))
		if err != nil {
			return err
		}
	}
	t0 = time.Now()
	err = s.AddIntent(ctx, state.Intent{Pipeline: pipeline, PartitionID: id, Owner: owner, Attempt: attempt,
		Loader: "parquet", Path: "s3://lake/bronze/orders/" + id + ".parquet"})
	rec(kIntent, time.Since(t0))
	if err != nil {
		return err
	}
	t0 = time.Now()
	err = s.Commit(ctx, state.Partition{Pipeline: pipeline, RunLabel: run, ID: id, Key: id, Index: idx,
		Attempts: attempt, Rows: 1_000_000, Bytes: 40 << 20, Fingerprint: fingerprint,
		Tokens: `{"parquet":"s3://lake/bronze/orders/` + id + `.parquet"}`, Owner: owner, StartedAt: begin})
	rec(kCommit, time.Since(t0))
	if err != nil {
		return err
	}
	t0 = time.Now()
	_, err = s.ClearIntents(ctx, pipeline, id, owner)
	rec(kClear, time.Since(t0))
	if err != nil {
		return err
	}
	if idx == cfg.parts-1 {
		t0 = time.Now()
		_, err = s.List(ctx, pipeline, run)
		rec(kList, time.Since(t0))
		if err != nil {
			return err
		}
	}
	rec(kCycle, time.Since(begin))
	return nil
}

// openPools opens the baselines' connections: one pool shared by the workers, or one each.
func openPools(ctx context.Context, dsn, mode string, n int) ([]*pgxpool.Pool, func(), error) {
	count := 1
	if mode == "pods" {
		count = n
	}
	var pools []*pgxpool.Pool
	closeAll := func() {
		for _, p := range pools {
			p.Close()
		}
		pools = nil
	}
	for range count {
		p, err := pgxpool.New(ctx, dsn)
		if err == nil {
			err = p.Ping(ctx) // connected before the clock starts, as the stores are by Open
		}
		if err != nil {
			if p != nil {
				p.Close()
			}
			closeAll()
			return nil, nil, err
		}
		pools = append(pools, p)
	}
	return pools, closeAll, nil
}

// openStores opens the state stores: one shared by the workers, or one each.
func openStores(ctx context.Context, dsn, schema, mode string, n int) ([]state.Store, func(), error) {
	count := 1
	if mode == "pods" {
		count = n
	}
	var stores []state.Store
	closeAll := func() {
		for _, s := range stores {
			s.Close()
		}
		stores = nil
	}
	for range count {
		s, err := postgres.Open(ctx, dsn, postgres.Schema(schema))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		stores = append(stores, s)
	}
	return stores, closeAll, nil
}

// result is what one case measured: every operation's latency by kind, the wall time and the peak connections.
type result struct {
	lat                  [nKinds][]time.Duration
	ops                  [nKinds]int
	elapsed              time.Duration
	conns                int
	serverCPU, clientCPU time.Duration // CPU time while recording: the server's processes, this process
}

// cpuPer is the server's and this process's CPU in µs per one of n operations.
func (r *result) cpuPer(n int) (server, client float64) {
	return float64(r.serverCPU.Microseconds()) / float64(n), float64(r.clientCPU.Microseconds()) / float64(n)
}

// rows gives the table's lines for the kinds from..to.
func (r *result) rows(workers, from, to int) []row {
	var out []row
	for k := from; k <= to; k++ {
		l := r.lat[k]
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		rw := row{workers: workers, conns: r.conns, kind: k, ops: len(l), elapsed: r.elapsed,
			p50: l[len(l)*50/100], p99: l[min(len(l)*99/100, len(l)-1)]}
		if k == kSelect1 || k == kUpdate || k == kCycle { // the cases' units: CPU per statement, per partition
			rw.serverUS, rw.clientUS = r.cpuPer(len(l))
		}
		out = append(out, rw)
	}
	return out
}

// measure runs op in a loop on n goroutines for a warm-up of d/4 (connections made, statements prepared: not
// recorded) and then for d, and lets every goroutine finish the loop it is in; what ends after the warm-up is
// recorded. Meanwhile it samples how many client connections the server has on the database.
func measure(ctx context.Context, admin *pgx.Conn, n int, d time.Duration,
	op func(ctx context.Context, w int, rec func(kind int, lat time.Duration)) error) (*result, error) {
	var res result
	var mu sync.Mutex
	var stop, recording atomic.Bool
	errs := make(chan error, n)
	var wg sync.WaitGroup
	var start time.Time
	var server0, client0 time.Duration
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine [nKinds][]time.Duration
			rec := func(k int, lat time.Duration) {
				if recording.Load() {
					mine[k] = append(mine[k], lat)
				}
			}
			for !stop.Load() {
				if err := op(ctx, w, rec); err != nil {
					errs <- err
					stop.Store(true)
					break
				}
			}
			mu.Lock()
			for k := range mine {
				res.lat[k] = append(res.lat[k], mine[k]...)
			}
			mu.Unlock()
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(d / 10)
	defer tick.Stop()
	warm := time.After(d / 4)
	var deadline <-chan time.Time
	var sampleErr error
loop:
	for {
		select {
		case <-warm:
			server0, client0 = benchkit.ServerCPU(postmaster), benchkit.CPUNow()
			start = time.Now()
			recording.Store(true)
			deadline = time.After(d)
		case <-deadline:
			stop.Store(true)
		case <-done:
			break loop
		case <-tick.C:
			if !recording.Load() {
				continue
			}
			var c int
			err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'`,
				database).Scan(&c)
			if err != nil && sampleErr == nil {
				sampleErr = err
			}
			res.conns = max(res.conns, c)
		}
	}
	res.elapsed = time.Since(start)
	res.serverCPU, res.clientCPU = benchkit.ServerCPU(postmaster)-server0, benchkit.CPUNow()-client0
	close(errs)
	if err := errors.Join(sampleErr, <-errs); err != nil {
		return nil, err
	}
	for k := range res.lat {
		res.ops[k] = len(res.lat[k])
	}
	return &res, nil
}

// postmaster is the server's main process: its children are the server's backends and helpers.
var postmaster int

// delayProxy listens on a free port of 127.0.0.1 and forwards every connection to target, each chunk read in
// either direction written delay later, in order: a network whose round trip is 2 × delay longer. It runs until
// the process ends.
func delayProxy(target string, delay time.Duration) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			go delayed(client, server, delay)
			go delayed(server, client, delay)
		}
	}()
	return ln.Addr().String(), nil
}

// delayed copies from src to dst, each chunk delay after it was read; it closes both when either side ends.
func delayed(src, dst net.Conn, delay time.Duration) {
	type chunk struct {
		at time.Time
		b  []byte
	}
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		for {
			b := make([]byte, 64<<10)
			n, err := src.Read(b)
			if n > 0 {
				q <- chunk{time.Now().Add(delay), b[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	src.Close()
	dst.Close()
	for range q { // let the reader end
	}
}
