// Package parquet is the `parquet` loader: it writes each partition as Parquet files under a local directory or
// an S3 prefix, optionally in Hive-style directories, and commits them atomically under names derived from the
// partition id, so that a retry or a racing worker replaces the partition's files instead of adding to them.
//
// Layout under the rendered path:
//
//	<hive dirs>/part-<partition-id>-<writer>-<seq>.parquet   the data
//	_jetflow/tmp/<partition-id>/<nonce>/...parquet.tmp        files being written (the next run sweeps a killed run's)
//	_jetflow/intents/<partition-id>/<nonce>.json              files a commit is about to publish
//	_jetflow/commits/<partition-id>.json                      the commit marker, written last
package parquet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"

	_ "github.com/jetflow-dev/jetflow/internal/parquetzstd" // zstd pages with a page-sized window: a quarter of the encoder memory
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/storage"
)

const doc = "Writes each partition as Parquet files (zstd by default) to a local directory or an S3-compatible " +
	"store, optionally in Hive-style directories (partition_by). A partition is committed atomically under names " +
	"derived from its id, with a marker in _jetflow/commits/: a re-run or a racing worker replaces it, never adds to it."

func init() {
	stage.RegisterLoader[Config]("parquet", doc, build)
}

// TemplateData is what the path template sees.
type TemplateData struct {
	Pipeline    string
	RunInstance time.Time // the run instance's start, UTC
	RunLabel    string    // its canonical text, e.g. 2026-11-22
}

var templateFuncs = template.FuncMap{
	// date is written as a pipeline stage: {{ .RunInstance | date "2006-01-02" }}.
	"date": func(layout string, t time.Time) string { return t.Format(layout) },
}

var codecs = map[string]compress.Compression{
	"zstd":   compress.Codecs.Zstd,
	"snappy": compress.Codecs.Snappy,
	"gzip":   compress.Codecs.Gzip,
	// LZ4_RAW: the framed "LZ4" codec is deprecated in the Parquet spec and read inconsistently.
	"lz4":  compress.Codecs.Lz4Raw,
	"none": compress.Codecs.Uncompressed,
}

// Loader is the built `parquet` loader. It is safe for concurrent Begin calls.
type Loader struct {
	cfg      Config
	pipeline string
	tmpl     *template.Template
	codec    compress.Compression
	alloc    memory.Allocator
	log      *slog.Logger
	s3       storage.S3Options

	mu     sync.Mutex
	stores map[string]*storage.Store // by root URL: one connection per bucket or local directory
}

var (
	_ stage.Loader              = (*Loader)(nil)
	_ stage.CheckpointRecoverer = (*Loader)(nil)
)

// New builds a loader from a config built in Go, completed by its tags as the registry completes one from a
// pipeline file (a zero field takes its default).
func New(bc stage.BuildContext, cfg *Config) (*Loader, error) { return stage.Build(bc, cfg, newLoader) }

// newLoader builds a loader from a complete config and context.
func newLoader(bc stage.BuildContext, cfg *Config) (*Loader, error) {
	c := *cfg
	l := &Loader{
		cfg:      c,
		pipeline: bc.Pipeline,
		alloc:    bc.Alloc,
		log:      bc.Logger,
		stores:   map[string]*storage.Store{},
		s3: storage.S3Options{
			Endpoint: c.S3.Endpoint, Region: c.S3.Region, PathStyle: c.S3.PathStyle,
			AccessKeyID: c.S3.AccessKeyID, SecretAccessKey: c.S3.SecretAccessKey,
		},
	}
	var errs []error
	tmpl, err := template.New("path").Funcs(templateFuncs).Option("missingkey=error").Parse(c.Path)
	if err != nil {
		errs = append(errs, stage.FieldErrorf("path", "invalid template: %v", err))
	} else {
		l.tmpl = tmpl
		// A trial render catches unknown fields and bad function calls now rather than at the first partition.
		sample := TemplateData{Pipeline: bc.Pipeline, RunInstance: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), RunLabel: "2026-11-22"}
		if u, err := l.render(sample); err != nil {
			errs = append(errs, stage.FieldErrorf("path", "%v (the template sees .Pipeline, .RunInstance and .RunLabel)", err))
		} else if _, _, err := storage.SplitURL(u); err != nil {
			errs = append(errs, stage.FieldErrorf("path", "%v", err))
		}
	}
	switch c.Mode {
	case "append":
	case "merge":
		errs = append(errs, stage.FieldErrorf("mode", "the parquet loader cannot merge: plain Parquet files have no row-level deletes to replace or delete a key's stored row. Use the iceberg loader (type: iceberg, mode: merge, key: [...]), whose tables every reader sees merged"))
	default:
		errs = append(errs, stage.FieldErrorf("mode", "%q is not a mode of the parquet loader: it only appends (mode: append)", c.Mode))
	}
	if c.Int96Timestamps && c.TimestampUnit != "" && c.TimestampUnit != "ns" {
		errs = append(errs, stage.FieldErrorf("timestamp_unit", "%s cannot go with int96_timestamps: INT96 holds nanoseconds (leave timestamp_unit empty or write ns)", c.TimestampUnit))
	}
	l.codec = codecs[c.Compression]
	switch lvl := c.CompressionLevel; {
	case lvl == 0:
	case c.Compression == "zstd" && (lvl < 1 || lvl > 22):
		errs = append(errs, stage.FieldErrorf("compression_level", "zstd level %d is out of range 1-22", lvl))
	case c.Compression == "gzip" && (lvl < 1 || lvl > 9):
		errs = append(errs, stage.FieldErrorf("compression_level", "gzip level %d is out of range 1-9", lvl))
	case c.Compression != "zstd" && c.Compression != "gzip":
		errs = append(errs, stage.FieldErrorf("compression_level", "%s has no levels; remove compression_level or use zstd or gzip", c.Compression))
	}
	seen := map[string]bool{}
	for i, col := range c.PartitionBy {
		switch {
		case col == "":
			errs = append(errs, stage.FieldErrorf(fmt.Sprintf("partition_by[%d]", i), "empty column name"))
		case seen[col]:
			errs = append(errs, stage.FieldErrorf(fmt.Sprintf("partition_by[%d]", i), "column %q is listed twice", col))
		}
		seen[col] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return l, nil
}

func build(bc stage.BuildContext, cfg *Config) (stage.Loader, error) {
	return newLoader(bc, cfg)
}

func (l *Loader) render(d TemplateData) (string, error) {
	var b strings.Builder
	if err := l.tmpl.Execute(&b, d); err != nil {
		return "", err
	}
	u := strings.TrimSpace(b.String())
	if u == "" {
		return "", errors.New("renders to an empty path")
	}
	return u, nil
}

// Destination renders the path template for a run instance and opens the store there. ReadMarker and
// ListMarkers take the store it returns.
func (l *Loader) Destination(ctx context.Context, run stage.RunInstance) (*storage.Store, error) {
	u, err := l.render(TemplateData{Pipeline: l.pipeline, RunInstance: run.Start.UTC(), RunLabel: run.Label})
	if err != nil {
		return nil, fmt.Errorf("parquet loader: render path for run %s: %w", run.Label, err)
	}
	s, err := l.storeAt(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("parquet loader: run %s: %w", run.Label, err)
	}
	return s, nil
}

// storeAt opens the store at u (a rendered path), sharing one connection per bucket or local directory.
func (l *Loader) storeAt(ctx context.Context, u string) (*storage.Store, error) {
	root, prefix, err := storage.SplitURL(u)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.stores[root]
	if !ok {
		if s, err = storage.Open(ctx, root, l.s3); err != nil {
			return nil, err
		}
		l.stores[root] = s
	}
	return s.Sub(prefix), nil
}

// Checkpoints implements stage.CheckpointRecoverer from the commit markers under the run's rendered path: the
// lane and checkpoint of every stream partition committed for pipeline. Markers written before markers had a
// lane are left out.
func (l *Loader) Checkpoints(ctx context.Context, pipeline string, run stage.RunInstance) (map[string][]string, error) {
	store, err := l.Destination(ctx, run)
	if err != nil {
		return nil, err
	}
	markers, err := ListMarkers(ctx, store)
	if err != nil {
		return nil, fmt.Errorf("parquet loader: list commit markers in %s: %w", store.URL(), err)
	}
	out := map[string][]string{}
	for _, m := range markers {
		if m.Pipeline == pipeline && m.Lane != "" && m.Checkpoint != "" {
			out[m.Lane] = append(out[m.Lane], m.Checkpoint)
		}
	}
	return out, nil
}

// Close releases the loader's connections to its destinations.
func (l *Loader) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for k, s := range l.stores {
		errs = append(errs, s.Close())
		delete(l.stores, k)
	}
	return errors.Join(errs...)
}

// CheckSchema tells whether batches of schema can be written: partition columns exist and have a type that
// makes a directory name, and every other column has a Parquet mapping.
func (l *Loader) CheckSchema(schema *arrow.Schema) error {
	_, _, err := l.fileSchema(schema)
	return err
}

// fileSchema returns the schema of the files (schema without the partition columns) and the indices in schema
// of the columns kept.
func (l *Loader) fileSchema(schema *arrow.Schema) (*arrow.Schema, []int, error) {
	var errs []error
	part := map[int]bool{}
	for i, name := range l.cfg.PartitionBy {
		idx := schema.FieldIndices(name)
		if len(idx) == 0 {
			errs = append(errs, stage.FieldErrorf(fmt.Sprintf("partition_by[%d]", i), "no column %q in the loader's input (columns: %s)", name, columnNames(schema)))
			continue
		}
		f := schema.Field(idx[0])
		if !hivePartitionType(f.Type) {
			errs = append(errs, stage.FieldErrorf(fmt.Sprintf("partition_by[%d]", i),
				"column %q has type %s, which cannot name a directory: use an integer, string, date32 or bool column (derive one, e.g. year(ts))", name, f.Type))
			continue
		}
		part[idx[0]] = true
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	var fields []arrow.Field
	var keep []int
	for i, f := range schema.Fields() {
		if !part[i] {
			fields = append(fields, f)
			keep = append(keep, i)
		}
	}
	if len(fields) == 0 {
		return nil, nil, stage.FieldErrorf("partition_by", "every column is a partition column; the files would have no columns")
	}
	md := schema.Metadata()
	fs := arrow.NewSchema(fields, &md)
	if _, err := pqarrow.ToParquet(fs, l.writerProps(nil), l.arrowProps()); err != nil {
		return nil, nil, fmt.Errorf("parquet loader: the input cannot be written as Parquet: %w", err)
	}
	return fs, keep, nil
}

func columnNames(s *arrow.Schema) string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

func (l *Loader) writerProps(sc *schema.Schema) *pq.WriterProperties {
	return pq.NewWriterProperties(l.writerOptions(sc)...)
}

// writerOptions are the writer properties of files of Parquet schema sc (nil: before it is known).
func (l *Loader) writerOptions(sc *schema.Schema) []pq.WriterProperty {
	leafColumns := 0
	if sc != nil {
		leafColumns = sc.NumColumns()
	}
	opts := []pq.WriterProperty{
		pq.WithDataPageSize(dataPageSize(int64(min(l.cfg.RowGroupSize, l.cfg.TargetFileSize)), leafColumns)),
		pq.WithAllocator(l.alloc),
		pq.WithCompression(l.codec),
		pq.WithDictionaryDefault(l.cfg.Dictionary),
		pq.WithCreatedBy("jetflow"),
		// Decimals of up to 18 digits as INT32/INT64 (the Parquet spec's preferred form, and what Iceberg
		// requires) rather than 16-byte big-endian FIXED_LEN_BYTE_ARRAY: a quarter of the CPU and no per-batch
		// conversion buffers.
		pq.WithStoreDecimalAsInteger(true),
	}
	// A column chunk drops its dictionary before the first page when dictionary + indices would not be smaller
	// than the plain values (parquet-mr's rule), also for compressed columns, where arrow-go leaves it off by
	// default. Otherwise a near-unique column (ids, timestamps, amounts) builds a hash table of up to the 1 MiB
	// dictionary page limit in every row group only to fall back anyway: most of the load's memory churn.
	for i := range leafColumns {
		opts = append(opts, pq.WithDictionaryCostFallbackFor(sc.Column(i).ColumnPath().String(), true))
	}
	if l.cfg.CompressionLevel != 0 {
		opts = append(opts, pq.WithCompressionLevel(l.cfg.CompressionLevel))
	}
	return opts
}

// dataPageSize keeps pages small enough that the data not yet in a page (which the writer's byte counts do not
// see) stays under about 1/16 of the size limit, so row groups and files are cut close to their sizes.
func dataPageSize(limit int64, leafColumns int) int64 {
	size := limit / int64(16*max(leafColumns, 1))
	return min(max(size, 8<<10), pq.DefaultDataPageSize)
}

func (l *Loader) arrowProps() pqarrow.ArrowWriterProperties {
	opts := []pqarrow.WriterOption{pqarrow.WithAllocator(l.alloc)}
	if !l.cfg.OmitArrowSchema {
		// The stored Arrow schema lets Arrow readers get back exact types (time zones, large strings, ...).
		opts = append(opts, pqarrow.WithStoreSchema())
	}
	if unit, ok := timestampUnits[l.cfg.TimestampUnit]; ok {
		opts = append(opts, pqarrow.WithCoerceTimestamps(unit), pqarrow.WithTruncatedTimestamps(true))
	}
	if l.cfg.Int96Timestamps {
		// INT96 holds nanoseconds: pqarrow writes it only for timestamps coerced to that unit.
		opts = append(opts, pqarrow.WithDeprecatedInt96Timestamps(true), pqarrow.WithCoerceTimestamps(arrow.Nanosecond))
	}
	if l.cfg.LegacyMaps {
		opts = append(opts, pqarrow.WithNoMapLogicalType())
	}
	return pqarrow.NewArrowWriterProperties(opts...)
}

var timestampUnits = map[string]arrow.TimeUnit{"ms": arrow.Millisecond, "us": arrow.Microsecond, "ns": arrow.Nanosecond}

// Begin starts writing partition p. Files of an earlier, killed attempt at p are removed first.
func (l *Loader) Begin(ctx context.Context, schema *arrow.Schema, p stage.Partition) (stage.PartitionWriter, error) {
	if err := checkPartitionID(p.ID); err != nil {
		return nil, err
	}
	fs, keep, err := l.fileSchema(schema)
	if err != nil {
		return nil, err
	}
	store, err := l.Destination(ctx, p.Run)
	if err != nil {
		return nil, err
	}
	if err := removeAll(ctx, store, tmpPrefix(p.ID)); err != nil {
		return nil, fmt.Errorf("parquet loader: partition %s: remove temporary files of an earlier attempt: %w", p.Key, err)
	}
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("parquet loader: %w", err)
	}
	n := hex.EncodeToString(nonce[:])
	// The attempt's temporary directory: if the process is killed, the next run finds it by this intent.
	if err := stage.RecordIntent(ctx, store.URL()+tmpPrefix(p.ID)+n+"/"); err != nil {
		return nil, fmt.Errorf("parquet loader: partition %s: %w", p.Key, err)
	}
	return newPartitionWriter(ctx, l, store, schema, fs, keep, p, n)
}

func checkPartitionID(id string) error {
	if id == "" {
		return errors.New("parquet loader: the partition has no id (the engine sets Partition.ID)")
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("parquet loader: partition id %q has characters unsafe in file names; want letters, digits, '-', '_' or '.'", id)
		}
	}
	return nil
}

func tmpPrefix(pid string) string    { return "_jetflow/tmp/" + pid + "/" }
func intentPrefix(pid string) string { return "_jetflow/intents/" + pid + "/" }
func markerKey(pid string) string    { return "_jetflow/commits/" + pid + ".json" }
func finalName(pid string, w, seq int) string {
	return fmt.Sprintf("part-%s-%d-%d.parquet", pid, w, seq)
}

// removeAll removes everything under prefix, also writes a killed process left in flight.
func removeAll(ctx context.Context, s *storage.Store, prefix string) error {
	objs, err := s.ListAll(ctx, prefix)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := s.Delete(ctx, o.Key); err != nil {
			return err
		}
	}
	return s.PruneDirs(prefix)
}
