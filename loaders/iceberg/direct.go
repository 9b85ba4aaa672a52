package iceberg

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/jetflow-dev/jetflow/internal/rowgroup"
	"github.com/jetflow-dev/jetflow/storage"
)

// directWriter writes the data files of one jetflow partition itself and hands iceberg-go finished DataFiles
// (table.DataFileFromMetadata: statistics, bounds and split offsets from the Parquet footer) to commit. Compared
// with table.WriteRecords it splits batches by Iceberg partition column-wise (specSplitter), writes with the
// Parquet loader's tuned settings (decimals as integers, small pages, dictionaries dropped early), and bounds the
// row groups all its open files hold together (buffer_size). Files are named and placed as iceberg-go names and
// places them, so orphan listing, compaction and replace work on either writer's files.
//
// Tables it cannot write the same way iceberg-go would (another file format, a sort order, format version 3,
// column names Parquet needs sanitized, a transform of a type the splitter has no key for) are left to
// table.WriteRecords: newDirectWriter says so. With clustered: true it keeps one file open at a time.
type directWriter struct {
	l    *Loader
	tbl  *table.Table
	fs   icebergio.WriteFileIO
	sc   *iceberg.Schema
	spec iceberg.PartitionSpec
	// props are the table's properties: codec, sizes, metrics modes.
	props      iceberg.Properties
	version    int
	fileSchema *arrow.Schema   // the table schema as written, with field ids
	taskSchema *iceberg.Schema // the input's schema in table ids, when its columns need converting; nil when not
	split      *specSplitter   // nil for an unpartitioned spec
	// constant are the file columns that hold one value per data file: identity partition sources. Their part of
	// a batch is made by repeating the value, not gathered row by row, and written without a dictionary (a
	// single repeated value costs a hash lookup per row to dictionary-encode and compresses as well plain).
	constant map[int]bool
	wprops   *rowgroup.Props
	aprops   pqarrow.ArrowWriterProperties
	uuid     uuid.UUID

	rowGroupBytes, targetSize, bufferSize int64

	root     *url.URL
	locs     table.LocationProvider
	partLocs map[string]table.LocationProvider

	// clustered keeps one file open: a new partition closes the others, and a partition whose file was closed
	// that way must not come again (the input is not sorted by the spec).
	clustered bool
	passed    map[string]bool // partitions left behind, when clustered

	open  map[string]*dataFile // by partition key
	sinks rowgroup.Sinks       // one write buffer for the open files
	hold  rowgroup.Hold[string, *dataFile]
	seq   int
	files []iceberg.DataFile
	idx   *array.Int32Builder
	cols  []arrow.Array
}

type dataFile struct {
	key, path string
	values    map[int]any // partition values by field id; nil when unpartitioned
	sink      icebergio.FileWriter
	buf       *rowgroup.Sink
	count     storage.CountingWriter
	fw        *rowgroup.Writer
}

// newDirectWriter prepares a writer for batches of input into tbl, or returns nil (and no error) when the table
// is one table.WriteRecords must write.
func newDirectWriter(ctx context.Context, l *Loader, tbl *table.Table, input *arrow.Schema, id uuid.UUID) (*directWriter, error) {
	md := tbl.Metadata()
	props := md.Properties()
	if props.Get(table.WriteFormatDefaultKey, "parquet") != "parquet" || md.Version() >= 3 {
		return nil, nil
	}
	if so := tbl.SortOrder(); so.OrderID() != table.UnsortedSortOrderID && so.Len() > 0 {
		return nil, nil
	}
	sc := tbl.Schema()
	if sanitized, err := iceberg.SanitizeColumnNames(sc); err != nil || !sanitized.Equals(sc) {
		return nil, nil
	}
	spec := tbl.Spec()
	d := &directWriter{l: l, tbl: tbl, sc: sc, spec: spec, props: props, version: md.Version(), uuid: id,
		clustered: l.cfg.Clustered, passed: map[string]bool{},
		open: map[string]*dataFile{}, partLocs: map[string]table.LocationProvider{}}
	d.hold = rowgroup.Hold[string, *dataFile]{Open: d.open, Writer: func(f *dataFile) rowgroup.Buffered { return f.fw },
		Roll: d.closeFile, Budget: int64(l.cfg.BufferSize)}
	var err error
	if d.fileSchema, err = table.SchemaToArrowSchemaWithOptions(sc, table.ArrowSchemaOptions{IncludeFieldIDs: true, TableProperties: props}); err != nil {
		return nil, nil
	}
	if d.taskSchema, err = d.taskFor(input); err != nil {
		return nil, nil
	}
	// Batches are split after they are made the file's columns (toFile), so column positions are the file's.
	if !spec.IsUnpartitioned() {
		split, ok := newSpecSplitter(spec, sc, d.fileSchema)
		if !ok {
			return nil, nil
		}
		d.split = split
		d.constant = map[int]bool{}
		for _, pf := range spec.Fields() {
			if _, ok := pf.Transform.(iceberg.IdentityTransform); !ok {
				continue
			}
			if src, ok := sc.FindFieldByID(pf.SourceID()); ok {
				for _, i := range d.fileSchema.FieldIndices(src.Name) {
					d.constant[i] = true
				}
			}
		}
	}
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return nil, fmt.Errorf("open the table's file system: %w", err)
	}
	wfs, ok := fsys.(icebergio.WriteFileIO)
	if !ok {
		return nil, nil
	}
	d.fs = wfs
	if d.root, err = url.Parse(tbl.Location()); err != nil {
		return nil, fmt.Errorf("table location %q: %w", tbl.Location(), err)
	}
	if d.locs, err = table.LoadLocationProvider(tbl.Location(), props); err != nil {
		return nil, fmt.Errorf("table location: %w", err)
	}
	d.rowGroupBytes = int64(props.GetInt(table.ParquetRowGroupSizeBytesKey, table.ParquetRowGroupSizeBytesDefault))
	d.targetSize = int64(props.GetInt(table.WriteTargetFileSizeBytesKey, table.WriteTargetFileSizeBytesDefault))
	d.bufferSize = int64(l.cfg.BufferSize)
	if d.wprops, err = d.writerProps(); err != nil {
		return nil, err
	}
	d.aprops = pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(l.alloc), pqarrow.WithStoreSchema())
	d.idx = array.NewInt32Builder(l.alloc)
	return d, nil
}

// capRowGroups cuts the row groups of d's files at n bytes at most (when the table's row group size is larger),
// so that a single open file, which buffer_size does not bound (rowgroup.HoldWithin leaves it to the row group
// size), buffers at most n: a compaction writes one partition's rows to one file. The page size and the
// dictionary limit follow the row group size (writerProps): they are chosen again.
func (d *directWriter) capRowGroups(n int64) error {
	d.rowGroupBytes = min(d.rowGroupBytes, n)
	var err error
	d.wprops, err = d.writerProps()
	return err
}

// taskFor is the Iceberg schema that converts batches of input to d's file columns (writeAs), or nil when they
// are those columns already.
func (d *directWriter) taskFor(input *arrow.Schema) (*iceberg.Schema, error) {
	if sameColumns(input, d.fileSchema) {
		return nil, nil
	}
	return table.ArrowSchemaToIcebergWithOptions(input, table.ArrowToIcebergOptions{
		NameMapping: d.sc.NameMapping(), TableSchema: d.sc, TableProperties: d.props})
}

// sameColumns tells whether batches of input can be written as file's columns unchanged: the same names and
// types in the same order, and no column that may hold nulls where the table requires values.
func sameColumns(input, file *arrow.Schema) bool {
	if input.NumFields() != file.NumFields() {
		return false
	}
	for i, f := range input.Fields() {
		g := file.Field(i)
		if f.Name != g.Name || !arrow.TypeEqual(f.Type, g.Type) || (f.Nullable && !g.Nullable) {
			return false
		}
	}
	return true
}

// Table properties iceberg-go reads but does not export.
const (
	propDictEnabled      = "parquet.enable.dictionary"
	propDictColumnPrefix = "write.parquet.dict-encoding-enabled.column"
)

// codecsByName are the Parquet codecs of write.parquet.compression-codec, by the names Iceberg's Java
// implementation and iceberg-go write.
var codecsByName = map[string]compress.Compression{
	"zstd": compress.Codecs.Zstd, "snappy": compress.Codecs.Snappy, "gzip": compress.Codecs.Gzip,
	"uncompressed": compress.Codecs.Uncompressed, "none": compress.Codecs.Uncompressed,
	"lz4": compress.Codecs.Lz4, "lz4_raw": compress.Codecs.Lz4Raw, "lz4raw": compress.Codecs.Lz4Raw,
	"brotli": compress.Codecs.Brotli,
}

// zstdPage is the data page size of a zstd-compressed table that leaves it open.
const zstdPage = 112 << 10

// writerProps are the Parquet settings of the table's properties, with the Parquet loader's tuning where the
// table leaves a setting open.
func (d *directWriter) writerProps() (*rowgroup.Props, error) {
	name := strings.ToLower(d.props.Get(table.ParquetCompressionKey, table.ParquetCompressionDefault))
	codec, ok := codecsByName[name]
	if !ok {
		return nil, fmt.Errorf("table property %s is %q, a codec jetflow cannot write: set zstd, snappy, gzip, lz4, lz4_raw, brotli or uncompressed", table.ParquetCompressionKey, name)
	}
	sc, err := pqarrow.ToParquet(d.fileSchema, pq.NewWriterProperties(pq.WithStoreDecimalAsInteger(true)), pqarrow.DefaultWriterProps())
	if err != nil {
		return nil, fmt.Errorf("the table's Parquet schema: %w", err)
	}
	// rowGroup is what a row group may hold: its row group size, file size and buffer_size bound it (every open
	// file has a page under construction and a dictionary per column).
	rowGroup := min(d.rowGroupBytes, d.targetSize, d.bufferSize)
	page := int64(d.props.GetInt(table.ParquetPageSizeBytesKey, 0))
	if page <= 0 {
		// Small pages keep what the writer's byte counts do not see (the page under construction) small, so
		// row groups and files are cut close to their sizes, as the Parquet loader does.
		page = min(max(rowGroup/int64(16*max(sc.NumColumns(), 1)), 8<<10), pq.DefaultDataPageSize)
		if codec == compress.Codecs.Zstd {
			// zstd compresses a page of up to one block (128 KiB) without a history window; a larger page makes
			// each encoder at work allocate a history buffer of about twice its window (megabytes) on the Go
			// heap. Pages are cut once they pass the size, by up to a batch of values: this leaves room for it.
			page = min(page, zstdPage)
		}
	}
	dict := int64(d.props.GetInt(table.ParquetDictSizeBytesKey, 0))
	if dict <= 0 {
		// Iceberg's defaults give a column's dictionary a 64th of the row group (2 MB of 128 MB); jetflow's row
		// groups are much smaller (buffer_size, and an eighth of it in a rewrite), and the dictionary follows
		// them. arrow-go's encoder looks values up in a hash table on the Go heap of up to 32 times the
		// dictionary's bytes (16-byte slots for 4-byte values, up to 8 slots a value once it quadruples them),
		// which no byte count of the row group sees: at 2 MB a column of longs could hold tens of megabytes
		// beside a rewrite's row group of a few. So each column's table stays within about half the row group.
		dict = max(rowGroup/(table.ParquetRowGroupSizeBytesDefault/table.ParquetDictSizeBytesDefault), 8<<10)
		dict = min(dict, table.ParquetDictSizeBytesDefault)
	}
	opts := []pq.WriterProperty{
		pq.WithAllocator(d.l.alloc),
		pq.WithCreatedBy("jetflow"),
		pq.WithCompression(codec),
		pq.WithDataPageSize(page),
		pq.WithMaxRowGroupLength(int64(d.props.GetInt(table.ParquetRowGroupLimitKey, table.ParquetRowGroupLimitDefault))),
		pq.WithDictionaryPageSizeLimit(dict),
		pq.WithDictionaryDefault(d.props.Get(propDictEnabled, "true") != "false"),
		// Decimals of up to 18 digits as INT32/INT64, as the Iceberg spec prefers.
		pq.WithStoreDecimalAsInteger(true),
	}
	if level := d.props.GetInt(table.ParquetCompressionLevelKey, 0); level != 0 {
		opts = append(opts, pq.WithCompressionLevel(level))
	}
	for i := range sc.NumColumns() {
		// parquet-mr's rule: drop a dictionary that is not smaller than the plain values, also when compressed.
		opts = append(opts, pq.WithDictionaryCostFallbackFor(sc.Column(i).ColumnPath().String(), true))
	}
	for i := range d.constant {
		opts = append(opts, pq.WithDictionaryFor(d.fileSchema.Field(i).Name, false))
	}
	keyOpts, fixed := keyEncoding(d.sc) // fixed: the keys' encoding is the merge's, a column's dictionary the user's
	opts = append(opts, keyOpts...)
	for key, val := range d.props {
		if col, ok := strings.CutPrefix(key, propDictColumnPrefix+"."); ok && col != "" {
			opts = append(opts, pq.WithDictionaryFor(col, strings.EqualFold(val, "true")))
			fixed = append(fixed, col)
		}
		if col, ok := strings.CutPrefix(key, table.ParquetBloomFilterColumnEnabledKeyPrefix+"."); ok && col != "" {
			opts = append(opts, pq.WithBloomFilterEnabledFor(col, strings.EqualFold(val, "true")))
		}
	}
	return rowgroup.NewProps(sc, opts, d.l.cfg.DeltaEncoding, fixed...), nil
}

// write splits batch by Iceberg partition and appends each part to its partition's open file. The caller keeps
// ownership of batch.
func (d *directWriter) write(ctx context.Context, batch arrow.RecordBatch) error {
	return d.writeAs(ctx, batch, d.taskSchema)
}

// writeAs is write of a batch whose columns task converts to the file's (nil: they are the file's already).
func (d *directWriter) writeAs(ctx context.Context, batch arrow.RecordBatch, task *iceberg.Schema) error {
	rec, err := d.toFile(ctx, batch, task)
	if err != nil {
		return err
	}
	defer rec.Release()
	if d.split == nil {
		return d.writeTo(ctx, "", nil, nil, rec, nil, 0)
	}
	n := d.split.split(rec)
	groups := &d.split.groups
	for g := range n {
		vals, row, key := d.split.partition(rec, groups.First[g])
		if n == 1 {
			if err := d.writeTo(ctx, key, vals, row, rec, nil, 0); err != nil {
				return err
			}
			break
		}
		groups.Rows(g, d.idx)
		ind := d.idx.NewInt32Array()
		err := d.writeTo(ctx, key, vals, row, rec, ind, groups.First[g])
		ind.Release()
		if err != nil {
			return err
		}
		if big, err := d.hold.Reached(); err != nil {
			return fmt.Errorf("write %s: %w", big.path, err)
		}
	}
	if big, err := d.hold.Batch(); err != nil {
		return fmt.Errorf("write %s: %w", big.path, err)
	}
	return nil
}

// toFile returns batch with the file's schema (field ids), converting columns by task when the input's differ.
func (d *directWriter) toFile(ctx context.Context, batch arrow.RecordBatch, task *iceberg.Schema) (arrow.RecordBatch, error) {
	if task == nil {
		return array.NewRecordBatch(d.fileSchema, batch.Columns(), batch.NumRows()), nil
	}
	conv, err := table.ToRequestedSchema(compute.WithAllocator(ctx, d.l.alloc), d.sc, task, batch, table.SchemaOptions{IncludeFieldIDs: true})
	if err != nil {
		return nil, fmt.Errorf("convert the batch to the table's schema: %w", err)
	}
	defer conv.Release()
	return array.NewRecordBatch(d.fileSchema, conv.Columns(), conv.NumRows()), nil
}

// writeTo appends the rows ind of rec (all rows when ind is nil) to the open file of partition key; first is
// the first of those rows.
func (d *directWriter) writeTo(ctx context.Context, key string, vals map[int]any, row partitionRow, rec arrow.RecordBatch, ind *array.Int32, first int) error {
	if ind != nil {
		cctx := compute.WithAllocator(ctx, d.l.alloc)
		d.cols = d.cols[:0]
		defer func() {
			for _, c := range d.cols {
				c.Release()
			}
			clear(d.cols)
		}()
		for i, c := range rec.Columns() {
			if d.constant[i] {
				t, err := repeatValue(c, first, ind.Len(), d.l.alloc)
				if err != nil {
					return fmt.Errorf("the rows of partition %s: %w", d.spec.PartitionToPath(row, d.sc), err)
				}
				d.cols = append(d.cols, t)
				continue
			}
			t, err := compute.TakeArray(cctx, c, ind)
			if err != nil {
				return fmt.Errorf("select the rows of partition %s: %w", d.spec.PartitionToPath(row, d.sc), err)
			}
			d.cols = append(d.cols, t)
		}
		rec = array.NewRecordBatch(d.fileSchema, d.cols, int64(ind.Len()))
		defer rec.Release()
	}
	f := d.open[key]
	if f == nil && d.clustered {
		if d.passed[key] {
			return fmt.Errorf("clustered: rows of partition %s came after the input had moved on to other partitions: the input is not sorted by the partition spec [%s]; sort it (e.g. cut jetflow partitions by the spec's time unit) or leave clustered off", d.spec.PartitionToPath(row, d.sc), specText(&d.spec, d.sc))
		}
		for _, other := range d.sortedOpen() {
			d.passed[other.key] = true
			if err := d.closeFile(other); err != nil {
				return err
			}
		}
	}
	if f == nil {
		var err error
		if f, err = d.openFile(key, vals, row, rec); err != nil {
			return err
		}
	}
	if err := f.fw.WriteBuffered(rec); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	full, err := rowgroup.AfterWrite(f.fw, f.count.N, d.rowGroupBytes, d.targetSize)
	if err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if full {
		if err := d.closeFile(f); err != nil {
			return err
		}
	}
	return nil
}

// location places a data file as iceberg-go does: under data/<partition path>/ of the table (or the object
// storage layout the table's properties ask for).
func (d *directWriter) location(name string, row partitionRow) (string, error) {
	if d.split == nil {
		return d.locs.NewDataLocation(name), nil
	}
	dir := d.spec.PartitionToPath(row, d.sc)
	lp, ok := d.partLocs[dir]
	if !ok {
		props := maps.Clone(d.props)
		if props == nil {
			props = iceberg.Properties{}
		}
		props[table.WriteDataPathKey] = d.root.JoinPath("data", dir).String()
		var err error
		if lp, err = table.LoadLocationProvider(d.tbl.Location(), props); err != nil {
			return "", fmt.Errorf("location of partition %s: %w", dir, err)
		}
		d.partLocs[dir] = lp
	}
	return lp.NewDataLocation(name), nil
}

// openFile starts the data file of Iceberg partition key, whose first rows are first.
func (d *directWriter) openFile(key string, vals map[int]any, row partitionRow, first arrow.RecordBatch) (*dataFile, error) {
	// iceberg-go's name pattern, with the write UUID that carries the partition's FileTag.
	name := fmt.Sprintf("00000-%d-%s-00000.parquet", d.seq, d.uuid)
	d.seq++
	path, err := d.location(name, row)
	if err != nil {
		return nil, err
	}
	sink, err := d.fs.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	f := &dataFile{key: key, path: path, values: vals, sink: sink}
	f.buf = d.sinks.New(sink)
	f.count.W = f.buf
	if f.fw, err = rowgroup.NewWriter(d.fileSchema, &f.count, d.wprops.For(first), d.aprops, true); err != nil {
		_ = sink.Close()
		_ = d.fs.Remove(path)
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	if d.split != nil && !d.clustered { // files of many partitions open at once
		f.fw.StageUpTo(d.hold.StageLimit(d.rowGroupBytes))
	}
	d.open[key] = f
	return f, nil
}

// closeFile finishes f (footer, flush, upload) and records its DataFile.
func (d *directWriter) closeFile(f *dataFile) error {
	delete(d.open, f.key)
	fail := func(err error) error {
		_ = f.sink.Close()
		_ = d.fs.Remove(f.path)
		return fmt.Errorf("finish %s: %w", f.path, err)
	}
	if err := f.fw.Close(); err != nil {
		return fail(err)
	}
	if err := f.buf.Flush(); err != nil {
		return fail(err)
	}
	if err := f.sink.Close(); err != nil {
		_ = d.fs.Remove(f.path)
		return fmt.Errorf("finish %s: %w", f.path, err)
	}
	meta, err := f.fw.FileMetadata()
	if err != nil {
		return fmt.Errorf("footer of %s: %w", f.path, err)
	}
	df, err := table.DataFileFromMetadata(table.DataFileArgs{
		Schema: d.sc, Spec: d.spec, Format: iceberg.ParquetFile, Metadata: meta,
		FilePath: f.path, FileSize: f.count.N, Content: iceberg.EntryContentData,
		PartitionValues: f.values, Properties: d.props, FormatVersion: d.version,
	})
	if err != nil {
		_ = d.fs.Remove(f.path)
		return fmt.Errorf("data file entry of %s: %w", f.path, err)
	}
	d.files = append(d.files, df)
	return nil
}

// close finishes every open file and returns all data files written.
func (d *directWriter) close() ([]iceberg.DataFile, error) {
	defer d.idx.Release()
	var errs []error
	for _, f := range d.sortedOpen() {
		if len(errs) > 0 {
			d.discard(f)
			continue
		}
		if err := d.closeFile(f); err != nil {
			errs = append(errs, err)
		}
	}
	return d.files, errors.Join(errs...)
}

// abandon discards the open files (a failed or cancelled write); the finished ones are returned for the caller
// to remove.
func (d *directWriter) abandon() []iceberg.DataFile {
	defer d.idx.Release()
	for _, f := range d.sortedOpen() {
		d.discard(f)
	}
	return d.files
}

func (d *directWriter) discard(f *dataFile) {
	delete(d.open, f.key)
	f.count.Discard = true
	_ = f.fw.Close()
	f.buf.Drop()
	_ = f.sink.Close()
	_ = d.fs.Remove(f.path)
}

func (d *directWriter) sortedOpen() []*dataFile {
	keys := make([]string, 0, len(d.open))
	for k := range d.open {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fs := make([]*dataFile, len(keys))
	for i, k := range keys {
		fs[i] = d.open[k]
	}
	return fs
}

// repeatValue makes an array of n copies of c's value at row.
func repeatValue(c arrow.Array, row, n int, mem memory.Allocator) (arrow.Array, error) {
	sc, err := scalar.GetScalar(c, row)
	if err != nil {
		return nil, err
	}
	if r, ok := sc.(scalar.Releasable); ok {
		defer r.Release()
	}
	return scalar.MakeArrayFromScalar(sc, n, mem)
}
