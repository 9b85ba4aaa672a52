package iceberg

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/jetflow-dev/jetflow/internal/failpoint"
	"github.com/jetflow-dev/jetflow/internal/records"
	"github.com/jetflow-dev/jetflow/stage"
)

// Failpoints of the commit protocol, for the crash tests.
const (
	FailBeforeCommit = "iceberg.before-commit" // data files written, nothing committed
	FailCommit       = "iceberg.commit"        // the snapshot is built, the catalog not yet told
)

// partitionWriter streams one partition's batches into iceberg-go's writer on a goroutine: data files are
// written (and closed at the target size) while the partition is read, so it never sits in memory whole.
type partitionWriter struct {
	l      *Loader
	p      stage.Partition
	tbl    *table.Table
	goHeap []string      // columns copied to the Go heap before iceberg-go sees a batch (referencedColumns)
	plain  *arrow.Schema // the input schema with json columns as strings, when it has any (records.PlainJSONSchema)
	direct bool          // jetflow's directWriter writes the files, not iceberg-go's WriteRecords
	ch     chan arrow.RecordBatch
	cancel context.CancelFunc
	done   chan struct{} // closed when the writer goroutine ends
	closed bool          // ch closed

	// Set by the goroutine before done closes.
	files []iceberg.DataFile
	err   error

	leaveOnce sync.Once // leaves the commit group (when grouping) exactly once

	mu        sync.Mutex
	finished  bool // committed or aborted
	maybeLive bool // a commit failed in an unknown state: the files may be in the table, never delete them
}

func newPartitionWriter(ctx context.Context, l *Loader, tbl *table.Table, schema *arrow.Schema, p stage.Partition) (*partitionWriter, error) {
	id, err := writeUUID(p.ID)
	if err != nil {
		return nil, err
	}
	// Every data file of the attempt carries id in its name: if the process is killed, the next run finds them.
	if err := stage.RecordIntent(ctx, intentPattern(tbl.Location(), id)); err != nil {
		return nil, fmt.Errorf("iceberg loader: partition %s: %w", p.Key, err)
	}
	// The writer goroutine outlives Begin's ctx only until Commit or Abort; it must not stop with a request-scoped
	// ctx of Begin, so it gets its own, cancelled by Abort.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &partitionWriter{l: l, p: p, tbl: tbl, ch: make(chan arrow.RecordBatch, 2), cancel: cancel, done: make(chan struct{}),
		goHeap: referencedColumns(tbl)}
	wctx = compute.WithAllocator(wctx, l.alloc) // iceberg-go's writers allocate from the context's allocator
	if l.group != nil {
		l.group.join()
	}
	dw, err := newDirectWriter(ctx, l, tbl, schema, id)
	if err != nil {
		cancel()
		w.leaveGroup()
		return nil, fmt.Errorf("iceberg loader: partition %s: table %s: %w", p.Key, l.cfg.Table, err)
	}
	if dw != nil {
		w.goHeap = nil // partition values are copied when computed
		w.direct = true
		go w.runDirect(wctx, dw)
		return w, nil
	}
	opts := []table.WriteRecordOption{table.WithWriteUUID(id), table.WithRecordBatchBufferSize(4)}
	if l.cfg.Clustered {
		opts = append(opts, table.WithClusteredWrite())
	}
	records := func(yield func(arrow.RecordBatch, error) bool) {
		for b := range w.ch {
			if !yield(b, nil) {
				return
			}
		}
	}
	go func() {
		defer close(w.done)
		defer w.drain()
		for df, err := range table.WriteRecords(wctx, tbl, schema, iter.Seq2[arrow.RecordBatch, error](records), opts...) {
			if err != nil {
				w.err = fmt.Errorf("iceberg loader: partition %s: write data files of table %s: %w", p.Key, l.cfg.Table, l.s3Context(tbl.Location(), err))
				return
			}
			w.files = append(w.files, df)
		}
	}()
	return w, nil
}

// runDirect writes the batches with jetflow's own data file writer (directWriter) until the input closes or
// the writer is cancelled; on a failure it discards its open files and keeps the finished ones in w.files, for
// Abort to remove.
func (w *partitionWriter) runDirect(ctx context.Context, dw *directWriter) {
	defer close(w.done)
	defer w.drain()
	fail := func(err error) {
		w.files = dw.abandon()
		w.err = fmt.Errorf("iceberg loader: partition %s: write data files of table %s: %w", w.p.Key, w.l.cfg.Table, w.l.s3Context(w.tbl.Location(), err))
	}
	for b := range w.ch {
		if err := ctx.Err(); err != nil {
			b.Release()
			fail(err)
			return
		}
		err := dw.write(ctx, b)
		b.Release()
		if err != nil {
			fail(err)
			return
		}
	}
	files, err := dw.close()
	w.files = files
	if err != nil {
		w.err = fmt.Errorf("iceberg loader: partition %s: write data files of table %s: %w", w.p.Key, w.l.cfg.Table, w.l.s3Context(w.tbl.Location(), err))
	}
}

// drain releases the batches queued when the iceberg writer stopped early (an error or a cancel); finish
// releases any sent later.
func (w *partitionWriter) drain() {
	for {
		select {
		case b, ok := <-w.ch:
			if !ok {
				return
			}
			b.Release()
		default:
			return
		}
	}
}

// writeUUID makes the UUID iceberg-go puts in data file names: 8 bytes from the partition id (FileTag), 8 random
// bytes so that two attempts at one partition never write the same name.
func writeUUID(partitionID string) (uuid.UUID, error) {
	var u uuid.UUID
	h := sha256.Sum256([]byte(partitionID))
	copy(u[:8], h[:8])
	if _, err := crand.Read(u[8:]); err != nil {
		return u, fmt.Errorf("iceberg loader: %w", err)
	}
	return u, nil
}

func (w *partitionWriter) Write(ctx context.Context, batch arrow.RecordBatch) error {
	if batch.NumRows() == 0 {
		return nil
	}
	if w.plain != nil {
		batch = records.PlainJSONBatch(w.plain, batch)
		defer batch.Release()
	}
	if len(w.goHeap) > 0 {
		cp, err := withGoHeapColumns(batch, w.goHeap)
		if err != nil {
			return fmt.Errorf("iceberg loader: partition %s: %w", w.p.Key, err)
		}
		batch = cp
	} else {
		batch.Retain() // iceberg-go releases what it consumes
	}
	select {
	case w.ch <- batch:
		return nil
	case <-w.done:
		batch.Release()
		if w.err != nil {
			return w.err
		}
		return fmt.Errorf("iceberg loader: partition %s: the data file writer stopped", w.p.Key)
	case <-ctx.Done():
		batch.Release()
		return ctx.Err()
	}
}

// finish closes the input and waits for the last data files.
func (w *partitionWriter) finish(ctx context.Context) ([]iceberg.DataFile, error) {
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Batches sent after the goroutine stopped early are still in the channel.
	for b := range w.ch {
		b.Release()
	}
	return w.files, w.err
}

func (w *partitionWriter) Commit(ctx context.Context, info stage.CommitInfo) (stage.CommitResult, error) {
	files, err := w.finish(ctx)
	if err == nil {
		err = failpoint.Inject(FailBeforeCommit)
	}
	if err != nil {
		w.leaveGroup()
		return stage.CommitResult{}, err
	}
	if info.PartitionID == "" {
		info.PartitionID = w.p.ID
	}
	m := member{p: w.p, info: info, files: files, unknown: func() { w.mu.Lock(); w.maybeLive = true; w.mu.Unlock() }}
	var token string
	if w.l.group != nil {
		w.leaveOnce.Do(func() {}) // the group counts this writer out as it joins the pending members
		token, err = w.l.group.commit(ctx, m)
	} else {
		token, err = w.l.commitFiles(ctx, []member{m})
	}
	if err != nil {
		return stage.CommitResult{}, err
	}
	res := stage.CommitResult{Token: token, Files: len(files)}
	for _, f := range files {
		res.Bytes += f.FileSizeBytes()
	}
	w.mu.Lock()
	w.finished = true
	w.mu.Unlock()
	w.l.expireIfDue(ctx)
	return res, nil
}

func (w *partitionWriter) leaveGroup() {
	if w.l.group != nil {
		w.leaveOnce.Do(w.l.group.leave)
	}
}

// Abort stops the writer and deletes the data files it wrote, unless a commit may have made them live.
func (w *partitionWriter) Abort(ctx context.Context) error {
	w.leaveGroup()
	w.mu.Lock()
	if w.finished {
		w.mu.Unlock()
		return nil
	}
	w.finished = true
	keep := w.maybeLive
	w.mu.Unlock()
	w.cancel()
	files, _ := w.finish(ctx)
	if keep || len(files) == 0 {
		return nil
	}
	fs, err := w.tbl.FS(ctx)
	if err != nil {
		return fmt.Errorf("iceberg loader: partition %s: abort: %w", w.p.Key, err)
	}
	var errs []error
	for _, f := range files {
		if err := fs.Remove(f.FilePath()); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("iceberg loader: partition %s: remove data files of the aborted write (`jetflow iceberg show --orphans` lists what is left): %w", w.p.Key, err)
	}
	return nil
}

// retryable tells whether a commit failed because another writer moved the table first, so that nothing was
// committed and the whole reload → check → apply → commit may run again.
func retryable(err error) bool {
	if errors.Is(err, table.ErrCommitFailed) {
		return true
	}
	msg := strings.ToLower(err.Error())
	// A stale handle fails the catalog's requirement check before any write, as a plain error ("requirement
	// failed: branch "main" has changed", "... was created concurrently"): nothing was committed.
	if strings.Contains(msg, "requirement failed") {
		return true
	}
	// SQLite refused the write transaction; it did not happen.
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "sqlite_busy")
}

// sleepBackoff waits 50ms·2^attempt, capped at max, with full jitter so that racing workers spread out.
func sleepBackoff(ctx context.Context, attempt int, max time.Duration) error {
	d := 50 * time.Millisecond << min(attempt, 10)
	if d > max {
		d = max
	}
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// member is one partition of a commit.
type member struct {
	p       stage.Partition
	info    stage.CommitInfo
	files   []iceberg.DataFile
	unknown func() // called when a commit failed in a state that may have committed
}

// what names the members for messages.
func what(ms []member) string {
	if len(ms) == 1 {
		return "partition " + ms[0].p.Key
	}
	return fmt.Sprintf("%d partitions (%s, ...)", len(ms), ms[0].p.Key)
}

// commitFiles commits the members' files in one snapshot: it reloads the table, finds the live files earlier
// commits of the members' partitions left (and, in overwrite_partition mode, every live file in the Iceberg
// partitions the new files fall in), and commits the removal of those and the addition of the new files; on a
// conflict it starts again from the reload. It returns the snapshot id ("" when there was nothing to commit).
func (l *Loader) commitFiles(ctx context.Context, ms []member) (string, error) {
	cat, err := l.Catalog(ctx)
	if err != nil {
		return "", err
	}
	props := summaryProps(ms)
	var files []iceberg.DataFile
	ids := make([]string, len(ms))
	tags := make([]string, len(ms))
	for i, m := range ms {
		files = append(files, m.files...)
		ids[i], tags[i] = m.info.PartitionID, FileTag(m.info.PartitionID)
	}
	unknown := func() {
		for _, m := range ms {
			m.unknown()
		}
	}
	for attempt := 0; ; attempt++ {
		tbl, err := cat.LoadTable(ctx, l.ident)
		if err != nil {
			return "", fmt.Errorf("iceberg loader: %s: reload table %s: %w", what(ms), l.cfg.Table, l.s3Context(l.cfg.Catalog.Warehouse, err))
		}
		old, err := l.filesToReplace(ctx, tbl, ids, tags, files)
		if err != nil {
			return "", fmt.Errorf("iceberg loader: %s: list the table's files: %w", what(ms), l.s3Context(tbl.Location(), err))
		}
		// Rows of the partitions that compaction merged into shared files: those files are rewritten without
		// them and swapped in the same snapshot.
		cc, err := l.replaceCompacted(ctx, tbl, ids, old)
		if err != nil {
			return "", fmt.Errorf("iceberg loader: %s: table %s: %w", what(ms), l.cfg.Table, l.s3Context(tbl.Location(), err))
		}
		old = append(old, cc.removed...)
		add := append(slices.Clip(files), cc.added...)
		if len(add) == 0 && len(old) == 0 {
			return "", nil // empty partitions with nothing to replace: no snapshot
		}
		txn := tbl.NewTransaction()
		err = cc.stage(txn)
		if err == nil && len(old) > 0 {
			err = txn.ReplaceDataFilesWithDataFiles(ctx, old, add, props)
		} else if err == nil {
			err = txn.AddDataFiles(ctx, add, props, table.WithoutDuplicateCheck())
		}
		if err != nil {
			removeFiles(ctx, tbl, cc.added)
			return "", fmt.Errorf("iceberg loader: %s: stage the commit: %w", what(ms), l.s3Context(tbl.Location(), err))
		}
		staged, err := txn.StagedTable()
		if err != nil {
			removeFiles(ctx, tbl, cc.added)
			return "", fmt.Errorf("iceberg loader: %s: stage the commit: %w", what(ms), err)
		}
		if err := failpoint.Inject(FailCommit); err != nil {
			return "", err
		}
		next, err := txn.Commit(ctx)
		if err == nil {
			l.snapshots.Store(int64(len(next.Metadata().Snapshots())))
			var token string
			if s := next.CurrentSnapshot(); s != nil {
				token = strconv.FormatInt(s.SnapshotID, 10)
			}
			if len(old) > 0 {
				l.log.Info("iceberg: replaced partition files", "table", l.cfg.Table, "partitions", what(ms), "removed", len(old), "added", len(files),
					"compacted_rewritten", len(cc.removed))
			}
			return token, nil
		}
		if !retryable(err) {
			unknown()
			return "", fmt.Errorf("iceberg loader: %s: commit to table %s (the outcome is unknown; a re-run replaces whatever landed): %w", what(ms), l.cfg.Table, l.s3Context(tbl.Location(), err))
		}
		if attempt >= l.cfg.Commit.Retries {
			removeFiles(ctx, tbl, cc.added)
			return "", fmt.Errorf("iceberg loader: %s: commit to table %s still conflicted after %d attempts (raise commit.retries, or commit fewer, larger partitions): %w", what(ms), l.cfg.Table, attempt+1, err)
		}
		removeStaged(ctx, tbl, staged.CurrentSnapshot(), l.log)
		removeFiles(ctx, tbl, cc.added) // the next attempt rewrites the compacted files of its own head
		l.log.Debug("iceberg: commit conflict, retrying", "table", l.cfg.Table, "partitions", what(ms), "attempt", attempt+1, "error", err)
		if err := sleepBackoff(ctx, attempt, l.cfg.Commit.MaxWait.D()); err != nil {
			return "", err
		}
	}
}

// summaryProps are the snapshot summary properties naming the members.
func summaryProps(ms []member) iceberg.Properties {
	var ids, keys, runs, pipes []string
	var checkpoints []streamCheckpoint
	for _, m := range ms {
		ids = append(ids, m.info.PartitionID)
		keys = append(keys, m.info.Key)
		if !slices.Contains(runs, m.info.RunInstance) {
			runs = append(runs, m.info.RunInstance)
		}
		if !slices.Contains(pipes, m.info.Pipeline) {
			pipes = append(pipes, m.info.Pipeline)
		}
		if m.info.Checkpoint != "" {
			checkpoints = append(checkpoints, streamCheckpoint{PartitionID: m.info.PartitionID, Lane: m.info.Lane, Checkpoint: m.info.Checkpoint})
		}
	}
	props := iceberg.Properties{
		PropPartitionIDs:  strings.Join(ids, ","),
		PropPartitionKeys: strings.Join(keys, " | "),
		PropRunInstance:   strings.Join(runs, ","),
		PropPipeline:      strings.Join(pipes, ","),
	}
	if len(checkpoints) > 0 {
		b, _ := json.Marshal(checkpoints)
		props[PropCheckpoint] = string(b)
	}
	return props
}

// streamCheckpoint is one stream partition's entry in PropCheckpoint.
type streamCheckpoint struct {
	PartitionID string `json:"partition_id"`
	Lane        string `json:"lane,omitempty"`
	Checkpoint  string `json:"checkpoint"`
}

// removeStaged deletes the manifest list and the manifests a commit that certainly failed wrote for its
// snapshot, so that conflict retries do not pile up orphan metadata files. Failures only leave orphans behind.
func removeStaged(ctx context.Context, tbl *table.Table, snap *table.Snapshot, log *slog.Logger) {
	if snap == nil {
		return
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return
	}
	var paths []string
	if mfs, err := snap.Manifests(fs); err == nil {
		for _, mf := range mfs {
			if mf.SnapshotID() == snap.SnapshotID {
				paths = append(paths, mf.FilePath())
			}
		}
	}
	if snap.ManifestList != "" {
		paths = append(paths, snap.ManifestList)
	}
	for _, p := range paths {
		if err := fs.Remove(p); err != nil {
			log.Debug("iceberg: could not remove a manifest of a failed commit", "path", p, "error", err)
		}
	}
}

// filesToReplace returns the live data files of tbl that a commit of the partitions ids (whose files carry
// tags) must remove.
func (l *Loader) filesToReplace(ctx context.Context, tbl *table.Table, ids, tags []string, files []iceberg.DataFile) ([]iceberg.DataFile, error) {
	snap := tbl.CurrentSnapshot()
	if snap == nil {
		return nil, nil
	}
	overwrite := l.cfg.Mode == "overwrite_partition" && len(files) > 0
	if !overwrite && !mayHoldPartitions(tbl.Metadata(), ids) {
		return nil, nil
	}
	targets := map[string]bool{}
	if overwrite {
		for _, f := range files {
			targets[partitionKey(f)] = true
		}
	}
	return l.liveFilesCached(ctx, tbl, func(df iceberg.DataFile) bool {
		for _, tag := range tags {
			if fileHasTag(df.FilePath(), tag) {
				return true
			}
		}
		return overwrite && targets[partitionKey(df)]
	})
}

// mayHoldPartitions tells whether the table may hold files of the partitions ids: a retained snapshot names
// one, or older snapshots were expired (their summaries are gone, so only a look at the files can tell).
func mayHoldPartitions(md table.Metadata, ids []string) bool {
	snaps := md.Snapshots()
	if len(snaps) == 0 {
		return false
	}
	known := make(map[int64]bool, len(snaps))
	for _, s := range snaps {
		known[s.SnapshotID] = true
	}
	for _, s := range snaps {
		if s.ParentSnapshotID != nil && !known[*s.ParentSnapshotID] {
			return true // history was expired
		}
		if s.Summary == nil {
			continue
		}
		for _, id := range ids {
			if hasID(s.Summary.Properties[PropPartitionIDs], id) {
				return true
			}
		}
	}
	return false
}

func hasID(list, id string) bool {
	for list != "" {
		var x string
		x, list, _ = strings.Cut(list, ",")
		if x == id {
			return true
		}
	}
	return false
}

// partitionKey identifies an Iceberg partition: spec id and partition tuple.
func partitionKey(df iceberg.DataFile) string {
	return fmt.Sprintf("%d:%v", df.SpecID(), df.Partition())
}

// liveFilesCached is liveFiles of tbl's head read through the loader's manifest cache (planTasks): manifests never
// change, so only those the commits since the last call added are read. Once a table's history was expired, every
// commit looks for its partitions' files (mayHoldPartitions), and a stream would otherwise read every manifest of
// the table at each roll. The cache keeps a few hundred bytes a live data file, as a merge's planning does.
func (l *Loader) liveFilesCached(ctx context.Context, tbl *table.Table, keep func(iceberg.DataFile) bool) ([]iceberg.DataFile, error) {
	tasks, err := l.planTasks(ctx, tbl, nil)
	if err != nil {
		return nil, err
	}
	var out []iceberg.DataFile
	for _, t := range tasks {
		if keep(t.File) {
			out = append(out, t.File)
		}
	}
	return out, nil
}

// liveFiles returns the data files of snap that keep says to.
func liveFiles(ctx context.Context, fs icebergio.IO, snap *table.Snapshot, keep func(iceberg.DataFile) bool) ([]iceberg.DataFile, error) {
	mfs, err := snap.Manifests(fs)
	if err != nil {
		return nil, err
	}
	var out []iceberg.DataFile
	for _, mf := range mfs {
		if mf.ManifestContent() != iceberg.ManifestContentData {
			continue
		}
		for e, err := range mf.Entries(fs, true) {
			if err != nil {
				return nil, err
			}
			if df := e.DataFile(); keep(df) {
				out = append(out, df)
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
