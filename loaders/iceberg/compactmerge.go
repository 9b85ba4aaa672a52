package iceberg

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// What a merge's compaction (merge.compact_every) rewrites, besides the files written since the last one: a file
// it left in place once this fraction of its rows is deleted (Iceberg's own rewrite_data_files default; with
// updates all over the table a tenth is deleted within a compaction or two, and the table would be rewritten
// nearly whole each time), or once this many delete files apply to it (each is a manifest entry every reader and
// every merge plans with).
const (
	compactDeletedFraction = 0.3
	compactMaxDeleteFiles  = 64
	compactAttempts        = 3 // plans of a compaction at most: a stream's then waits for its next turn, Compact gives up
	// compactAfterDeleteFiles: the merges of a process compact sooner than merge.compact_every commits once they
	// have written this many delete files since the last compaction. A merge_on_read commit writes a delete file
	// for every data file it deletes rows from, so a stream that updates rows all over the table writes more of
	// them at each commit; every merge plans with, and the compaction's commit reads, all of them.
	compactAfterDeleteFiles = 1024
)

// compactAfterMerge counts the loader's merge commits and the delete files they wrote and, every
// merge.compact_every commits or compactAfterDeleteFiles delete files, compacts the table (CompactMerged) before
// the commit returns, so the next merge of a stream plans over a bounded number of files. Its snapshot is its own:
// the merge is committed already, and a compaction that fails is logged and tried again at the next turn.
func (l *Loader) compactAfterMerge(ctx context.Context, deleteFiles int) {
	every := l.cfg.Merge.CompactEvery
	if every <= 0 {
		return
	}
	merges, dels := l.merges.Add(1), l.mergeDeletes.Add(int64(deleteFiles))
	if merges < int64(every) && dels < l.compactDeletes {
		return
	}
	l.merges.Store(0)
	l.mergeDeletes.Store(0)
	res, err := l.compactMerged(ctx, compactAttempts-1)
	if err != nil {
		l.log.Warn("iceberg: compaction after merges failed; trying again after the next merges", "table", l.cfg.Table, "error", err)
		return
	}
	l.log.Debug("iceberg: compacted after merges", "table", l.cfg.Table, "data_files", res.DataFiles, "files_added", res.FilesAdded,
		"delete_files", res.DeleteFiles, "rows_deleted", res.RowsDeleted, "attempts", res.Attempts)
	if keep := l.cfg.KeepSnapshots; keep > 0 {
		if err := l.expireAfterMerge(ctx, keep); err != nil {
			l.log.Warn("iceberg: snapshot expiry after merges failed; trying again after the next compaction", "table", l.cfg.Table, "error", err)
		}
	}
}

// expireAfterMerge expires all but the keep newest snapshots of the table and deletes the files only they used.
func (l *Loader) expireAfterMerge(ctx context.Context, keep int) error {
	tbl, err := l.LoadTable(ctx)
	if err != nil {
		return err
	}
	if len(tbl.Metadata().Snapshots()) <= keep {
		return nil
	}
	_, err = l.ExpireSnapshots(ctx, ExpireOptions{RetainLast: keep})
	return err
}

// CompactMerged compacts a merge table incrementally: in each Iceberg partition it rewrites the files the merges
// wrote since the last compaction, the files its deletes make heavy, and its own outputs of about that size
// (pickMerged) into one new data file with the deletes applied, merges the delete files of the files it leaves in
// place into one each, and drops the delete files that applied only to rewritten files, in one snapshot. It is
// what a merge stream runs every merge.compact_every commits: the table's file and delete file counts stay
// bounded however long the stream runs, and each compaction's work follows what the stream wrote since the last.
// Exactly once as CompactDeletes: a commit of another writer meanwhile fails this one cleanly and it plans again
// on the new head.
//
// The new files carry no jetflow.compacted property: a merge table's rows are found by key and version, never
// by the jetflow partition that wrote them.
func (l *Loader) CompactMerged(ctx context.Context) (DeletesResult, error) {
	return l.compactMerged(ctx, l.cfg.Commit.Retries)
}

func (l *Loader) compactMerged(ctx context.Context, retries int) (DeletesResult, error) {
	return l.compactLoop(ctx, "compact the merged files of", retries, l.planMerged)
}

// mergeGroup is one Iceberg partition's live data files with the delete files that apply to each.
type mergeGroup struct {
	tasks []table.FileScanTask
}

// planMerged writes the rewrites CompactMerged commits and stages them in a transaction; txn is nil when no
// partition needs one.
func (l *Loader) planMerged(ctx context.Context, tbl *table.Table) (res DeletesResult, written []iceberg.DataFile, txn *table.Transaction, err error) {
	if tbl.CurrentSnapshot() == nil {
		return res, nil, nil, nil
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return res, nil, nil, err
	}
	ids, _ := l.mergeFieldIDs(tbl.Schema()) // the merges' own, so that they and this share the cache's entries
	tasks, err := l.planTasks(ctx, tbl, ids)
	if err != nil {
		return res, nil, nil, fmt.Errorf("plan the table's files: %w", err)
	}
	var order []string
	groups := map[string]*mergeGroup{}
	at := map[string][2]int{}          // by data file: its group and task
	appliesTo := map[string][]string{} // by delete file: the data files it applies to
	for _, t := range tasks {
		if len(t.EqualityDeleteFiles) > 0 || len(t.DeletionVectorFiles) > 0 {
			return res, nil, nil, fmt.Errorf("data file %s has equality deletes or deletion vectors, which jetflow does not apply: compact the table with the engine that wrote them", t.File.FilePath())
		}
		p := t.File.FilePath()
		if _, ok := at[p]; !ok {
			k := partitionKey(t.File)
			g := groups[k]
			if g == nil {
				g = &mergeGroup{}
				groups[k] = g
				order = append(order, k)
			}
			at[p] = [2]int{slices.Index(order, k), len(g.tasks)}
			g.tasks = append(g.tasks, table.FileScanTask{File: t.File, Start: 0, Length: t.File.FileSizeBytes()})
		}
		i := at[p]
		task := &groups[order[i[0]]].tasks[i[1]]
		for _, d := range t.DeleteFiles {
			if !slices.ContainsFunc(task.DeleteFiles, func(x iceberg.DataFile) bool { return x.FilePath() == d.FilePath() }) {
				task.DeleteFiles = append(task.DeleteFiles, d)
				appliesTo[d.FilePath()] = append(appliesTo[d.FilePath()], p)
			}
		}
	}
	var files, dels []iceberg.DataFile
	var deletes [][]iceberg.DataFile
	seenDel := map[string]bool{}
	for _, k := range order {
		for _, t := range groups[k].tasks {
			files = append(files, t.File)
			deletes = append(deletes, t.DeleteFiles)
			for _, d := range t.DeleteFiles {
				if !seenDel[d.FilePath()] {
					seenDel[d.FilePath()] = true
					dels = append(dels, d)
				}
			}
		}
	}
	dead, err := (&mergeWriter{l: l}).deadPositions(ctx, fs, files, deletes)
	if err != nil {
		return res, nil, nil, err
	}
	small := int64(l.cfg.TargetFileSize) / 2
	props := tbl.Properties()
	ch := compactedChanges{set: iceberg.Properties{}}
	var removed, removedDels []iceberg.DataFile
	var merged []table.FileScanTask // files left in place whose delete files become one
	for _, k := range order {
		pick, keep := pickMerged(groups[k].tasks, dead, small)
		for _, t := range keep {
			if len(t.DeleteFiles) >= 2 && ownDeletes(t, appliesTo) {
				merged = append(merged, t)
			}
		}
		if len(pick) == 0 {
			continue
		}
		var live int64
		for _, t := range pick {
			live += t.File.Count() - int64(len(dead[t.File.FilePath()]))
			res.RowsDeleted += int64(len(dead[t.File.FilePath()]))
			res.BytesBefore += t.File.FileSizeBytes()
			removed = append(removed, t.File)
			if _, ok := props[compactedKey(t.File.FilePath())]; ok {
				ch.drop = append(ch.drop, compactedKey(t.File.FilePath()))
			}
		}
		nf, err := l.rewriteMerged(ctx, tbl, pick, dead, live)
		ch.added = append(ch.added, nf...)
		if err != nil {
			return res, ch.added, nil, fmt.Errorf("rewrite the files of partition %s: %w", k, err)
		}
		for _, f := range nf {
			res.BytesAfter += f.FileSizeBytes()
		}
		res.FilesAdded += len(nf)
		res.DataFiles += len(pick)
		res.RowsWritten += live
	}
	if len(removed) == 0 && len(merged) == 0 {
		return res, nil, nil, nil
	}
	// A delete file goes when every data file it applies to is rewritten (jetflow's apply to one file each).
	gone := make(map[string]bool, len(removed))
	for _, f := range removed {
		gone[f.FilePath()] = true
	}
	for _, d := range dels {
		if !slices.ContainsFunc(appliesTo[d.FilePath()], func(p string) bool { return !gone[p] }) {
			removedDels = append(removedDels, d)
			res.BytesBefore += d.FileSizeBytes()
		}
	}
	written = ch.added
	adds, err := l.mergeDeleteFiles(ctx, tbl, merged, dead)
	for _, a := range adds {
		written = append(written, a.File)
	}
	if err != nil {
		return res, written, nil, err
	}
	for _, t := range merged {
		removedDels = append(removedDels, t.DeleteFiles...)
		for _, d := range t.DeleteFiles {
			res.BytesBefore += d.FileSizeBytes()
		}
	}
	res.DeleteFiles = len(removedDels)
	res.DeletesMerged = len(merged)
	// The positions kept for files gone from the table would only wait for eviction.
	l.deadCache().keepOnly(func(p string) bool { _, ok := at[p]; return ok && !gone[p] })
	txn = tbl.NewTransaction()
	props = iceberg.Properties{"jetflow.operation": "compact-merged"}
	if len(adds) > 0 {
		err = txn.ReplaceFilesWithDeleteFiles(ctx, removed, ch.added, removedDels, adds, props)
	} else {
		err = txn.ReplaceFiles(ctx, removed, ch.added, removedDels, props)
	}
	if err != nil {
		return res, written, nil, fmt.Errorf("stage the rewrite: %w", err)
	}
	if err := ch.stage(txn); err != nil {
		return res, written, nil, fmt.Errorf("stage the rewrite: %w", err)
	}
	return res, written, txn, nil
}

// pickMerged chooses, in one Iceberg partition's files (tasks), those a compaction rewrites together (pick) and
// those it leaves in place (keep), so that its work follows what the merges wrote since the last compaction, not
// the partition's size:
//
//   - the files the merges wrote (not compaction outputs) under small, and any file whose deletes make it heavy
//     (compactDeletedFraction of its rows, or compactMaxDeleteFiles delete files), are rewritten;
//   - a compaction output under small joins them, smallest first, while it holds no more live rows than the
//     rewrite so far: a row is rewritten only into a file at least twice the size of the one it was in, so
//     O(log n) times over a partition of n rows, and the outputs under small number O(log n) per partition
//     (each holds more than all smaller ones together), as in a size-tiered LSM tree;
//   - other compaction outputs, and the merges' files of small or more, stay.
//
// Nothing is picked when that would rewrite one file that has no deletes: it would come out the same.
func pickMerged(tasks []table.FileScanTask, dead map[string]positions, small int64) (pick, keep []table.FileScanTask) {
	var tier []table.FileScanTask // compaction outputs under small, not heavy
	var rows int64
	withDeletes := false
	for _, t := range tasks {
		p := t.File.FilePath()
		gone := len(dead[p])
		heavy := gone > 0 && (float64(gone) >= compactDeletedFraction*float64(t.File.Count()) || len(t.DeleteFiles) >= compactMaxDeleteFiles)
		switch {
		case heavy || (t.File.FileSizeBytes() < small && !isCompactedFile(p)):
			pick = append(pick, t)
			rows += t.File.Count() - int64(gone)
			withDeletes = withDeletes || len(t.DeleteFiles) > 0
		case t.File.FileSizeBytes() < small:
			tier = append(tier, t)
		default:
			keep = append(keep, t)
		}
	}
	liveRows := func(t table.FileScanTask) int64 { return t.File.Count() - int64(len(dead[t.File.FilePath()])) }
	slices.SortStableFunc(tier, func(a, b table.FileScanTask) int { return cmp.Compare(liveRows(a), liveRows(b)) })
	n := 0
	if len(pick) > 0 {
		for n < len(tier) && liveRows(tier[n]) <= rows {
			rows += liveRows(tier[n])
			withDeletes = withDeletes || len(tier[n].DeleteFiles) > 0
			n++
		}
	}
	pick = append(pick, tier[:n]...)
	keep = append(keep, tier[n:]...)
	if len(pick) < 2 && !withDeletes {
		return nil, append(keep, pick...)
	}
	return pick, keep
}

// isCompactedFile tells whether the data file at path is a compaction's output: its name carries the tag of
// compactedID.
func isCompactedFile(path string) bool { return nameTag(path) == compactedTag }

var compactedTag = tagHex(compactedID)

// ownDeletes tells whether every delete file of t applies to t's file alone and has a known data sequence number,
// so that one delete file can replace them.
func ownDeletes(t table.FileScanTask, appliesTo map[string][]string) bool {
	for _, d := range t.DeleteFiles {
		if _, ok := d.(*plannedFile); !ok {
			return false
		}
		if to := appliesTo[d.FilePath()]; len(to) != 1 || to[0] != t.File.FilePath() {
			return false
		}
	}
	return true
}

// mergeDeleteFiles writes, for each file of tasks that stays in place, one position delete file with the positions
// all its delete files (dead) remove, to replace them: a stream's merges write one delete file per data file they
// touch at each commit, which every reader and every merge then plans with. The new file takes the highest data
// sequence number of those it replaces, which Iceberg requires and which still applies it to the file. It returns
// the files written, for the caller to remove on error too.
func (l *Loader) mergeDeleteFiles(ctx context.Context, tbl *table.Table, tasks []table.FileScanTask, dead map[string]positions) ([]table.DeleteFileAddition, error) {
	if len(tasks) == 0 {
		return nil, nil
	}
	id, err := writeUUID(compactedID)
	if err != nil {
		return nil, err
	}
	w := &mergeWriter{l: l}
	var out []table.DeleteFileAddition
	for i, t := range tasks {
		var seq int64
		for _, d := range t.DeleteFiles {
			seq = max(seq, d.(*plannedFile).seq)
		}
		pos := dead[t.File.FilePath()]
		d, err := w.writePosDeletes(ctx, tbl, id, i, t.File, slices.Clone(pos))
		if err != nil {
			return out, fmt.Errorf("merge the delete files of %s: %w", t.File.FilePath(), err)
		}
		out = append(out, table.DeleteFileAddition{File: d, DataSequenceNumber: seq})
		// The new file removes what the cached entry holds: the next merge reads none of them again.
		l.deadCache().put(t.File.FilePath(), []iceberg.DataFile{d}, pos, true)
	}
	return out, nil
}

// rewriteMerged reads the data files of tasks, leaving out the positions dead holds for each (their delete files
// are read already), and writes their rows, want of them, as new data files with the loader's own writer, whose
// buffer_size bounds the memory however large the partition (a table that writer cannot write gets one file from
// iceberg-go's). The files are read one after the other, each without its delete files, and each as a
// copy_on_write rewrite reads its file (openRewrite): a row group and a bounded slice of rows at a time, so that
// what a compaction holds does not grow with the files it rewrites. It returns the files written, for the
// caller to remove on error too.
func (l *Loader) rewriteMerged(ctx context.Context, tbl *table.Table, tasks []table.FileScanTask, dead map[string]positions, want int64) ([]iceberg.DataFile, error) {
	if want == 0 {
		return nil, nil
	}
	id, err := writeUUID(compactedID)
	if err != nil {
		return nil, err
	}
	dw, fsys, err := newRewriteWriter(ctx, l, tbl, id)
	if err != nil {
		return nil, err
	}
	if dw == nil {
		df, err := rewriteRows(ctx, l.alloc, tbl, tasks, []segment{{"", want}}, nil)
		if df == nil {
			return nil, err
		}
		return []iceberg.DataFile{df}, err
	}
	cctx := compute.WithAllocator(ctx, l.alloc)
	w := &mergeWriter{l: l}
	var n int64
	for _, t := range tasks {
		kept, err := w.rewriteLive(cctx, tbl, fsys, dw, t.File, dead[t.File.FilePath()])
		if err != nil {
			return dw.abandon(), fmt.Errorf("rewrite %s: %w", t.File.FilePath(), err)
		}
		n += kept
	}
	files, err := dw.close()
	if err == nil && n != want {
		err = fmt.Errorf("read %d rows, the files less their deletes hold %d", n, want)
	}
	return files, err
}
