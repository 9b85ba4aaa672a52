package iceberg

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/jetflow-dev/jetflow/stage"
)

// A truncate (stage.TruncateMarker) clears the table in the commit of the partition that holds it. The
// partition's rows before its last marker row are dropped; every live row of the table whose version is older
// than the marker's leaves it (a data file all of whose rows do is removed, one that holds newer rows too is
// rewritten without them, as copy_on_write does, whatever the strategy: one snapshot cannot both remove data
// files and add position deletes); the rows after the marker merge as usual. The marker's version becomes the
// table property truncateProp, in the same catalog commit, and no row older than it goes in afterwards, so a
// re-run of an older partition cannot bring cleared rows back.
//
// Exactly once: a retry or --force of the partition after its commit finds the property at (or past) its
// truncate and clears nothing, and rows committed since are newer than the truncate, so a clear never removes
// them; its rows after the marker merge by version as any re-run does.
const truncateProp = "jetflow.merge.truncated-before"

var _ stage.TruncateLoader = (*Loader)(nil)

// ClearOnTruncate implements stage.TruncateLoader: a merge by a version column clears; other modes cannot.
func (l *Loader) ClearOnTruncate(m stage.TruncateMarker) error {
	if l.cfg.Mode != "merge" {
		return stage.FieldErrorf("mode", "the consumer passes truncates on (%s: clear), which empty the table of the rows older than the truncate, and only mode: merge clears (mode is %s): set mode: merge with key and version_by", m.Field, l.cfg.Mode)
	}
	if l.cfg.VersionBy == "" {
		return &stage.FieldError{Path: "version_by", Err: fmt.Errorf("%w: the consumer passes truncates on (%s: clear), which empty the table of the rows older than the truncate, and without version_by no row is older: set version_by (the change's log position, e.g. _lsn)", stage.ErrMissing, m.Field)}
	}
	l.trunc = &m
	return nil
}

// checkTruncateSchema checks that the input still carries the column that marks truncates.
func (l *Loader) checkTruncateSchema(schema *arrow.Schema) error {
	if l.trunc == nil || l.cfg.Mode != "merge" {
		return nil
	}
	if _, err := mergeColumn(schema, l.trunc.Column); err != nil {
		return fmt.Errorf("truncates are marked by column %q (the consumer's %s: clear): %w; keep it through the transformers", l.trunc.Column, l.trunc.Field, err)
	}
	return nil
}

// lastTruncate finds the partition's last truncate marker: its batch and row, and its version; batch is -1
// when the partition holds none.
func (w *mergeWriter) lastTruncate(verIdx int) (batch, row int, version ordVal, err error) {
	batch, row = -1, -1
	m := w.l.trunc
	if m == nil {
		return batch, row, version, nil
	}
	f := w.schema.FieldIndices(m.Column)
	if len(f) != 1 {
		return batch, row, version, stage.Permanent(fmt.Errorf("the input has no column %q, which marks truncates (the consumer's %s: clear): keep it through the transformers", m.Column, m.Field))
	}
	for bi := len(w.batches) - 1; bi >= 0 && batch < 0; bi-- {
		col := w.batches[bi].Column(f[0])
		is := func(r int) bool { v := valueAt(col, r); return v.kind == kString && v.s == m.Value }
		if c, ok := col.(*array.String); ok { // the usual case, read without a type switch a row
			is = func(r int) bool { return c.IsValid(r) && c.Value(r) == m.Value }
		}
		for r := col.Len() - 1; r >= 0; r-- {
			if is(r) {
				batch, row = bi, r
				break
			}
		}
	}
	if batch < 0 {
		return batch, row, version, nil
	}
	if verIdx < 0 {
		return batch, row, version, stage.Permanent(fmt.Errorf("a truncate marker needs version_by to tell the rows it clears"))
	}
	if version = valueAt(w.batches[batch].Column(verIdx), row); version.kind == kNull {
		return batch, row, version, stage.Permanent(fmt.Errorf("a truncate marker has no version (column %q is null)", w.l.cfg.VersionBy))
	}
	return batch, row, version, nil
}

// clearPlan is what the table's truncates do to one merge attempt: the floor below which no row goes in, and
// the stored rows the partition's own truncate clears.
type clearPlan struct {
	floor  ordVal // the table's last truncate (kNull: none)
	active bool   // the partition clears rows: its files are rewritten or removed
	prop   string // truncateProp's new value ("": unchanged)
	whole  map[int]bool
	gone   map[int]positions // by candidate file, the positions cleared (files not removed whole)
}

// older tells whether a change of version v is older than the table's last truncate: it never goes in.
func (p *clearPlan) older(v ordVal) bool {
	return p != nil && p.floor.kind != kNull && cmpOrd(v, p.floor) < 0
}

// live returns the stored rows the clear leaves.
func (p *clearPlan) live(rows []storedRow) []storedRow {
	if p == nil || !p.active || len(rows) == 0 {
		return rows
	}
	out := rows[:0:0]
	for _, s := range rows {
		if !p.whole[int(s.file)] {
			if _, found := slices.BinarySearch(p.gone[int(s.file)], s.pos); !found {
				out = append(out, s)
			}
		}
	}
	return out
}

// changes tells whether the commit changes the property even when it changes no file.
func (p *clearPlan) changes() bool { return p != nil && p.prop != "" }

// stage sets the property in txn.
func (p *clearPlan) stage(txn *table.Transaction) error {
	if !p.changes() {
		return nil
	}
	return txn.SetProperties(iceberg.Properties{truncateProp: p.prop})
}

// planClear reads the table's floor and, when the partition holds a truncate newer than it, finds the live rows
// older than the truncate, adding their files to c.
func (w *mergeWriter) planClear(ctx context.Context, tbl *table.Table, c *candidates) (*clearPlan, error) {
	if w.l.cfg.VersionBy == "" {
		return nil, nil
	}
	p := &clearPlan{}
	if v, ok := tbl.Properties()[truncateProp]; ok {
		f, err := decodeOrd(v)
		if err != nil {
			return nil, stage.Permanent(fmt.Errorf("table property %s: %w", truncateProp, err))
		}
		p.floor = f
	}
	at := w.truncAt
	if at == nil || (p.floor.kind != kNull && cmpOrd(*at, p.floor) <= 0) {
		return p, nil // no truncate, or it was merged already: every older row left then
	}
	p.active, p.prop = true, encodeOrd(*at)
	p.whole, p.gone = map[int]bool{}, map[int]positions{}
	if tbl.CurrentSnapshot() == nil {
		return p, nil
	}
	sc := tbl.Schema()
	vf, ok := sc.FindFieldByName(w.l.cfg.VersionBy)
	if !ok {
		return nil, stage.Permanent(fmt.Errorf("the table has no version column %q", w.l.cfg.VersionBy))
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the data files to clear: %w", err)
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, err
	}
	byPath := make(map[string]int, len(c.files))
	for i, f := range c.files {
		byPath[f.FilePath()] = i
	}
	if c.dead == nil {
		c.dead = map[string]positions{}
	}
	for _, t := range tasks {
		if len(t.EqualityDeleteFiles) > 0 || len(t.DeletionVectorFiles) > 0 {
			return nil, stage.Permanent(fmt.Errorf("data file %s has equality deletes or deletion vectors, which a merge cannot apply: compact the table with the engine that wrote them first", t.File.FilePath()))
		}
		df := t.File
		whole, keep := false, false
		if hi, ok := versionBound(df, sc, vf.ID); ok && hi.kind == at.kind && cmpOrd(hi, *at) < 0 {
			whole = true // every version is older (a null one too)
		} else if lo, ok := versionBound(lowerBounds{df}, sc, vf.ID); ok && lo.kind == at.kind && cmpOrd(lo, *at) >= 0 {
			nulls, known := df.NullValueCounts()[vf.ID]
			keep = known && nulls == 0
		}
		if keep {
			continue
		}
		i, ok := byPath[df.FilePath()]
		if !ok {
			i = len(c.files)
			byPath[df.FilePath()] = i
			c.files = append(c.files, df)
			c.deletes = append(c.deletes, t.DeleteFiles)
			if !whole {
				dead, err := w.deadPositions(ctx, fs, []iceberg.DataFile{df}, [][]iceberg.DataFile{t.DeleteFiles})
				if err != nil {
					return nil, err
				}
				c.dead[df.FilePath()] = dead[df.FilePath()]
			}
		}
		if whole {
			p.whole[i] = true
			continue
		}
		dead := c.dead[df.FilePath()]
		var gone positions
		deleted := cursor{p: dead}
		if err := w.readVersions(ctx, fs, df, vf.ID, func(pos int64, v ordVal) {
			if !deleted.has(pos) && cmpOrd(v, *at) < 0 {
				gone = append(gone, pos)
			}
		}); err != nil {
			return nil, fmt.Errorf("read the versions of %s: %w", df.FilePath(), err)
		}
		switch {
		case int64(len(gone)+len(dead)) >= df.Count():
			p.whole[i] = true
		case len(gone) > 0:
			p.gone[i] = gone
		}
	}
	return p, nil
}

// lowerBounds shows a data file's lower bounds as its upper ones, so that versionBound reads either.
type lowerBounds struct{ iceberg.DataFile }

func (l lowerBounds) UpperBoundValues() map[int][]byte { return l.DataFile.LowerBoundValues() }

// readVersions calls fn with the position and version of every row of data file df (deleted ones too); a file
// written before the version column existed holds only null versions.
func (w *mergeWriter) readVersions(ctx context.Context, fs icebergio.IO, df iceberg.DataFile, id int, fn func(int64, ordVal)) error {
	fr, closeFn, err := w.openParquet(fs, df.FilePath())
	if err != nil {
		return err
	}
	defer closeFn()
	col := leafIndices(fr, []int{id})[0]
	if col < 0 {
		for p := range df.Count() {
			fn(p, ordVal{})
		}
		return nil
	}
	rr, err := fr.GetRecordReader(ctx, []int{col}, nil)
	if err != nil {
		return err
	}
	defer rr.Release()
	var pos int64
	for rr.Next() {
		rec := rr.RecordBatch()
		a := rec.Column(0)
		if ints, ok := a.(*array.Int64); ok && ints.NullN() == 0 {
			for r, v := range ints.Int64Values() {
				fn(pos+int64(r), ordVal{kind: kInt, i: v})
			}
		} else {
			for r := range a.Len() {
				fn(pos+int64(r), valueAt(a, r))
			}
		}
		pos += rec.NumRows()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return rr.Err()
}

// encodeOrd and decodeOrd keep a version in a table property: its kind, then its value.
func encodeOrd(v ordVal) string {
	switch v.kind {
	case kInt:
		return "i:" + strconv.FormatInt(v.i, 10)
	case kFloat:
		return "f:" + strconv.FormatFloat(v.float(), 'g', -1, 64)
	case kDecimal:
		return fmt.Sprintf("d:%d:%d", v.hi, uint64(v.i))
	case kString:
		return "s:" + v.s
	}
	return ""
}

func decodeOrd(s string) (ordVal, error) {
	kind, val, ok := strings.Cut(s, ":")
	if ok {
		switch kind {
		case "i":
			if n, err := strconv.ParseInt(val, 10, 64); err == nil {
				return ordVal{kind: kInt, i: n}, nil
			}
		case "f":
			if f, err := strconv.ParseFloat(val, 64); err == nil {
				return floatVal(f), nil
			}
		case "d":
			hi, lo, _ := strings.Cut(val, ":")
			h, err1 := strconv.ParseInt(hi, 10, 64)
			l, err2 := strconv.ParseUint(lo, 10, 64)
			if err1 == nil && err2 == nil {
				return decimalVal(decimal128.New(h, l)), nil
			}
		case "s":
			return ordVal{kind: kString, s: val}, nil
		}
	}
	return ordVal{}, fmt.Errorf("%q is not a version jetflow wrote", s)
}

// files adds to fidx (the candidate files with dropped rows) those the clear removes or rewrites.
func (p *clearPlan) files(fidx []int) []int {
	in := make(map[int]bool, len(fidx))
	for _, i := range fidx {
		in[i] = true
	}
	for i := range p.whole {
		if !in[i] {
			fidx = append(fidx, i)
		}
	}
	for i := range p.gone {
		if !in[i] {
			fidx = append(fidx, i)
		}
	}
	return fidx
}
