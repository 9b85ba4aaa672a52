package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
)

// passThrough is the baseline of the chain table: a transformer that does nothing but hand its batch on, so a
// chain of them costs what the chain's plumbing costs.
type passThrough struct{}

func (passThrough) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) { return in, nil }

func (passThrough) Transform(_ context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	b.Retain()
	return b, nil
}

// cost is what one step of the chain table cost: process CPU (every thread, the collector's included) and Go
// allocations, over rows input rows.
type cost struct {
	name         string
	rows         int64
	cpu          time.Duration
	allocs, heap uint64
}

// chainCPU measures the transformer chain in this process, one stage at a time over every batch, against two
// baselines run in the same process: a chain of as many pass-through transformers, and the Parquet loader writing
// the chain's output. CPU, not wall time, so the other processes of a shared machine matter less.
func chainCPU(rows int64) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "jetflow-chain-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	yaml := strings.Replace(fmt.Sprintf(pipelineYAML, rows, partitionRows), "loaders:", chainYAML+"loaders:", 1)
	p, err := pipelines.Options{}.Parse(filepath.Join(work, "chain.yaml"), []byte(yaml))
	if err != nil {
		return err
	}
	built, err := p.Build(stage.BuildContext{Pipeline: p.Name, Alloc: offheap.New(0), Dir: work}) // as jetflow run does
	if err != nil {
		return err
	}
	defer built.Close()
	c := built.Source.(stage.Consumer)
	run, _ := p.ParseRun("2026-11-22")
	parts, err := c.Partitions(ctx, run)
	if err != nil {
		return err
	}
	for i := range parts {
		parts[i].ID = stage.PartitionID(p.Name, run.Label, parts[i].Key)
	}
	// Every partition's batches, generated up front, so that each stage below is timed alone.
	batches := make([][]arrow.RecordBatch, len(parts))
	for i, part := range parts {
		err := c.Read(ctx, part, func(b arrow.RecordBatch) error {
			b.Retain()
			batches[i] = append(batches[i], b)
			return nil
		})
		if err != nil {
			return err
		}
	}
	var costs []cost
	pass := make([]stage.Transformer, len(built.Transformers))
	for i := range pass {
		pass[i] = passThrough{}
	}
	out, base, err := runStage(ctx, fmt.Sprintf("pass-through ×%d", len(pass)), pass, parts, batches, false)
	if err != nil {
		return err
	}
	releaseBatches(out)
	costs = append(costs, base)
	var chain time.Duration
	cur := batches
	for i, tr := range built.Transformers {
		next, k, err := runStage(ctx, built.TransformerNames[i], []stage.Transformer{tr}, parts, cur, true)
		if err != nil {
			return err
		}
		releaseBatches(cur)
		cur, chain = next, chain+k.cpu
		costs = append(costs, k)
	}
	write, err := writeCost(ctx, built.Loaders[0], built.LoaderNames[0], parts, cur)
	releaseBatches(cur)
	if err != nil {
		return err
	}
	costs = append(costs, write)

	fmt.Printf("\ntransformer chain in one process, %d rows, CPU of every thread (collector included):\n", rows)
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\trows in\tCPU s\tns/row\tallocs/row\tGo heap B/row\t")
	for _, k := range costs {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.1f\t%.3f\t%.1f\t\n", k.name, k.rows, k.cpu.Seconds(), perRow(float64(k.cpu.Nanoseconds()), k.rows),
			perRow(float64(k.allocs), k.rows), perRow(float64(k.heap), k.rows))
	}
	tw.Flush()
	fmt.Printf("chain %.2fs CPU (pass-through ×%d %.2fs) vs Parquet write %.2fs: the chain costs %.2fx the write (target ≤ 0.5x)\n",
		chain.Seconds(), len(pass), base.cpu.Seconds(), write.cpu.Seconds(), chain.Seconds()/write.cpu.Seconds())
	return nil
}

func perRow(v float64, rows int64) float64 {
	if rows == 0 {
		return 0
	}
	return v / float64(rows)
}

// runStage runs ts over every partition's batches and returns what comes out, with its cost. keep false releases
// the output as it comes.
func runStage(ctx context.Context, name string, ts []stage.Transformer, parts []stage.Partition, in [][]arrow.RecordBatch, keep bool) ([][]arrow.RecordBatch, cost, error) {
	named := make([]stage.NamedTransformer, len(ts))
	for i, t := range ts {
		named[i] = stage.NamedTransformer{Name: fmt.Sprint(i), Transformer: t}
	}
	chain := stage.NewChain(named, nil)
	out := make([][]arrow.RecordBatch, len(in))
	k := cost{name: name}
	m := startMeter()
	for i, part := range parts {
		pc, err := chain.ForPartition(part)
		if err != nil {
			return nil, k, err
		}
		emit := func(b arrow.RecordBatch) error {
			if keep {
				b.Retain()
				out[i] = append(out[i], b)
			}
			return nil
		}
		for _, b := range in[i] {
			k.rows += b.NumRows()
			if err := pc.Process(ctx, b, emit); err != nil {
				return nil, k, err
			}
		}
		if err := pc.Flush(ctx, emit); err != nil {
			return nil, k, err
		}
	}
	m.stop(&k)
	return out, k, nil
}

// writeCost writes every partition with the loader and commits it.
func writeCost(ctx context.Context, l stage.Loader, name string, parts []stage.Partition, in [][]arrow.RecordBatch) (cost, error) {
	k := cost{name: name + " write"}
	m := startMeter()
	for i, part := range parts {
		if len(in[i]) == 0 {
			continue
		}
		w, err := l.Begin(ctx, in[i][0].Schema(), part)
		if err != nil {
			return k, err
		}
		var n int64
		for _, b := range in[i] {
			n += b.NumRows()
			if err := w.Write(ctx, b); err != nil {
				w.Abort(ctx)
				return k, err
			}
		}
		k.rows += n
		if _, err := w.Commit(ctx, stage.CommitInfo{Pipeline: "bench", RunInstance: part.Run.Label, PartitionID: part.ID, Key: part.Key, Rows: n}); err != nil {
			return k, err
		}
	}
	m.stop(&k)
	return k, nil
}

func releaseBatches(bs [][]arrow.RecordBatch) {
	for _, p := range bs {
		for _, b := range p {
			b.Release()
		}
	}
}

// meter reads process CPU and Go allocation counters around one step; a collection first, so that garbage of
// the step before is not charged to this one.
type meter struct {
	cpu time.Duration
	ms  runtime.MemStats
}

func startMeter() *meter {
	runtime.GC()
	m := &meter{cpu: processCPU()}
	runtime.ReadMemStats(&m.ms)
	return m
}

func (m *meter) stop(k *cost) {
	k.cpu = processCPU() - m.cpu
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	k.allocs, k.heap = ms.Mallocs-m.ms.Mallocs, ms.TotalAlloc-m.ms.TotalAlloc
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
