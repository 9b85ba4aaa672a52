package iceberg

import (
	"cmp"
	"context"
	"slices"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// copy_on_write puts a changed row into the rewrite of the data file that held its key, beside that file's
// surviving rows: a merge that changes keys of N data files replaces them by N files (plus the files of keys new
// to the table, and one per Iceberg partition a changed row moved to), rather than by N rewrites and more files
// of the new rows, which would grow the file count with every merge.

// rowRef is a row of the partition's batches.
type rowRef struct {
	batch int
	row   int32
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
	if !sameColumns(w.schema, dw.fileSchema) {
		task, err := table.ArrowSchemaToIcebergWithOptions(w.schema, table.ArrowToIcebergOptions{
			NameMapping: dw.sc.NameMapping(), TableSchema: dw.sc, TableProperties: dw.props})
		if err != nil {
			return nil, err
		}
		c.task = task
	}
	c.done = true
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
