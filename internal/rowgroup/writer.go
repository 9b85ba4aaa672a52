package rowgroup

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/jetflow-dev/jetflow/internal/records"
)

// Buffered is what the row group rules need of a file writer.
type Buffered interface {
	// RowGroupTotalBytesWritten is the encoded size of the pages of the current row group.
	RowGroupTotalBytesWritten() int64
	// BufferedBytes is what the current row group holds in memory: its encoded pages, the values of the pages
	// under construction and the dictionaries.
	BufferedBytes() int64
	NewBufferedRowGroupChecked() error
	// FooterChunks is how many column chunks the file's footer describes so far: the writer keeps the metadata
	// of every row group written (statistics, offsets, encodings) until the file is closed.
	FooterChunks() int
}

// encoders bounds the extra goroutines that encode columns, process-wide: each writer's own goroutine encodes
// too, and starts helpers only while the bound allows, so many writers (partitions, workers) at once do not
// multiply goroutines and their scratch memory.
var encoders = make(chan struct{}, runtime.GOMAXPROCS(0))

// Writer writes Arrow record batches to one Parquet file in buffered row groups, as pqarrow's FileWriter does,
// but encodes (and compresses) the columns of each batch in parallel: pqarrow encodes one column after another,
// so one file used one core. The bytes are pqarrow's, except that a column whose dictionary did not pay in a row
// group is written plain in the file's later ones (see closeRowGroup), and that a column of Arrow dictionary
// arrays stays dictionary-encoded when its dictionary changes between batches (see dictionaryChanged) and has
// its indices cut into pages by their values' size (see addRawSize). Schemas with nested columns (lists,
// structs, maps) are written by pqarrow's FileWriter, column after column; their dictionary arrays, also within
// lists and structs, are handed on as values to stay dictionary-encoded (see writeSerial), while a dictionary
// within a map or a fixed-size list still falls back to plain values when it changes.
type Writer struct {
	serial *pqarrow.FileWriter // nested schemas
	leaves int                 // leaf columns: column chunks a row group adds to the footer
	cut    int                 // row groups cut, with a nested schema (pqarrow does not count them)
	props  *pq.WriterProperties
	// valueTypes holds, with a nested schema, the type of each column with dictionaries (a dictionary column,
	// or a list or struct with dictionaries within) with those replaced by their values' types; nil for others.
	valueTypes []arrow.DataType

	wr       *file.Writer
	rgw      file.BufferedRowGroupWriter
	schema   *arrow.Schema
	nullable []bool
	ctxs     []context.Context // a write context per column: its scratch buffers are not safe to share
	learn    []bool            // dictionary columns under the cost fallback rule
	plain    []bool            // columns whose dictionary did not pay in an earlier row group of this file
	closed   bool

	// The row group's batches while it is staged (see StageUpTo): kept as Arrow, encoded when it is cut.
	stageLimit  int64
	staged      []arrow.RecordBatch
	stagedRows  int64
	stagedBytes int64
}

// NewWriter starts a Parquet file on w. storeSchema must say whether aprops has pqarrow.WithStoreSchema (the
// option cannot be read back), so that the file keeps the Arrow schema exactly as pqarrow would.
func NewWriter(sc *arrow.Schema, w io.Writer, props *pq.WriterProperties, aprops pqarrow.ArrowWriterProperties, storeSchema bool) (*Writer, error) {
	psc, err := pqarrow.ToParquet(sc, props, aprops)
	if err != nil {
		return nil, err
	}
	if !flat(sc, psc.NumColumns(), func(i int) (int16, int16, int) {
		c := psc.Column(i)
		return c.MaxDefinitionLevel(), c.MaxRepetitionLevel(), len(c.ColumnPath())
	}) {
		fw, err := pqarrow.NewFileWriter(sc, w, props, aprops)
		if err != nil {
			return nil, err
		}
		vw := &Writer{serial: fw, leaves: psc.NumColumns(), props: props, schema: sc}
		for _, f := range sc.Fields() {
			vt, ok := valueType(f.Type)
			if !ok {
				vt = nil
			}
			vw.valueTypes = append(vw.valueTypes, vt)
		}
		return vw, nil
	}
	meta := make(metadata.KeyValueMetadata, 0)
	md := sc.Metadata()
	for i := range md.Len() {
		meta.Append(md.Keys()[i], md.Values()[i])
	}
	if storeSchema {
		meta.Append("ARROW:schema", base64.StdEncoding.EncodeToString(flight.SerializeSchema(sc, props.Allocator())))
	}
	wr, err := file.NewParquetWriterWithError(w, psc.Root(), file.WithWriterProps(props), file.WithWriteMetadata(meta))
	if err != nil {
		return nil, err
	}
	fw := &Writer{wr: wr, schema: sc, leaves: psc.NumColumns(), props: props}
	for _, f := range sc.Fields() {
		fw.nullable = append(fw.nullable, f.Nullable)
		fw.ctxs = append(fw.ctxs, pqarrow.NewArrowWriteContext(context.Background(), &aprops))
	}
	fw.plain = make([]bool, len(fw.nullable))
	for i := range psc.NumColumns() {
		path := psc.Column(i).ColumnPath().String()
		fw.learn = append(fw.learn, props.DictionaryEnabledFor(path) && props.DictionaryCostFallbackEnabledFor(path))
	}
	return fw, nil
}

// StageUpTo makes the writer keep each row group's batches as Arrow, not encoded, while they take less than n
// bytes, and encode the row group at once when it is cut (or when it reaches n: then as usual, as batches
// come). arrow-go's column writers of a row group under construction hold kilobytes of encoders, statistics,
// page and metadata builders a column whatever its rows; a writer with hundreds of files open (a wide fan-out),
// most of them holding a small row group each, then held megabytes of such state that buffer_size does not
// count. A staged row group holds its rows only, which BufferedBytes counts. 0 (the default) encodes every batch
// as it comes, as a single file should: encoded pages are smaller than the Arrow rows. Nested schemas are
// always encoded as they come.
func (w *Writer) StageUpTo(n int64) {
	if w.serial == nil {
		w.stageLimit = n
	}
}

// Encoding reports whether the writer holds column writers: a row group under construction that is not staged.
func (w *Writer) Encoding() bool { return w.serial != nil || w.rgw != nil }

// flat reports whether every field of sc is one top-level leaf column with at most one definition level: the
// columns this package writes itself, with definition levels it can derive from the validity bitmap.
func flat(sc *arrow.Schema, leaves int, leaf func(i int) (def, rep int16, depth int)) bool {
	if leaves != sc.NumFields() {
		return false
	}
	for i := range leaves {
		def, rep, depth := leaf(i)
		if def > 1 || rep != 0 || depth != 1 {
			return false
		}
	}
	return true
}

// WriteBuffered adds rec to the current buffered row group, starting one if none is open.
func (w *Writer) WriteBuffered(rec arrow.RecordBatch) error {
	if w.serial != nil {
		return w.writeSerial(rec)
	}
	if w.closed {
		return errors.New("WriteBuffered after Close")
	}
	if !rec.Schema().Equal(w.schema) {
		return fmt.Errorf("record schema does not match the writer's\nrecord: %s\nwriter: %s", rec.Schema(), w.schema)
	}
	maxRows := w.wr.Properties().MaxRowGroupLength()
	if w.stageLimit > 0 && w.rgw == nil {
		size := records.Bytes(rec)
		if w.stagedBytes+size < w.stageLimit && w.stagedRows+rec.NumRows() <= maxRows {
			rec.Retain()
			w.staged = append(w.staged, rec)
			w.stagedRows += rec.NumRows()
			w.stagedBytes += size
			return nil
		}
		// The row group outgrew staging: encode what it has, then the rest as it comes.
		if err := w.encodeStaged(); err != nil {
			return err
		}
	}
	for off := int64(0); off < rec.NumRows(); {
		if w.rgw == nil {
			if err := w.startRowGroup(); err != nil {
				return err
			}
		}
		cur, err := w.rgw.NumRows()
		if err != nil {
			return err
		}
		if int64(cur) >= maxRows {
			if err := w.NewBufferedRowGroupChecked(); err != nil {
				return err
			}
			if err := w.startRowGroup(); err != nil {
				return err
			}
			cur = 0
		}
		n := min(rec.NumRows()-off, maxRows-int64(cur))
		part := rec
		if off != 0 || n != rec.NumRows() {
			part = rec.NewSlice(off, off+n)
		}
		err = w.writeColumns([]arrow.RecordBatch{part})
		if part != rec {
			part.Release()
		}
		if err != nil {
			return err
		}
		off += n
	}
	return nil
}

// writeSerial writes rec through pqarrow's FileWriter, its dictionaries replaced by their values, which the
// column chunks' dictionary encoders hash. pqarrow writes a dictionary array's indices while its dictionary is
// the chunk's first and falls back to plain values for the rest of the chunk when it changes (see
// dictionaryChanged); and indices written so do not count in the raw size arrow-go compares the dictionary
// with before the first page, so a dictionary that grows after many batches of indices was dropped for plain
// values anyway (see addRawSize). The values cost what pqarrow spends after a change anyway.
func (w *Writer) writeSerial(rec arrow.RecordBatch) error {
	var cols []arrow.Array // rec's columns, once one is replaced by its values
	for i, col := range rec.Columns() {
		vt := w.valueTypes[i]
		if vt == nil {
			continue
		}
		values, err := withValues(w.props.Allocator(), col.Data(), vt)
		if err != nil {
			return fmt.Errorf("column %s: dictionaries to values: %w", w.schema.Field(i).Name, err)
		}
		defer values.Release()
		if cols == nil {
			cols = slices.Clone(rec.Columns())
		}
		cols[i] = values
	}
	if cols != nil {
		rec = withColumns{rec, cols}
	}
	return w.serial.WriteBuffered(rec)
}

// valueType is t with the dictionaries within it replaced by their value types, and whether it had any that
// withValues can replace: at the top or within lists and structs, not within maps or fixed-size lists.
func valueType(t arrow.DataType) (arrow.DataType, bool) {
	switch t := t.(type) {
	case *arrow.DictionaryType:
		return t.ValueType, true
	case *arrow.ListType:
		if vt, ok := valueType(t.Elem()); ok {
			f := t.ElemField()
			f.Type = vt
			return arrow.ListOfField(f), true
		}
	case *arrow.LargeListType:
		if vt, ok := valueType(t.Elem()); ok {
			f := t.ElemField()
			f.Type = vt
			return arrow.LargeListOfField(f), true
		}
	case *arrow.StructType:
		fields := slices.Clone(t.Fields())
		changed := false
		for i, f := range fields {
			if vt, ok := valueType(f.Type); ok {
				fields[i].Type = vt
				changed = true
			}
		}
		if changed {
			return arrow.StructOf(fields...), true
		}
	}
	return t, false
}

// withValues is the array of data with the dictionaries within it replaced by their values, of type vt (see
// valueType): a new array around the same buffers, with new children where they held dictionaries. (arrow-go's
// cast of a list of dictionaries to a list of their values panics: it expects the values' buffers to number
// the indices'.)
func withValues(mem memory.Allocator, data arrow.ArrayData, vt arrow.DataType) (arrow.Array, error) {
	if arrow.TypeEqual(data.DataType(), vt) {
		return array.MakeFromData(data), nil
	}
	if _, ok := data.DataType().(*arrow.DictionaryType); ok {
		d := array.NewDictionaryData(data)
		defer d.Release()
		return compute.TakeArray(compute.WithAllocator(context.Background(), mem), d.Dictionary(), d.Indices())
	}
	children := make([]arrow.ArrayData, len(data.Children()))
	defer func() {
		for _, c := range children {
			if c != nil {
				c.Release()
			}
		}
	}()
	for k, child := range data.Children() {
		var ct arrow.DataType
		switch t := vt.(type) {
		case *arrow.ListType:
			ct = t.Elem()
		case *arrow.LargeListType:
			ct = t.Elem()
		case *arrow.StructType:
			ct = t.Field(k).Type
		default:
			return nil, fmt.Errorf("dictionaries within %s", data.DataType())
		}
		c, err := withValues(mem, child, ct)
		if err != nil {
			return nil, err
		}
		children[k] = c.Data()
		children[k].Retain()
		c.Release()
	}
	out := array.NewData(vt, data.Len(), data.Buffers(), children, data.NullN(), data.Offset())
	defer out.Release()
	return array.MakeFromData(out), nil
}

// withColumns is a record batch with some columns replaced by arrays of another type: a dictionary column by its
// values. pqarrow's FileWriter checks the batch's schema, then writes each column by its array's type.
type withColumns struct {
	arrow.RecordBatch
	cols []arrow.Array
}

func (r withColumns) Column(i int) arrow.Array { return r.cols[i] }
func (r withColumns) Columns() []arrow.Array   { return r.cols }

// encodeStaged starts a row group and encodes the staged batches into it.
func (w *Writer) encodeStaged() error {
	if len(w.staged) == 0 {
		return nil
	}
	defer w.releaseStaged()
	if err := w.startRowGroup(); err != nil {
		return err
	}
	return w.writeColumns(w.staged)
}

func (w *Writer) releaseStaged() {
	for _, b := range w.staged {
		b.Release()
	}
	clear(w.staged)
	w.staged, w.stagedRows, w.stagedBytes = w.staged[:0], 0, 0
}

// writeColumns encodes the columns of recs, one after another, into the row group: this goroutine takes
// columns one by one, helped by as many others as there are free cores.
func (w *Writer) writeColumns(recs []arrow.RecordBatch) error {
	ncols := w.schema.NumFields()
	errs := make([]error, ncols)
	var next atomic.Int64
	work := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= ncols {
				return
			}
			for _, rec := range recs {
				if errs[i] = w.writeColumn(i, rec.Column(i)); errs[i] != nil {
					break
				}
			}
		}
	}
	var wg sync.WaitGroup
help:
	for range ncols - 1 {
		select {
		case encoders <- struct{}{}:
			wg.Go(func() {
				defer func() { <-encoders }()
				work()
			})
		default:
			break help
		}
	}
	work()
	wg.Wait()
	return errors.Join(errs...)
}

func (w *Writer) writeColumn(i int, col arrow.Array) error {
	cw, err := w.rgw.Column(i)
	if err != nil {
		return err
	}
	var defs []int16
	if cw.LevelInfo().DefLevel > 0 {
		scratch := defsPool.Get().(*[]int16)
		defer defsPool.Put(scratch)
		defs = slices.Grow((*scratch)[:0], col.Len())[:col.Len()]
		*scratch = defs
		definitionLevels(col, defs)
	}
	d, indices := col.(*array.Dictionary)
	if indices && dictionaryChanged(cw, d) {
		dense, err := withValues(w.props.Allocator(), d.Data(), d.Dictionary().DataType())
		if err != nil {
			return fmt.Errorf("column %s: dictionary to values: %w", w.schema.Field(i).Name, err)
		}
		defer dense.Release()
		col, indices = dense, false
	}
	if err := pqarrow.WriteArrowToColumn(w.ctxs[i], cw, col, defs, nil, w.nullable[i]); err != nil {
		return fmt.Errorf("column %s: %w", w.schema.Field(i).Name, err)
	}
	if indices {
		addRawSize(cw, d)
	}
	return nil
}

// addRawSize adds the plain size of d's values, written as indices into the column chunk's dictionary, to the
// raw size arrow-go's dictionary encoder keeps of the values since its last page, which counts only values
// (PutIndices adds nothing). arrow-go cuts pages by that size, so a chunk written as indices held them all in
// one page; and before the first page it falls back to plain values when the dictionary and the indices'
// encoded size are no smaller than it, so one batch of values (a dictionary that grew, see dictionaryChanged)
// after many batches of indices dropped the dictionary for plain values.
func addRawSize(cw file.ColumnChunkWriter, d *array.Dictionary) {
	enc := cw.CurrentEncoder()
	raw, ok := enc.(interface{ AddRawSize(int64) })
	if e := enc.Encoding(); !ok || e != pq.Encodings.PlainDict && e != pq.Encodings.RLEDict {
		return // plain: pqarrow wrote the values
	}
	vt := d.Dictionary().DataType().ID()
	if !arrow.IsPrimitive(vt) && !arrow.IsBaseBinary(vt) {
		return // pqarrow wrote the values (its writeDictionaryArrow writes indices of these only)
	}
	valid := int64(d.Len() - d.NullN())
	// Per value, what arrow-go's encoders count: the physical type's size, a byte array's length and its
	// 4-byte length prefix.
	switch cw.Descr().PhysicalType() {
	case pq.Types.ByteArray:
		dict, ok := d.Dictionary().(interface{ ValueLen(int) int })
		if !ok {
			return
		}
		n := valid * 4
		// The ClickHouse consumer's: int32 indices, no nulls, string values, summed without a call a value.
		idx, ok := d.Indices().(*array.Int32)
		offs, withOffsets := d.Dictionary().(interface{ ValueOffsets() []int32 })
		if ok && withOffsets && d.NullN() == 0 {
			o := offs.ValueOffsets()
			for _, k := range idx.Int32Values() {
				n += int64(o[k+1] - o[k])
			}
		} else {
			for j := range d.Len() {
				if d.IsValid(j) {
					n += int64(dict.ValueLen(d.GetValueIndex(j)))
				}
			}
		}
		raw.AddRawSize(n)
	case pq.Types.FixedLenByteArray:
		raw.AddRawSize(valid * int64(cw.Descr().TypeLength()))
	case pq.Types.Int96:
		raw.AddRawSize(valid * 12)
	case pq.Types.Int64, pq.Types.Double:
		raw.AddRawSize(valid * 8)
	case pq.Types.Boolean:
		raw.AddRawSize(valid)
	default: // INT32, FLOAT
		raw.AddRawSize(valid * 4)
	}
}

// dictionaryChanged reports whether d's dictionary differs from the one the column chunk's dictionary encoder
// took from an earlier batch. pqarrow writes a dictionary array's indices straight into the chunk only while
// its dictionary stays the same; when it changes (a ClickHouse LowCardinality dictionary grows through a read) it
// falls back to plain values for the rest of the chunk, so a column of a few dozen distinct strings was written
// as plain strings. Given the values instead, the chunk's encoder adds them to the dictionary it has.
func dictionaryChanged(cw file.ColumnChunkWriter, d *array.Dictionary) bool {
	enc := cw.CurrentEncoder()
	if e := enc.Encoding(); e != pq.Encodings.PlainDict && e != pq.Encodings.RLEDict {
		return false // plain already: pqarrow writes the values
	}
	p, ok := enc.(interface{ PreservedDictionary() arrow.Array })
	if !ok || p.PreservedDictionary() == nil {
		return false // the chunk's first dictionary: pqarrow writes the indices
	}
	return !array.Equal(p.PreservedDictionary(), d.Dictionary())
}

// defsPool holds the definition level scratch of the columns being encoded: pqarrow encodes the levels into the
// column writer and keeps no reference, so a buffer serves one column at a time, not one per open file.
var defsPool = sync.Pool{New: func() any { return new([]int16) }}

// definitionLevels fills defs with col's definition levels (1 valid, 0 null) from its validity bitmap, 64 rows
// a word.
func definitionLevels(col arrow.Array, defs []int16) {
	switch {
	case col.NullN() == 0:
		for j := range defs {
			defs[j] = 1
		}
		return
	case col.DataType().ID() == arrow.NULL || col.NullN() == col.Len(): // a null array has no validity bitmap
		clear(defs)
		return
	}
	r := bitutil.NewBitmapWordReader(col.NullBitmapBytes(), col.Data().Offset(), col.Len())
	j := 0
	for range r.Words() {
		word := r.NextWord()
		for k, d := 0, defs[j:j+64]; k < len(d); k++ {
			d[k] = int16(word >> k & 1)
		}
		j += 64
	}
	for range r.TrailingBytes() {
		b, n := r.NextTrailingByte()
		for k := range n {
			defs[j+k] = int16(b >> k & 1)
		}
		j += n
	}
}

// NewBufferedRowGroupChecked closes the current row group, writing it out; the next starts with the next write.
// (pqarrow starts it at once: a file cut after its last batch, by size or by buffer_size, then ends in an empty
// row group, whose missing statistics make Iceberg drop the whole file's column bounds.)
func (w *Writer) NewBufferedRowGroupChecked() error {
	if w.serial != nil {
		w.cut++
		return w.serial.NewBufferedRowGroupChecked()
	}
	if err := w.encodeStaged(); err != nil {
		return err
	}
	if err := w.closeRowGroup(); err != nil {
		return err
	}
	w.rgw = nil
	return nil
}

// startRowGroup starts a buffered row group.
func (w *Writer) startRowGroup() error {
	rgw, err := w.wr.AppendBufferedRowGroupChecked()
	if err != nil {
		return err
	}
	w.rgw = rgw
	for i, plain := range w.plain {
		if plain {
			cw, err := rgw.Column(i)
			if err != nil {
				return err
			}
			cw.FallbackToPlain() // no page written yet: plain from the start, no dictionary page
		}
	}
	return nil
}

// closeRowGroup writes out the current row group, first noting the columns whose dictionary did not pay, for
// the rest of the file: those under the cost fallback rule that fell back to plain, or whose dictionary holds
// more than half as many entries as the row group has values (a row group cut small never reaches the rule's
// first-page check). A near-unique column (ids, timestamps, amounts) then skips hashing every value into a
// dictionary, and its hash table's memory, in each later row group.
func (w *Writer) closeRowGroup() error {
	if w.rgw == nil {
		return nil
	}
	for i, learn := range w.learn {
		if !learn || w.plain[i] {
			continue
		}
		cw, err := w.rgw.Column(i)
		if err != nil {
			return err
		}
		d, ok := cw.CurrentEncoder().(interface{ NumEntries() int })
		w.plain[i] = !ok || 2*d.NumEntries() > cw.RowsWritten()
	}
	return w.rgw.Close()
}

// RowGroupTotalBytesWritten is the encoded size of the current row group so far.
func (w *Writer) RowGroupTotalBytesWritten() int64 {
	if w.serial != nil {
		return w.serial.RowGroupTotalBytesWritten()
	}
	if w.rgw != nil {
		return w.rgw.TotalBytesWritten()
	}
	return 0
}

// BufferedBytes is what the current row group holds in memory: staged, its batches' Arrow buffers; encoded,
// its encoded pages, pages under construction and dictionaries, each counted at the size of the buffer that
// holds it rather than the bytes it encodes (see held). (With a nested schema, only the encoded pages: pqarrow
// does not show its column writers.)
func (w *Writer) BufferedBytes() int64 {
	if w.serial != nil {
		return w.serial.RowGroupTotalBytesWritten()
	}
	if w.rgw == nil {
		return w.stagedBytes
	}
	var n int64
	for i := range w.schema.NumFields() {
		cw, err := w.rgw.Column(i)
		if err != nil {
			continue
		}
		n += held(cw)
	}
	return n
}

// held is the memory a column writer's buffered data takes. arrow-go grows each of its buffers to the next power
// of two (from 1 KiB for a page under construction), and a dictionary encoder keeps a 4-byte index a value
// until its page is written, where its size estimate counts the few bits a value the index is encoded in: with
// hundreds of files open, pages under construction are most of what the row groups hold, so counting the
// encoded bytes let them take about half as much again as the budget said.
func held(cw file.ColumnChunkWriter) int64 {
	n := grown(cw.TotalBytesWritten(), 256)
	enc := cw.CurrentEncoder()
	size := enc.EstimatedDataEncodedSize()
	if d, ok := enc.(interface {
		DictEncodedSize() int
		BitWidth() int
	}); ok {
		n += grown(int64(d.DictEncodedSize()), 256)
		// The estimate is at least a value's bits for each buffered index, and a row adds at most one.
		values := min(cw.RowsWritten(), int(size*8/int64(max(d.BitWidth(), 1))))
		return n + grown(4*int64(values), 4)
	}
	return n + grown(size, 1<<10)
}

// grown is the capacity arrow-go's buffers reach holding n bytes: the next power of two, at least least.
func grown(n, least int64) int64 {
	if n == 0 {
		return 0
	}
	return max(least, int64(1)<<bits.Len64(uint64(n-1)))
}

// FooterChunks is how many column chunks the footer describes so far, the open row group's included.
func (w *Writer) FooterChunks() int {
	if w.serial != nil {
		return (w.cut + 1) * w.leaves
	}
	n := w.wr.NumRowGroups()
	if len(w.staged) > 0 {
		n++
	}
	return n * w.leaves
}

// Close writes the last row group and the footer; it does not close the sink.
func (w *Writer) Close() error {
	if w.serial != nil {
		return w.serial.Close()
	}
	if w.closed {
		return nil
	}
	w.closed = true
	defer w.releaseStaged() // when encoding them failed
	if err := w.encodeStaged(); err != nil {
		return err
	}
	if w.rgw != nil {
		if err := w.rgw.Close(); err != nil {
			return err
		}
	}
	return w.wr.Close()
}

// FileMetadata is the file's footer: as it stands, or as written after Close.
func (w *Writer) FileMetadata() (*metadata.FileMetaData, error) {
	if w.serial != nil {
		return w.serial.FileMetadata()
	}
	return w.wr.FileMetadata()
}
