package iceberg

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
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
//
// A scope (stage.KeyScope) narrows both sides to the partition's range of its partition column: the consumer
// reads the keys of that range alone, and the table is scanned with the same range as its row filter (which
// prunes files by partition and column statistics, then rows), so a partition deletes only keys gone from its
// own range and reads only that range of the table.

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

// keyScan is a partition's key scan: the snapshot it pinned, the scope's row filter and the source's keys.
type keyScan struct {
	snap   *int64 // nil: the table had no snapshot, so nothing to delete
	filter iceberg.BooleanExpression
	keys   map[string]struct{}
	done   bool // goneChanges ran: the keys are dropped
	// What the table's side read: data files and live rows (in scope), and the keys found gone.
	files      int
	rows, gone int64
}

// StartKeyScan implements stage.KeyScanWriter.
func (w *mergeWriter) StartKeyScan(ctx context.Context, scope stage.KeyScope) error {
	tbl, err := w.l.Table(ctx, w.schema)
	if err != nil {
		return err
	}
	filter, err := scopeFilter(tbl.Schema(), scope)
	if err != nil {
		return stage.Permanent(fmt.Errorf("iceberg loader: partition %s: key scan of table %s: %w", w.p.Key, w.l.cfg.Table, err))
	}
	w.ks = &keyScan{keys: map[string]struct{}{}, filter: filter}
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
	if w.ks == nil || w.ks.snap == nil || w.ks.done {
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
	scan := tbl.Scan(table.WithSnapshotID(*w.ks.snap), table.WithSelectedFields(cols...), table.WithRowFilter(w.ks.filter))
	tasks, err := scan.PlanFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan the read of the keys of snapshot %d: %w", *w.ks.snap, err)
	}
	w.ks.files = len(tasks)
	_, recs, err := scan.ReadTasks(compute.WithAllocator(ctx, w.l.alloc), tasks)
	if err != nil {
		return nil, fmt.Errorf("read the keys of snapshot %d: %w", *w.ks.snap, err)
	}
	have := w.changedKeys(chs)
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
		w.ks.rows += b.NumRows()
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
			w.ks.gone += p.NumRows()
		}
		b.Release()
	}
	w.l.log.Debug("iceberg: key scan", "table", w.l.cfg.Table, "partition", w.p.Key, "source_keys", len(w.ks.keys),
		"table_files", w.ks.files, "table_keys", w.ks.rows, "gone", w.ks.gone)
	w.ks.keys, w.ks.done = nil, true // the source's keys are no longer needed
	// The gone keys' texts, added to the changes' at once.
	var text []byte
	first := len(chs)
	for _, p := range parts {
		gb, err := w.asInput(ctx, p, cols)
		if err != nil {
			return nil, err
		}
		bi := len(w.batches)
		w.batches = append(w.batches, gb)
		for r := range int(gb.NumRows()) {
			at := len(text)
			for _, k := range w.l.cfg.Key {
				text = appendKey(text, valueAt(gb.Column(gb.Schema().FieldIndices(k)[0]), r))
			}
			chs = append(chs, change{keyAt: uint32(at), keyLen: uint32(len(text) - at), batch: int32(bi), row: int32(r), delete: true})
		}
	}
	base, err := w.addKeys(text)
	if err != nil {
		return nil, err
	}
	for i := range chs[first:] {
		chs[first+i].keyAt += base
	}
	return chs, nil
}

// scopeFilter is the row filter of scope over a table of schema sc: [Lo, Hi) of its column, or every row.
func scopeFilter(sc *iceberg.Schema, scope stage.KeyScope) (iceberg.BooleanExpression, error) {
	if scope.Whole() {
		return iceberg.AlwaysTrue{}, nil
	}
	if _, ok := sc.FindFieldByName(scope.Column); !ok {
		return nil, fmt.Errorf("the partition's key scan covers a range of %q, a column the table does not have: load that column too (the consumer's partition.column)", scope.Column)
	}
	lo, err := scopeLiteral(scope.Lo)
	if err != nil {
		return nil, err
	}
	hi, err := scopeLiteral(scope.Hi)
	if err != nil {
		return nil, err
	}
	ref := iceberg.Reference(scope.Column)
	return iceberg.NewAnd(iceberg.LiteralPredicate(iceberg.OpGTEQ, ref, lo), iceberg.LiteralPredicate(iceberg.OpLT, ref, hi)), nil
}

// scopeLiteral is a bound of a key scan's scope as an Iceberg literal; binding converts it to the column's type
// (a time to a timestamp's microseconds or a date's days).
func scopeLiteral(v any) (iceberg.Literal, error) {
	switch v := v.(type) {
	case int64:
		return iceberg.NewLiteral(v), nil
	case time.Time:
		return iceberg.NewLiteral(iceberg.Timestamp(v.UnixMicro())), nil
	}
	return nil, fmt.Errorf("the key scan's bound %v (%T) is neither an integer nor a time", v, v)
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
