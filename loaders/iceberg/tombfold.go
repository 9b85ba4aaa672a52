package iceberg

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
)

// Tombstone files are written in key order (the order of their keys' text, appendKey) in row groups of
// tombRowGroup rows, and say so in their footer (tombSortedKey). So a merge reads only the row groups whose first
// key column's statistics can hold one of its keys (a stream that deletes old keys reads none), and a fold merges
// its files a batch of each at a time instead of holding every tombstone: what either holds no longer grows with
// the keys a stream has deleted. Files without the mark (written before) are sorted in memory when folded.
const (
	tombRowGroup  = 16 << 10
	tombBatch     = 4 << 10 // rows a fold decodes at a time from each file it merges, and writes at a time
	tombSortedKey = "jetflow.tombstones.order"
	tombSortedVal = "key"
)

// tombFile is an open tombstone file.
type tombFile struct {
	path   string
	fr     *pqarrow.FileReader
	close  func()
	sorted bool
}

func (w *mergeWriter) openTombstones(fs icebergio.IO, p string) (*tombFile, error) {
	fr, closeFn, err := w.openParquet(fs, p)
	if err != nil {
		return nil, fmt.Errorf("open the tombstone file %s: %w", p, err)
	}
	fr.Props.BatchSize = tombBatch
	if n := int(fr.ParquetReader().MetaData().Schema.NumColumns()); n != len(w.l.cfg.Key)+1 {
		closeFn()
		return nil, fmt.Errorf("the tombstone file %s has %d columns, the key %v and a version make %d: was the key changed? Merge with the key the table was merged with", p, n, w.l.cfg.Key, len(w.l.cfg.Key)+1)
	}
	v := fr.ParquetReader().MetaData().KeyValueMetadata().FindValue(tombSortedKey)
	return &tombFile{path: p, fr: fr, close: closeFn, sorted: v != nil && *v == tombSortedVal}, nil
}

func (f *tombFile) rows() int64 { return f.fr.ParquetReader().NumRows() }

// rowGroups lists the row groups whose first key column can hold one of firsts (sorted by cmpOrd, no nulls), by
// the column's statistics; a row group without usable statistics is listed.
func (f *tombFile) rowGroups(firsts []ordVal) []int {
	md := f.fr.ParquetReader().MetaData()
	var first arrow.Type = arrow.NULL // no statistics are usable
	if sc, err := f.fr.Schema(); err == nil {
		first = sc.Field(0).Type.ID()
	}
	var out []int
	for rg := range md.NumRowGroups() {
		lo, hi, ok := firstKeyRange(md, rg, first)
		if ok {
			i, _ := slices.BinarySearchFunc(firsts, lo, cmpOrd)
			if i == len(firsts) || cmpOrd(firsts[i], hi) > 0 {
				continue // no key of the merge falls in [lo, hi]
			}
		}
		out = append(out, rg)
	}
	return out
}

// firstKeyRange is the least and greatest value of the first key column, of Arrow type first, in row group rg, as
// valueAt has them; ok is false unless the statistics hold both and the type is one whose statistics order as
// cmpOrd does (signed integers, dates, strings).
func firstKeyRange(md *metadata.FileMetaData, rg int, first arrow.Type) (lo, hi ordVal, ok bool) {
	cc, err := md.RowGroup(rg).ColumnChunk(0)
	if err != nil {
		return lo, hi, false
	}
	st, err := cc.Statistics()
	if err != nil || st == nil || !st.HasMinMax() {
		return lo, hi, false
	}
	switch first {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.DATE32:
		if s, is := st.(*metadata.Int32Statistics); is {
			return ordVal{kind: kInt, i: int64(s.Min())}, ordVal{kind: kInt, i: int64(s.Max())}, true
		}
	case arrow.INT64:
		if s, is := st.(*metadata.Int64Statistics); is {
			return ordVal{kind: kInt, i: s.Min()}, ordVal{kind: kInt, i: s.Max()}, true
		}
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		if s, is := st.(*metadata.ByteArrayStatistics); is {
			return ordVal{kind: kString, s: string(s.Min())}, ordVal{kind: kString, s: string(s.Max())}, true
		}
	}
	return lo, hi, false
}

// each calls fn with every tombstone of row groups rgs (all of them when nil): its key text, its record and
// row, its version. The record is valid until fn returns.
func (w *mergeWriter) eachTombstone(ctx context.Context, f *tombFile, rgs []int, fn func([]byte, arrow.RecordBatch, int, ordVal)) error {
	rr, err := f.fr.GetRecordReader(ctx, nil, rgs)
	if err != nil {
		return fmt.Errorf("read the tombstone file %s: %w", f.path, err)
	}
	defer rr.Release()
	nkey := len(w.l.cfg.Key)
	var buf []byte
	for rr.Next() {
		rec := rr.RecordBatch()
		for r := range int(rec.NumRows()) {
			buf = tombKey(buf[:0], rec, nkey, r)
			fn(buf, rec, r, valueAt(rec.Column(nkey), r))
		}
	}
	if err := rr.Err(); err != nil {
		return fmt.Errorf("read the tombstone file %s: %w", f.path, err)
	}
	return nil
}

// tombKey appends the key text of row r of rec, whose first nkey columns are the key.
func tombKey(b []byte, rec arrow.RecordBatch, nkey, r int) []byte {
	for c := range nkey {
		b = appendKey(b, valueAt(rec.Column(c), r))
	}
	return b
}

// firstKeys is the distinct values of the changes' first key column, sorted by cmpOrd; nil when one is null
// (then every row group is read).
func (w *mergeWriter) firstKeys(chs []change) []ordVal {
	c := w.schema.FieldIndices(w.l.cfg.Key[0])[0]
	out := make([]ordVal, 0, len(chs))
	for _, ch := range chs {
		v := valueAt(w.batches[ch.batch].Column(c), int(ch.row))
		if v.kind == kNull {
			return nil
		}
		out = append(out, v)
	}
	slices.SortFunc(out, cmpOrd)
	return slices.CompactFunc(out, func(a, b ordVal) bool { return cmpOrd(a, b) == 0 })
}

// tombSource yields tombstones in key order, newest first within a key: a sorted file a batch at a time, or
// rows held in memory (the merge's new tombstones, an unsorted older file) sorted by reference.
type tombSource struct {
	// the current tombstone: its record, row, key text and version; rec is nil past the end
	rec arrow.RecordBatch
	row int
	key []byte
	ver ordVal

	nkey int
	// a sorted file
	rr pqarrow.RecordReader
	// rows in memory
	parts []tombPart
	keys  []byte
	refs  []tombRef
	next  int
}

// fileSource reads sorted file f from its start.
func (w *mergeWriter) fileSource(ctx context.Context, f *tombFile) (*tombSource, error) {
	rr, err := f.fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("read the tombstone file %s: %w", f.path, err)
	}
	s := &tombSource{rr: rr, nkey: len(w.l.cfg.Key), row: -1}
	return s, s.advance()
}

// memSource sorts parts' rows (all of a part's rows when it lists none) by key, newest first within a key, the
// first part first on a tie.
func memSource(parts []tombPart, nkey int) (*tombSource, error) {
	s := &tombSource{parts: parts, nkey: nkey}
	for pi, p := range parts {
		add := func(r int) error {
			if len(s.keys) > math.MaxUint32-1024 {
				return fmt.Errorf("the tombstones' keys take more than %d bytes: fold fewer at a time", uint64(math.MaxUint32))
			}
			off := len(s.keys)
			s.keys = tombKey(s.keys, p.rec, nkey, r)
			s.refs = append(s.refs, tombRef{off: uint32(off), n: uint32(len(s.keys) - off), seq: uint32(len(s.refs)), part: int32(pi), row: int32(r)})
			return nil
		}
		if p.rows == nil {
			for r := range int(p.rec.NumRows()) {
				if err := add(r); err != nil {
					return nil, err
				}
			}
			continue
		}
		for _, r := range p.rows {
			if err := add(int(r)); err != nil {
				return nil, err
			}
		}
	}
	key := func(r tombRef) []byte { return s.keys[r.off : r.off+r.n] }
	version := func(r tombRef) ordVal { return valueAt(parts[r.part].rec.Column(nkey), int(r.row)) }
	slices.SortFunc(s.refs, func(a, b tombRef) int {
		if c := bytes.Compare(key(a), key(b)); c != 0 {
			return c
		}
		return cmp.Or(cmpOrd(version(b), version(a)), cmp.Compare(a.seq, b.seq))
	})
	return s, s.advance()
}

// advance moves to the next tombstone.
func (s *tombSource) advance() error {
	if s.rr == nil {
		if s.next >= len(s.refs) {
			s.rec = nil
			return nil
		}
		r := s.refs[s.next]
		s.next++
		s.rec, s.row, s.key = s.parts[r.part].rec, int(r.row), s.keys[r.off:r.off+r.n]
		s.ver = valueAt(s.rec.Column(s.nkey), s.row)
		return nil
	}
	s.row++
	for s.rec == nil || s.row >= int(s.rec.NumRows()) {
		if s.rec != nil {
			s.rec.Release()
			s.rec = nil
		}
		if !s.rr.Next() {
			return s.rr.Err()
		}
		s.rec, s.row = s.rr.RecordBatch(), 0
		s.rec.Retain() // the output may hold it past the reader's next batch
	}
	s.key = tombKey(s.key[:0], s.rec, s.nkey, s.row)
	s.ver = valueAt(s.rec.Column(s.nkey), s.row)
	return nil
}

func (s *tombSource) release() {
	if s.rr != nil {
		if s.rec != nil {
			s.rec.Release()
		}
		s.rr.Release()
	}
	s.rec = nil
}

// tombOut gathers a fold's output rows, tombBatch at a time, and writes them in order.
type tombOut struct {
	ctx  context.Context
	fw   *pqarrow.FileWriter
	sc   *arrow.Schema
	recs []arrow.RecordBatch // the records the gathered rows are in, retained
	at   []int32             // by gathered row: its record
	rows []int32             // by gathered row: its row
}

func (o *tombOut) add(rec arrow.RecordBatch, row int) error {
	if len(o.recs) == 0 || o.recs[len(o.recs)-1] != rec {
		rec.Retain()
		o.recs = append(o.recs, rec)
	}
	o.at, o.rows = append(o.at, int32(len(o.recs)-1)), append(o.rows, int32(row))
	if len(o.rows) >= tombBatch {
		return o.flush()
	}
	return nil
}

// flush writes the gathered rows: each record's rows taken (and cast to the file's types), put together, then
// put back in the order they were gathered in.
func (o *tombOut) flush() error {
	if len(o.rows) == 0 {
		return nil
	}
	defer func() {
		for _, r := range o.recs {
			r.Release()
		}
		o.recs, o.at, o.rows = o.recs[:0], o.at[:0], o.rows[:0]
	}()
	mem := compute.GetAllocator(o.ctx)
	pieces := make([]arrow.RecordBatch, 0, len(o.recs))
	defer func() {
		for _, p := range pieces {
			p.Release()
		}
	}()
	order := make([]int32, len(o.rows)) // by gathered row: where it is in the pieces put together
	var n int32
	for ri, rec := range o.recs {
		var rows []int32
		for i, at := range o.at {
			if int(at) == ri {
				order[i] = n + int32(len(rows))
				rows = append(rows, o.rows[i])
			}
		}
		p, err := tombRows(o.ctx, o.sc, rec, rows)
		if err != nil {
			return err
		}
		pieces = append(pieces, p)
		n += int32(len(rows))
	}
	all := pieces[0]
	if len(pieces) > 1 {
		cols := make([]arrow.Array, o.sc.NumFields())
		for c := range cols {
			parts := make([]arrow.Array, len(pieces))
			for i, p := range pieces {
				parts[i] = p.Column(c)
			}
			col, err := array.Concatenate(parts, mem)
			if err != nil {
				for _, x := range cols[:c] {
					x.Release()
				}
				return fmt.Errorf("put tombstones together: %w", err)
			}
			cols[c] = col
		}
		all = array.NewRecordBatch(o.sc, cols, int64(n))
		for _, c := range cols {
			c.Release()
		}
		defer all.Release()
	}
	if !slices.IsSorted(order) {
		sorted, err := takeRows(o.ctx, mem, all, order)
		if err != nil {
			return err
		}
		defer sorted.Release()
		all = sorted
	}
	return o.fw.WriteBuffered(all)
}

// foldTombstones writes one file of the newest tombstone of every key in the head's files from t.files[from:]
// and in the merge's new ones (parts), less the keys t.superseded holds, in key order. It returns the file's
// path, or "" when no tombstone is left.
func (w *mergeWriter) foldTombstones(ctx context.Context, tbl *table.Table, t *tombPlan, from int, sc *arrow.Schema, parts []tombPart) (string, error) {
	fs, err := tbl.FS(ctx)
	if err != nil {
		return "", err
	}
	nkey := len(w.l.cfg.Key)
	var opened []*tombFile
	defer func() { // after the sources reading them (deferred calls run last first)
		for _, f := range opened {
			f.close()
		}
	}()
	var srcs []*tombSource
	defer func() {
		for _, s := range srcs {
			s.release()
		}
	}()
	var held []tombPart // the records of unsorted files, read whole
	defer func() {
		for _, p := range held {
			p.rec.Release()
		}
	}()
	for _, p := range t.files[from:] {
		f, err := w.openTombstones(fs, p)
		if err != nil {
			return "", err
		}
		opened = append(opened, f)
		var s *tombSource
		if f.sorted {
			s, err = w.fileSource(ctx, f)
		} else {
			var recs []tombPart
			err = w.eachTombstone(ctx, f, nil, func(_ []byte, rec arrow.RecordBatch, _ int, _ ordVal) {
				if len(recs) == 0 || recs[len(recs)-1].rec != rec {
					rec.Retain()
					recs = append(recs, tombPart{rec: rec})
				}
			})
			held = append(held, recs...)
			if err == nil {
				s, err = memSource(recs, nkey)
			}
		}
		if s != nil {
			srcs = append(srcs, s)
		}
		if err != nil {
			return "", err
		}
	}
	if len(parts) > 0 {
		s, err := memSource(parts, nkey)
		if err != nil {
			return "", err
		}
		srcs = append(srcs, s)
	}
	var n int
	var cur []byte
	p, err := w.writeTombstoneFile(ctx, tbl, sc, func(fw *pqarrow.FileWriter) error {
		out := &tombOut{ctx: compute.WithAllocator(ctx, w.l.alloc), fw: fw, sc: sc}
		defer func() {
			for _, r := range out.recs {
				r.Release()
			}
		}()
		for {
			// The least key; of its tombstones the newest, the earliest source's on a tie.
			var min *tombSource
			for _, s := range srcs {
				if s.rec == nil {
					continue
				}
				if min == nil {
					min = s
					continue
				}
				if c := bytes.Compare(s.key, min.key); c < 0 || c == 0 && cmpOrd(s.ver, min.ver) > 0 {
					min = s
				}
			}
			if min == nil {
				break
			}
			cur = append(cur[:0], min.key...)
			if !t.superseded[string(cur)] {
				if err := out.add(min.rec, min.row); err != nil {
					return err
				}
				n++
			}
			for _, s := range srcs {
				for s.rec != nil && bytes.Equal(s.key, cur) {
					if err := s.advance(); err != nil {
						return fmt.Errorf("read the tombstones: %w", err)
					}
				}
			}
		}
		return out.flush()
	})
	if err != nil {
		return "", err
	}
	if n == 0 {
		w.removeTombstoneFile(ctx, tbl, p)
		return "", nil
	}
	return p, nil
}
