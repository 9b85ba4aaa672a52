package iceberg

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/jetflow-dev/jetflow/internal/failpoint"
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
	ch     chan arrow.RecordBatch
	cancel context.CancelFunc
	done   chan struct{} // closed when the writer goroutine ends
	closed bool          // ch closed

	// Set by the goroutine before done closes.
	files []iceberg.DataFile
	err   error

	mu        sync.Mutex
	finished  bool // committed or aborted
	maybeLive bool // a commit failed in an unknown state: the files may be in the table, never delete them
}

func newPartitionWriter(ctx context.Context, l *Loader, tbl *table.Table, schema *arrow.Schema, p stage.Partition) (*partitionWriter, error) {
	id, err := writeUUID(p.ID)
	if err != nil {
		return nil, err
	}
	// The writer goroutine outlives Begin's ctx only until Commit or Abort; it must not stop with a request-scoped
	// ctx of Begin, so it gets its own, cancelled by Abort.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &partitionWriter{l: l, p: p, tbl: tbl, ch: make(chan arrow.RecordBatch, 2), cancel: cancel, done: make(chan struct{})}
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
				w.err = fmt.Errorf("iceberg loader: partition %s: write data files of table %s: %w", p.Key, l.cfg.Table, err)
				return
			}
			w.files = append(w.files, df)
		}
	}()
	return w, nil
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
	batch.Retain() // iceberg-go releases what it consumes
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
	if err != nil {
		return stage.CommitResult{}, err
	}
	if err := failpoint.Inject(FailBeforeCommit); err != nil {
		return stage.CommitResult{}, err
	}
	if info.PartitionID == "" {
		info.PartitionID = w.p.ID
	}
	res, err := w.l.commitFiles(ctx, w.p, info, files, func() { w.mu.Lock(); w.maybeLive = true; w.mu.Unlock() })
	if err != nil {
		return stage.CommitResult{}, err
	}
	w.mu.Lock()
	w.finished = true
	w.mu.Unlock()
	return res, nil
}

// Abort stops the writer and deletes the data files it wrote, unless a commit may have made them live.
func (w *partitionWriter) Abort(ctx context.Context) error {
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

// commitFiles commits files as partition p: it reloads the table, finds the live files an earlier commit of p
// left (and, in overwrite_partition mode, every live file in the Iceberg partitions files fall in), and commits
// the removal of those and the addition of files in one snapshot; on a conflict it starts again from the reload.
// unknown is called when a commit failed in a state that may have committed.
func (l *Loader) commitFiles(ctx context.Context, p stage.Partition, info stage.CommitInfo, files []iceberg.DataFile, unknown func()) (stage.CommitResult, error) {
	cat, err := l.Catalog(ctx)
	if err != nil {
		return stage.CommitResult{}, err
	}
	props := iceberg.Properties{
		PropPartitionIDs:  info.PartitionID,
		PropPartitionKeys: info.Key,
		PropRunInstance:   info.RunInstance,
		PropPipeline:      info.Pipeline,
	}
	if info.Checkpoint != "" {
		props[PropCheckpoint] = info.Checkpoint
	}
	var bytes int64
	for _, f := range files {
		bytes += f.FileSizeBytes()
	}
	tag := FileTag(info.PartitionID)
	for attempt := 0; ; attempt++ {
		tbl, err := cat.LoadTable(ctx, l.ident)
		if err != nil {
			return stage.CommitResult{}, fmt.Errorf("iceberg loader: partition %s: reload table %s: %w", p.Key, l.cfg.Table, err)
		}
		old, err := l.filesToReplace(ctx, tbl, info.PartitionID, tag, files)
		if err != nil {
			return stage.CommitResult{}, fmt.Errorf("iceberg loader: partition %s: list the table's files: %w", p.Key, err)
		}
		if len(files) == 0 && len(old) == 0 {
			return stage.CommitResult{}, nil // an empty partition with nothing to replace: no snapshot
		}
		txn := tbl.NewTransaction()
		if len(old) > 0 {
			err = txn.ReplaceDataFilesWithDataFiles(ctx, old, files, props)
		} else {
			err = txn.AddDataFiles(ctx, files, props, table.WithoutDuplicateCheck())
		}
		if err != nil {
			return stage.CommitResult{}, fmt.Errorf("iceberg loader: partition %s: stage the commit: %w", p.Key, err)
		}
		staged, err := txn.StagedTable()
		if err != nil {
			return stage.CommitResult{}, fmt.Errorf("iceberg loader: partition %s: stage the commit: %w", p.Key, err)
		}
		if err := failpoint.Inject(FailCommit); err != nil {
			return stage.CommitResult{}, err
		}
		next, err := txn.Commit(ctx)
		if err == nil {
			var token string
			if s := next.CurrentSnapshot(); s != nil {
				token = strconv.FormatInt(s.SnapshotID, 10)
			}
			if len(old) > 0 {
				l.log.Info("iceberg: replaced partition files", "table", l.cfg.Table, "partition", p.Key, "removed", len(old), "added", len(files))
			}
			return stage.CommitResult{Token: token, Files: len(files), Bytes: bytes}, nil
		}
		if !retryable(err) {
			unknown()
			return stage.CommitResult{}, fmt.Errorf("iceberg loader: partition %s: commit to table %s (the outcome is unknown; a re-run replaces whatever landed): %w", p.Key, l.cfg.Table, err)
		}
		if attempt >= l.cfg.Commit.Retries {
			return stage.CommitResult{}, fmt.Errorf("iceberg loader: partition %s: commit to table %s still conflicted after %d attempts (raise commit.retries, or commit fewer, larger partitions): %w", p.Key, l.cfg.Table, attempt+1, err)
		}
		removeStaged(ctx, tbl, staged.CurrentSnapshot(), l.log)
		l.log.Debug("iceberg: commit conflict, retrying", "table", l.cfg.Table, "partition", p.Key, "attempt", attempt+1, "error", err)
		if err := sleepBackoff(ctx, attempt, l.cfg.Commit.MaxWait.D()); err != nil {
			return stage.CommitResult{}, err
		}
	}
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

// filesToReplace returns the live data files of tbl that a commit of the partition must remove.
func (l *Loader) filesToReplace(ctx context.Context, tbl *table.Table, pid, tag string, files []iceberg.DataFile) ([]iceberg.DataFile, error) {
	snap := tbl.CurrentSnapshot()
	if snap == nil {
		return nil, nil
	}
	overwrite := l.cfg.Mode == "overwrite_partition" && len(files) > 0
	if !overwrite && !mayHoldPartition(tbl.Metadata(), pid) {
		return nil, nil
	}
	targets := map[string]bool{}
	if overwrite {
		for _, f := range files {
			targets[partitionKey(f)] = true
		}
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, err
	}
	return liveFiles(ctx, fs, snap, func(df iceberg.DataFile) bool {
		return fileHasTag(df.FilePath(), tag) || overwrite && targets[partitionKey(df)]
	})
}

// mayHoldPartition tells whether the table may hold files of partition pid: a retained snapshot names it, or
// older snapshots were expired (their summaries are gone, so only a look at the files can tell).
func mayHoldPartition(md table.Metadata, pid string) bool {
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
		if s.Summary != nil && hasID(s.Summary.Properties[PropPartitionIDs], pid) {
			return true
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
