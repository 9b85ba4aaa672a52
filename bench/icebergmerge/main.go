// Command icebergmerge measures mode: merge of the iceberg loader (the benchmark of the merge issue): a table of
// orders partitioned by month(created_at), and a change batch of 1% of its rows — updates spread over every
// month, a tenth of them soft deletes (0.1% of the table) — merged with each strategy, against (a) appending the
// same rows and (b) reloading the whole table, in the same run. Each case runs in a child process (this command
// again), so that each has its own peak RSS:
//
//	go run ./bench/icebergmerge                            # a 1M-row table (make bench)
//	go run ./bench/icebergmerge -rows 1000000,10000000     # 1M and 10M: RSS follows the batch, not the table
//	go run ./bench/icebergmerge -profile /tmp/prof         # and each case's CPU and allocation profiles
//
// copy_on_write_recent is copy_on_write with a change batch of the same size confined to the most recent month
// (the orders still changing, as in most order tables): it rewrites that month's files alone.
//
// For each table size, one table per case: a child loads the table (the reload, timed), then another applies
// the change batch to it: an append of the batch, a merge_on_read merge or a copy_on_write merge (timed, and its
// CPU counted, from Begin to the end of Commit; the child's peak RSS covers building the batch too). Files and bytes come from the
// snapshot the operation committed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/jetflow-dev/jetflow/bench/benchkit"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/loaders/iceberg"
	"github.com/jetflow-dev/jetflow/stage"
)

// The table: rows ids 0..rows-1, created_at spread evenly over months (so ids are in created_at order, as an
// orders table's are), updated_at an hour after created_at.
var start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const batchRows = 64 << 10

// keyed makes the table as the merge pipeline does, with order_id its identifier field (the loader writes
// identifier columns for merges to read), rather than as an append pipeline does.
var keyed = flag.Bool("keyed", true, "create the table as a merge pipeline does (order_id its identifier field); false: as an append pipeline does")

func main() {
	sizes := flag.String("rows", "1000000", "table sizes, comma-separated (e.g. 1000000,10000000)")
	months := flag.Int("months", 24, "months created_at spreads over (one Iceberg partition each)")
	child := flag.String("child", "", "internal: the case a child process runs (load, append, merge_on_read, copy_on_write)")
	dir := flag.String("dir", "", "internal: the child's warehouse")
	rows := flag.Int64("n", 0, "internal: the child's table size")
	cpuprofile := flag.String("cpuprofile", "", "internal: write the child's CPU profile to this file")
	memprofile := flag.String("memprofile", "", "internal: write the child's allocation profile to this file")
	profile := flag.String("profile", "", "write each case's CPU and allocation profiles to this folder (ROWS-CASE.cpu, ROWS-CASE.mem; go tool pprof)")
	cases := flag.String("cases", "all", "all; mor: the append and merge_on_read alone (with their reloads), for iterating on merge_on_read; cow: the append and copy_on_write alone")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/icebergmerge:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	var err error
	if *child != "" {
		err = runChild(*child, *dir, *rows, *months)
		if *memprofile != "" && err == nil {
			var f *os.File
			if f, err = os.Create(*memprofile); err == nil {
				err = errors.Join(pprof.Lookup("allocs").WriteTo(f, 0), f.Close())
			}
		}
	} else {
		err = run(*sizes, *months, *profile, *cases)
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench/icebergmerge:", err)
		os.Exit(1)
	}
}

// result is what a child reports on stdout: the operation's time and what its snapshot added and removed.
type result struct {
	Seconds      float64 `json:"seconds"`
	CPU          float64 `json:"cpu"` // the operation's CPU seconds (user+sys of the child's threads), without start-up
	Rows         int64   `json:"rows"`
	AddedData    int     `json:"added_data"`
	AddedDeletes int     `json:"added_deletes"`
	RemovedData  int     `json:"removed_data"`
	AddedBytes   int64   `json:"added_bytes"`
	RemovedBytes int64   `json:"removed_bytes"`
}

type measured struct {
	mode string // the child's case
	name string
	res  result
	rss  int64 // KiB
	cpu  time.Duration
}

// caseNames are the cases of a run, in order, with the names the table prints.
var caseNames = map[string]string{
	"append": "append the change batch", "merge_on_read": "merge, merge_on_read", "copy_on_write": "merge, copy_on_write",
	"copy_on_write_recent": "merge, copy_on_write, recent month",
}

func run(sizes string, months int, profile string, cases string) error {
	modes := []string{"append", "merge_on_read", "copy_on_write", "copy_on_write_recent"}
	switch cases {
	case "all":
	case "mor":
		modes = []string{"append", "merge_on_read"}
	case "cow":
		modes = []string{"append", "copy_on_write"}
	default:
		return fmt.Errorf("-cases %q: want all, mor or cow", cases)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var ns []int64
	for s := range strings.SplitSeq(sizes, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n < 1000 {
			return fmt.Errorf("-rows %q: want sizes of at least 1000 rows", sizes)
		}
		ns = append(ns, n)
	}
	work, err := os.MkdirTemp("", "jetflow-bench-icebergmerge-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if profile != "" {
		if err := os.MkdirAll(profile, 0o755); err != nil {
			return err
		}
	}
	child := func(mode, dir string, n int64) (measured, error) {
		args := []string{"-child", mode, "-dir", dir, "-n", fmt.Sprint(n), "-months", fmt.Sprint(months), fmt.Sprintf("-keyed=%t", *keyed)}
		if profile != "" && mode != "load" {
			p := filepath.Join(profile, fmt.Sprintf("%d-%s", n, mode))
			args = append(args, "-cpuprofile", p+".cpu", "-memprofile", p+".mem")
		}
		cmd := exec.Command(self, args...)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, os.Stderr
		c, err := benchkit.Child(mode, n, cmd)
		if err != nil {
			return measured{}, err
		}
		var r result
		if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
			return measured{}, fmt.Errorf("%s: child printed %q: %w", mode, out.String(), err)
		}
		return measured{mode: mode, name: caseNames[mode], res: r, rss: c.RSSKB, cpu: c.CPU}, nil
	}
	load1, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("load average at the start: %s", load1)
	fmt.Printf("table made with order_id its identifier field (as a merge pipeline makes it): %t\n", *keyed)
	var all [][]measured
	for _, n := range ns {
		var ms []measured
		var reloads []measured
		for _, mode := range modes {
			dir := filepath.Join(work, fmt.Sprintf("%d-%s", n, mode))
			fmt.Fprintf(os.Stderr, "bench/icebergmerge: %d rows: reload, then %s ...\n", n, mode)
			r, err := child("load", dir, n)
			if err != nil {
				return err
			}
			reloads = append(reloads, r)
			m, err := child(mode, dir, n)
			if err != nil {
				return err
			}
			ms = append(ms, m)
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
		// The reload of the three is the fastest one: the same work each time.
		slices.SortFunc(reloads, func(a, b measured) int { return int(a.res.Seconds*1e6 - b.res.Seconds*1e6) })
		reloads[0].name = "reload the whole table"
		ms = append([]measured{reloads[0]}, ms...)
		all = append(all, ms)
		printTable(n, months, ms)
	}
	if len(all) > 1 {
		fmt.Println()
		for i, mode := range modes {
			if mode == "copy_on_write_recent" {
				continue
			}
			a, b := all[0][i+1], all[len(all)-1][i+1]
			fmt.Printf("peak RSS %s, %d rows / %d rows: %.2fx\n", mode, ns[len(ns)-1], ns[0], float64(b.rss)/float64(a.rss))
		}
	}
	load2, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("load average at the end: %s", load2)
	return nil
}

func printTable(n int64, months int, ms []measured) {
	fmt.Printf("\n%d-row table partitioned by month(created_at) over %d months; change batch %d rows (1%%: updates over every month, %d of them deletes):\n",
		n, months, n/100, n/1000)
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\trows\tseconds\tCPU s\tdata files added\tdelete files added\tdata files removed\tMB written\tMB removed\tpeak RSS MB\tchild CPU s\t")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%d\t%d\t%d\t%.1f\t%.1f\t%.0f\t%.2f\t\n", m.name, m.res.Rows, m.res.Seconds, m.res.CPU, m.res.AddedData, m.res.AddedDeletes,
			m.res.RemovedData, float64(m.res.AddedBytes)/1e6, float64(m.res.RemovedBytes)/1e6, float64(m.rss)/1024, m.cpu.Seconds())
	}
	tw.Flush()
	reload, app := ms[0], ms[1]
	byMode := map[string]measured{}
	for _, m := range ms[1:] {
		byMode[m.mode] = m
	}
	if mor, ok := byMode["merge_on_read"]; ok {
		fmt.Printf("merge_on_read / append: %.2fx by wall time, %.2fx by the operations' CPU seconds (target ≤ 2x); peak RSS %.2fx (target ≤ 1.3x)\n",
			mor.res.Seconds/app.res.Seconds, mor.res.CPU/app.res.CPU, float64(mor.rss)/float64(app.rss))
	}
	cow, ok := byMode["copy_on_write"]
	if !ok {
		return
	}
	fmt.Printf("copy_on_write / reload: %.2fx; by CPU %.2fx (target ≤ 0.2x)\n",
		cow.res.Seconds/reload.res.Seconds, cow.res.CPU/reload.res.CPU)
	if recent, ok := byMode["copy_on_write_recent"]; ok {
		fmt.Printf("copy_on_write of changes in the most recent month / reload: %.2fx; by CPU %.2fx\n",
			recent.res.Seconds/reload.res.Seconds, recent.res.CPU/reload.res.CPU)
	}
	fmt.Printf("peak RSS / append's: copy_on_write %.2fx (target ≤ 1.3x)\n", float64(cow.rss)/float64(app.rss))
}

func schema() *arrow.Schema {
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	return arrow.NewSchema([]arrow.Field{
		{Name: "order_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "customer", Type: arrow.BinaryTypes.String},
		{Name: "status", Type: arrow.BinaryTypes.String},
		{Name: "total", Type: &arrow.Decimal128Type{Precision: 18, Scale: 2}},
		{Name: "created_at", Type: ts},
		{Name: "updated_at", Type: ts},
		{Name: "deleted_at", Type: ts, Nullable: true},
	}, nil)
}

var statuses = []string{"new", "paid", "packed", "sent", "delivered"}

// appendRow appends order id of a table of n rows over months; change > 0 makes it the change-th newer version
// (status moved on, updated_at a year after the table's last row), a soft delete when del.
func appendRow(b *array.RecordBuilder, id, n int64, months int, change int, del bool) {
	span := start.AddDate(0, months, 0).Sub(start).Microseconds()
	created := start.UnixMicro() + id*(span/n)
	updated := created + time.Hour.Microseconds()
	status := statuses[id%3]
	if change > 0 {
		updated = start.AddDate(0, months+12, 0).UnixMicro() + int64(change)
		status = statuses[3+id%2]
	}
	b.Field(0).(*array.Int64Builder).Append(id)
	b.Field(1).(*array.StringBuilder).Append("customer-" + strconv.FormatInt(id*7919%100000, 10))
	b.Field(2).(*array.StringBuilder).Append(status)
	b.Field(3).(*array.Decimal128Builder).Append(decimal128.FromI64(id*7919%1000000 + int64(change)))
	b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(created))
	b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(updated))
	if del {
		b.Field(6).(*array.TimestampBuilder).Append(arrow.Timestamp(updated))
	} else {
		b.Field(6).AppendNull()
	}
}

func runChild(mode, dir string, n int64, months int) error {
	ctx := context.Background()
	alloc := offheap.New(0) // as jetflow run does
	cfg := &iceberg.Config{
		Catalog:     iceberg.CatalogConfig{Warehouse: dir},
		Table:       "shop.orders",
		PartitionBy: []string{"month(created_at)"},
	}
	if mode == "merge_on_read" || strings.HasPrefix(mode, "copy_on_write") {
		cfg.Mode, cfg.Key, cfg.VersionBy, cfg.DeleteWhen = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null"
		cfg.Merge.Strategy = strings.TrimSuffix(mode, "_recent")
	}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	bc := stage.BuildContext{Pipeline: "icebergmerge", Alloc: alloc, Logger: quiet}
	sc := schema()
	if mode == "load" && *keyed {
		// The merge pipeline creates the table: its key becomes the table's identifier field.
		mc := *cfg
		mc.Mode, mc.Key = "merge", []string{"order_id"}
		ml, err := iceberg.New(bc, &mc)
		if err != nil {
			return err
		}
		_, err = ml.Table(ctx, sc)
		ml.Close()
		if err != nil {
			return err
		}
	}
	l, err := iceberg.New(bc, cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	bld := array.NewRecordBuilder(alloc, sc)
	defer bld.Release()
	var batches []arrow.RecordBatch
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	var rows int64
	if mode != "load" {
		// The change batch: every 100th order, every 1000th a soft delete; held whole, as a partition is. Recent:
		// as many orders, a tenth of them soft deletes, spread over the last month's.
		var first int64
		if strings.HasSuffix(mode, "_recent") {
			first = n - n/int64(months)
		}
		for i := int64(0); i < n/100; i++ {
			id := i * 100
			if first > 0 {
				id = first + i*(n-first)/(n/100)
			}
			appendRow(bld, id, n, months, 1, i%10 == 0)
			rows++
			if bld.Field(0).Len() == batchRows {
				batches = append(batches, bld.NewRecordBatch())
			}
		}
		batches = append(batches, bld.NewRecordBatch())
	}
	p := stage.Partition{ID: "p-" + mode, Key: mode, Run: stage.RunInstance{Start: start, Label: "bench"}}
	t0, c0 := time.Now(), benchkit.CPUNow()
	w, err := l.Begin(ctx, sc, p)
	if err != nil {
		return err
	}
	if mode == "load" {
		// The reload: generated batch by batch, so that only the writer's memory counts.
		for id := int64(0); id < n; id++ {
			appendRow(bld, id, n, months, 0, false)
			if bld.Field(0).Len() == batchRows || id == n-1 {
				b := bld.NewRecordBatch()
				err := w.Write(ctx, b)
				b.Release()
				if err != nil {
					return err
				}
			}
		}
		rows = n
	}
	for _, b := range batches {
		if err := w.Write(ctx, b); err != nil {
			return err
		}
	}
	if _, err := w.Commit(ctx, stage.CommitInfo{Pipeline: "icebergmerge", RunInstance: "bench", PartitionID: p.ID, Key: p.Key, Rows: rows}); err != nil {
		return err
	}
	res := result{Seconds: time.Since(t0).Seconds(), CPU: (benchkit.CPUNow() - c0).Seconds(), Rows: rows}
	tbl, err := l.LoadTable(ctx)
	if err != nil {
		return err
	}
	if s := tbl.CurrentSnapshot(); s != nil && s.Summary != nil {
		p := s.Summary.Properties
		num := func(k string) int64 { v, _ := strconv.ParseInt(p[k], 10, 64); return v }
		res.AddedData, res.AddedDeletes, res.RemovedData = int(num("added-data-files")), int(num("added-delete-files")), int(num("deleted-data-files"))
		res.AddedBytes, res.RemovedBytes = num("added-files-size"), num("removed-files-size")
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
