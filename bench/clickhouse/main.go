// Command clickhouse measures the clickhouse consumer on one connection against its ceilings, in one run, on a
// table of 14 columns of the types ClickHouse 18.16 has:
//
//  1. the ceiling: clickhouse-client --compression 0 --query "SELECT ... FORMAT Native" > /dev/null;
//  2. ch-go alone, decoding into its own proto columns (inferred), discarded;
//  3. the clickhouse consumer → Arrow batches, discarded (wire compression none, as 1 and 2; and lz4);
//  4. jetflow run clickhouse → Parquet (zstd), with 1 and 2 Parquet writers per partition.
//
// The test server is Debian's clickhouse-server 18.16, which stock ch-go cannot query (see testkit/chtest), so the
// command runs with the patched ch-go, and the jetflow binary it builds for case 4 is patched the same way:
//
//	testkit/chtest/gotest-patched.sh run ./bench/clickhouse              # 10M rows, as in the issue
//	testkit/chtest/gotest-patched.sh run ./bench/clickhouse -rows 1000000 # a quick run
//	testkit/chtest/gotest-patched.sh run ./bench/clickhouse -compare main # case 4 also by main's jetflow
//
// With -compare REV, jetflow is also built from the git revision REV (git archive, the same patched ch-go) and
// case 4 with one writer is run by both binaries in turn, -rounds times; the median ratio of their rows/s is
// printed: what this tree changed on the same machine, at the same load.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/ch-go"
	"github.com/ClickHouse/ch-go/proto"

	"github.com/jetflow-dev/jetflow/bench/benchkit"
	"github.com/jetflow-dev/jetflow/testkit/chtest"
)

// The table: 14 columns, fixed-width, strings, dictionary-encoded and nullable.
const tableSQL = `CREATE TABLE bench (id UInt64, n Int32, small Int8, qty UInt16, price Float64, ratio Float32,
	name String, code FixedString(8), day Date, at DateTime, amount Decimal(18, 4), uid UUID,
	city LowCardinality(String), note Nullable(String)) ENGINE = MergeTree ORDER BY id`

const insertSQL = `INSERT INTO bench SELECT number, toInt32(number %% 1000000), toInt8(number %% 100), toUInt16(number %% 60000),
	number / 7, toFloat32(number / 3), concat('name-', toString(number)), toFixedString(toString(number %% 100000000), 8),
	toDate('2026-01-01') + number %% 300, toDateTime('2026-11-22 00:00:00', 'UTC') + number, toDecimal64(number / 100, 4),
	generateUUIDv4(), concat('city-', toString(number %% 50)), if(number %% 5 = 0, NULL, concat('note ', toString(number)))
	FROM system.numbers LIMIT %d`

const selectSQL = "SELECT id, n, small, qty, price, ratio, name, code, day, at, amount, uid, city, note FROM "

func main() {
	rows := flag.Int64("rows", 10_000_000, "rows in the table")
	work := flag.String("work", "", "directory for the binary and the Parquet output (default: a temporary one, removed)")
	compare := flag.String("compare", "", "a git revision (main, a commit) whose jetflow also runs case 4 with one writer, for the ratio")
	rounds := flag.Int("rounds", 3, "with -compare: runs of each binary, in turn")
	flag.BoolVar(&hold, "hold", false, "make the table, print the server's address and wait for an interrupt (to run jetflow by hand against it)")
	flag.StringVar(&profileDir, "profile", "", "write this tree's end-to-end runs' CPU profiles to this folder (e2e-WRITERS.cpu; go tool pprof)")
	flag.Parse()
	if err := run(*rows, *work, *compare, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(rows int64, work, compare string, rounds int) error {
	ctx := context.Background()
	if work == "" {
		dir, err := os.MkdirTemp("", "jetflow-bench-ch-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	fmt.Fprintln(os.Stderr, "bench: building jetflow")
	bin, err := benchkit.BuildJetflow(work)
	if err != nil {
		return err
	}
	var baseBin string
	if compare != "" {
		fmt.Fprintf(os.Stderr, "bench: building jetflow at %s\n", compare)
		if baseBin, err = buildAt(compare, work); err != nil {
			return err
		}
	}
	srv, err := chtest.StartServer(ctx)
	if err != nil {
		return err
	}
	defer srv.Stop()
	fmt.Fprintf(os.Stderr, "bench: creating a ClickHouse table of %d rows\n", rows)
	if _, err := srv.Query(ctx, "", "CREATE DATABASE bench"); err != nil {
		return err
	}
	for _, q := range []string{tableSQL, fmt.Sprintf(insertSQL, rows), "OPTIMIZE TABLE bench FINAL"} {
		if _, err := srv.Query(ctx, "bench", q); err != nil {
			return err
		}
	}
	out, err := srv.Query(ctx, "bench", "SELECT sum(data_uncompressed_bytes) FROM system.parts WHERE database = 'bench' AND table = 'bench' AND active")
	if err != nil {
		return err
	}
	dataBytes, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		return fmt.Errorf("table size %q: %w", out, err)
	}

	if hold {
		fmt.Printf("ClickHouse at %s, table bench.bench of %d rows; interrupt to stop\n", srv.Addr(), rows)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		return nil
	}
	var cases []benchkit.Case
	add := func(c benchkit.Case, err error) error {
		if err == nil {
			c.Bytes = dataBytes
			cases = append(cases, c)
		}
		return err
	}
	client := exec.Command("clickhouse-client", "--host", srv.Host, "--port", strconv.Itoa(srv.TCPPort), "--compression", "0",
		"--query", selectSQL+"bench.bench FORMAT Native")
	var clientErr bytes.Buffer
	client.Stdout, client.Stderr = nil, &clientErr // stdout: /dev/null
	if err := add(benchkit.Child("1. clickhouse-client --compression 0 FORMAT Native > /dev/null", rows, client)); err != nil {
		return fmt.Errorf("%w\n%s", err, clientErr.Bytes())
	}
	if err := add(benchkit.InProcess("2. ch-go alone: proto columns (inferred), discarded", rows, func() error {
		return chgoAlone(ctx, srv.Addr(), ch.CompressionDisabled, rows)
	})); err != nil {
		return err
	}
	for _, comp := range []string{"none", "lz4"} {
		yaml := fmt.Sprintf("name: chbench\nconsumer:\n  type: clickhouse\n  addr: %s\n  database: bench\n  table: bench\n  compression: %s\nloaders:\n  - {type: parquet, path: %s}\n",
			srv.Addr(), comp, filepath.Join(work, "unused"))
		var n int64
		if err := add(benchkit.InProcess("3. clickhouse consumer → Arrow, discarded, compression "+comp, rows, func() error {
			var err error
			n, err = benchkit.ReadConsumer(ctx, yaml, "2026-11-22")
			return err
		})); err != nil {
			return err
		}
		if n != rows {
			return fmt.Errorf("the consumer read %d rows, want %d", n, rows)
		}
	}
	for _, writers := range []int{1, 2} {
		c, err := endToEnd(bin, "", work, srv.Addr(), rows, writers)
		if err := add(c, err); err != nil {
			return err
		}
	}
	var ratios []float64
	for range rounds * min(len(baseBin), 1) {
		mine, err := endToEnd(bin, "", work, srv.Addr(), rows, 1)
		if err != nil {
			return err
		}
		base, err := endToEnd(baseBin, compare, work, srv.Addr(), rows, 1)
		if err := add(base, err); err != nil {
			return err
		}
		ratios = append(ratios, mine.RowsPerSec()/base.RowsPerSec())
	}

	fmt.Printf("\nClickHouse 18.16, %d rows × 14 columns (%.0f MB uncompressed), one connection, server and client on the same 2 cores:\n",
		rows, float64(dataBytes)/1e6)
	if err := benchkit.Table(os.Stdout, cases, 1); err != nil {
		return err
	}
	fmt.Printf("consumer → Arrow / ch-go alone (rows/s, both uncompressed): %.2fx (target ≥ 0.90x)\n",
		cases[2].RowsPerSec()/cases[1].RowsPerSec())
	fmt.Printf("end to end with 2 Parquet writers / 1: %.2fx\n", cases[5].RowsPerSec()/cases[4].RowsPerSec())
	fmt.Printf("end to end / clickhouse-client Native read (rows/s): 1 writer %.2fx, 2 writers %.2fx; CPU s per 1M rows: client %.2f, jetflow 1 writer %.2f\n",
		cases[4].RowsPerSec()/cases[0].RowsPerSec(), cases[5].RowsPerSec()/cases[0].RowsPerSec(),
		cases[0].CPU.Seconds()*1e6/float64(rows), cases[4].CPU.Seconds()*1e6/float64(rows))
	if len(ratios) > 0 {
		slices.Sort(ratios)
		fmt.Printf("end to end, 1 writer, this tree / %s (rows/s, median of %d runs in turn): %.2fx (target ≥ 1.6x); each: %.2f\n",
			compare, len(ratios), ratios[len(ratios)/2], ratios)
	}
	return nil
}

// buildAt builds cmd/jetflow as of the git revision rev (git archive into work) and returns the binary's path.
func buildAt(rev, work string) (string, error) {
	src, err := benchkit.Checkout(rev, work)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(work, "jetflow-base")
	// With the revision's own go.mod and ch-go patch script: this run's GOFLAGS name this tree's patched go.mod,
	// whose replace directives (third_party/) the revision may not have.
	build := exec.Command(filepath.Join(src, "testkit", "chtest", "gotest-patched.sh"), "build", "-o", bin, "./cmd/jetflow")
	build.Dir, build.Stderr = src, os.Stderr
	build.Env = append(os.Environ(), "GOFLAGS=")
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build jetflow at %s: %w", rev, err)
	}
	return bin, nil
}

// chgoAlone reads the table with ch-go into columns it infers from the header, discarding each block.
func chgoAlone(ctx context.Context, addr string, comp ch.Compression, want int64) error {
	client, err := ch.Dial(ctx, ch.Options{Address: addr, Database: "bench", Compression: comp, ReadTimeout: time.Minute})
	if err != nil {
		return err
	}
	defer client.Close()
	var res proto.Results
	var n int64
	if err := client.Do(ctx, ch.Query{Body: selectSQL + "bench", Result: res.Auto(),
		OnResult: func(_ context.Context, b proto.Block) error { n += int64(b.Rows); return nil }}); err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("ch-go read %d rows, want %d", n, want)
	}
	return nil
}

// profileDir and hold are the -profile and -hold flags: set once by main before anything runs.
var (
	profileDir string
	hold       bool
)

// endToEnd runs `jetflow run` clickhouse → Parquet (zstd) on one connection and reads the child's peak RSS.
func endToEnd(bin, rev, work, addr string, rows int64, writers int) (benchkit.Case, error) {
	dir := filepath.Join(work, fmt.Sprintf("e2e-%d", writers))
	if err := os.RemoveAll(dir); err != nil { // a clean state: the run is not skipped as done
		return benchkit.Case{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return benchkit.Case{}, err
	}
	yaml := fmt.Sprintf("name: ch_e2e_%d\nconsumer:\n  type: clickhouse\n  addr: ${BENCH_CH_ADDR}\n  database: bench\n  table: bench\n"+
		"loaders:\n  - {type: parquet, path: out, compression: zstd, writers: %d}\n", writers, writers)
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(yaml), 0o644); err != nil {
		return benchkit.Case{}, err
	}
	args := []string{"run", "p.yaml", "--run", "2026-11-22", "--workers", "1", "--progress", "none", "--log-level", "warn"}
	if profileDir != "" && rev == "" {
		abs, err := filepath.Abs(filepath.Join(profileDir, fmt.Sprintf("e2e-%d.cpu", writers)))
		if err != nil {
			return benchkit.Case{}, err
		}
		args = append(args, "--cpu-profile", abs)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BENCH_CH_ADDR="+addr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	name := fmt.Sprintf("4. jetflow run → Parquet zstd, %d writer(s)", writers)
	if rev != "" {
		name = fmt.Sprintf("4. jetflow at %s run → Parquet zstd, %d writer(s)", rev, writers)
	}
	c, err := benchkit.Child(name, rows, cmd)
	if err != nil {
		return c, fmt.Errorf("%w\n%s", err, stderr.Bytes())
	}
	return c, nil
}
