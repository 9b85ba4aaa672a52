package stage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// NamedTransformer is a transformer with the label it reports metrics and errors under.
type NamedTransformer struct {
	Name string
	Transformer
}

// ObserveFunc is told about every call a chain makes to transformer i (its index in the chain): the rows it was
// given (0 for a Flush) and returned, the time it took and whether it failed. It runs on the partition's goroutine,
// so partitions loaded in parallel call it at once, and must be cheap: it is called for every batch.
type ObserveFunc func(i int, rowsIn, rowsOut int64, d time.Duration, failed bool)

// Chain is a pipeline's transformers in order. It is the one place the rules of running them live, for the engine,
// `jetflow test` and the test harness alike: partition transformers get a fresh instance per partition, a nil
// result drops a batch, and after a partition's last batch every Flusher is flushed once, in pipeline order, with
// what it returns passed through the transformers after it.
type Chain struct {
	ts      []NamedTransformer
	observe ObserveFunc
}

// NewChain makes a chain of ts; observe may be nil. A Chain is not changed after, so workers share it.
func NewChain(ts []NamedTransformer, observe ObserveFunc) *Chain {
	return &Chain{ts: ts, observe: observe}
}

// OutputSchema carries in through every transformer: the schema of the batches the chain emits.
func (c *Chain) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	schema := in
	for _, t := range c.ts {
		out, err := t.OutputSchema(schema)
		if err != nil {
			return nil, fmt.Errorf("transformer %s: %w", t.Name, err)
		}
		schema = out
	}
	return schema, nil
}

// ForPartition makes the chain that runs one partition: partition transformers are replaced by their instance
// for p, so no state crosses partitions.
func (c *Chain) ForPartition(p Partition) (*PartitionChain, error) {
	ts := make([]NamedTransformer, len(c.ts))
	for i, t := range c.ts {
		ts[i] = t
		if pt, ok := t.Transformer.(PartitionTransformer); ok {
			inst, err := pt.ForPartition(p)
			if err != nil {
				return nil, fmt.Errorf("transformer %s: partition %s: %w", t.Name, p.Key, err)
			}
			ts[i].Transformer = inst
		}
	}
	return NewPartitionChain(ts, c.observe), nil
}

// PartitionChain runs the batches of one partition through its transformers. It is not safe for concurrent use:
// a partition's batches go through it in order.
type PartitionChain struct {
	ts      []NamedTransformer
	observe ObserveFunc
	flushed bool
}

// NewPartitionChain makes the chain of one partition from transformers that are already its instances (what
// Chain.ForPartition returns, or a test's ForPartition result); observe may be nil.
func NewPartitionChain(ts []NamedTransformer, observe ObserveFunc) *PartitionChain {
	return &PartitionChain{ts: ts, observe: observe}
}

// errFlushed guards the Flusher contract: a transformer instance is flushed once, after the last batch.
var errFlushed = errors.New("transformer chain: partition already flushed")

// Process runs batch through every transformer and hands what comes out to emit, unless a transformer dropped
// it. Neither Process nor emit owns its batch: Process releases what the transformers returned after emit
// returns, so emit retains what it keeps. An error of a transformer or of emit stops Process and is returned.
func (pc *PartitionChain) Process(ctx context.Context, batch arrow.RecordBatch, emit func(arrow.RecordBatch) error) error {
	if pc.flushed {
		return errFlushed
	}
	return pc.push(ctx, batch, 0, emit)
}

// Flush ends the partition: it flushes every Flusher once, in chain order, and runs what each returns through
// the transformers after it into emit (ownership as in Process). Process and Flush fail after a Flush.
func (pc *PartitionChain) Flush(ctx context.Context, emit func(arrow.RecordBatch) error) error {
	if pc.flushed {
		return errFlushed
	}
	pc.flushed = true
	for i, t := range pc.ts {
		f, ok := t.Transformer.(Flusher)
		if !ok {
			continue
		}
		t0 := time.Now()
		out, err := f.Flush(ctx)
		if pc.observe != nil {
			pc.observe(i, 0, numRows(out), time.Since(t0), err != nil)
		}
		if err != nil {
			if out != nil {
				out.Release()
			}
			return fmt.Errorf("transformer %s: flush: %w", t.Name, err)
		}
		if out == nil {
			continue
		}
		err = pc.push(ctx, out, i+1, emit)
		out.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// push runs batch through the transformers from index from on. batch stays the caller's; every batch a
// transformer returns is released here once the next one (or emit) is done with it.
func (pc *PartitionChain) push(ctx context.Context, batch arrow.RecordBatch, from int, emit func(arrow.RecordBatch) error) error {
	cur, owned := batch, false
	for i := from; i < len(pc.ts); i++ {
		t := pc.ts[i]
		var t0 time.Time
		if pc.observe != nil {
			t0 = time.Now()
		}
		in := cur.NumRows()
		out, err := t.Transform(ctx, cur)
		if pc.observe != nil {
			pc.observe(i, in, numRows(out), time.Since(t0), err != nil)
		}
		if owned {
			cur.Release()
		}
		if err != nil {
			if out != nil {
				out.Release()
			}
			return fmt.Errorf("transformer %s: %w", t.Name, err)
		}
		if out == nil {
			return nil // dropped
		}
		cur, owned = out, true
	}
	err := emit(cur)
	if owned {
		cur.Release()
	}
	return err
}

func numRows(b arrow.RecordBatch) int64 {
	if b == nil {
		return 0
	}
	return b.NumRows()
}
