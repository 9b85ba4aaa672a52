package iceberg

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
)

// DeletesResult reports what CompactDeletes did.
type DeletesResult struct {
	DataFiles     int   // data files rewritten with their deletes applied (or removed: every row deleted)
	FilesAdded    int   // data files written (CompactMerged: one per Iceberg partition rewritten)
	DeleteFiles   int   // position delete files dropped
	RowsDeleted   int64 // rows the delete files removed, now gone from the data files
	RowsWritten   int64 // rows written to new data files (CompactMerged)
	DeletesMerged int   // data files left in place whose delete files were merged into one (CompactMerged)
	BytesBefore   int64 // data and delete files replaced
	BytesAfter    int64 // data files written
	Attempts      int   // commits tried (more than one: another writer committed meanwhile)
}

// maintenanceCommitHook, when set (tests), runs before each commit attempt of the maintenance operations:
// CompactDeletes, CompactMerged, Compact and ExpireSnapshots.
var maintenanceCommitHook func(attempt int)

// CompactDeletes rewrites every data file of the table's head that has position deletes (what mode: merge with
// merge_on_read writes) without its deleted rows, and drops the delete files, in one snapshot. Readers then read
// plain data files again. A rewritten file is a compacted file: the table property jetflow.compacted.<file>
// records which jetflow partition each run of its rows came from, as Compact's files do.
//
// Exactly once: the commit removes the delete files it applied, which makes iceberg-go refuse to replay it on a
// newer head; a commit of another writer meanwhile (a merge adding deletes to a file being rewritten) fails this
// one cleanly, and it plans again from the new head, up to commit.retries times. A second run after a success
// finds no delete file and does nothing.
func (l *Loader) CompactDeletes(ctx context.Context) (DeletesResult, error) {
	return l.compactLoop(ctx, "compact the deletes of", l.cfg.Commit.Retries, l.planDeletes)
}

// compactLoop plans a compaction on the table's head and commits it, planning again on the new head after a
// conflict, up to retries times; what names the operation in errors.
func (l *Loader) compactLoop(ctx context.Context, what string, retries int, plan func(context.Context, *table.Table) (DeletesResult, []iceberg.DataFile, *table.Transaction, error)) (DeletesResult, error) {
	cat, err := l.Catalog(ctx)
	if err != nil {
		return DeletesResult{}, err
	}
	for attempt := 0; ; attempt++ {
		tbl, err := cat.LoadTable(ctx, l.ident)
		if err != nil {
			return DeletesResult{}, fmt.Errorf("%s %s: load the table: %w", what, l.cfg.Table, err)
		}
		res, written, txn, err := plan(ctx, tbl)
		res.Attempts = attempt + 1
		if err != nil || txn == nil {
			removeFiles(ctx, tbl, written)
			if err != nil {
				return res, fmt.Errorf("%s %s: %w", what, l.cfg.Table, l.s3Context(tbl.Location(), err))
			}
			return res, nil
		}
		if maintenanceCommitHook != nil {
			maintenanceCommitHook(attempt)
		}
		_, err = txn.Commit(ctx)
		if err == nil {
			return res, nil
		}
		if !retryable(err) {
			// The outcome is unknown: the new files may be live, so they stay (`iceberg show --orphans` lists them if not).
			return res, fmt.Errorf("%s %s (the outcome is unknown; run it again, which finds nothing to do if it committed): %w", what, l.cfg.Table, err)
		}
		removeFiles(ctx, tbl, written)
		if attempt >= retries {
			return res, fmt.Errorf("%s %s: another writer committed first %d times (raise commit.retries, or run it when fewer merges run): %w", what, l.cfg.Table, attempt+1, err)
		}
		l.log.Debug("iceberg: compaction conflicted, planning again on the new head", "table", l.cfg.Table, "attempt", attempt+1, "error", err)
		if err := sleepBackoff(ctx, attempt, l.cfg.Commit.MaxWait.D()); err != nil {
			return res, err
		}
	}
}

// planDeletes writes the rewrites of tbl's data files that have position deletes and stages their replacement
// in a transaction; txn is nil when the head has no delete file. written are the files written, for the caller
// to remove when the commit does not happen.
func (l *Loader) planDeletes(ctx context.Context, tbl *table.Table) (res DeletesResult, written []iceberg.DataFile, txn *table.Transaction, err error) {
	snap := tbl.CurrentSnapshot()
	if snap == nil {
		return res, nil, nil, nil
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return res, nil, nil, err
	}
	dels, err := deleteFiles(ctx, fs, snap)
	if err != nil || len(dels) == 0 {
		return res, nil, nil, err
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return res, nil, nil, fmt.Errorf("plan the table's files: %w", err)
	}
	// One task per data file that has deletes, with all its delete files.
	var files []table.FileScanTask
	byPath := map[string]int{}
	for _, t := range tasks {
		if len(t.EqualityDeleteFiles) > 0 || len(t.DeletionVectorFiles) > 0 {
			return res, nil, nil, fmt.Errorf("data file %s has equality deletes or deletion vectors, which jetflow does not apply: compact the table with the engine that wrote them", t.File.FilePath())
		}
		if len(t.DeleteFiles) == 0 {
			continue
		}
		i, ok := byPath[t.File.FilePath()]
		if !ok {
			i = len(files)
			byPath[t.File.FilePath()] = i
			files = append(files, table.FileScanTask{File: t.File, Start: 0, Length: t.File.FileSizeBytes()})
		}
		for _, d := range t.DeleteFiles {
			if !slices.ContainsFunc(files[i].DeleteFiles, func(x iceberg.DataFile) bool { return x.FilePath() == d.FilePath() }) {
				files[i].DeleteFiles = append(files[i].DeleteFiles, d)
			}
		}
	}
	if len(files) == 0 {
		return res, nil, nil, nil // delete files that apply to no live row: left for expiry
	}
	dataFiles := make([]iceberg.DataFile, len(files))
	deletes := make([][]iceberg.DataFile, len(files))
	for i, f := range files {
		dataFiles[i], deletes[i] = f.File, f.DeleteFiles
	}
	dead, err := (&mergeWriter{l: l}).deadPositions(ctx, fs, dataFiles, deletes)
	if err != nil {
		return res, nil, nil, err
	}
	props := tbl.Properties()
	ch := compactedChanges{set: iceberg.Properties{}}
	var removed []iceberg.DataFile
	for _, task := range files {
		df := task.File
		segs, err := segmentsOf(props, df)
		if err != nil {
			return res, ch.added, nil, err
		}
		gone := dead[df.FilePath()]
		live := liveSegments(segs, gone)
		nf, err := rewriteRows(ctx, l.alloc, tbl, []table.FileScanTask{task}, live, nil)
		if err != nil {
			return res, ch.added, nil, fmt.Errorf("rewrite %s without its deleted rows: %w", df.FilePath(), err)
		}
		removed = append(removed, df)
		if _, ok := props[compactedKey(df.FilePath())]; ok {
			ch.drop = append(ch.drop, compactedKey(df.FilePath()))
		}
		if nf != nil {
			ch.added = append(ch.added, nf)
			ch.set[compactedKey(nf.FilePath())] = encodeSegments(live)
			res.BytesAfter += nf.FileSizeBytes()
		}
		res.DataFiles++
		res.RowsDeleted += int64(len(gone))
		res.BytesBefore += df.FileSizeBytes()
	}
	// Every delete file goes: each live one applies only to data files rewritten here (or to none).
	for _, d := range dels {
		res.BytesBefore += d.FileSizeBytes()
	}
	res.DeleteFiles = len(dels)
	txn = tbl.NewTransaction()
	if err := txn.ReplaceFiles(ctx, removed, ch.added, dels, iceberg.Properties{"jetflow.operation": "compact-deletes"}); err != nil {
		return res, ch.added, nil, fmt.Errorf("stage the rewrite: %w", err)
	}
	if err := ch.stage(txn); err != nil {
		return res, ch.added, nil, fmt.Errorf("stage the rewrite: %w", err)
	}
	return res, ch.added, txn, nil
}

// deleteFiles lists the live position delete files of snap; equality deletes are refused.
func deleteFiles(ctx context.Context, fs icebergio.IO, snap *table.Snapshot) ([]iceberg.DataFile, error) {
	mfs, err := snap.Manifests(fs)
	if err != nil {
		return nil, err
	}
	var out []iceberg.DataFile
	for _, mf := range mfs {
		if mf.ManifestContent() != iceberg.ManifestContentDeletes {
			continue
		}
		for e, err := range mf.Entries(fs, true) {
			if err != nil {
				return nil, err
			}
			switch df := e.DataFile(); df.ContentType() {
			case iceberg.EntryContentPosDeletes:
				out = append(out, df)
			default:
				return nil, fmt.Errorf("delete file %s holds %s deletes, which jetflow does not apply: compact the table with the engine that wrote it", df.FilePath(), df.ContentType())
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// liveSegments is segs, the partition runs of a data file, less the rows at the sorted positions gone.
func liveSegments(segs []segment, gone positions) []segment {
	var out []segment
	var at int64
	g := 0
	for _, s := range segs {
		end := at + s.rows
		n := 0
		for g < len(gone) && gone[g] < end {
			if gone[g] >= at {
				n++
			}
			g++
		}
		out = appendSegment(out, s.tag, s.rows-int64(n))
		at = end
	}
	return out
}
