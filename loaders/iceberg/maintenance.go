package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/apache/iceberg-go/table/compaction"
)

// ExpireOptions says which snapshots ExpireSnapshots removes: those older than OlderThan (0: every one), always
// keeping the newest RetainLast (at least 1).
type ExpireOptions struct {
	OlderThan  time.Duration
	RetainLast int
	// KeepFiles leaves the data and manifest files only the expired snapshots used on storage (for readers still
	// on them); `jetflow iceberg show --orphans` lists them later.
	KeepFiles bool
}

// ExpireResult says what ExpireSnapshots did.
type ExpireResult struct {
	Expired, Remaining int
	Attempts           int // commits tried: more than one when other writers committed meanwhile
}

// ExpireSnapshots removes old snapshots from the table's metadata and, unless opts.KeepFiles, the files only
// they referenced. Files of jetflow partitions stay findable by their names, so a later re-run of a partition
// still replaces its files. The newest snapshot holding each stream lane's checkpoint stays whatever its age
// (checkpointSnapshots): a recovery from the lake (Loader.Checkpoints) needs it, and a lane idle for longer than
// the retention, or one whose newest commit a compaction's snapshot followed, would otherwise start as new.
// It runs beside writers of the table (a stream commits every roll): when one commits first, it reloads the
// table and expires again, up to commit.retries times.
func (l *Loader) ExpireSnapshots(ctx context.Context, opts ExpireOptions) (ExpireResult, error) {
	return l.expire(ctx, opts, l.cfg.Commit.Retries)
}

func (l *Loader) expire(ctx context.Context, opts ExpireOptions, retries int) (ExpireResult, error) {
	if opts.RetainLast < 1 {
		opts.RetainLast = 1
	}
	for attempt := 0; ; attempt++ {
		res, err := l.expireOnce(ctx, opts, attempt)
		res.Attempts = attempt + 1
		if err == nil {
			return res, nil
		}
		if !retryable(err) {
			return res, fmt.Errorf("expire snapshots of %s: %w", l.cfg.Table, err)
		}
		if attempt >= retries {
			return res, fmt.Errorf("expire snapshots of %s: other writers committed first at each of %d attempts (raise commit.retries): %w", l.cfg.Table, attempt+1, err)
		}
		if err := sleepBackoff(ctx, attempt, l.cfg.Commit.MaxWait.D()); err != nil {
			return res, err
		}
	}
}

// expireIfDue applies keep_snapshots after a commit of an append or overwrite_partition table: once the table
// holds more snapshots than keep_snapshots, or than the last expiry left, by a quarter of keep_snapshots (4 at
// least), it expires all but the newest keep_snapshots, so that a stream's metadata stays bounded with an expiry
// every few commits rather than at each. What an expiry leaves counts because it holds each stream lane's newest
// snapshot too: with more lanes than the margin, counting from keep_snapshots alone would expire at every commit.
// An expiry that fails is logged and tried again after the next commit; the commit itself stands.
func (l *Loader) expireIfDue(ctx context.Context) {
	keep := int64(l.cfg.KeepSnapshots)
	if keep <= 0 || l.snapshots.Load() <= max(keep, l.expiredTo.Load())+max(keep/4, 4) || !l.expiring.CompareAndSwap(false, true) {
		return
	}
	defer l.expiring.Store(false)
	res, err := l.expire(ctx, ExpireOptions{RetainLast: int(keep)}, compactAttempts-1)
	if err != nil {
		l.log.Warn("iceberg: snapshot expiry after a commit failed; trying again after the next commit", "table", l.cfg.Table, "error", err)
		return
	}
	l.expiredTo.Store(int64(res.Remaining))
	l.log.Debug("iceberg: expired snapshots after a commit", "table", l.cfg.Table, "expired", res.Expired, "remaining", res.Remaining)
}

func (l *Loader) expireOnce(ctx context.Context, opts ExpireOptions, attempt int) (ExpireResult, error) {
	tbl, err := l.LoadTable(ctx)
	if err != nil {
		return ExpireResult{}, err
	}
	before := len(tbl.Metadata().Snapshots())
	keep, err := checkpointSnapshots(tbl.Metadata())
	if err != nil {
		return ExpireResult{}, err
	}
	txn := tbl.NewTransaction()
	if err := txn.ExpireSnapshots(table.WithOlderThan(opts.OlderThan), table.WithRetainLast(opts.RetainLast), table.WithPostCommit(!opts.KeepFiles),
		table.WithRetainSnapshots(keep...)); err != nil {
		return ExpireResult{}, err
	}
	if maintenanceCommitHook != nil {
		maintenanceCommitHook(attempt)
	}
	next, err := txn.Commit(ctx)
	if err != nil {
		return ExpireResult{}, err
	}
	after := len(next.Metadata().Snapshots())
	l.snapshots.Store(int64(after))
	return ExpireResult{Expired: before - after, Remaining: after}, nil
}

// Orphans lists files under the table's location that no snapshot references and that are older than
// olderThan: what killed runs and aborted writes left. A file younger than a write in progress may be one that
// is about to be committed, so keep olderThan above the longest partition's write time when removing.
func Orphans(ctx context.Context, tbl *table.Table, olderThan time.Duration) ([]string, int64, error) {
	plan, err := tbl.PlanOrphanFiles(ctx, table.WithFilesOlderThan(olderThan))
	if err != nil {
		return nil, 0, fmt.Errorf("list orphan files of %s: %w", strings.Join(tbl.Identifier(), "."), err)
	}
	live := liveTombstones(tbl.Metadata()) // referenced by a table property, not by a snapshot
	files := slices.DeleteFunc(plan.Files(), func(f string) bool { return live(f) })
	sort.Strings(files)
	return files, plan.TotalSizeBytes(), nil
}

// RemoveOrphans deletes the files Orphans lists and returns them.
func RemoveOrphans(ctx context.Context, tbl *table.Table, olderThan time.Duration) ([]string, error) {
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return nil, fmt.Errorf("remove orphan files of %s: %w", strings.Join(tbl.Identifier(), "."), err)
	}
	live := liveTombstones(tbl.Metadata()) // referenced by a table property, not by a snapshot
	res, err := tbl.DeleteOrphanFiles(ctx, table.WithFilesOlderThan(olderThan), table.WithDeleteFunc(func(f string) error {
		if live(f) {
			return nil
		}
		return fsys.Remove(f)
	}))
	if err != nil {
		return nil, fmt.Errorf("remove orphan files of %s: %w", strings.Join(tbl.Identifier(), "."), err)
	}
	files := slices.DeleteFunc(res.DeletedFiles, func(f string) bool { return live(f) })
	sort.Strings(files)
	return files, nil
}

// CompactResult reports what Compact did.
type CompactResult struct {
	Groups       int
	FilesRemoved int
	FilesAdded   int
	BytesBefore  int64
	BytesAfter   int64
	// SkippedDeletes counts groups left as they are because their files have delete files (written by another
	// engine): their row counts no longer say which rows came from which jetflow partition.
	SkippedDeletes int
	Attempts       int // commits tried: more than one when other writers committed meanwhile
}

// Compact rewrites small data files into files of about targetSize, one Iceberg partition at a time, in one
// snapshot. Each new file holds the rows of many jetflow partitions, so its name carries none of their tags:
// the table property jetflow.compacted.<file> records which partition each run of its rows came from, and a
// later commit of one of those partitions rewrites the file without its rows (see compacted.go).
//
// It runs beside writers of the table (a stream commits every roll, faster than a large rewrite): when one commits
// first, the rewrite is not thrown away. Compact reloads the table and, while every file it replaces is still live
// there, commits the same new files on the new head, up to commit.retries times; once one of them is gone (a
// re-run of its partition replaced it) it plans again, at most compactAttempts times.
func (l *Loader) Compact(ctx context.Context, targetSize int64, minInputFiles int) (CompactResult, error) {
	for plan := 1; ; plan++ {
		tbl, err := l.LoadTable(ctx)
		if err != nil {
			return CompactResult{}, fmt.Errorf("compact %s: %w", l.cfg.Table, err)
		}
		res, rw, err := planCompaction(ctx, l.alloc, tbl, targetSize, minInputFiles)
		if err != nil {
			return CompactResult{}, fmt.Errorf("compact %s: %w", l.cfg.Table, l.s3Context(tbl.Location(), err))
		}
		if res.Groups == 0 {
			return res, nil
		}
		res.Attempts, err = l.commitCompaction(ctx, tbl, rw)
		if err == nil {
			return res, nil
		}
		if !errors.Is(err, errReplaced) || plan >= compactAttempts {
			return CompactResult{}, fmt.Errorf("compact %s: %w", l.cfg.Table, err)
		}
		l.log.Debug("iceberg: a file the compaction replaces was replaced meanwhile; planning again", "table", l.cfg.Table, "plan", plan)
	}
}

// errReplaced: a file a compaction rewrote is no longer live on the table's head.
var errReplaced = errors.New("a file it rewrote was replaced by another commit meanwhile")

// rewrites is what a compaction wrote, ready to commit.
type rewrites struct {
	groups []table.CompactionGroupResult
	ch     compactedChanges
}

// planCompaction writes the rewrites of tbl's small files; res.Groups is 0 when there is nothing to compact. On
// error it removes what it wrote.
func planCompaction(ctx context.Context, alloc memory.Allocator, tbl *table.Table, targetSize int64, minInputFiles int) (CompactResult, rewrites, error) {
	cfg := compaction.DefaultConfig()
	if targetSize > 0 {
		cfg.TargetFileSizeBytes = targetSize
		cfg.MinFileSizeBytes = targetSize * 3 / 4
		cfg.MaxFileSizeBytes = targetSize * 9 / 5
	}
	if minInputFiles > 0 {
		cfg.MinInputFiles = uint(minInputFiles)
	}
	plan, err := compaction.Analyze(ctx, tbl, cfg)
	if err != nil {
		return CompactResult{}, rewrites{}, err
	}
	var res CompactResult
	rw := rewrites{ch: compactedChanges{set: iceberg.Properties{}}}
	props := tbl.Properties()
	fail := func(err error) (CompactResult, rewrites, error) {
		removeFiles(ctx, tbl, rw.ch.added)
		return CompactResult{}, rewrites{}, err
	}
	for _, g := range plan.Groups {
		if g.DeleteFileCount > 0 {
			res.SkippedDeletes++
			continue
		}
		// A partition's rows next to each other: one run per partition, however many files it had.
		type input struct {
			task table.FileScanTask
			segs []segment
		}
		ins := make([]input, len(g.Tasks))
		for i, task := range g.Tasks {
			segs, err := segmentsOf(props, task.File)
			if err != nil {
				return fail(err)
			}
			ins[i] = input{task, segs}
		}
		slices.SortStableFunc(ins, func(a, b input) int { return strings.Compare(a.segs[0].tag, b.segs[0].tag) })
		tasks := make([]table.FileScanTask, len(ins))
		old := make([]iceberg.DataFile, len(ins))
		var segs []segment
		for i, in := range ins {
			tasks[i], old[i] = in.task, in.task.File
			for _, s := range in.segs {
				segs = appendSegment(segs, s.tag, s.rows)
			}
			if _, ok := props[compactedKey(in.task.File.FilePath())]; ok {
				rw.ch.drop = append(rw.ch.drop, compactedKey(in.task.File.FilePath()))
			}
		}
		df, err := rewriteRows(ctx, alloc, tbl, tasks, segs, nil)
		if err != nil {
			return fail(fmt.Errorf("partition %s: %w", g.PartitionKey, err))
		}
		var added []iceberg.DataFile
		if df != nil {
			added = []iceberg.DataFile{df}
			rw.ch.added = append(rw.ch.added, df)
			rw.ch.set[compactedKey(df.FilePath())] = encodeSegments(segs)
			res.FilesAdded++
			res.BytesAfter += df.FileSizeBytes()
		}
		rw.groups = append(rw.groups, table.CompactionGroupResult{PartitionKey: g.PartitionKey, OldDataFiles: old, NewDataFiles: added})
		res.Groups++
		res.FilesRemoved += len(old)
		res.BytesBefore += g.TotalSizeBytes
	}
	return res, rw, nil
}

// commitCompaction commits rw on tbl and, when another writer committed first, on the table's new head while
// every file rw replaces is still live there (errReplaced once one is not). It returns the commits tried. Unless
// the outcome is unknown, the new files are removed when it fails.
func (l *Loader) commitCompaction(ctx context.Context, tbl *table.Table, rw rewrites) (int, error) {
	for attempt := 0; ; attempt++ {
		txn := tbl.NewTransaction()
		rewrite := txn.NewRewrite(iceberg.Properties{"jetflow.operation": "compact"})
		for _, g := range rw.groups {
			rewrite.ApplyResult(g)
		}
		err := rewrite.Commit(ctx)
		if err == nil {
			err = rw.ch.stage(txn)
		}
		var staged *table.StagedTable
		if err == nil {
			staged, err = txn.StagedTable()
		}
		if err != nil {
			removeFiles(ctx, tbl, rw.ch.added)
			return attempt + 1, fmt.Errorf("stage the commit: %w", err)
		}
		if maintenanceCommitHook != nil {
			maintenanceCommitHook(attempt)
		}
		if _, err = txn.Commit(ctx); err == nil {
			return attempt + 1, nil
		}
		if !retryable(err) {
			// The outcome is unknown: the new files may be live, so they stay (an orphan is listed by --orphans).
			return attempt + 1, fmt.Errorf("the outcome is unknown; `jetflow iceberg show` tells: %w", err)
		}
		removeStaged(ctx, tbl, staged.CurrentSnapshot(), l.log)
		if attempt >= l.cfg.Commit.Retries {
			removeFiles(ctx, tbl, rw.ch.added)
			return attempt + 1, fmt.Errorf("other writers committed first at each of %d attempts (raise commit.retries, or run it when fewer commits run): %w", attempt+1, err)
		}
		l.log.Debug("iceberg: compaction commit conflicted, committing on the new head", "table", l.cfg.Table, "attempt", attempt+1, "error", err)
		if err := sleepBackoff(ctx, attempt, l.cfg.Commit.MaxWait.D()); err != nil {
			removeFiles(ctx, tbl, rw.ch.added)
			return attempt + 1, err
		}
		next, err := l.LoadTable(ctx)
		if err != nil {
			removeFiles(ctx, tbl, rw.ch.added)
			return attempt + 1, err
		}
		tbl = next
		if err := l.stillLive(ctx, tbl, rw.groups); err != nil {
			removeFiles(ctx, tbl, rw.ch.added)
			return attempt + 1, err
		}
	}
}

// stillLive returns errReplaced unless every file the groups replace is live on tbl's head. It reads through the
// manifest cache, so each attempt reads only the manifests the commits since the last one added.
func (l *Loader) stillLive(ctx context.Context, tbl *table.Table, groups []table.CompactionGroupResult) error {
	if tbl.CurrentSnapshot() == nil {
		return errReplaced
	}
	want := map[string]bool{}
	for _, g := range groups {
		for _, f := range g.OldDataFiles {
			want[f.FilePath()] = true
		}
	}
	live, err := l.liveFilesCached(ctx, tbl, func(df iceberg.DataFile) bool { return want[df.FilePath()] })
	if err != nil {
		return err
	}
	if len(live) != len(want) {
		return errReplaced
	}
	return nil
}

// Describe writes the table's location, schema, partition spec, properties and snapshots (with the jetflow
// partitions each committed) as text.
func Describe(w io.Writer, tbl *table.Table, maxSnapshots int) error {
	md := tbl.Metadata()
	fmt.Fprintf(w, "table:     %s\n", strings.Join(tbl.Identifier(), "."))
	fmt.Fprintf(w, "location:  %s\n", tbl.Location())
	fmt.Fprintf(w, "metadata:  %s\n", tbl.MetadataLocation())
	fmt.Fprintf(w, "format:    v%d\n", md.Version())
	fmt.Fprintf(w, "\nschema (id %d):\n", tbl.Schema().ID)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, f := range tbl.Schema().Fields() {
		req := "optional"
		if f.Required {
			req = "required"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", f.ID, f.Name, f.Type, req)
	}
	tw.Flush()
	spec := tbl.Spec()
	fmt.Fprintf(w, "\npartition spec (id %d):", spec.ID())
	if spec.NumFields() == 0 {
		fmt.Fprint(w, " unpartitioned")
	}
	fmt.Fprintln(w)
	for _, f := range spec.Fields() {
		src := "?"
		if sf, ok := tbl.Schema().FindFieldByID(f.SourceIDs[0]); ok {
			src = sf.Name
		}
		fmt.Fprintf(w, "  %s = %s(%s)\n", f.Name, f.Transform, src)
	}
	props := tbl.Properties()
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(w, "\nproperties:")
	for _, k := range keys {
		fmt.Fprintf(w, "  %s = %s\n", k, props[k])
	}
	snaps := md.Snapshots()
	fmt.Fprintf(w, "\nsnapshots (%d", len(snaps))
	if maxSnapshots > 0 && len(snaps) > maxSnapshots {
		fmt.Fprintf(w, ", newest %d", maxSnapshots)
		snaps = snaps[len(snaps)-maxSnapshots:]
	}
	fmt.Fprintln(w, "):")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  snapshot\ttime\toperation\tadded files\tdeleted files\trecords\tjetflow partitions")
	cur := tbl.CurrentSnapshot()
	for _, s := range snaps {
		mark := " "
		if cur != nil && s.SnapshotID == cur.SnapshotID {
			mark = "*"
		}
		var op, added, deleted, records, parts string
		if s.Summary != nil {
			p := s.Summary.Properties
			op, added, deleted, records = string(s.Summary.Operation), p["added-data-files"], p["deleted-data-files"], p["total-records"]
			parts = p[PropPartitionKeys]
			if ids := p[PropPartitionIDs]; ids != "" {
				parts = fmt.Sprintf("%s (%s, run %s)", parts, ids, p[PropRunInstance])
			} else if p["jetflow.operation"] != "" {
				parts = p["jetflow.operation"]
			}
		}
		fmt.Fprintf(tw, "%s %d\t%s\t%s\t%s\t%s\t%s\t%s\n", mark, s.SnapshotID, time.UnixMilli(s.TimestampMs).UTC().Format(time.RFC3339),
			op, dash(added), dash(deleted), dash(records), parts)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
