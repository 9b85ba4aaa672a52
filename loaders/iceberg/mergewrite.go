package iceberg

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/jetflow-dev/jetflow/internal/failpoint"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/transformers/expr"
)

// mergeWriter is the partition writer of mode: merge. It holds the partition's batches (memory in proportion
// to the partition, never to the table) and merges them at Commit: the newest version of each key wins within
// the partition; then, against the table's head, a row replaces the stored row of its key unless that row's
// version is newer, and a delete_when row deletes it. Replaced and deleted rows get position delete files
// (merge_on_read) beside the new data files, all in one snapshot whose summary names the jetflow partition.
// A conflict reloads the table and merges again, so what a retry deletes from is always the current head.
type mergeWriter struct {
	l      *Loader
	p      stage.Partition
	schema *arrow.Schema
	del    *expr.Compiled // nil without delete_when

	batches []arrow.RecordBatch
	ks      *keyScan  // deletes: {detect: key_scan} (keyscan.go)
	truncAt *ordVal   // the version of the partition's last truncate marker (truncate.go)
	verIdx  int       // the input's version column; -1 without version_by (set by changes)
	keyText string    // the changes' keys (change.keyAt)
	chInts  *intIndex // changes' index of keys of one integer, until the key read takes it over

	mu        sync.Mutex
	finished  bool
	maybeLive bool               // a commit failed in an unknown state: its files may be live, never remove them
	written   []iceberg.DataFile // files of the last attempt, removed by Abort unless maybeLive
	deletes   int                // delete files the commit wrote, for the compaction's turn
}

func newMergeWriter(l *Loader, schema *arrow.Schema, p stage.Partition) (*mergeWriter, error) {
	w := &mergeWriter{l: l, p: p, schema: schema, verIdx: -1}
	if l.cfg.DeleteWhen != "" {
		c, err := expr.Compile(l.cfg.DeleteWhen, schema)
		if err != nil {
			return nil, stage.Permanent(fmt.Errorf("iceberg loader: delete_when: %w", err))
		}
		w.del = c
	}
	return w, nil
}

func (w *mergeWriter) Write(ctx context.Context, batch arrow.RecordBatch) error {
	if batch.NumRows() == 0 {
		return nil
	}
	batch.Retain()
	w.batches = append(w.batches, batch)
	return nil
}

func (w *mergeWriter) release() {
	for _, b := range w.batches {
		b.Release()
	}
	w.batches = nil
}

// change is the winning row of one key in the partition. A merge holds one a changed row for as long as it
// merges (its rewrites included), so it holds where the row is and where its key text is, no values: the key is
// a piece of the partition's key text (key), the version is read from the row (version).
type change struct {
	keyAt, keyLen uint32 // its key text: keyText[keyAt:keyAt+keyLen]
	batch, row    int32
	delete        bool
}

// key is the key text of change ch (appendKey's encoding of its key columns).
func (w *mergeWriter) key(ch change) string { return w.keyText[ch.keyAt : ch.keyAt+ch.keyLen] }

// addKeys appends key texts to the changes' key text, returning where the first starts; the changes' keys stay
// pieces of one string, not one allocation each.
func (w *mergeWriter) addKeys(text []byte) (uint32, error) {
	at := len(w.keyText)
	if at+len(text) > math.MaxUint32 {
		return 0, stage.Permanent(fmt.Errorf("the partition's keys take more than %d bytes: cut smaller partitions", uint32(math.MaxUint32)))
	}
	w.keyText += string(text)
	return uint32(at), nil
}

// version is the version of change ch's row; null without version_by.
func (w *mergeWriter) version(ch change) ordVal {
	if w.verIdx < 0 {
		return ordVal{}
	}
	return valueAt(w.batches[ch.batch].Column(w.verIdx), int(ch.row))
}

// changes reduces the partition to one row per key: the newest version, the later row on a tie.
func (w *mergeWriter) changes(ctx context.Context) ([]change, error) {
	keyIdx := make([]int, len(w.l.cfg.Key))
	for i, k := range w.l.cfg.Key {
		f := w.schema.FieldIndices(k)
		if len(f) != 1 {
			return nil, stage.Permanent(fmt.Errorf("the input has no key column %q", k))
		}
		keyIdx[i] = f[0]
	}
	w.verIdx = -1
	if v := w.l.cfg.VersionBy; v != "" {
		f := w.schema.FieldIndices(v)
		if len(f) != 1 {
			return nil, stage.Permanent(fmt.Errorf("the input has no version column %q", v))
		}
		w.verIdx = f[0]
	}
	tb, tr, tv, err := w.lastTruncate(w.verIdx) // rows up to the last truncate marker are cleared with the table
	if err != nil {
		return nil, err
	}
	if tb >= 0 {
		w.truncAt = &tv
	}
	k := expr.Constants{Now: time.Now().UTC(), RunInstance: w.p.Run.Label, PartitionID: w.p.ID, Set: true}
	total := 0
	for _, b := range w.batches {
		total += int(b.NumRows())
	}
	var at map[string]int // by key text
	var ints *intIndex    // by key, for keys of one integer column
	// The keys' texts go into one buffer, made one string at the end (addKeys), which the changes' keys are
	// pieces of.
	var keyText []byte
	out := make([]change, 0, total)
	var buf []byte
	enc := make([]func([]byte, int) []byte, len(keyIdx))
	for bi, b := range w.batches {
		if bi < tb {
			continue
		}
		for i, c := range keyIdx {
			enc[i] = keyEncoder(b.Column(c))
		}
		var del *array.Boolean
		if w.del != nil {
			d, err := w.del.Eval(ctx, w.l.alloc, b, k)
			if err != nil {
				return nil, stage.Permanent(fmt.Errorf("delete_when: %w", err))
			}
			defer d.Release()
			del, _ = d.(*array.Boolean)
		}
		for r := range int(b.NumRows()) {
			if bi == tb && r <= tr {
				continue
			}
			buf = buf[:0]
			for i, c := range keyIdx {
				if b.Column(c).IsNull(r) {
					return nil, stage.Permanent(fmt.Errorf("key column %q is null in a row: every row of a merge needs its key (filter such rows out, or fill the key)", w.l.cfg.Key[i]))
				}
				buf = enc[i](buf, r)
			}
			ch := change{batch: int32(bi), row: int32(r)}
			ch.delete = del != nil && del.IsValid(r) && del.Value(r)
			j, ok := -1, false
			oneInt := len(buf) == 9 && buf[0] == kInt // one integer column: no key text to hash
			if oneInt {
				if ints == nil {
					ints = newIntIndex(total)
				}
				j = int(ints.insert(int64(binary.BigEndian.Uint64(buf[1:])), int32(len(out))))
				ok = j >= 0
			} else {
				if at == nil {
					at = map[string]int{}
				}
				j, ok = at[string(buf)]
			}
			if ok {
				if cmpOrd(w.version(ch), w.version(out[j])) >= 0 {
					ch.keyAt, ch.keyLen = out[j].keyAt, out[j].keyLen
					out[j] = ch
				}
				continue
			}
			if keyText == nil && oneInt {
				keyText = make([]byte, 0, total*len(buf))
			}
			if !oneInt {
				at[string(buf)] = len(out)
			}
			ch.keyAt, ch.keyLen = uint32(len(keyText)), uint32(len(buf))
			keyText = append(keyText, buf...)
			out = append(out, ch)
		}
	}
	w.keyText = ""
	base, err := w.addKeys(keyText)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].keyAt += base
	}
	w.chInts = ints
	return out, nil
}

// storedRow is a live row of the table holding a changed key.
type storedRow struct {
	ch    int32 // index of the key's change
	file  int32 // index into the candidate files
	pos   int64
	newer bool // its version is newer than the change's: the change is older than the table and does nothing
}

// storedRows finds the live rows of tbl's head whose keys are in chs: the scan prunes files by partition and the
// first key column's min/max statistics (an IN filter), then only the key and version columns of the candidate
// files are read, minus the positions their delete files already remove.
// candidates are the data files of the head that may hold changed keys, what already deletes from them, and the
// live rows of changed keys they hold.
type candidates struct {
	files   []iceberg.DataFile
	deletes [][]iceberg.DataFile // by file: the position delete files that apply to it
	dead    map[string]positions // by file path: positions already deleted
	stored  storedByChange       // by change
}

// mergeFieldIDs are the field ids of the key columns and then of the version column, if any, in schema sc.
func (l *Loader) mergeFieldIDs(sc *iceberg.Schema) ([]int, error) {
	cfg := &l.cfg
	ids := make([]int, 0, len(cfg.Key)+1)
	for _, k := range cfg.Key {
		f, ok := sc.FindFieldByName(k)
		if !ok {
			return nil, stage.Permanent(fmt.Errorf("the table has no key column %q (key names columns of the table)", k))
		}
		ids = append(ids, f.ID)
	}
	if cfg.VersionBy != "" {
		f, ok := sc.FindFieldByName(cfg.VersionBy)
		if !ok {
			return nil, stage.Permanent(fmt.Errorf("the table has no version column %q", cfg.VersionBy))
		}
		ids = append(ids, f.ID)
	}
	return ids, nil
}

func (w *mergeWriter) storedRows(ctx context.Context, tbl *table.Table, chs []change) (*candidates, error) {
	if tbl.CurrentSnapshot() == nil || len(chs) == 0 {
		return &candidates{}, nil
	}
	sc := tbl.Schema()
	cfg := &w.l.cfg
	ids, err := w.l.mergeFieldIDs(sc)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(chs))
	for i, ch := range chs {
		keys[i] = w.key(ch)
	}
	prune := newKeyPruner(sc, ids[:len(cfg.Key)], keys)
	tasks, err := w.l.planTasks(ctx, tbl, ids)
	if err != nil {
		return nil, fmt.Errorf("find the files that may hold the changed keys: %w", err)
	}
	// The oldest version among the changes: a file whose versions are all at most that holds no stored row
	// newer than a change, so only its key columns are read.
	var oldest ordVal
	if cfg.VersionBy != "" {
		for i, ch := range chs {
			v := w.version(ch)
			if v.kind == kNull {
				oldest = ordVal{}
				break
			}
			if i == 0 || cmpOrd(v, oldest) < 0 {
				oldest = v
			}
		}
	}
	want := newKeyIndex(keys, w.chInts)
	w.chInts = nil // taken over (a retry's merge builds its own)
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, err
	}
	c := &candidates{}
	byPath := map[string]int{}
	for _, t := range tasks {
		if len(t.EqualityDeleteFiles) > 0 || len(t.DeletionVectorFiles) > 0 {
			return nil, stage.Permanent(fmt.Errorf("data file %s has equality deletes or deletion vectors, which a merge cannot apply: compact the table with the engine that wrote them first", t.File.FilePath()))
		}
		if _, ok := byPath[t.File.FilePath()]; ok {
			continue
		}
		if !prune.mayHold(t.File, tbl.Metadata().PartitionSpecByID(int(t.File.SpecID()))) {
			continue
		}
		byPath[t.File.FilePath()] = len(c.files)
		c.files = append(c.files, t.File)
		c.deletes = append(c.deletes, t.DeleteFiles)
	}
	if c.dead, err = w.deadPositions(ctx, fs, c.files, c.deletes); err != nil {
		return nil, err
	}
	reads := make([]keyFile, len(c.files))
	for i, df := range c.files {
		read := ids
		if len(ids) > len(cfg.Key) && oldest.kind != kNull {
			if bound, ok := versionBound(df, sc, ids[len(cfg.Key)]); ok && bound.kind == oldest.kind && cmpOrd(bound, oldest) <= 0 {
				read = ids[:len(cfg.Key)]
			}
		}
		reads[i] = keyFile{df: df, ids: read, dead: c.dead[df.FilePath()]}
	}
	newer := func(ch int32, v ordVal) bool { return cmpOrd(v, w.version(chs[ch])) > 0 }
	found, err := w.readKeys(ctx, fs, reads, len(cfg.Key), want, prune, newer)
	if err != nil {
		return nil, err
	}
	c.stored.group(found, len(chs))
	return c, nil
}

// openParquet opens a Parquet file of the table for reading.
func (w *mergeWriter) openParquet(fs icebergio.IO, p string) (*pqarrow.FileReader, func(), error) {
	f, err := fs.Open(p)
	if err != nil {
		return nil, nil, err
	}
	rdr, err := file.NewParquetReader(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	// Go's allocator, not the loader's: chosen while arrow-go's DELTA_BINARY_PACKED decoder (integer key columns
	// are written so) leaked a buffer from its allocator, fixed in v18.9.0; the loader's allocator here is untried.
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, memory.DefaultAllocator)
	if err != nil {
		rdr.Close()
		return nil, nil, err
	}
	return fr, func() { rdr.Close() }, nil
}

// leafIndices finds the Parquet leaf columns of field ids; a field the file does not hold is -1.
func leafIndices(fr *pqarrow.FileReader, ids []int) []int {
	sc := fr.ParquetReader().MetaData().Schema
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = -1
		for c := range sc.NumColumns() {
			if int(sc.Column(c).SchemaNode().FieldID()) == id {
				out[i] = c
				break
			}
		}
	}
	return out
}

// deadPositions returns, per data file of files (by path), the positions its position delete files (deletes,
// by file) already delete. The loader's cache (deadcache.go) keeps them between commits, so a stream's merge
// reads only the delete files committed since the last one.
func (w *mergeWriter) deadPositions(ctx context.Context, fs icebergio.IO, files []iceberg.DataFile, deletes [][]iceberg.DataFile) (map[string]positions, error) {
	cache := w.l.deadCache()
	type pending struct {
		have positions
		read []iceberg.DataFile
		full bool
	}
	out := make(map[string]positions, len(files))
	todo := map[string]pending{}
	need := map[string]int{}
	var read []iceberg.DataFile
	seen := map[string]bool{} // a delete file may apply to many data files: read it once
	for i, f := range files {
		if len(deletes[i]) == 0 {
			continue
		}
		have, rd, full := cache.plan(f.FilePath(), deletes[i])
		out[f.FilePath()] = have
		if len(rd) == 0 {
			continue
		}
		todo[f.FilePath()] = pending{have, rd, full}
		need[f.FilePath()] = i
		for _, d := range rd {
			if !seen[d.FilePath()] {
				seen[d.FilePath()] = true
				read = append(read, d)
			}
		}
	}
	if len(read) == 0 {
		return out, nil
	}
	got, err := w.readDeletes(ctx, fs, read, need)
	if err != nil {
		return nil, err
	}
	for f, p := range todo {
		// got[f] may hold positions of delete files read for another data file: only delete files that apply
		// to f can name f (its path is new when written), so they are f's either way.
		cache.put(f, p.read, got[f], p.full)
		if p.full {
			out[f] = got[f]
		} else {
			out[f] = mergePositions(p.have, got[f])
		}
	}
	return out, nil
}

// readDeletes reads the position delete files dels and returns, per data file of byPath, the positions they
// delete, sorted and without duplicates.
func (w *mergeWriter) readDeletes(ctx context.Context, fs icebergio.IO, dels []iceberg.DataFile, byPath map[string]int) (map[string]positions, error) {
	out := map[string]positions{}
	for _, d := range dels {
		if ref := d.ReferencedDataFile(); ref != nil {
			if _, ok := byPath[*ref]; !ok {
				continue
			}
		}
		fr, closeFn, err := w.openParquet(fs, d.FilePath())
		if err != nil {
			return nil, fmt.Errorf("open the delete file %s: %w", d.FilePath(), err)
		}
		err = func() error {
			defer closeFn()
			cols := leafIndices(fr, []int{filePathFieldID, posFieldID})
			if cols[0] < 0 || cols[1] < 0 {
				return errors.New("it has no file_path and pos columns")
			}
			rr, err := fr.GetRecordReader(ctx, cols, nil)
			if err != nil {
				return err
			}
			defer rr.Release()
			for rr.Next() {
				rec := rr.RecordBatch()
				paths, ok1 := rec.Column(0).(*array.String)
				pos, ok2 := rec.Column(1).(*array.Int64)
				if !ok1 || !ok2 {
					return fmt.Errorf("unexpected column types %s, %s", rec.Column(0).DataType(), rec.Column(1).DataType())
				}
				for r := 0; r < int(rec.NumRows()); {
					p := paths.Value(r)
					end := r + 1 // a delete file lists its positions by file: take a file's run at once
					for end < int(rec.NumRows()) && paths.Value(end) == p {
						end++
					}
					if _, ok := byPath[p]; ok {
						// p aliases the batch's buffer, freed with it; assigning to a string key stores the key
						// again, so the map always gets a copy.
						out[strings.Clone(p)] = append(out[p], pos.Int64Values()[r:end]...)
					}
					r = end
				}
			}
			return rr.Err()
		}()
		if err != nil {
			return nil, fmt.Errorf("read the delete file %s: %w", d.FilePath(), err)
		}
	}
	for p, ps := range out {
		out[p] = ps.add()
	}
	return out, nil
}

func (w *mergeWriter) Commit(ctx context.Context, info stage.CommitInfo) (stage.CommitResult, error) {
	defer w.release()
	if info.PartitionID == "" {
		info.PartitionID = w.p.ID
	}
	chs, err := w.changes(ctx)
	if err == nil {
		chs, err = w.goneChanges(ctx, chs)
	}
	if err != nil {
		return stage.CommitResult{}, fmt.Errorf("iceberg loader: partition %s: %w", w.p.Key, err)
	}
	token, res, err := w.l.commitMerge(ctx, w, chs, info)
	if err != nil {
		return stage.CommitResult{}, err
	}
	res.Token = token
	w.mu.Lock()
	w.finished = true
	w.mu.Unlock()
	// The partition's batches are committed: they go before the compaction, which would otherwise hold them
	// while it reads and writes.
	w.release()
	w.l.compactAfterMerge(ctx, w.deletes)
	return res, nil
}

func (w *mergeWriter) Abort(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.release()
	if w.finished {
		return nil
	}
	w.finished = true
	if w.maybeLive || len(w.written) == 0 {
		return nil
	}
	tbl, err := w.l.LoadTable(ctx)
	if err != nil {
		return nil // nothing of ours is live without a table; the files are orphans for `iceberg show --orphans`
	}
	removeFiles(ctx, tbl, w.written)
	return nil
}

// commitMerge merges chs into the table's head and commits, reloading and merging again on a conflict.
func (l *Loader) commitMerge(ctx context.Context, w *mergeWriter, chs []change, info stage.CommitInfo) (string, stage.CommitResult, error) {
	var res stage.CommitResult
	ms := []member{{p: w.p, info: info}}
	props := summaryProps(ms)
	tbl, err := l.Table(ctx, w.schema)
	if err != nil {
		return "", res, err
	}
	if err := l.ensureIdentifiers(ctx, tbl); err != nil {
		return "", res, err
	}
	cat, err := l.Catalog(ctx)
	if err != nil {
		return "", res, err
	}
	for attempt := 0; ; attempt++ {
		tbl, err := cat.LoadTable(ctx, l.ident)
		if err != nil {
			return "", res, fmt.Errorf("iceberg loader: %s: reload table %s: %w", what(ms), l.cfg.Table, l.s3Context(l.cfg.Catalog.Warehouse, err))
		}
		plan, err := w.mergeFiles(ctx, tbl, chs)
		w.written = plan.written()
		defer plan.tomb.cleanup(ctx, tbl, w)
		if err != nil {
			removeFiles(ctx, tbl, w.written)
			w.written = nil
			return "", res, fmt.Errorf("iceberg loader: %s: merge into table %s: %w", what(ms), l.cfg.Table, l.s3Context(tbl.Location(), err))
		}
		if len(w.written) == 0 && len(plan.removed) == 0 && !plan.tomb.changes() && !plan.clear.changes() {
			return "", res, nil // nothing changes the table: no snapshot
		}
		if err := failpoint.Inject(FailBeforeCommit); err != nil {
			return "", res, err
		}
		txn := tbl.NewTransaction()
		err = plan.tomb.stage(txn)
		if err == nil {
			err = plan.clear.stage(txn)
		}
		switch {
		case err != nil:
		case len(plan.removed) > 0:
			err = txn.ReplaceFiles(ctx, plan.removed, plan.added, plan.removedDels, props)
		case len(w.written) > 0:
			err = txn.NewRowDelta(props).AddRows(plan.added...).AddDeletes(plan.dels...).Commit(ctx)
		default:
			err = tombstonesOnly(ctx, txn, props)
		}
		if err != nil {
			removeFiles(ctx, tbl, w.written)
			w.written = nil
			return "", res, fmt.Errorf("iceberg loader: %s: stage the merge: %w", what(ms), err)
		}
		staged, err := txn.StagedTable()
		if err != nil {
			return "", res, fmt.Errorf("iceberg loader: %s: stage the merge: %w", what(ms), err)
		}
		if err := failpoint.Inject(FailCommit); err != nil {
			return "", res, err
		}
		next, err := txn.Commit(ctx)
		if err == nil {
			plan.tomb.committed()
			var token string
			if s := next.CurrentSnapshot(); s != nil {
				token = strconv.FormatInt(s.SnapshotID, 10)
			}
			res.Files, w.deletes = len(w.written), len(plan.dels)
			for _, f := range w.written {
				res.Bytes += f.FileSizeBytes()
			}
			w.written = nil
			l.log.Debug("iceberg: merged", "table", l.cfg.Table, "partition", w.p.Key, "data_files", len(plan.added), "delete_files", len(plan.dels), "rewritten", len(plan.removed))
			return token, res, nil
		}
		if !retryable(err) {
			w.mu.Lock()
			w.maybeLive = true
			w.mu.Unlock()
			return "", res, fmt.Errorf("iceberg loader: %s: commit to table %s (the outcome is unknown; a re-run merges the same rows again, which changes nothing twice): %w", what(ms), l.cfg.Table, l.s3Context(tbl.Location(), err))
		}
		removeStaged(ctx, tbl, staged.CurrentSnapshot(), l.log)
		removeFiles(ctx, tbl, w.written)
		w.written = nil
		if attempt >= l.cfg.Commit.Retries {
			return "", res, fmt.Errorf("iceberg loader: %s: commit to table %s still conflicted after %d attempts (raise commit.retries): %w", what(ms), l.cfg.Table, attempt+1, err)
		}
		l.log.Debug("iceberg: merge conflict, merging again on the new head", "table", l.cfg.Table, "partition", w.p.Key, "attempt", attempt+1, "error", err)
		if err := sleepBackoff(ctx, attempt, l.cfg.Commit.MaxWait.D()); err != nil {
			return "", res, err
		}
	}
}

// mergePlan is what one merge attempt wrote and what its commit removes.
type mergePlan struct {
	added       []iceberg.DataFile // new data files: the rows that go in, and (copy_on_write) rewritten files
	dels        []iceberg.DataFile // new position delete files (merge_on_read)
	removed     []iceberg.DataFile // copy_on_write: the data files rewritten
	removedDels []iceberg.DataFile // copy_on_write: the file-scoped delete files of those, now moot
	tomb        *tombPlan          // what the merge does to the tombstones (tombstone.go)
	clear       *clearPlan         // what a truncate does (truncate.go)
}

func (m *mergePlan) written() []iceberg.DataFile { return append(slices.Clip(m.added), m.dels...) }

// mergeFiles decides every change against tbl's head and writes the data files of the rows that go in and, for
// the stored rows that go out, position delete files (merge_on_read) or rewrites of their data files
// (copy_on_write).
func (w *mergeWriter) mergeFiles(ctx context.Context, tbl *table.Table, chs []change) (*mergePlan, error) {
	m := &mergePlan{}
	c, err := w.storedRows(ctx, tbl, chs)
	if err != nil {
		return m, err
	}
	if m.tomb, err = w.loadTombstones(ctx, tbl, chs); err != nil {
		return m, err
	}
	if m.clear, err = w.planClear(ctx, tbl, c); err != nil {
		return m, err
	}
	into := map[int][]rowRef{} // copy_on_write: by candidate file, the new rows of keys it held (cow.go)
	versioned := w.l.cfg.VersionBy != ""
	drop := map[int][]int64{} // by candidate file: positions to delete
	take := make([][]int32, len(w.batches))
	// A file's stored rows bound both its positions to delete and the new rows its rewrite takes: each list is
	// made that size once, rather than grown (by up to twice what it holds) while the rewrites hold it.
	held := make([]int32, len(c.files))
	for _, s := range c.stored.rows {
		held[s.file]++
	}
	for i, ch := range chs {
		v := w.version(ch)
		if m.clear.older(v) {
			continue // older than the table's last truncate
		}
		rows := m.clear.live(c.stored.of(i))
		if versioned && slices.ContainsFunc(rows, func(s storedRow) bool { return s.newer }) {
			continue // the table holds a newer version: an older run instance never overwrites it
		}
		if m.tomb.decide(w.key(ch), ch, v) {
			continue // a delete of an equal or newer version removed the key: an older row never brings it back
		}
		for _, s := range rows {
			f := int(s.file)
			if drop[f] == nil {
				drop[f] = make([]int64, 0, held[f])
			}
			drop[f] = append(drop[f], s.pos)
		}
		if ch.delete {
			continue
		}
		if f, ok := w.rewriteTarget(rows); ok {
			if into[f] == nil {
				into[f] = make([]rowRef, 0, held[f])
			}
			into[f] = append(into[f], rowRef{batch: ch.batch, row: ch.row})
		} else {
			take[ch.batch] = append(take[ch.batch], ch.row)
		}
	}
	// The stored rows are decided: what goes out is in drop. Freed before the files are written, as is each
	// file's drop once its delete file is, so that the writers' memory does not come on top of them.
	c.stored = storedByChange{}
	fidx := make([]int, 0, len(drop))
	for i := range drop {
		fidx = append(fidx, i)
	}
	cow := w.l.cfg.Merge.Strategy == "copy_on_write"
	if m.clear != nil && m.clear.active {
		fidx, cow = m.clear.files(fidx), true
	}
	slices.Sort(fidx)
	id, err := writeUUID(w.p.ID)
	if err != nil {
		return m, err
	}
	var conv inputConversion // copy_on_write: the input's rows into the rewrites, converted alike
	for n, i := range fidx {
		df := c.files[i]
		if m.clear != nil && m.clear.whole[i] {
			m.removed, m.removedDels = append(m.removed, df), append(m.removedDels, fileScoped(c.deletes[i], df)...)
			continue
		}
		if cow {
			gone := slices.Clone(c.dead[df.FilePath()]).add(drop[i]...)
			if m.clear != nil {
				gone = gone.add(m.clear.gone[i]...)
			}
			with := into[i]
			delete(drop, i) // gone holds them now; each file's go as it is rewritten
			delete(into, i)
			nf, err := w.rewrite(ctx, tbl, df, gone, with, &conv)
			m.added = append(m.added, nf...)
			if err != nil {
				return m, fmt.Errorf("rewrite %s: %w", df.FilePath(), err)
			}
			m.removed, m.removedDels = append(m.removed, df), append(m.removedDels, fileScoped(c.deletes[i], df)...)
			continue
		}
		d, err := w.writePosDeletes(ctx, tbl, id, n, df, drop[i])
		if err != nil {
			return m, err
		}
		m.dels = append(m.dels, d)
		delete(drop, i)
	}
	added, err := w.writeRows(ctx, tbl, take)
	m.added = append(added, m.added...) // the new rows first, then any rewrites
	if err != nil {
		return m, err
	}
	return m, w.writeTombstones(ctx, tbl, m.tomb)
}

// rewrite writes the rows of data file df whose positions gone does not hold, then the partition's rows with,
// as new data files (copy_on_write); df is read as rewriteLive reads it.
func (w *mergeWriter) rewrite(ctx context.Context, tbl *table.Table, df iceberg.DataFile, gone positions, with []rowRef, conv *inputConversion) ([]iceberg.DataFile, error) {
	cctx := compute.WithAllocator(ctx, w.l.alloc)
	id, err := writeUUID(w.p.ID)
	if err != nil {
		return nil, err
	}
	dw, fsys, err := newRewriteWriter(ctx, w.l, tbl, id)
	if err != nil {
		return nil, err
	}
	if dw == nil {
		return nil, stage.Permanent(errNotDirect)
	}
	if _, err := w.rewriteLive(cctx, tbl, fsys, dw, df, gone); err != nil {
		return dw.abandon(), err
	}
	if err := w.writeChanged(cctx, dw, with, conv); err != nil {
		return dw.abandon(), err
	}
	return dw.close()
}

// newRewriteWriter prepares a rewrite of data files of tbl: a writer of the table's own columns, and the table's
// file system to read the files from; dw is nil when the table is one iceberg-go's writer must write. The
// writer's row groups are cut at buffer_size / rewriteRowGroupShare: a rewrite writes one file at a time, which
// buffer_size (a bound on many open files together) does not cut.
func newRewriteWriter(ctx context.Context, l *Loader, tbl *table.Table, id uuid.UUID) (dw *directWriter, fsys icebergio.IO, err error) {
	if fsys, err = tbl.FS(ctx); err != nil {
		return nil, nil, err
	}
	fileSchema, err := table.SchemaToArrowSchemaWithOptions(tbl.Schema(), table.ArrowSchemaOptions{IncludeFieldIDs: true, TableProperties: tbl.Metadata().Properties()})
	if err != nil {
		return nil, nil, err
	}
	if dw, err = newDirectWriter(ctx, l, tbl, fileSchema, id); err != nil || dw == nil {
		return nil, nil, err
	}
	if err := dw.capRowGroups(dw.bufferSize / rewriteRowGroupShare); err != nil {
		return nil, nil, err
	}
	return dw, fsys, nil
}

// rewriteLive writes to dw, a writer of the table's columns, the rows of data file df whose positions gone does
// not hold, and returns how many it wrote. It streams df a row group and a bounded slice of rows at a time
// (readBounded), or, when df's columns are not the table's current ones, reads it through iceberg-go's scanner,
// which converts them, in batches of rewriteMinRows; either way without df's delete files: gone holds those
// positions.
func (w *mergeWriter) rewriteLive(ctx context.Context, tbl *table.Table, fsys icebergio.IO, dw *directWriter, df iceberg.DataFile, gone positions) (int64, error) {
	recs, done, ok, err := w.readBounded(ctx, fsys, df, dw.fileSchema)
	if err != nil {
		return 0, err
	}
	var task *iceberg.Schema
	if ok {
		defer done()
	} else {
		var schema *arrow.Schema
		scan := tbl.Scan(table.WithArrowBatchSize(rewriteMinRows))
		if schema, recs, err = scan.ReadTasks(ctx, []table.FileScanTask{{File: df, Start: 0, Length: df.FileSizeBytes()}}); err != nil {
			return 0, err
		}
		if task, err = dw.taskFor(schema); err != nil {
			return 0, err
		}
	}
	var pos, kept int64
	at := cursor{p: gone}
	var keep []int32 // reused from batch to batch
	for b, err := range recs {
		if err != nil {
			return kept, err
		}
		n := b.NumRows()
		keep = keep[:0]
		for r := range n {
			if !at.has(pos + r) {
				keep = append(keep, int32(r))
			}
		}
		pos += n
		kept += int64(len(keep))
		err = dw.writeTakenAs(ctx, task, b, keep)
		b.Release()
		if err != nil {
			return kept, err
		}
	}
	if pos != df.Count() {
		return kept, fmt.Errorf("read %d rows, the manifest lists %d", pos, df.Count())
	}
	return kept, nil
}

// writeTaken writes the rows rows of b (in that order) to dw.
func (dw *directWriter) writeTaken(ctx context.Context, b arrow.RecordBatch, rows []int32) error {
	return dw.writeTakenAs(ctx, dw.taskSchema, b, rows)
}

// writeTakenAs is writeTaken of a batch whose columns task converts to dw's file's (directWriter.writeAs).
func (dw *directWriter) writeTakenAs(ctx context.Context, task *iceberg.Schema, b arrow.RecordBatch, rows []int32) error {
	if len(rows) == 0 {
		return nil
	}
	if len(rows) == int(b.NumRows()) && isIdentity(rows) {
		return dw.writeAs(ctx, b, task)
	}
	// takeChunk rows at a time: the copy of the selected rows costs a bounded buffer, not a second batch.
	for len(rows) > 0 {
		n := min(len(rows), takeChunk)
		if err := dw.writeSelected(ctx, task, b, rows[:n]); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// takeChunk is how many selected rows of a batch a merge copies and writes at a time.
const takeChunk = 8 << 10

// writeSelected writes the rows rows of b to dw, as a copy.
func (dw *directWriter) writeSelected(ctx context.Context, task *iceberg.Schema, b arrow.RecordBatch, rows []int32) error {
	ib := array.NewInt32Builder(dw.l.alloc)
	ib.AppendValues(rows, nil)
	ind := ib.NewInt32Array()
	ib.Release()
	defer ind.Release()
	out, err := compute.Take(ctx, compute.TakeOptions{BoundsCheck: false}, compute.NewDatumWithoutOwning(b), compute.NewDatumWithoutOwning(ind))
	if err != nil {
		return fmt.Errorf("select the rows to write: %w", err)
	}
	rec := out.(*compute.RecordDatum).Value
	defer rec.Release()
	return dw.writeAs(ctx, rec, task)
}

var errNotDirect = errors.New("the table is one jetflow merges into only when it is a Parquet table of format version 2 without a sort order and with column names Parquet takes as they are")

// writeRows writes the rows take (by batch) as data files with the loader's own data file writer.
func (w *mergeWriter) writeRows(ctx context.Context, tbl *table.Table, take [][]int32) ([]iceberg.DataFile, error) {
	n := 0
	for _, t := range take {
		n += len(t)
	}
	if n == 0 {
		return nil, nil
	}
	id, err := writeUUID(w.p.ID)
	if err != nil {
		return nil, err
	}
	dw, err := newDirectWriter(ctx, w.l, tbl, w.schema, id)
	if err != nil {
		return nil, err
	}
	if dw == nil {
		return nil, stage.Permanent(errNotDirect)
	}
	cctx := compute.WithAllocator(ctx, w.l.alloc)
	for bi, rows := range take {
		if err := dw.writeTaken(cctx, w.batches[bi], rows); err != nil {
			return dw.abandon(), err
		}
	}
	return dw.close()
}

func isIdentity(rows []int32) bool {
	for i, r := range rows {
		if int(r) != i {
			return false
		}
	}
	return true
}

// writePosDeletes writes one position delete file for data file df (file-scoped: it names df as its referenced
// data file), beside df, in df's partition.
func (w *mergeWriter) writePosDeletes(ctx context.Context, tbl *table.Table, id uuid.UUID, seq int, df iceberg.DataFile, pos []int64) (iceberg.DataFile, error) {
	slices.Sort(pos)
	pos = slices.Compact(pos)
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return nil, err
	}
	wfs, ok := fsys.(icebergio.WriteFileIO)
	if !ok {
		return nil, errors.New("the table's file system cannot write")
	}
	mem := w.l.alloc
	rec := posDeleteBatch(mem, df.FilePath(), pos)
	defer rec.Release()

	dir := df.FilePath()[:strings.LastIndexByte(df.FilePath(), '/')+1]
	p := dir + fmt.Sprintf("00000-%d-%s-deletes.parquet", seq, id)
	meta, size, err := writeParquet(wfs, p, posDeleteSchema, mem, func(fw *pqarrow.FileWriter) error { return fw.Write(rec) }, posDeleteEncoding...)
	if err != nil {
		return nil, err
	}
	md := tbl.Metadata()
	spec := md.PartitionSpecByID(int(df.SpecID()))
	if spec == nil {
		_ = wfs.Remove(p)
		return nil, fmt.Errorf("data file %s has partition spec %d, which the table does not know", df.FilePath(), df.SpecID())
	}
	ref := df.FilePath()
	d, err := table.DataFileFromMetadata(table.DataFileArgs{
		Schema: iceberg.PositionalDeleteSchema, Spec: *spec, Format: iceberg.ParquetFile, Metadata: meta,
		FilePath: p, FileSize: size, Content: iceberg.EntryContentPosDeletes,
		PartitionValues: df.Partition(), FormatVersion: md.Version(), ReferencedDataFile: &ref,
	})
	if err != nil {
		_ = wfs.Remove(p)
		return nil, fmt.Errorf("delete file entry of %s: %w", p, err)
	}
	return d, nil
}

// posDeleteSchema is iceberg-go's position delete schema with file_path as a dictionary: every row of a
// file-scoped delete file names the same data file, so the writer gets the path once and its indices (all 0)
// as they are, instead of hashing the path again for every position. The Parquet file is the same: a
// dictionary-encoded string column.
var posDeleteSchema = func() *arrow.Schema {
	fields := slices.Clone(table.PositionalDeleteArrowSchema.Fields())
	fields[0].Type = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	return arrow.NewSchema(fields, nil)
}()

// posDeleteBatch is the batch of a delete file of data file path: its positions pos, of schema posDeleteSchema.
func posDeleteBatch(mem memory.Allocator, path string, pos []int64) arrow.RecordBatch {
	sb := array.NewStringBuilder(mem)
	sb.Append(path)
	dict := sb.NewArray()
	sb.Release()
	defer dict.Release()
	ib := array.NewInt32Builder(mem)
	ib.AppendEmptyValues(len(pos))
	idx := ib.NewArray()
	ib.Release()
	defer idx.Release()
	ob := array.NewInt64Builder(mem)
	ob.AppendValues(pos, nil)
	offs := ob.NewArray()
	ob.Release()
	defer offs.Release()
	paths := array.NewDictionaryArray(posDeleteSchema.Field(0).Type, idx, dict)
	defer paths.Release()
	return array.NewRecordBatch(posDeleteSchema, []arrow.Array{paths, offs}, int64(len(pos)))
}

// keysRequired returns sc with merge's key columns required and listed as its identifier fields, as Iceberg
// wants identifier fields (a null key fails the merge anyway); sc itself outside mode: merge.
func (l *Loader) keysRequired(sc *iceberg.Schema) *iceberg.Schema {
	if l.cfg.Mode != "merge" || len(l.cfg.Key) == 0 {
		return sc
	}
	fields := slices.Clone(sc.Fields())
	var ids []int
	for _, k := range l.cfg.Key {
		for i, f := range fields {
			if f.Name == k {
				fields[i].Required = true
				ids = append(ids, f.ID)
			}
		}
	}
	slices.Sort(ids)
	return iceberg.NewSchemaWithIdentifiers(sc.ID, ids, fields...)
}

// ensureIdentifiers records the key as the identifier fields of a table that has other ones (or none: a table
// first loaded in append mode), when its key columns are required; otherwise it only warns, since Iceberg
// cannot make an optional column required.
func (l *Loader) ensureIdentifiers(ctx context.Context, tbl *table.Table) error {
	sc := tbl.Schema()
	var ids []int
	required := true
	for _, k := range l.cfg.Key {
		f, ok := sc.FindFieldByName(k)
		if !ok {
			return stage.Permanent(fmt.Errorf("iceberg loader: table %s has no key column %q", l.cfg.Table, k))
		}
		ids = append(ids, f.ID)
		required = required && f.Required
	}
	slices.Sort(ids)
	have := slices.Sorted(slices.Values(sc.IdentifierFieldIDs))
	if slices.Equal(have, ids) {
		return nil
	}
	if !required {
		l.identOnce.Do(func() {
			l.log.Warn("iceberg: the table's key columns are optional, so they cannot become its identifier fields; merging by key all the same",
				"table", l.cfg.Table, "key", l.cfg.Key)
		})
		return nil
	}
	paths := make([][]string, len(l.cfg.Key))
	for i, k := range l.cfg.Key {
		paths[i] = []string{k}
	}
	txn := tbl.NewTransaction()
	if err := txn.UpdateSchema(true, false).SetIdentifierField(paths).Commit(); err != nil {
		return fmt.Errorf("iceberg loader: table %s: set the identifier fields: %w", l.cfg.Table, err)
	}
	if _, err := txn.Commit(ctx); err != nil && !retryable(err) {
		return fmt.Errorf("iceberg loader: table %s: set the identifier fields: %w", l.cfg.Table, err)
	}
	return nil // a conflict: another writer moved the table; the next partition sets them
}
