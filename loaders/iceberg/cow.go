package iceberg

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
)

// copy_on_write puts a changed row into the rewrite of the data file that held its key, beside that file's
// surviving rows: a merge that changes keys of N data files replaces them by N files (plus the files of keys new
// to the table, and one per Iceberg partition a changed row moved to), rather than by N rewrites and more files
// of the new rows, which would grow the file count with every merge.

// rowRef is a row of the partition's batches.
type rowRef struct {
	batch, row int32
}

// rewriteTarget is the candidate file whose rewrite takes the new row of a key stored in rows: the first file
// that holds it. ok is false under merge_on_read and for a key the table does not hold: its row goes to a new
// data file.
func (w *mergeWriter) rewriteTarget(rows []storedRow) (file int, ok bool) {
	if w.l.cfg.Merge.Strategy != "copy_on_write" || len(rows) == 0 {
		return 0, false
	}
	f := rows[0].file
	for _, s := range rows[1:] {
		f = min(f, s.file)
	}
	return int(f), true
}

// inputConversion is how the partition's rows are converted to the table's columns in the rewrites of one merge
// attempt: worked out for the first rewrite that takes rows, then reused (every rewrite has the table's schema).
type inputConversion struct {
	done bool
	task *iceberg.Schema // nil: the input's columns are the table's
}

func (c *inputConversion) of(w *mergeWriter, dw *directWriter) (*iceberg.Schema, error) {
	if c.done {
		return c.task, nil
	}
	task, err := dw.taskFor(w.schema)
	if err != nil {
		return nil, err
	}
	c.task, c.done = task, true
	return c.task, nil
}

// writeChanged writes the partition's rows with to dw, a writer made for batches of the table's own rows (the
// rewrite's), converting them from the input's columns as writeRows' writer would.
func (w *mergeWriter) writeChanged(ctx context.Context, dw *directWriter, with []rowRef, conv *inputConversion) error {
	if len(with) == 0 {
		return nil
	}
	task, err := conv.of(w, dw)
	if err != nil {
		return err
	}
	slices.SortFunc(with, func(a, b rowRef) int { return cmp.Or(cmp.Compare(a.batch, b.batch), cmp.Compare(a.row, b.row)) })
	var rows []int32
	for i, r := range with {
		rows = append(rows, r.row)
		if i+1 < len(with) && with[i+1].batch == r.batch {
			continue
		}
		if err := dw.writeTakenAs(ctx, task, w.batches[r.batch], rows); err != nil {
			return err
		}
		rows = rows[:0]
	}
	return nil
}

// fileScoped returns the delete files of dels that apply to df alone: they go when df is rewritten or removed.
func fileScoped(dels []iceberg.DataFile, df iceberg.DataFile) []iceberg.DataFile {
	var out []iceberg.DataFile
	for _, d := range dels {
		if ref := d.ReferencedDataFile(); ref != nil && *ref == df.FilePath() {
			out = append(out, d)
		}
	}
	return out
}

// A copy_on_write rewrite streams the data file it rewrites through the loader's writer: a row group at a time,
// in batches of about rewriteBatchBytes decoded, reading the column chunks through buffers of rewriteReadBytes
// together (readBuffer) rather than whole. What it holds besides the writer's row group is then one batch and
// the read buffers, whatever the size of the file or of its row groups.
const (
	rewriteBatchBytes = 512 << 10
	rewriteReadBytes  = 4 << 20
	// The bounds on the rows of a batch: a few rows cost the writer more per row, a very narrow table
	// could otherwise make batches of millions of rows.
	rewriteMinRows = 1 << 10
	rewriteMaxRows = 64 << 10
)

// rewriteRowGroupShare: a rewrite's row group holds at most buffer_size / rewriteRowGroupShare (without a bound,
// a single open file keeps its row group until the table's row group size). The merge holds the partition's
// batches and changes beside it, which an append of the same rows does not, and a writer with many files open
// cuts each file's row groups about as small.
const rewriteRowGroupShare = 8

// readBuffer is the read buffer of each of a file's cols column chunks: rewriteReadBytes shared, from 64 KiB (a
// wide table reads in more, smaller requests) to 1 MiB (fewer, larger requests gain little more).
func readBuffer(cols int) int64 {
	return min(max(rewriteReadBytes/int64(max(cols, 1)), 64<<10), 1<<20)
}

// rewriteBatchRows is how many rows of a file with metadata md a rewrite reads at a time: about
// rewriteBatchBytes decoded, by the decoded size of a row of its widest row group. A column counts the larger of
// its width in Arrow and its encoded, uncompressed bytes a row: by the encoded size alone a delta- or
// dictionary-encoded integer column counts a byte or two a row, where it decodes to four or eight, and a batch
// would decode to several times rewriteBatchBytes.
func rewriteBatchRows(md *metadata.FileMetaData) int64 {
	perRow := int64(1)
	for i := range md.NumRowGroups() {
		rg := md.RowGroup(i)
		n := rg.NumRows()
		if n <= 0 {
			continue
		}
		row := rg.TotalByteSize() / n
		if cols := rg.NumColumns(); cols == md.Schema.NumColumns() {
			row = 0
			for c := range cols {
				cc, err := rg.ColumnChunk(c)
				if err != nil {
					row = max(row, rg.TotalByteSize()/n)
					break
				}
				row += max(decodedWidth(md.Schema.Column(c)), cc.TotalUncompressedSize()/n)
			}
		}
		perRow = max(perRow, row)
	}
	return min(max(rewriteBatchBytes/perRow, rewriteMinRows), rewriteMaxRows)
}

// decodedWidth is the bytes a value of col takes in Arrow besides its data: fixed-size types whole, the offset
// of a string or binary (whose data the column's encoded size counts).
func decodedWidth(col *schema.Column) int64 {
	if _, ok := col.LogicalType().(*schema.DecimalLogicalType); ok {
		return 16 // decimal128, however it is stored
	}
	switch col.PhysicalType() {
	case pq.Types.Boolean:
		return 1
	case pq.Types.Int32, pq.Types.Float:
		return 4
	case pq.Types.Int64, pq.Types.Double, pq.Types.Int96:
		return 8
	case pq.Types.FixedLenByteArray:
		return int64(col.TypeLength())
	default:
		return 4
	}
}

// readBounded opens data file df for a rewrite: its batches, a row group at a time and a bounded slice of rows
// at a time, in file order. ok is false (and nothing is open) when the file's columns are not want, the table's
// as its writer writes them — the same names, types and field ids, in the same order (a file written before the table's schema
// changed) — so that iceberg-go's scanner must read it, converting its columns. The caller calls done when it
// has consumed the batches; each batch the sequence yields is the caller's to release.
func (w *mergeWriter) readBounded(ctx context.Context, fsys icebergio.IO, df iceberg.DataFile, want *arrow.Schema) (recs iter.Seq2[arrow.RecordBatch, error], done func(), ok bool, err error) {
	f, err := fsys.Open(df.FilePath())
	if err != nil {
		return nil, nil, false, err
	}
	props := pq.NewReaderProperties(w.l.alloc)
	props.BufferedStreamEnabled = true
	rdr, err := file.NewParquetReader(f, file.WithReadProps(props))
	if err != nil {
		f.Close()
		return nil, nil, false, err
	}
	props.BufferSize = readBuffer(rdr.MetaData().Schema.NumColumns()) // the reader reads its chunks with props

	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: rewriteBatchRows(rdr.MetaData())}, w.l.alloc)
	if err != nil {
		rdr.Close()
		return nil, nil, false, err
	}
	sc, err := fr.Schema()
	if err != nil || !sameFileColumns(sc, want) {
		rdr.Close()
		return nil, nil, false, nil
	}
	recs = func(yield func(arrow.RecordBatch, error) bool) {
		for rg := range rdr.NumRowGroups() {
			rr, err := fr.GetRecordReader(ctx, nil, []int{rg})
			if err != nil {
				yield(nil, fmt.Errorf("row group %d: %w", rg, err))
				return
			}
			for rr.Next() {
				b := rr.RecordBatch()
				b.Retain()
				if !yield(b, nil) {
					rr.Release()
					return
				}
			}
			err = rr.Err()
			rr.Release()
			if err != nil {
				yield(nil, fmt.Errorf("row group %d: %w", rg, err))
				return
			}
		}
	}
	return recs, func() { rdr.Close() }, true, nil
}

// sameFileColumns tells whether a data file read as file holds the columns the table's writer writes (want):
// the same names, types (nested fields' ids included) and field ids in the same order, and no column that may
// hold nulls where the table requires values.
func sameFileColumns(file, want *arrow.Schema) bool {
	if file.NumFields() != want.NumFields() {
		return false
	}
	for i, f := range file.Fields() {
		g := want.Field(i)
		id, ok := f.Metadata.GetValue(table.ArrowParquetFieldIDKey)
		wid, wok := g.Metadata.GetValue(table.ArrowParquetFieldIDKey)
		if f.Name != g.Name || !ok || !wok || id != wid || !arrow.TypeEqual(f.Type, g.Type, arrow.CheckMetadata()) || (f.Nullable && !g.Nullable) {
			return false
		}
	}
	return true
}
