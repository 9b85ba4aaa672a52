// Command iceberg measures the iceberg loader against the Parquet loader on the same generated data, in the same
// run, with the real binary (each case a child process, so each has its own peak RSS and CPU time):
//
//	go run ./bench/iceberg                             # 10M rows, 20 partitions, one day, 8 tenants
//	go run ./bench/iceberg -rows 1000000 -commits 30   # a quicker look
//	go run ./bench/iceberg -days 7                     # timestamps over a week: 56 Iceberg partitions per commit
//
// Cases:
//   - generate → Parquet (zstd), unpartitioned: the baseline;
//   - generate → Parquet, Hive directories by tenant;
//   - generate → Iceberg (SQLite catalog, local files), unpartitioned: the writer's own cost against the baseline;
//   - generate → Iceberg partitioned by day(at) and tenant (fanout writer): against Parquet by tenant, the same
//     number of files. (clustered: true is not measured: generated rows are not sorted by the spec.)
//
// Then the commit latency of -commits small partitions (1,000 rows each) committed one after another into one
// table, in this process: p50, p99 and max of Commit (reload, find the partition's files, stage, commit).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/bench/benchkit"
	"github.com/jetflow-dev/jetflow/loaders/iceberg"
	"github.com/jetflow-dev/jetflow/stage"
)

const pipeline = `name: icebench
consumer:
  type: generate
  rows: %d
  batch_rows: 65536
  partition: { count: %d }
  columns:
    - { name: id, type: int64, sequence: true }
    - { name: tenant, type: string, distinct: %d }
    - { name: total, type: "decimal(18,4)" }
    - { name: qty, type: int32 }
    - { name: at, type: "timestamp[us, UTC]", min: 1795305600, max: %d }
    - { name: note, type: string }
loaders:
  - %s
`

func main() {
	rows := flag.Int64("rows", 10_000_000, "rows generated")
	parts := flag.Int("parts", 20, "jetflow partitions (each one commit)")
	tenants := flag.Int("tenants", 8, "distinct tenant values (identity partition column)")
	days := flag.Int("days", 1, "days the timestamps spread over (day(at) partitions); a daily run has 1")
	workers := flag.Int("workers", 2, "partitions loaded at once")
	commits := flag.Int("commits", 100, "small commits for the latency measure (0: skip)")
	flag.Parse()
	if err := run(*rows, *parts, *tenants, *days, *workers, *commits); err != nil {
		fmt.Fprintln(os.Stderr, "bench/iceberg:", err)
		os.Exit(1)
	}
}

func run(rows int64, parts, tenants, days, workers, commits int) error {
	work, bin, cleanup, err := benchkit.Workspace("iceberg")
	if err != nil {
		return err
	}
	defer cleanup()
	cases := []struct{ name, loader string }{
		{"generate → Parquet (zstd), unpartitioned (baseline)", "{type: parquet, path: out, compression: zstd}"},
		{"generate → Parquet, Hive dirs by tenant", "{type: parquet, path: out, compression: zstd, partition_by: [tenant]}"},
		{"generate → Iceberg, unpartitioned, SQLite catalog", "{type: iceberg, catalog: {warehouse: wh}, table: bench.orders}"},
		{"generate → Iceberg, day(at) + tenant, SQLite catalog", "{type: iceberg, catalog: {warehouse: wh}, table: bench.orders, partition_by: [day(at), tenant]}"},
	}
	var measured []benchkit.Case
	var files []int
	for i, c := range cases {
		dir := filepath.Join(work, fmt.Sprintf("case%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(fmt.Sprintf(pipeline, rows, parts, tenants, 1795305600+days*86400-1, c.loader)), 0o644); err != nil {
			return err
		}
		cmd := exec.Command(bin, "run", "p.yaml", "--run", "2026-11-22", "--workers", fmt.Sprint(workers), "--progress", "none", "--log-level", "warn")
		cmd.Dir, cmd.Stderr = dir, os.Stderr
		fmt.Fprintf(os.Stderr, "bench/iceberg: %s ...\n", c.name)
		m, err := benchkit.Child(c.name, rows, cmd)
		if err != nil {
			return err
		}
		n, size, err := parquetFiles(dir)
		if err != nil {
			return err
		}
		m.Bytes = size
		measured = append(measured, m)
		files = append(files, n)
	}
	fmt.Printf("\n%d rows in %d partitions, %d workers, %d tenants over %d day(s) (MB/s: Parquet bytes written):\n", rows, parts, workers, tenants, days)
	if err := benchkit.Table(os.Stdout, measured, 0); err != nil {
		return err
	}
	fmt.Printf("files written: %s; Iceberg commits: %d each (one snapshot per partition)\n", fileCounts(cases, files), parts)
	fmt.Printf("Iceberg time / Parquet time (target ≤ 1.2x): unpartitioned %.2fx; partitioned (day+tenant vs Hive by tenant, the same %d files) %.2fx\n",
		measured[2].Elapsed.Seconds()/measured[0].Elapsed.Seconds(), files[3], measured[3].Elapsed.Seconds()/measured[1].Elapsed.Seconds())

	if commits > 0 {
		lat, err := commitLatency(filepath.Join(work, "latency"), commits)
		if err != nil {
			return err
		}
		slices.Sort(lat)
		q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		fmt.Printf("\ncommit latency, %d commits of 1,000 rows into one table (SQLite catalog, local files): p50 %v, p99 %v, max %v\n",
			len(lat), q(0.50).Round(time.Millisecond/10), q(0.99).Round(time.Millisecond/10), lat[len(lat)-1].Round(time.Millisecond/10))
	}
	return nil
}

func fileCounts(cases []struct{ name, loader string }, files []int) string {
	parts := make([]string, len(files))
	for i, n := range files {
		parts[i] = fmt.Sprintf("%s %d", strings.SplitN(strings.TrimPrefix(cases[i].name, "generate → "), ",", 2)[0], n)
	}
	return strings.Join(parts, ", ")
}

// parquetFiles counts the .parquet files under dir and their bytes.
func parquetFiles(dir string) (int, int64, error) {
	var n int
	var size int64
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".parquet") {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n++
		size += info.Size()
		return nil
	})
	return n, size, err
}

// commitLatency commits n partitions of 1,000 rows one after another and returns each Commit's duration.
func commitLatency(dir string, n int) ([]time.Duration, error) {
	ctx := context.Background()
	mem := memory.NewGoAllocator()
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l, err := iceberg.New(stage.BuildContext{Pipeline: "latency", Alloc: mem, Logger: quiet}, &iceberg.Config{
		Catalog:     iceberg.CatalogConfig{Warehouse: dir},
		Table:       "bench.small",
		PartitionBy: []string{"day(at)"},
	})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	run := stage.RunInstance{Start: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), Label: "2026-11-22"}
	var lat []time.Duration
	for i := range n {
		for r := range 1000 {
			b.Field(0).(*array.Int64Builder).Append(int64(i*1000 + r))
			b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(run.Start.UnixMicro() + int64(r)*60e6))
		}
		rec := b.NewRecordBatch()
		p := stage.Partition{ID: fmt.Sprintf("p%04d", i), Key: fmt.Sprintf("id[%d,%d)", i*1000, i*1000+1000), Run: run}
		w, err := l.Begin(ctx, schema, p)
		if err != nil {
			rec.Release()
			return nil, err
		}
		err = w.Write(ctx, rec)
		rec.Release()
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		if _, err := w.Commit(ctx, stage.CommitInfo{Pipeline: "latency", RunInstance: run.Label, PartitionID: p.ID, Key: p.Key, Rows: 1000}); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}
