package parquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/jetflow-dev/jetflow/internal/failpoint"
	"github.com/jetflow-dev/jetflow/internal/rowgroup"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/storage"
)

// partitionWriter writes one partition through cfg.Writers file writers, each on its own goroutine. Batches are
// dealt round-robin in arrival order, so the same batches give the same files.
type partitionWriter struct {
	l      *Loader
	store  *storage.Store
	schema *arrow.Schema
	p      stage.Partition
	nonce  string
	ctx    context.Context // cancelled by Abort: in-flight uploads are discarded
	cancel context.CancelFunc

	workers []*fileWorker
	wg      sync.WaitGroup
	batches int
	state   int
	closed  bool // workers stopped

	errMu sync.Mutex
	err   error
}

const (
	stateOpen = iota
	stateDone
)

func newPartitionWriter(ctx context.Context, l *Loader, store *storage.Store, schema, fileSchema *arrow.Schema, keep []int, p stage.Partition, nonce string) (*partitionWriter, error) {
	sc, err := pqarrow.ToParquet(fileSchema, l.writerProps(nil), l.arrowProps())
	if err != nil {
		return nil, fmt.Errorf("parquet loader: partition %s: %w", p.Key, err)
	}
	// Page size and dictionary fallback depend on the leaf columns, integer encodings on each file's first batch.
	props := rowgroup.NewProps(sc, l.writerOptions(sc), l.cfg.DeltaEncoding)
	wctx, cancel := context.WithCancel(ctx)
	pw := &partitionWriter{l: l, store: store, schema: schema, p: p, nonce: nonce, ctx: wctx, cancel: cancel}
	for i := range l.cfg.Writers {
		w := &fileWorker{
			pw: pw, index: i, fileSchema: fileSchema, keep: keep, props: props,
			in:    make(chan arrow.RecordBatch, 1),
			files: map[string]*openFile{},
			seqs:  map[string]int{},
		}
		w.hold = rowgroup.Hold[string, *openFile]{Open: w.files, Writer: func(f *openFile) rowgroup.Buffered { return f.fw },
			Roll: func(f *openFile) error { return w.closeFile(f, false) }, Budget: int64(l.cfg.BufferSize)}
		if len(l.cfg.PartitionBy) > 0 {
			w.split = newSplitter(schema, l.cfg.PartitionBy)
			w.idx = array.NewInt32Builder(l.alloc)
		}
		pw.workers = append(pw.workers, w)
		pw.wg.Add(1)
		go w.run()
	}
	return pw, nil
}

func (pw *partitionWriter) fail(err error) {
	pw.errMu.Lock()
	defer pw.errMu.Unlock()
	if pw.err == nil {
		pw.err = err
	}
}

func (pw *partitionWriter) failed() error {
	pw.errMu.Lock()
	defer pw.errMu.Unlock()
	return pw.err
}

func (pw *partitionWriter) where() string {
	return fmt.Sprintf("parquet loader: partition %s (%s) at %s", pw.p.Key, pw.p.ID, pw.store.URL())
}

// Write hands batch to the next writer. It blocks while that writer is busy with its previous batch, which is
// the back-pressure that keeps memory bounded.
func (pw *partitionWriter) Write(ctx context.Context, batch arrow.RecordBatch) error {
	if pw.state != stateOpen {
		return fmt.Errorf("%s: Write after Commit or Abort", pw.where())
	}
	if err := pw.failed(); err != nil {
		return err
	}
	if !batch.Schema().Equal(pw.schema) {
		return fmt.Errorf("%s: batch schema differs from the schema given to Begin:\n got: %s\nwant: %s", pw.where(), batch.Schema(), pw.schema)
	}
	if batch.NumRows() == 0 {
		return nil
	}
	w := pw.workers[pw.batches%len(pw.workers)]
	pw.batches++
	batch.Retain()
	select {
	case w.in <- batch:
		return nil
	case <-ctx.Done():
		batch.Release()
		return fmt.Errorf("%s: %w", pw.where(), ctx.Err())
	case <-pw.ctx.Done():
		batch.Release()
		if err := pw.failed(); err != nil {
			return err
		}
		return fmt.Errorf("%s: %w", pw.where(), pw.ctx.Err())
	}
}

// finish stops the workers and waits for them; each closes its files (discarding them when discard is set).
func (pw *partitionWriter) finish(discard bool) {
	if pw.closed {
		return
	}
	pw.closed = true
	if discard {
		pw.cancel()
	}
	for _, w := range pw.workers {
		w.discard = discard
		close(w.in)
	}
	pw.wg.Wait()
}

// Abort discards everything written: uploads in flight are cancelled and closed temporary files deleted.
// It is also the cleanup after a failed Commit, whose temporary files may remain.
func (pw *partitionWriter) Abort(ctx context.Context) error {
	pw.state = stateDone
	pw.finish(true)
	pw.cancel()
	return pw.removeTemp(ctx)
}

func (pw *partitionWriter) removeTemp(ctx context.Context) error {
	if err := removeAll(ctx, pw.store, pw.tmpDir()); err != nil {
		return fmt.Errorf("%s: remove temporary files: %w", pw.where(), err)
	}
	return nil
}

func (pw *partitionWriter) tmpDir() string { return tmpPrefix(pw.p.ID) + pw.nonce + "/" }

// Commit publishes the partition: intent record, renames to the final names, removal of the files an earlier
// commit of the same id made that this one does not replace, and the marker last.
func (pw *partitionWriter) Commit(ctx context.Context, info stage.CommitInfo) (stage.CommitResult, error) {
	if pw.state != stateOpen {
		return stage.CommitResult{}, fmt.Errorf("%s: Commit after Commit or Abort", pw.where())
	}
	pw.state = stateDone
	if info.PartitionID != "" && info.PartitionID != pw.p.ID {
		return stage.CommitResult{}, fmt.Errorf("%s: commit names partition id %s, Begin was given %s", pw.where(), info.PartitionID, pw.p.ID)
	}
	pw.finish(false)
	defer pw.cancel()
	if err := pw.failed(); err != nil {
		return stage.CommitResult{}, err
	}
	var files []MarkerFile
	var rows, size int64
	tmpOf := map[string]string{}
	for _, w := range pw.workers {
		for _, f := range w.done {
			files = append(files, MarkerFile{Path: f.final, Rows: f.rows, Bytes: f.bytes})
			tmpOf[f.final] = f.tmp
			rows += f.rows
			size += f.bytes
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })

	st := pw.store
	pid := pw.p.ID
	// What earlier commits of this id published, or were about to: their files go unless replaced.
	var old []string
	prev, err := ReadMarker(ctx, st, pid)
	switch {
	case err == nil:
		for _, f := range prev.Files {
			old = append(old, f.Path)
		}
	case !errors.Is(err, storage.ErrNotFound):
		return stage.CommitResult{}, fmt.Errorf("%s: %w", pw.where(), err)
	}
	intents, err := st.List(ctx, intentPrefix(pid))
	if err != nil {
		return stage.CommitResult{}, fmt.Errorf("%s: %w", pw.where(), err)
	}
	for _, o := range intents {
		in, err := readJSON[intent](ctx, st, o.Key)
		if errors.Is(err, storage.ErrNotFound) {
			continue // its commit finished meanwhile; the marker now names its files
		}
		if err != nil {
			return stage.CommitResult{}, fmt.Errorf("%s: %w", pw.where(), err)
		}
		old = append(old, in.Files...)
	}

	if err := failpoint.Inject("parquet.before-intent"); err != nil {
		return stage.CommitResult{}, fmt.Errorf("%s: %w", pw.where(), err)
	}
	own := intentPrefix(pid) + pw.nonce + ".json"
	finals := make([]string, len(files))
	for i, f := range files {
		finals[i] = f.Path
	}
	if err := writeJSON(ctx, st, own, intent{PartitionID: pid, Files: finals}); err != nil {
		return stage.CommitResult{}, fmt.Errorf("%s: write intent record: %w", pw.where(), err)
	}
	for _, f := range files {
		if err := st.Rename(ctx, tmpOf[f.Path], f.Path); err != nil {
			return stage.CommitResult{}, fmt.Errorf("%s: publish %s (another worker may have begun the same partition and removed this attempt's files; the partition stays as its last commit left it until a retry succeeds): %w", pw.where(), f.Path, err)
		}
	}
	keep := make(map[string]bool, len(files))
	for _, f := range finals {
		keep[f] = true
	}
	for _, k := range old {
		if keep[k] {
			continue
		}
		keep[k] = true // delete once
		if err := st.Delete(ctx, k); err != nil {
			return stage.CommitResult{}, fmt.Errorf("%s: remove a file of the earlier commit: %w", pw.where(), err)
		}
	}
	if info.Rows != 0 && info.Rows != rows {
		pw.l.log.Warn("parquet loader: rows written differ from the engine's count",
			"partition", pw.p.Key, "written", rows, "engine", info.Rows)
	}
	info.PartitionID = pid
	if info.Key == "" {
		info.Key = pw.p.Key
	}
	m := Marker{
		Pipeline: info.Pipeline, RunInstance: info.RunInstance, PartitionID: pid, Key: info.Key,
		Lane: info.Lane, Checkpoint: info.Checkpoint, Rows: rows, Bytes: size, Files: files,
	}
	if m.Files == nil {
		m.Files = []MarkerFile{}
	}
	if err := failpoint.Inject("parquet.before-marker"); err != nil {
		return stage.CommitResult{}, fmt.Errorf("%s: %w", pw.where(), err)
	}
	mk := markerKey(pid)
	if err := writeJSON(ctx, st, mk, m); err != nil {
		return stage.CommitResult{}, fmt.Errorf("%s: write commit marker: %w", pw.where(), err)
	}
	// Superseded intents: best effort, a later commit finds and ignores what is left.
	for _, o := range intents {
		_ = st.Delete(ctx, o.Key)
	}
	if err := st.Delete(ctx, own); err != nil {
		pw.l.log.Warn("parquet loader: could not remove intent record", "key", own, "err", err)
	}
	_ = st.PruneDirs(pw.tmpDir())
	return stage.CommitResult{Token: st.URL() + mk, Files: len(files), Bytes: size}, nil
}

// fileWorker owns the files one writer goroutine writes: one open file per Hive directory.
type fileWorker struct {
	pw         *partitionWriter
	index      int
	fileSchema *arrow.Schema
	keep       []int
	in         chan arrow.RecordBatch
	discard    bool

	props *rowgroup.Props
	split *splitter
	idx   *array.Int32Builder

	files   map[string]*openFile // by Hive directory ("" without partition_by)
	seqs    map[string]int       // next file number per directory
	created int                  // files begun, names the temporary files
	done    []*openFile
	hold    rowgroup.Hold[string, *openFile] // buffer_size over files
	sinks   rowgroup.Sinks                   // one write buffer for the open files
	cols    []arrow.Array
}

type openFile struct {
	dir, tmp, final string
	sink            io.WriteCloser
	buf             *rowgroup.Sink
	count           storage.CountingWriter
	fw              *rowgroup.Writer
	rows, bytes     int64
}

func (w *fileWorker) run() {
	defer w.pw.wg.Done()
	for b := range w.in {
		if w.pw.failed() == nil {
			if err := w.write(b); err != nil {
				w.pw.fail(err)
				w.pw.cancel() // unblocks Write and cancels uploads
			}
		}
		b.Release()
	}
	discard := w.discard || w.pw.failed() != nil
	dirs := make([]string, 0, len(w.files))
	for d := range w.files {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		if err := w.closeFile(w.files[d], discard); err != nil && !discard {
			w.pw.fail(err)
			discard = true
		}
	}
	if w.idx != nil {
		w.idx.Release()
	}
}

func (w *fileWorker) write(b arrow.RecordBatch) error {
	if w.split == nil {
		return w.writeDir("", b, nil)
	}
	if err := w.writeDirs(b); err != nil {
		return err
	}
	if big, err := w.hold.Batch(); err != nil {
		return fmt.Errorf("%s: write %s: %w", w.pw.where(), big.final, err)
	}
	return nil
}

// writeDirs writes b's rows to the open files of their Hive directories.
func (w *fileWorker) writeDirs(b arrow.RecordBatch) error {
	n := w.split.split(b)
	if n == 1 {
		return w.writeDir(w.split.dir(b, 0), b, nil)
	}
	for g := range n {
		w.split.groups.Rows(g, w.idx)
		ind := w.idx.NewInt32Array()
		err := w.writeDir(w.split.dir(b, w.split.groups.First[g]), b, ind)
		ind.Release()
		if err != nil {
			return err
		}
		if big, err := w.hold.Reached(); err != nil {
			return fmt.Errorf("%s: write %s: %w", w.pw.where(), big.final, err)
		}
	}
	return nil
}

// writeDir writes the kept columns of b (the rows at ind, or all rows when ind is nil) to dir's open file.
func (w *fileWorker) writeDir(dir string, b arrow.RecordBatch, ind *array.Int32) error {
	pw := w.pw
	w.cols = w.cols[:0]
	defer func() {
		if ind != nil {
			for _, c := range w.cols {
				c.Release()
			}
		}
		clear(w.cols)
	}()
	nrows := b.NumRows()
	if ind == nil {
		for _, ci := range w.keep {
			w.cols = append(w.cols, b.Column(ci))
		}
	} else {
		cctx := compute.WithAllocator(pw.ctx, pw.l.alloc)
		for _, ci := range w.keep {
			c, err := compute.TakeArray(cctx, b.Column(ci), ind)
			if err != nil {
				return fmt.Errorf("%s: select rows of directory %s: %w", pw.where(), dir, err)
			}
			w.cols = append(w.cols, c)
		}
		nrows = int64(ind.Len())
	}
	rec := array.NewRecordBatch(w.fileSchema, w.cols, nrows)
	defer rec.Release()

	f := w.files[dir]
	if f == nil {
		var err error
		if f, err = w.openFile(dir, rec); err != nil {
			return err
		}
	}
	if err := f.fw.WriteBuffered(rec); err != nil {
		return fmt.Errorf("%s: write %s: %w", pw.where(), f.final, err)
	}
	f.rows += nrows
	full, err := rowgroup.AfterWrite(f.fw, f.count.N, int64(pw.l.cfg.RowGroupSize), int64(pw.l.cfg.TargetFileSize))
	if err != nil {
		return fmt.Errorf("%s: write %s: %w", pw.where(), f.final, err)
	}
	if full {
		if err := w.closeFile(f, false); err != nil {
			return err
		}
	}
	return nil
}

// openFile starts the file of directory dir, whose first rows are first.
func (w *fileWorker) openFile(dir string, first arrow.RecordBatch) (*openFile, error) {
	pw := w.pw
	seq := w.seqs[dir]
	w.seqs[dir] = seq + 1
	final := finalName(pw.p.ID, w.index, seq)
	if dir != "" {
		final = path.Join(dir, final)
	}
	tmp := fmt.Sprintf("%s%d-%d.parquet.tmp", pw.tmpDir(), w.index, w.created)
	w.created++
	sink, err := pw.store.Create(pw.ctx, tmp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pw.where(), err)
	}
	f := &openFile{dir: dir, tmp: tmp, final: final, sink: sink}
	f.buf = w.sinks.New(sink)
	f.count.W = f.buf
	// The counting writer is not an io.Closer, so pqarrow leaves closing the object (publish or discard) to us.
	fw, err := rowgroup.NewWriter(w.fileSchema, &f.count, w.props.For(first), pw.l.arrowProps(), !pw.l.cfg.OmitArrowSchema)
	if err != nil {
		_ = sink.Close()
		return nil, fmt.Errorf("%s: start %s: %w", pw.where(), final, err)
	}
	if w.split != nil { // files of many directories open at once
		fw.StageUpTo(w.hold.StageLimit(int64(pw.l.cfg.RowGroupSize)))
	}
	f.fw = fw
	w.files[dir] = f
	return f, nil
}

// closeFile finishes f: footer, flush and upload, or, when discarding, frees its memory and drops the object.
func (w *fileWorker) closeFile(f *openFile, discard bool) error {
	delete(w.files, f.dir)
	pw := w.pw
	if discard {
		f.count.Discard = true
		_ = f.fw.Close()
		f.buf.Drop()
		pw.cancel() // a cancelled upload is never published
		_ = f.sink.Close()
		return nil
	}
	if err := f.fw.Close(); err != nil {
		pw.cancel()
		_ = f.sink.Close()
		return fmt.Errorf("%s: finish %s: %w", pw.where(), f.final, err)
	}
	if err := f.buf.Flush(); err != nil {
		pw.cancel()
		_ = f.sink.Close()
		return fmt.Errorf("%s: finish %s: %w", pw.where(), f.final, err)
	}
	if err := f.sink.Close(); err != nil {
		return fmt.Errorf("%s: finish %s: %w", pw.where(), f.final, err)
	}
	f.bytes = f.count.N
	w.done = append(w.done, f)
	return nil
}
