package iceberg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/jetflow-dev/jetflow/storage"
)

// Tombstones keep a versioned merge order-independent across deletes. A delete that wins (its key is missing, or
// stored at an older or equal version) leaves a tombstone: the key's columns and the delete's version, in a
// Parquet file under the table's metadata/ directory. The table property tombstoneProp lists the live tombstone
// files, so a tombstone changes in the same catalog commit as the rows it belongs to. A later row of that key
// goes in only if its version is newer than the tombstone's; a delete wins a tie. So a late re-run of an old run
// instance cannot bring a deleted row back, and the table equals a serial run in version order whatever order
// the commits come in.
//
// Every merge commit that changes the tombstones makes a snapshot (an empty one when no data file changes) and
// every merge commit is pinned to the head it read (AssertRefSnapshotID): a writer that merged without seeing a
// concurrent writer's tombstones conflicts, reloads and merges again.
//
// Cost: a commit that leaves tombstones writes one small file; every merge commit reads, of the live tombstone
// files, the row groups whose key range can hold one of its changed keys (tombfold.go), and holds the tombstones
// of those keys. When more than tombstoneFold files are live, the commit folds the newest ones (foldFrom) into
// one file; when a newer row of a tombstoned key goes in, it folds the file holding it and the newer ones, without
// that tombstone: a tombstone lives as long as the delete is the newest thing that happened to its key. The files
// a fold replaces are left to `jetflow iceberg show --orphans`, since a writer on the previous head may still be
// reading them.
const (
	tombstoneProp = "jetflow.merge.tombstones"
	tombstoneFold = 8
)

// tombstoneFiles lists the live tombstone files of table metadata md: the property holds their names, which
// jetflow makes (no comma in them), under the table's metadata/ directory.
func tombstoneFiles(md table.Metadata) []string {
	v := md.Properties()[tombstoneProp]
	if v == "" {
		return nil
	}
	names := strings.Split(v, ",")
	for i, n := range names {
		names[i] = tombstoneDir(md.Location()) + n
	}
	return names
}

func tombstoneDir(location string) string { return strings.TrimSuffix(location, "/") + "/metadata/" }

// tombPlan is what one merge attempt does to the tombstones.
type tombPlan struct {
	files      []string          // the head's tombstone files, oldest first
	rows       []int64           // their tombstones' counts
	unsorted   []bool            // which of them are not in key order (written before they were)
	byKey      map[string]ordVal // the head's tombstones of the changed keys: their newest delete's version
	in         map[string]int    // the head's tombstones of the changed keys: the oldest file holding one
	add        []rowRef          // the rows of the deletes that leave a tombstone
	superseded map[string]bool   // tombstoned keys this merge writes a newer row of
	written    string            // the tombstone file this attempt wrote ("" when none)
	prop       string            // the property's new value ("" removes it)
	changed    bool              // the property changes
}

// loadTombstones reads the head's tombstones of the changed keys: of each file, the row groups whose key range
// can hold one of them.
func (w *mergeWriter) loadTombstones(ctx context.Context, tbl *table.Table, chs []change) (*tombPlan, error) {
	t := &tombPlan{byKey: map[string]ordVal{}, in: map[string]int{}, superseded: map[string]bool{}}
	if w.l.cfg.VersionBy == "" {
		return t, nil // without versions the last commit wins: nothing to remember
	}
	t.files = tombstoneFiles(tbl.Metadata())
	if len(t.files) == 0 {
		return t, nil
	}
	want := w.changedKeys(chs)
	firsts := w.firstKeys(chs)
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, err
	}
	for i, p := range t.files {
		f, err := w.openTombstones(fs, p)
		if err != nil {
			return nil, err
		}
		t.rows, t.unsorted = append(t.rows, f.rows()), append(t.unsorted, !f.sorted)
		var rgs []int
		if firsts != nil {
			if rgs = f.rowGroups(firsts); len(rgs) == 0 {
				f.close()
				continue
			}
		}
		err = w.eachTombstone(ctx, f, rgs, func(key []byte, _ arrow.RecordBatch, _ int, ver ordVal) {
			if want[string(key)] {
				if old, ok := t.byKey[string(key)]; !ok || cmpOrd(ver, old) > 0 {
					t.byKey[string(key)] = ver
				}
				if _, ok := t.in[string(key)]; !ok {
					t.in[string(key)] = i
				}
			}
		})
		f.close()
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

// decide applies the tombstone of key to change ch of version v (whose stored rows are not newer): skip is true
// when a delete of an equal or newer version already removed the key.
func (t *tombPlan) decide(key string, ch change, v ordVal) (skip bool) {
	tv, has := t.byKey[key]
	if has && cmpOrd(tv, v) >= 0 {
		return !ch.delete // a delete no newer than the tombstone changes nothing it did not
	}
	if ch.delete {
		t.add = append(t.add, rowRef{batch: ch.batch, row: ch.row})
	} else if has {
		t.superseded[key] = true
	}
	return false
}

// readTombstones calls fn with every tombstone of file p: its key text, its record and row, its version.
func (w *mergeWriter) readTombstones(ctx context.Context, fs icebergio.IO, p string, fn func([]byte, arrow.RecordBatch, int, ordVal)) error {
	f, err := w.openTombstones(fs, p)
	if err != nil {
		return err
	}
	defer f.close()
	return w.eachTombstone(ctx, f, nil, fn)
}

// tombstoneSchema is the schema of a tombstone file: the key columns as the input has them, then the version.
func (w *mergeWriter) tombstoneSchema() (*arrow.Schema, []int) {
	var fields []arrow.Field
	var idx []int
	for _, k := range append(slices.Clone(w.l.cfg.Key), w.l.cfg.VersionBy) {
		i := w.schema.FieldIndices(k)[0]
		idx = append(idx, i)
		fields = append(fields, w.schema.Field(i))
	}
	fields[len(fields)-1].Name = "version"
	return arrow.NewSchema(fields, nil), idx
}

// tombRef is a tombstone a fold sorts in memory: its row of parts[part], its key's text (keys[off:off+n]) and
// the order it was noted in.
type tombRef struct {
	off, n, seq uint32
	part, row   int32
}

// tombPart is rows of a record of the tombstone schema (or one castable to it); nil rows: all of them.
type tombPart struct {
	rec  arrow.RecordBatch
	rows []int32
}

// writeTombstones writes what the merge does to the tombstones: the new ones in a file of their own or, past
// tombstoneFold files or when a tombstone is superseded, folded with the newest files (foldFrom).
func (w *mergeWriter) writeTombstones(ctx context.Context, tbl *table.Table, t *tombPlan) error {
	if len(t.add) == 0 && len(t.superseded) == 0 {
		return nil
	}
	sc, idx := w.tombstoneSchema()
	var parts []tombPart
	defer func() {
		for _, p := range parts {
			p.rec.Release()
		}
	}()
	byBatch := map[int][]int32{}
	for _, ch := range t.add {
		byBatch[int(ch.batch)] = append(byBatch[int(ch.batch)], ch.row)
	}
	for bi, b := range w.batches {
		if rows := byBatch[bi]; len(rows) > 0 {
			cols := make([]arrow.Array, len(idx))
			for i, c := range idx {
				cols[i] = b.Column(c)
			}
			parts = append(parts, tombPart{rec: array.NewRecordBatch(sc, cols, b.NumRows()), rows: rows})
		}
	}
	from := t.foldFrom()
	p, err := w.foldTombstones(ctx, tbl, t, from, sc, parts)
	if err != nil {
		return err
	}
	files := slices.Clip(t.files[:from])
	if p != "" {
		t.written = p
		files = append(files, p)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f[strings.LastIndexByte(f, '/')+1:]
	}
	t.prop = strings.Join(names, ",")
	t.changed = true
	return nil
}

// foldFrom is the first of the head's files the merge folds with its new tombstones: none (len(t.files)) until
// more than tombstoneFold files would be live; then the newest, and each older one as long as it holds no more
// tombstones than the newer ones chosen together (so the files' counts at least double from newest to oldest,
// and a tombstone is rewritten about log2 of their count times, not at every fold); and any file holding a
// tombstone a newer row supersedes, with the files newer than it. A fold also takes the oldest file not in key
// order, and the newer ones, so that every merge after it reads by key range.
func (t *tombPlan) foldFrom() int {
	from := len(t.files)
	if len(t.files)+1 > tombstoneFold {
		from--
		sum := int64(len(t.add)) + t.rows[from]
		for from > 0 && t.rows[from-1] <= sum {
			from--
			sum += t.rows[from]
		}
		if i := slices.Index(t.unsorted, true); i >= 0 && i < from {
			from = i
		}
	}
	for k := range t.superseded {
		if i, ok := t.in[k]; ok && i < from {
			from = i
		}
	}
	return from
}

// writeTombstoneFile writes a tombstone file of schema sc with fill under the table's metadata/ directory, in
// row groups of tombRowGroup rows, marked as in key order (fill writes it so).
func (w *mergeWriter) writeTombstoneFile(ctx context.Context, tbl *table.Table, sc *arrow.Schema, fill func(*pqarrow.FileWriter) error) (string, error) {
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return "", err
	}
	wfs, ok := fsys.(icebergio.WriteFileIO)
	if !ok {
		return "", errors.New("the table's file system cannot write")
	}
	p := tombstoneDir(tbl.Location()) + "jetflow-tombstones-" + uuid.NewString() + ".parquet"
	_, _, err = writeParquet(wfs, p, sc, w.l.alloc, func(fw *pqarrow.FileWriter) error {
		if err := fill(fw); err != nil {
			return err
		}
		return fw.AppendKeyValueMetadata(tombSortedKey, tombSortedVal)
	}, pq.WithMaxRowGroupLength(tombRowGroup))
	return p, err
}

// removeTombstoneFile removes tombstone file p, which no commit lists.
func (w *mergeWriter) removeTombstoneFile(ctx context.Context, tbl *table.Table, p string) {
	if fs, err := tbl.FS(ctx); err == nil {
		if wfs, ok := fs.(icebergio.WriteFileIO); ok {
			_ = wfs.Remove(p) // an orphan left behind is listed by `show --orphans`
		}
	}
}

// writeParquet writes a small Parquet file of schema sc at p with fill, zstd-compressed; a file it fails to
// write is removed. It returns the file's footer and size. Its pages and dictionaries are cut at zstdPage, as
// the data files' are: a larger page costs zstd a history buffer of megabytes (parquetzstd), and a fold of a
// stream's tombstones, a column of unique keys, filled 1 MiB pages and dictionaries at arrow-go's defaults.
func writeParquet(wfs icebergio.WriteFileIO, p string, sc *arrow.Schema, mem memory.Allocator, fill func(*pqarrow.FileWriter) error, opts ...pq.WriterProperty) (*metadata.FileMetaData, int64, error) {
	sink, err := wfs.Create(p)
	if err != nil {
		return nil, 0, fmt.Errorf("create %s: %w", p, err)
	}
	var count storage.CountingWriter
	buf := bufio.NewWriterSize(sink, 64<<10)
	count.W = buf
	fw, err := pqarrow.NewFileWriter(sc, &count,
		pq.NewWriterProperties(append([]pq.WriterProperty{pq.WithAllocator(mem), pq.WithCreatedBy("jetflow"), pq.WithCompression(compress.Codecs.Zstd),
			pq.WithDataPageSize(zstdPage), pq.WithDictionaryPageSizeLimit(zstdPage)}, opts...)...),
		pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
	if err == nil {
		err = fill(fw)
		if cerr := fw.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = buf.Flush()
	}
	if cerr := sink.Close(); err == nil {
		err = cerr
	}
	var meta *metadata.FileMetaData
	if err == nil {
		if meta, err = fw.FileMetadata(); err != nil {
			err = fmt.Errorf("footer: %w", err)
		}
	}
	if err != nil {
		_ = wfs.Remove(p)
		return nil, 0, fmt.Errorf("write %s: %w", p, err)
	}
	return meta, count.N, nil
}

// tombRows is rows of rec, cast to sc's types (a tombstone written before the input's key type was widened).
func tombRows(ctx context.Context, sc *arrow.Schema, rec arrow.RecordBatch, rows []int32) (arrow.RecordBatch, error) {
	rec, err := takeRows(ctx, compute.GetAllocator(ctx), rec, rows)
	if err != nil {
		return nil, err
	}
	defer rec.Release()
	cols := make([]arrow.Array, rec.NumCols())
	for i := range cols {
		c := rec.Column(i)
		if arrow.TypeEqual(c.DataType(), sc.Field(i).Type) {
			c.Retain()
			cols[i] = c
			continue
		}
		if cols[i], err = compute.CastArray(ctx, c, compute.SafeCastOptions(sc.Field(i).Type)); err != nil {
			for _, x := range cols[:i] {
				x.Release()
			}
			return nil, fmt.Errorf("cast an older tombstone's %s to %s: %w", sc.Field(i).Name, sc.Field(i).Type, err)
		}
	}
	cast := array.NewRecordBatch(sc, cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return cast, nil
}

// stageTombstones puts the tombstones' change into txn and pins txn to the head it was planned on, so that a
// commit over a head that moved meanwhile (whose tombstones it did not see) conflicts instead of being replayed.
func (t *tombPlan) stage(txn *table.Transaction) error {
	if err := txn.AssertRefSnapshotID(""); err != nil {
		return err
	}
	switch {
	case !t.changed:
		return nil
	case t.prop == "":
		return txn.RemoveProperties([]string{tombstoneProp})
	}
	return txn.SetProperties(iceberg.Properties{tombstoneProp: t.prop})
}

// liveTombstones tells whether a file is a tombstone file the table's head lists, which orphan listings leave
// alone (with or without the location's scheme).
func liveTombstones(md table.Metadata) func(string) bool {
	names := map[string]bool{}
	for _, p := range tombstoneFiles(md) {
		names[p[strings.LastIndexByte(p, '/')+1:]] = true
	}
	return func(f string) bool {
		dir, name := f[:strings.LastIndexByte(f, '/')+1], f[strings.LastIndexByte(f, '/')+1:]
		return names[name] && strings.HasSuffix(dir, "/metadata/")
	}
}

func (t *tombPlan) changes() bool { return t != nil && t.changed }

// committed records that the attempt's tombstone file is live.
func (t *tombPlan) committed() {
	if t != nil {
		t.written = ""
	}
}

// cleanup removes the tombstone file of an attempt that did not commit, unless the commit's outcome is unknown.
func (t *tombPlan) cleanup(ctx context.Context, tbl *table.Table, w *mergeWriter) {
	if t == nil || t.written == "" {
		return
	}
	w.mu.Lock()
	live := w.maybeLive
	w.mu.Unlock()
	if live {
		return
	}
	w.removeTombstoneFile(ctx, tbl, t.written)
	t.written = ""
}

// tombstonesOnly commits a snapshot that changes no file, for a merge whose only change is to the tombstones
// (deletes of keys the table does not hold): a snapshot, so that a concurrent merge pinned to the previous head
// conflicts and sees them.
func tombstonesOnly(ctx context.Context, txn *table.Transaction, props iceberg.Properties) error {
	return txn.Delete(ctx, iceberg.AlwaysFalse{}, props)
}

// changedKeys is the set of the changes' keys.
func (w *mergeWriter) changedKeys(chs []change) map[string]bool {
	want := make(map[string]bool, len(chs))
	for _, ch := range chs {
		want[w.key(ch)] = true
	}
	return want
}
