package iceberg

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/array"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
)

// A merge finds the stored rows of its changed keys by reading the key columns of every candidate data file
// (changes spread over a table make every file a candidate). The read costs what decoding those columns costs:
// files are read keyReaders at a time, a row group at a time, and row groups whose key statistics hold no
// changed key are skipped; a key of one integer column is decoded into a reused buffer and matched as integers,
// without Arrow arrays or key text. Memory per reader: one row group's key column chunk and keyBatch values.

const (
	// keyReaders is how many candidate files a merge reads the key columns of at once: enough to overlap one
	// file's I/O with another's decoding, few enough that their row groups' buffers stay small.
	keyReaders = 4
	// keyBatch is how many values of a key column are decoded at a time.
	keyBatch = 64 << 10
)

// keyFile is a candidate data file whose key columns storedRows reads.
type keyFile struct {
	df   iceberg.DataFile
	ids  []int     // the key columns' field ids, then the version column's when its values are wanted
	dead positions // positions its delete files already remove
}

// readKeys reads the key columns of files, up to keyReaders at a time, and returns the live rows whose keys are
// in want, by file (storedRow.file indexes files). newer tells whether a stored version is newer than change
// ch's, for the files whose versions are read.
func (w *mergeWriter) readKeys(ctx context.Context, fs icebergio.IO, files []keyFile, nkey int, want *keyIndex, prune *keyPruner, newer func(ch int32, v ordVal) bool) ([][]storedRow, error) {
	found := make([][]storedRow, len(files))
	var (
		mu    sync.Mutex
		first error // the first failure; the reads it cancels fail after it
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(keyReaders, len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ik intKeys // reused from file to file: a reader's decode buffers are allocated once
			for i := range next {
				rows, err := w.fileKeys(ctx, fs, int32(i), files[i], nkey, want, prune, newer, &ik)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("read the keys of %s: %w", files[i].df.FilePath(), err)
					}
					mu.Unlock()
					cancel()
				}
				found[i] = rows
			}
		}()
	}
	for i := range files {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return found, nil
}

// fileKeys reads the key (and version) columns of candidate file i, one row group at a time. A file written
// before a key column existed holds no rows of changed keys.
func (w *mergeWriter) fileKeys(ctx context.Context, fs icebergio.IO, i int32, kf keyFile, nkey int, want *keyIndex, prune *keyPruner, newer func(ch int32, v ordVal) bool, ik *intKeys) ([]storedRow, error) {
	fr, closeFn, err := w.openParquet(fs, kf.df.FilePath())
	if err != nil {
		return nil, err
	}
	defer closeFn()
	cols := leafIndices(fr, kf.ids)
	if slices.Contains(cols[:nkey], -1) {
		return nil, nil
	}
	ver := -1 // the version column's leaf, when its values are read
	if len(cols) > nkey {
		ver = cols[nkey]
	}
	sc := fr.ParquetReader().MetaData().Schema
	fast := nkey == 1 && want.ints != nil && rawIntKey(sc.Column(cols[0]))
	var (
		out  []storedRow
		gone = cursor{p: kf.dead}
		pos  int64 // the first row of the row group
	)
	pr := fr.ParquetReader()
	if c := prune.mayHoldCount(pr.MetaData(), sc, kf.ids[:nkey], cols[:nkey]); c > 0 {
		out = make([]storedRow, 0, c) // at most that many rows match: no growing, no slack
	}
	for rg := range pr.NumRowGroups() {
		md := pr.MetaData().RowGroup(rg)
		n := md.NumRows()
		if !prune.rowGroupMayHold(md, sc, kf.ids[:nkey], cols[:nkey]) {
			pos += n
			continue
		}
		start := len(out)
		emit := func(r int64, ch int32) {
			if !gone.has(pos + r) {
				out = append(out, storedRow{ch: ch, file: i, pos: pos + r})
			}
		}
		if fast {
			err = ik.read(pr.RowGroup(rg), cols[0], n, &intMatcher{x: want}, emit)
		} else {
			err = scanRowGroup(ctx, fr, rg, cols, nkey, want, emit)
		}
		if err == nil && ver >= 0 && len(out) > start {
			err = readVersions(ctx, fr, rg, ver, pos, out[start:], newer)
		}
		if err != nil {
			return nil, fmt.Errorf("row group %d: %w", rg, err)
		}
		pos += n
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// rawIntKey tells whether the values of Parquet column c are the key integers as keyEncoder encodes the column
// Arrow reads it as: a signed integer, a date or a timestamp in microseconds (what Iceberg stores).
func rawIntKey(c *schema.Column) bool {
	if c.PhysicalType() != pq.Types.Int32 && c.PhysicalType() != pq.Types.Int64 {
		return false
	}
	switch lt := c.LogicalType().(type) {
	case nil, schema.NoLogicalType:
		return c.ConvertedType() == schema.ConvertedTypes.None
	case schema.DateLogicalType:
		return true
	case schema.IntLogicalType:
		return lt.IsSigned()
	case schema.TimestampLogicalType:
		return lt.TimeUnit() == schema.TimeUnitMicros
	}
	return false
}

// intKeys decodes a row group's integer key column into reused buffers.
type intKeys struct {
	vals   []int64
	vals32 []int32
	defs   []int16
	rows   []int32 // with nulls: the row of each value
}

// read matches the n values of leaf column col of row group rg, calling emit with the row (within the row group)
// and change of each changed key, in row order.
func (k *intKeys) read(rg *file.RowGroupReader, col int, n int64, m *intMatcher, emit func(r int64, ch int32)) error {
	cr, err := rg.Column(col)
	if err != nil {
		return err
	}
	if k.vals == nil {
		k.vals = make([]int64, keyBatch)
	}
	nullable := cr.Descriptor().MaxDefinitionLevel() > 0
	if nullable && k.defs == nil {
		k.defs = make([]int16, keyBatch)
	}
	var defs []int16
	if nullable {
		defs = k.defs
	}
	for done := int64(0); done < n; {
		var total int64
		var nv int
		switch cr := cr.(type) {
		case *file.Int64ColumnChunkReader:
			total, nv, err = cr.ReadBatch(keyBatch, k.vals, defs, nil)
		case *file.Int32ColumnChunkReader:
			if k.vals32 == nil {
				k.vals32 = make([]int32, keyBatch)
			}
			total, nv, err = cr.ReadBatch(keyBatch, k.vals32, defs, nil)
			for i, v := range k.vals32[:nv] {
				k.vals[i] = int64(v)
			}
		default:
			return fmt.Errorf("key column reader is %T, not an integer one", cr)
		}
		if err != nil {
			return err
		}
		if total == 0 {
			return fmt.Errorf("the key column ends after %d of %d rows", done, n)
		}
		base := done
		if int64(nv) == total {
			m.match(k.vals[:nv], func(r int, ch int32) { emit(base+int64(r), ch) })
		} else {
			// Rows without a key (appended before the table was merged into) match no change.
			maxDef := cr.Descriptor().MaxDefinitionLevel()
			k.rows = k.rows[:0]
			for r, d := range defs[:total] {
				if d == maxDef {
					k.rows = append(k.rows, int32(r))
				}
			}
			m.match(k.vals[:nv], func(v int, ch int32) { emit(base+int64(k.rows[v]), ch) })
		}
		done += total
	}
	return nil
}

// scanRowGroup matches the key columns cols[:nkey] of row group rg through Arrow arrays and key text: keys of
// several columns, or of a type whose Parquet values are not the key's integers.
func scanRowGroup(ctx context.Context, fr *pqarrow.FileReader, rg int, cols []int, nkey int, want *keyIndex, emit func(r int64, ch int32)) error {
	rr, err := fr.GetRecordReader(ctx, cols[:nkey], []int{rg})
	if err != nil {
		return err
	}
	defer rr.Release()
	enc := make([]func([]byte, int) []byte, nkey)
	var buf []byte
	var base int64
	var m *intMatcher
	for rr.Next() {
		rec := rr.RecordBatch()
		if k, ok := rec.Column(0).(*array.Int64); ok && nkey == 1 && want.ints != nil && k.NullN() == 0 {
			if m == nil {
				m = &intMatcher{x: want}
			}
			m.match(k.Int64Values(), func(r int, ch int32) { emit(base+int64(r), ch) })
			base += rec.NumRows()
			continue
		}
		for c := range nkey {
			enc[c] = keyEncoder(rec.Column(c))
		}
	rows:
		for r := range int(rec.NumRows()) {
			buf = buf[:0]
			for c := range nkey {
				if rec.Column(c).IsNull(r) {
					continue rows // rows appended before the table was merged into may lack a key
				}
				buf = enc[c](buf, r)
			}
			if ch := want.find(buf); ch >= 0 {
				emit(base+int64(r), ch)
			}
		}
		base += rec.NumRows()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return rr.Err()
}

// readVersions marks the stored rows rows (ascending positions, all in row group rg, whose first row is position
// first) whose version, in leaf column col, is newer than their change's.
func readVersions(ctx context.Context, fr *pqarrow.FileReader, rg, col int, first int64, rows []storedRow, newer func(ch int32, v ordVal) bool) error {
	rr, err := fr.GetRecordReader(ctx, []int{col}, []int{rg})
	if err != nil {
		return err
	}
	defer rr.Release()
	base := first
	for rr.Next() && len(rows) > 0 {
		rec := rr.RecordBatch()
		end := base + rec.NumRows()
		for len(rows) > 0 && rows[0].pos < end {
			rows[0].newer = newer(rows[0].ch, valueAt(rec.Column(0), int(rows[0].pos-base)))
			rows = rows[1:]
		}
		base = end
	}
	if err := rr.Err(); err != nil {
		return err
	}
	if len(rows) > 0 {
		return fmt.Errorf("the version column ends before row %d", rows[0].pos)
	}
	return nil
}

// rowGroupMayHold tells whether a row group (its metadata md, of Parquet schema sc) may hold a changed key, by
// the min/max statistics of its key columns (field ids ids, leaf columns leaves) against the sorted changed values
// of each: a row group whose range holds none of them is skipped.
func (kp *keyPruner) rowGroupMayHold(md *metadata.RowGroupMetaData, sc *schema.Schema, ids, leaves []int) bool {
	return kp.rowGroupKeys(md, sc, ids, leaves) != 0
}

// mayHoldCount is how many rows of a file (its metadata md) may hold changed keys, by its row groups' key
// statistics: a capacity for the rows a key read finds (a table appended to before its merges may hold a key
// twice, so not a bound); 0 when unknown.
func (kp *keyPruner) mayHoldCount(md *metadata.FileMetaData, sc *schema.Schema, ids, leaves []int) int {
	total := 0
	for rg := range md.NumRowGroups() {
		n := kp.rowGroupKeys(md.RowGroup(rg), sc, ids, leaves)
		if n < 0 {
			return 0
		}
		total += n
	}
	return total
}

// rowGroupKeys is how many changed values of the key column with the fewest fall in a row group's min/max
// statistics (at most its row count); -1 when no key column has usable statistics.
func (kp *keyPruner) rowGroupKeys(md *metadata.RowGroupMetaData, sc *schema.Schema, ids, leaves []int) int {
	least := -1
	for _, col := range kp.cols {
		c := slices.Index(ids, col.id)
		if c < 0 || leaves[c] < 0 {
			continue
		}
		cc, err := md.ColumnChunk(leaves[c])
		if err != nil {
			continue
		}
		st, err := cc.Statistics()
		if err != nil || st == nil || !st.HasMinMax() {
			continue
		}
		n := -1
		switch st := st.(type) {
		case *metadata.Int64Statistics:
			if col.ints != nil && rawIntKey(sc.Column(leaves[c])) {
				n = within(col.ints, st.Min(), st.Max())
			}
		case *metadata.Int32Statistics:
			if col.ints != nil && rawIntKey(sc.Column(leaves[c])) {
				n = within(col.ints, int64(st.Min()), int64(st.Max()))
			}
		case *metadata.ByteArrayStatistics:
			// Byte-wise order, as Go compares strings; a truncated bound still bounds.
			if col.strs != nil && stringColumn(sc.Column(leaves[c])) {
				n = within(col.strs, string(st.Min()), string(st.Max()))
			}
		}
		if n >= 0 && (least < 0 || n < least) {
			least = n
		}
	}
	if least >= 0 {
		least = int(min(int64(least), md.NumRows()))
	}
	return least
}

func stringColumn(c *schema.Column) bool {
	if _, ok := c.LogicalType().(schema.StringLogicalType); ok {
		return true
	}
	return c.ConvertedType() == schema.ConvertedTypes.UTF8
}

// within is how many values of sorted, distinct vals are in [lo, hi].
func within[T cmp.Ordered](vals []T, lo, hi T) int {
	if hi < lo {
		return 0
	}
	i, _ := slices.BinarySearch(vals, lo)
	j, found := slices.BinarySearch(vals[i:], hi)
	if found {
		j++
	}
	return j
}
