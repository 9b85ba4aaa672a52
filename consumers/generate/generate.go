// Package generate is the `generate` consumer: deterministic synthetic data of any Arrow type, for examples,
// tests and benchmarks of the rest of a pipeline.
//
// The value of a column at a global row number depends only on the seed, the run instance's label, the column's
// position and the row number (a counter-based splitmix64 hash, never a sequential generator), so the rows are
// identical however they are partitioned or batched, and re-reading a partition gives identical bytes.
package generate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
)

const doc = "Generates deterministic synthetic rows of any Arrow type from a seed: the same seed, columns and " +
	"run instance give the same rows byte for byte, however they are partitioned or batched. Bounded mode makes " +
	"`rows` rows per run instance, cut into row-range partitions; with `unbounded:` it generates without end, " +
	"cutting stream partitions by rows, bytes or time, optionally at a limited rate."

func init() {
	stage.RegisterConsumer[Config]("generate", doc, build)
}

func build(bc stage.BuildContext, cfg *Config) (stage.Source, error) {
	core, err := newCore(bc, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Unbounded != nil {
		return &Stream{core: core, stream: *cfg.Unbounded}, nil
	}
	return &Generator{core: core, rows: cfg.Rows, part: cfg.Partition}, nil
}

// core is what both modes share: the validated columns and how to make a batch of rows.
type core struct {
	alloc     memory.Allocator
	log       *slog.Logger
	seed      int64
	batchRows int
	cols      []parsedColumn
	schema    *arrow.Schema
}

func newCore(bc stage.BuildContext, cfg *Config) (*core, error) {
	cols, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.cfg.Name, Type: c.dt, Nullable: c.cfg.NullRate > 0}
	}
	return &core{alloc: bc.Alloc, log: bc.Logger, seed: cfg.Seed, batchRows: cfg.BatchRows, cols: cols, schema: arrow.NewSchema(fields, nil)}, nil
}

// Schema is the declared schema: the columns in order, nullable exactly when null_rate > 0.
func (c *core) Schema(context.Context) (*arrow.Schema, error) { return c.schema, nil }

// DeclaredSchema implements stage.DeclaredSchema: the schema follows from the config alone.
func (c *core) DeclaredSchema() (*arrow.Schema, bool, error) { return c.schema, true, nil }

// batcher makes the batches of one run instance. It is owned by one Read or Stream call: its scratch space is
// reused from batch to batch.
type batcher struct {
	*core
	cols   []column
	coords []uint64
	rows   []uint64
}

func (c *core) batcher(run stage.RunInstance) (*batcher, error) {
	cols, err := compile(c.seed, c.cols, run)
	if err != nil {
		return nil, fmt.Errorf("generate: run instance %q: %w", run.Label, err)
	}
	return &batcher{core: c, cols: cols, coords: make([]uint64, c.batchRows), rows: make([]uint64, c.batchRows)}, nil
}

// batch makes rows [first, first+n); the caller releases it.
func (b *batcher) batch(first int64, n int) arrow.RecordBatch {
	rows := b.rows[:n]
	for i := range rows {
		rows[i] = uint64(first) + uint64(i)
	}
	arrs := make([]arrow.Array, len(b.cols))
	for i := range b.cols {
		col := &b.cols[i]
		coords := rows
		if col.distinct > 0 {
			coords = b.coords[:n]
			for j, r := range rows {
				coords[j] = below(hash(col.distSeed, r), col.distinct)
			}
		}
		validity, nulls := b.validity(col, rows)
		data := col.gen.build(b.alloc, coords, validity, nulls)
		if validity != nil {
			validity.Release()
		}
		arrs[i] = array.MakeFromData(data)
		data.Release()
	}
	rec := array.NewRecordBatch(b.schema, arrs, int64(n))
	for _, a := range arrs {
		a.Release()
	}
	return rec
}

// validity returns the null bitmap of col for rows (nil when no row is null) and the number of nulls.
func (b *batcher) validity(col *column, rows []uint64) (*memory.Buffer, int) {
	if col.nullThr == 0 && !col.nullAll {
		return nil, 0
	}
	buf := newBuf(b.alloc, int(bitutil.BytesForBits(int64(len(rows)))))
	bm := buf.Bytes()
	nulls := 0
	if col.nullAll {
		for i := range bm {
			bm[i] = 0
		}
		return buf, len(rows)
	}
	for i, r := range rows {
		valid := hash(col.nullSeed, r) >= col.nullThr
		bitutil.SetBitTo(bm, i, valid)
		if !valid {
			nulls++
		}
	}
	return buf, nulls
}

// Generator is the bounded generator: `rows` rows per run instance, cut into row-range partitions.
type Generator struct {
	*core
	rows int64
	part PartitionConfig
}

var (
	_ stage.Consumer       = (*Generator)(nil)
	_ stage.DeclaredSchema = (*Generator)(nil)
)

// PartitionKey is the canonical key of the rows [lo, hi).
func PartitionKey(lo, hi int64) string { return fmt.Sprintf("rows[%d,%d)", lo, hi) }

// Partitions cuts the run instance's rows into ranges of partition.rows rows, or into partition.count ranges of
// nearly equal size (the first ones one row longer), or into one range.
func (g *Generator) Partitions(_ context.Context, run stage.RunInstance) ([]stage.Partition, error) {
	var bounds []int64
	switch {
	case g.part.Rows > 0:
		for lo := int64(0); lo < g.rows; lo += g.part.Rows {
			bounds = append(bounds, lo)
		}
	default:
		n := int64(max(g.part.Count, 1))
		size, extra := g.rows/n, g.rows%n
		lo := int64(0)
		for i := range n {
			bounds = append(bounds, lo)
			lo += size
			if i < extra {
				lo++
			}
		}
	}
	parts := make([]stage.Partition, len(bounds))
	for i, lo := range bounds {
		hi := g.rows
		if i+1 < len(bounds) {
			hi = bounds[i+1]
		}
		parts[i] = stage.Partition{Key: PartitionKey(lo, hi), Index: i, Lo: lo, Hi: hi, Run: run}
	}
	return parts, nil
}

// Read emits the rows [p.Lo, p.Hi) in batches of batch_rows, checking ctx between batches.
func (g *Generator) Read(ctx context.Context, p stage.Partition, out func(arrow.RecordBatch) error) error {
	lo, okLo := p.Lo.(int64)
	hi, okHi := p.Hi.(int64)
	if !okLo || !okHi || lo < 0 || hi < lo || hi > g.rows {
		return fmt.Errorf("generate: partition %q: bounds %v..%v are not a row range within [0,%d); was it planned with a different config?", p.Key, p.Lo, p.Hi, g.rows)
	}
	b, err := g.batcher(p.Run)
	if err != nil {
		return err
	}
	for r := lo; r < hi; {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("generate: partition %s stopped at row %d: %w", p.Key, r, err)
		}
		n := int(min(int64(g.batchRows), hi-r))
		rec := b.batch(r, n)
		err := out(rec)
		rec.Release()
		if err != nil {
			return err
		}
		r += int64(n)
	}
	return nil
}

var errReadTwice = errors.New("generate: a stream partition's read func was called twice; it is called once per partition, and a failed partition is retried by restarting the stream from its checkpoint")
