// Command bench measures jetflow against baselines run on the same machine in the same run, and prints a table
// (kept in bench/RESULTS.md). Ratios matter, not lone timings: the machine is shared and noisy.
//
//	go run ./bench                 # the full table (20M rows; about two minutes on 2 cores)
//	go run ./bench -rows 2000000   # a quicker look
//	go run ./bench -chain          # the transformer chain's CPU per stage alone (bench/chain.go)
//
// generate → Parquet: `jetflow run` (the real binary, all workers) against a plain single-goroutine pqarrow loop
// writing the same generated rows with the same codec. Memory: peak RSS of `jetflow run` at 1/10 of the rows and
// at all of them; flat memory means the two stay within 1.5× of each other.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/jetflow-dev/jetflow/bench/benchkit"
	_ "github.com/jetflow-dev/jetflow/builtin"
	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
)

// partitionRows is the generated partitions' size: the workers write one partition each at a time.
const partitionRows = 1_000_000

const pipelineYAML = `name: bench
consumer:
  type: generate
  seed: 7
  rows: %d
  partition: { rows: %[2]d }
  columns:
    - { name: id, type: int64, sequence: true }
    - { name: tenant_id, type: int32, min: 1, max: 500 }
    - { name: qty, type: int16, min: 1, max: 100 }
    - { name: status, type: string, distinct: 5, min: 4, max: 9 }
    - { name: total, type: "decimal(18,4)", min: 0, max: 10000 }
    - { name: discount, type: float64, min: 0, max: 0.5, null_rate: 0.3 }
    - { name: paid, type: bool }
    - { name: ordered_on, type: date32 }
    - { name: updated_at, type: "timestamp[us, UTC]" }
    - { name: note, type: string, min: 8, max: 24, null_rate: 0.5 }
loaders:
  - type: parquet
    path: out
    compression: zstd
`

// chainYAML is the transformer chain of the issue: select, cast, two derives, filter, metadata, hash, schema.
const chainYAML = `transformers:
  - { type: select, columns: [id, tenant_id, qty, status, total, discount, paid, ordered_on, updated_at] }
  - { type: cast, columns: { total: "decimal(12,2)" }, safe: false }
  - { name: year, type: derive, columns: { year: year(ordered_on) } }
  - { name: net, type: derive, columns: { net: "qty * 2 + tenant_id" } }
  - { type: filter, where: "tenant_id > 10" }
  - { type: metadata, loaded_at: "" }
  - { type: hash, columns: [status] }
  - type: schema
    extra: drop
    columns:
      - { name: id, type: int64, nullable: false }
      - { name: tenant_id, type: int32, nullable: false }
      - { name: total, type: "decimal(12,2)" }
      - { name: net, type: int64 }
      - { name: year, type: int64 }
      - { name: status, type: string }
      - { name: updated_at, type: "timestamp[us, UTC]" }
`

type measure struct {
	name    string
	rows    int64
	elapsed time.Duration
	bytes   int64 // output bytes
	rssKB   int64
	userCPU time.Duration
}

func main() {
	rows := flag.Int64("rows", 20_000_000, "rows of the large run (the small run has a tenth)")
	pgRows := flag.Int64("pg-rows", 10_000_000, "rows of the PostgreSQL table (0: skip the PostgreSQL table)")
	workers := flag.Int("workers", runtime.NumCPU(), "jetflow --workers")
	chainOnly := flag.Bool("chain", false, "only the transformer chain's CPU table (in this process)")
	chainRows := flag.Int64("chain-rows", 2_000_000, "rows of the transformer chain's CPU table (held in memory)")
	flag.Parse()
	err := chainCPU(*chainRows)
	if err == nil && !*chainOnly {
		err = run(*rows, *workers, *pgRows)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(rows int64, workers int, pgRows int64) error {
	work, bin, cleanup, err := benchkit.Workspace("main")
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintf(os.Stderr, "bench: %d rows, %d workers, %d cores\n", rows, workers, runtime.NumCPU())

	small, err := jetflowRun(bin, work, "small", rows/10, workers)
	if err != nil {
		return err
	}
	large, err := jetflowRun(bin, work, "large", rows, workers)
	if err != nil {
		return err
	}
	base, err := baseline(work, rows)
	if err != nil {
		return err
	}
	chain, chainStages, err := jetflowChain(bin, work, rows/2, workers)
	if err != nil {
		return err
	}

	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\trows\tseconds\trows/s\toutput MB/s\tpeak RSS MB\tCPU s\tvs baseline\t")
	for _, m := range []measure{base, small, large, chain} {
		rate := float64(m.rows) / m.elapsed.Seconds()
		ratio := rate / (float64(base.rows) / base.elapsed.Seconds())
		rss := "-"
		if m.rssKB > 0 {
			rss = fmt.Sprintf("%.0f", float64(m.rssKB)/1024)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%.1f\t%s\t%.1f\t%.2fx\t\n", m.name, m.rows, m.elapsed.Seconds(), rate,
			float64(m.bytes)/1e6/m.elapsed.Seconds(), rss, m.userCPU.Seconds(), ratio)
	}
	tw.Flush()
	growth := float64(large.rssKB) / float64(small.rssKB)
	verdict := "flat"
	switch {
	case small.rows < int64(workers)*partitionRows:
		// Fewer writers at once and no row group cut: the small run is below the steady state it is meant to
		// show, whatever the load.
		verdict = fmt.Sprintf("not judged: the small run has under one %d-row partition per worker (-rows %d or more)",
			partitionRows, 10*int64(workers)*partitionRows)
	case growth > 1.5:
		verdict = "NOT flat (over 1.5x)"
	}
	fmt.Printf("\npeak RSS %d rows / %d rows: %.2fx — %s\n", large.rows, small.rows, growth, verdict)

	// The chain's cost against the Parquet write that follows it, in stage time summed over the workers.
	var tr, ld time.Duration
	fmt.Printf("\ntransformer chain over %d rows (stage time summed over workers):\n", chain.rows)
	for _, st := range chainStages {
		fmt.Printf("  %-10s %-11s %8.2fs  %10d rows in\n", st.Stage, st.Kind, st.Duration.Seconds(), st.RowsIn)
		switch st.Kind {
		case "transformer":
			tr += st.Duration
		case "loader":
			ld += st.Duration
		}
	}
	fmt.Printf("chain %.2fs vs Parquet write %.2fs: the chain costs %.2fx the write\n", tr.Seconds(), ld.Seconds(), tr.Seconds()/ld.Seconds())
	if pgRows > 0 {
		return pgBench(bin, work, pgRows)
	}
	return nil
}

// jetflowChain runs the pipeline with the 8-transformer chain and returns its per-stage report.
func jetflowChain(bin, work string, rows int64, workers int) (measure, []engine.StageStats, error) {
	dir := filepath.Join(work, "chain")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return measure{}, nil, err
	}
	yaml := strings.Replace(fmt.Sprintf(pipelineYAML, rows, partitionRows), "loaders:", chainYAML+"loaders:", 1)
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(yaml), 0o644); err != nil {
		return measure{}, nil, err
	}
	cmd := exec.Command(bin, "run", "p.yaml", "--run", "2026-11-22", "--workers", fmt.Sprint(workers), "--progress", "none",
		"--log-level", "warn", "--report", "report.json")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	start := time.Now()
	rss, err := benchkit.RunPeakRSS(cmd)
	if err != nil {
		return measure{}, nil, fmt.Errorf("jetflow run with the chain: %w", err)
	}
	elapsed := time.Since(start)
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return measure{}, nil, err
	}
	var rep engine.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return measure{}, nil, fmt.Errorf("run report: %w", err)
	}
	return measure{name: "jetflow run, 8 transformers", rows: rows, elapsed: elapsed, bytes: parquetBytes(filepath.Join(dir, "out")),
		rssKB: rss, userCPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}, rep.Stages, nil
}

// jetflowRun runs the real binary and reads its peak RSS (see benchkit.RunPeakRSS).
func jetflowRun(bin, work, name string, rows int64, workers int) (measure, error) {
	dir := filepath.Join(work, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return measure{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), fmt.Appendf(nil, pipelineYAML, rows, partitionRows), 0o644); err != nil {
		return measure{}, err
	}
	cmd := exec.Command(bin, "run", "p.yaml", "--run", "2026-11-22", "--workers", fmt.Sprint(workers), "--progress", "none", "--log-level", "warn")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	start := time.Now()
	rss, err := benchkit.RunPeakRSS(cmd)
	if err != nil {
		return measure{}, fmt.Errorf("jetflow run (%d rows): %w", rows, err)
	}
	elapsed := time.Since(start)
	return measure{name: "jetflow run, " + name, rows: rows, elapsed: elapsed, bytes: parquetBytes(filepath.Join(dir, "out")),
		rssKB: rss, userCPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}, nil
}

func parquetBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".parquet") {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// baseline writes the same generated rows with one pqarrow writer on one goroutine: what a hand-written Go loop
// does. It is timed in this process (generation included, as in jetflow's run).
func baseline(work string, rows int64) (measure, error) {
	ctx := context.Background()
	p, err := pipelines.Options{}.Parse("bench.yaml", fmt.Appendf(nil, pipelineYAML, rows, partitionRows))
	if err != nil {
		return measure{}, err
	}
	mem := memory.NewGoAllocator()
	built, err := p.Build(stage.BuildContext{Pipeline: p.Name, Alloc: mem})
	if err != nil {
		return measure{}, err
	}
	c := built.Source.(stage.Consumer)
	run, _ := p.ParseRun("2026-11-22")
	parts, err := c.Partitions(ctx, run)
	if err != nil {
		return measure{}, err
	}
	schema, _ := c.Schema(ctx)
	path := filepath.Join(work, "baseline.parquet")
	f, err := os.Create(path)
	if err != nil {
		return measure{}, err
	}
	var cpu0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &cpu0)
	start := time.Now()
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithAllocator(mem),
		parquet.WithMaxRowGroupLength(1<<40))
	fw, err := pqarrow.NewFileWriter(schema, f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return measure{}, err
	}
	for _, part := range parts {
		err := c.Read(ctx, part, func(b arrow.RecordBatch) error {
			if err := fw.WriteBuffered(b); err != nil {
				return err
			}
			if fw.RowGroupTotalBytesWritten() >= 16<<20 { // the loader's default row_group_size
				fw.NewBufferedRowGroup()
			}
			return nil
		})
		if err != nil {
			return measure{}, err
		}
	}
	if err := fw.Close(); err != nil {
		return measure{}, err
	}
	elapsed := time.Since(start)
	var cpu1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &cpu1)
	fi, _ := os.Stat(path)
	cpu := time.Duration(cpu1.Utime.Nano()+cpu1.Stime.Nano()-cpu0.Utime.Nano()-cpu0.Stime.Nano()) * time.Nanosecond
	return measure{name: "baseline: pqarrow loop", rows: rows, elapsed: elapsed, bytes: fi.Size(), userCPU: cpu}, nil
}
