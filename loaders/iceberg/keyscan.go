package iceberg

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"

	"github.com/jetflow-dev/jetflow/stage"
)

// deletes: {detect: key_scan}. The engine calls StartKeyScan, which pins the table's current snapshot S0, then
// streams the source's key columns into WriteKeys, which keeps only their encoded keys. At Commit, the keys of
// S0's live rows that the scan did not find, and that the partition's own rows do not hold, become deletes at the
// version S0 stores for them; they are merged like delete_when rows (in the same snapshot, exactly once, with
// tombstones). The rule: only keys S0 held are deleted. A row committed to the table after S0 may come from a
// source row inserted after the scan's snapshot, so it is never a candidate; a row S0 held but updated since
// (a newer version in the head) is kept by the version rule. Memory: the source's keys (their encoding) and the
// candidates' key and version columns; the table is read one batch of its key and version columns at a time.

var (
	_ stage.KeyScanLoader = (*Loader)(nil)
	_ stage.KeyScanWriter = (*mergeWriter)(nil)
)

// KeyScanColumns implements stage.KeyScanLoader.
func (l *Loader) KeyScanColumns() []string {
	if l.cfg.Mode == "merge" && l.cfg.Deletes.Detect == "key_scan" {
		return l.cfg.Key
	}
	return nil
}

// keyScan is a partition's key scan: the snapshot it pinned and the source's keys.
type keyScan struct {
	snap *int64 // nil: the table had no snapshot, so nothing to delete
	keys map[string]struct{}
}

// StartKeyScan implements stage.KeyScanWriter.
func (w *mergeWriter) StartKeyScan(ctx context.Context) error {
	w.ks = &keyScan{keys: map[string]struct{}{}}
	tbl, err := w.l.Table(ctx, w.schema)
	if err != nil {
		return err
	}
	if s := tbl.CurrentSnapshot(); s != nil {
		id := s.SnapshotID
		w.ks.snap = &id
	}
	return nil
}

// WriteKeys implements stage.KeyScanWriter.
func (w *mergeWriter) WriteKeys(ctx context.Context, b arrow.RecordBatch) error {
	if w.ks == nil {
		return fmt.Errorf("iceberg loader: partition %s: keys written before StartKeyScan", w.p.Key)
	}
	idx := make([]int, len(w.l.cfg.Key))
	for i, k := range w.l.cfg.Key {
		f := b.Schema().FieldIndices(k)
		if len(f) != 1 {
			return stage.Permanent(fmt.Errorf("iceberg loader: partition %s: the key scan has no column %q", w.p.Key, k))
		}
		idx[i] = f[0]
	}
	var buf []byte
	for r := range int(b.NumRows()) {
		buf = buf[:0]
		for _, c := range idx {
			buf = appendKey(buf, valueAt(b.Column(c), r))
		}
		if _, ok := w.ks.keys[string(buf)]; !ok {
			w.ks.keys[string(buf)] = struct{}{}
		}
	}
	return ctx.Err()
}

// goneChanges adds to chs a delete of every key the pinned snapshot held live that neither the key scan nor chs
// holds. The deleted keys' rows come from the table, as a batch of the input's schema (key and version columns,
// nulls elsewhere) appended to the partition's batches, so that they merge and leave tombstones like any delete.
func (w *mergeWriter) goneChanges(ctx context.Context, chs []change) ([]change, error) {
	if w.ks == nil || w.ks.snap == nil {
		return chs, nil
	}
	tbl, err := w.l.LoadTable(ctx)
	if err != nil {
		return nil, err
	}
	cols := slices.Clone(w.l.cfg.Key)
	if w.l.cfg.VersionBy != "" {
		cols = append(cols, w.l.cfg.VersionBy)
	}
	_, recs, err := tbl.Scan(table.WithSnapshotID(*w.ks.snap), table.WithSelectedFields(cols...)).ToArrowRecords(compute.WithAllocator(ctx, w.l.alloc))
	if err != nil {
		return nil, fmt.Errorf("read the keys of snapshot %d: %w", *w.ks.snap, err)
	}
	have := changedKeys(chs)
	nkey := len(w.l.cfg.Key)
	var parts []arrow.RecordBatch
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	var buf []byte
	kidx := make([]int, nkey)
	for b, err := range recs {
		if err != nil {
			return nil, fmt.Errorf("read the keys of snapshot %d: %w", *w.ks.snap, err)
		}
		for i, k := range w.l.cfg.Key {
			if f := b.Schema().FieldIndices(k); len(f) == 1 {
				kidx[i] = f[0]
			} else {
				b.Release()
				return nil, fmt.Errorf("snapshot %d has no key column %q", *w.ks.snap, k)
			}
		}
		var gone []int32
		for r := range int(b.NumRows()) {
			buf = buf[:0]
			for _, c := range kidx {
				buf = appendKey(buf, valueAt(b.Column(c), r))
			}
			if _, ok := w.ks.keys[string(buf)]; !ok && !have[string(buf)] {
				gone = append(gone, int32(r))
			}
		}
		if len(gone) > 0 {
			p, err := takeRows(ctx, w.l.alloc, b, gone)
			if err != nil {
				b.Release()
				return nil, err
			}
			parts = append(parts, p)
		}
		b.Release()
	}
	w.ks = nil // the source's keys are no longer needed
	for _, p := range parts {
		gb, err := w.asInput(ctx, p, cols)
		if err != nil {
			return nil, err
		}
		bi := len(w.batches)
		w.batches = append(w.batches, gb)
		for r := range int(gb.NumRows()) {
			ch := change{batch: bi, row: r, delete: true}
			buf = buf[:0]
			for i, k := range w.l.cfg.Key {
				v := valueAt(gb.Column(gb.Schema().FieldIndices(k)[0]), r)
				if i == 0 {
					ch.first = v
				}
				buf = appendKey(buf, v)
			}
			ch.key = string(buf)
			if w.l.cfg.VersionBy != "" {
				ch.version = valueAt(gb.Column(gb.Schema().FieldIndices(w.l.cfg.VersionBy)[0]), r)
			}
			chs = append(chs, ch)
		}
	}
	return chs, nil
}

// takeRows selects rows of b, in that order.
func takeRows(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch, rows []int32) (arrow.RecordBatch, error) {
	ib := array.NewInt32Builder(mem)
	ib.AppendValues(rows, nil)
	ind := ib.NewInt32Array()
	ib.Release()
	defer ind.Release()
	out, err := compute.Take(compute.WithAllocator(ctx, mem), compute.TakeOptions{BoundsCheck: false}, compute.NewDatumWithoutOwning(b), compute.NewDatumWithoutOwning(ind))
	if err != nil {
		return nil, fmt.Errorf("select rows: %w", err)
	}
	return out.(*compute.RecordDatum).Value, nil
}

// asInput turns p (the table's cols) into a batch of the input's schema: those columns cast to the input's types,
// nulls elsewhere.
func (w *mergeWriter) asInput(ctx context.Context, p arrow.RecordBatch, cols []string) (arrow.RecordBatch, error) {
	cctx := compute.WithAllocator(ctx, w.l.alloc)
	n := p.NumRows()
	arrs := make([]arrow.Array, w.schema.NumFields())
	release := func() {
		for _, a := range arrs {
			if a != nil {
				a.Release()
			}
		}
	}
	for i, f := range w.schema.Fields() {
		js := p.Schema().FieldIndices(f.Name)
		if !slices.Contains(cols, f.Name) || len(js) != 1 {
			arrs[i] = array.MakeArrayOfNull(w.l.alloc, f.Type, int(n))
			continue
		}
		c := p.Column(js[0])
		if arrow.TypeEqual(c.DataType(), f.Type) {
			c.Retain()
			arrs[i] = c
			continue
		}
		a, err := compute.CastArray(cctx, c, compute.SafeCastOptions(f.Type))
		if err != nil {
			release()
			return nil, fmt.Errorf("cast the table's %s to the input's %s: %w", f.Name, f.Type, err)
		}
		arrs[i] = a
	}
	out := array.NewRecordBatch(w.schema, arrs, n)
	release()
	return out, nil
}
