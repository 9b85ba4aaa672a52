// Package iceberg is the `iceberg` loader: it writes each partition's rows as Parquet data files of an Iceberg
// table (through iceberg-go) and commits them in one snapshot whose summary names the jetflow partition, so that
// a retry, a --force re-run or a racing worker replaces the partition's earlier files in the same snapshot
// instead of adding a second copy.
//
// Exactly-once rests on three things:
//   - every data file of a partition carries a tag derived from the partition id in its name (the first 8 bytes
//     of the write UUID iceberg-go puts in file names), so the files of a partition are found in any snapshot,
//     even after the snapshots that added them were expired;
//   - Commit reloads the table, finds the partition's live files, and commits new files plus the removal of the
//     old ones in one snapshot that asserts the branch head it was planned on;
//   - when another writer moved the head (iceberg-go's ErrCommitFailed, or the plain "requirement failed ...
//     has changed" error a stale handle gets), the whole reload → find → apply → commit runs again after a
//     jittered backoff. iceberg-go's own retry is left at 0: it replays a commit on a fresh head without
//     re-checking which files the partition already has there.
package iceberg

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/hadoop"
	"github.com/apache/iceberg-go/catalog/rest"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	icebergio "github.com/apache/iceberg-go/io"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // s3:// warehouses
	"github.com/apache/iceberg-go/table"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the PostgreSQL catalog
	_ "modernc.org/sqlite"             // pure-Go SQLite for the embedded catalog

	"github.com/jetflow-dev/jetflow/internal/records"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/storage"
)

const doc = "Writes each partition as Parquet data files of an Iceberg table and commits them in one snapshot whose " +
	"summary carries the jetflow partition id. The catalog is an embedded SQLite file by default, or PostgreSQL, or " +
	"a REST catalog; files go to a local directory or S3. The table is created on the first run with the spec of " +
	"partition_by. A re-run or a racing worker replaces the partition's files in the same snapshot, never adds to them."

func init() {
	stage.RegisterLoader[Config]("iceberg", doc, build)
}

// Snapshot summary properties jetflow writes.
const (
	PropPartitionIDs  = "jetflow.partition-ids"
	PropPartitionKeys = "jetflow.partition-keys"
	PropRunInstance   = "jetflow.run-instance"
	PropPipeline      = "jetflow.pipeline"
	// PropCheckpoint lists the stream partitions of the commit with their lanes and checkpoints, as JSON
	// [{"partition_id": ..., "lane": ..., "checkpoint": ...}], so a stream whose state store was lost resumes
	// from the table.
	PropCheckpoint = "jetflow.checkpoint"
)

var codecs = map[string]string{"zstd": "zstd", "snappy": "snappy", "gzip": "gzip", "lz4": "lz4_raw", "none": "uncompressed"}

// Loader is the built `iceberg` loader. It is safe for concurrent Begin calls.
type Loader struct {
	cfg      Config
	pipeline string
	ident    table.Identifier
	alloc    memory.Allocator
	log      *slog.Logger
	red      *stage.Redactor // receives the REST catalog's OAuth token

	group *grouper              // nil unless commit.max_partitions > 1
	trunc *stage.TruncateMarker // the consumer's truncate rows, when it emits them (truncate.go)

	specOnce  sync.Once // warns once when an existing table's spec is not partition_by
	identOnce sync.Once // warns once when merge's key columns cannot become identifier fields

	mu      sync.Mutex
	cat     catalog.Catalog
	db      *sql.DB // the sql catalog's handle, closed by Close
	checked map[string]bool

	deadOnce     sync.Once
	dead         *deadCache   // merges' deleted positions across commits (deadcache.go)
	merges       atomic.Int64 // merge commits since the last compaction, for merge.compact_every (compactmerge.go)
	mergeDeletes atomic.Int64 // delete files those merges wrote (compactmerge.go)
	// compactDeletes is compactAfterDeleteFiles, lowered by tests.
	compactDeletes int64
	plans          planCache // merges' manifests read so far (plancache.go)
	// snapshots is the table's snapshot count after this loader's last commit, expiredTo what its last expiry
	// left, and expiring is set while an expiry runs: keep_snapshots in the modes other than merge (expireIfDue).
	snapshots atomic.Int64
	expiredTo atomic.Int64
	expiring  atomic.Bool
}

var _ stage.Loader = (*Loader)(nil)

// New builds a loader from a config built in Go, completed by its tags as the registry completes one from a
// pipeline file (a zero field takes its default).
func New(bc stage.BuildContext, cfg *Config) (*Loader, error) { return stage.Build(bc, cfg, construct) }

// construct builds a loader from a complete config and context; the tags checked each key alone.
func construct(bc stage.BuildContext, cfg *Config) (*Loader, error) {
	c := *cfg
	l := &Loader{cfg: c, pipeline: bc.Pipeline, alloc: bc.Alloc, log: bc.Logger, red: bc.Redactor, checked: map[string]bool{},
		compactDeletes: compactAfterDeleteFiles}
	if _, secret, ok := strings.Cut(c.Catalog.Credential.Reveal(), ":"); ok {
		bc.Redactor.Add(secret) // the client secret alone, as a token endpoint may echo it
	}
	var errs []error
	ident, err := parseIdent(c.Table)
	if err != nil {
		errs = append(errs, stage.FieldErrorf("table", "%v", err))
	}
	l.ident = ident
	switch c.Catalog.Type {
	case "sql":
		if c.Catalog.Warehouse == "" {
			errs = append(errs, stage.FieldErrorf("catalog.warehouse", "the sql catalog needs a warehouse: a local directory or s3://bucket/prefix for the tables' files"))
		} else if c.Catalog.URI == "" && isRemote(c.Catalog.Warehouse) {
			errs = append(errs, stage.FieldErrorf("catalog.uri", "an %s warehouse needs the catalog's uri: a SQLite file path or a postgres:// DSN", schemeOf(c.Catalog.Warehouse)))
		}
	case "hadoop":
		if c.Catalog.Warehouse == "" || isRemote(c.Catalog.Warehouse) {
			errs = append(errs, stage.FieldErrorf("catalog.warehouse", "the hadoop catalog needs a local warehouse directory (its commits rely on the file system's atomic create; use the sql catalog for object stores)"))
		}
	case "rest":
		if c.Catalog.URI == "" {
			errs = append(errs, stage.FieldErrorf("catalog.uri", "the rest catalog needs its base URL"))
		}
		if c.Catalog.Token != "" && c.Catalog.Credential != "" {
			errs = append(errs, stage.FieldErrorf("catalog.credential", "give either token or credential, not both"))
		}
	}
	if c.RowGroupSize > c.TargetFileSize {
		errs = append(errs, stage.FieldErrorf("row_group_size", "%s is above target_file_size %s: files are cut at row group boundaries, so they would outgrow the target", c.RowGroupSize, c.TargetFileSize))
	}
	if c.Commit.MaxPartitions > 1 {
		l.group = &grouper{l: l, max: c.Commit.MaxPartitions, interval: c.Commit.MaxInterval.D()}
	}
	exprs, at := joinSplit(c.PartitionBy)
	parsed, parsedAt := make([]partitionExpr, 0, len(exprs)), make([]int, 0, len(exprs))
	for i, expr := range exprs {
		e, err := parsePartitionExpr(expr)
		if err != nil {
			errs = append(errs, stage.FieldErrorf(fmt.Sprintf("partition_by[%d]", at[i]), "%v", err))
			continue
		}
		parsed, parsedAt = append(parsed, e), append(parsedAt, at[i])
	}
	errs = append(errs, redundantPartitions(parsed, parsedAt)...)
	errs = append(errs, checkMergeConfig(&c)...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return l, nil
}

func build(bc stage.BuildContext, cfg *Config) (stage.Loader, error) {
	return construct(bc, cfg)
}

func parseIdent(s string) (table.Identifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("%q has no namespace: write namespace.table, e.g. analytics.orders", s)
	}
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("%q has an empty part: write namespace.table", s)
		}
	}
	return table.Identifier(parts), nil
}

func isRemote(loc string) bool {
	return strings.Contains(loc, "://") && !strings.HasPrefix(loc, "file://")
}

func schemeOf(loc string) string {
	s, _, _ := strings.Cut(loc, "://")
	return s
}

// Ident is the table the loader writes.
func (l *Loader) Ident() table.Identifier { return l.ident }

// warehouse returns the warehouse location as iceberg-go expects it: a file:// URL for a local directory.
func (l *Loader) warehouse() (string, error) {
	w := l.cfg.Catalog.Warehouse
	if w == "" || strings.Contains(w, "://") {
		return strings.TrimSuffix(w, "/"), nil
	}
	abs, err := filepath.Abs(w)
	if err != nil {
		return "", fmt.Errorf("iceberg loader: warehouse %q: %w", w, err)
	}
	return "file://" + abs, nil
}

// ioProps are the FileIO properties for S3 warehouses; secrets are revealed only here, never logged.
func (l *Loader) ioProps() iceberg.Properties {
	p := iceberg.Properties{}
	s := l.cfg.S3
	if s.Endpoint != "" {
		p[icebergio.S3EndpointURL] = s.Endpoint
	}
	p[icebergio.S3Region] = s.Region
	if s.AccessKeyID != "" {
		p[icebergio.S3AccessKeyID] = s.AccessKeyID.Reveal()
		p[icebergio.S3SecretAccessKey] = s.SecretAccessKey.Reveal()
	}
	p[icebergio.S3ForceVirtualAddressing] = strconv.FormatBool(!s.PathStyle)
	return p
}

// Catalog opens the catalog once and returns it; Close releases it.
func (l *Loader) Catalog(ctx context.Context) (catalog.Catalog, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cat != nil {
		return l.cat, nil
	}
	wh, err := l.warehouse()
	if err != nil {
		return nil, err
	}
	props := l.ioProps()
	if wh != "" {
		props["warehouse"] = wh
	}
	switch l.cfg.Catalog.Type {
	case "rest":
		opts := []rest.Option{rest.WithAdditionalProps(props), rest.WithCustomTransport(tokenSpy(l.red))}
		if wh != "" {
			opts = append(opts, rest.WithWarehouseLocation(l.cfg.Catalog.Warehouse))
		}
		if l.cfg.Catalog.Token != "" {
			opts = append(opts, rest.WithOAuthToken(l.cfg.Catalog.Token.Reveal()))
		}
		if l.cfg.Catalog.Credential != "" {
			opts = append(opts, rest.WithCredential(l.cfg.Catalog.Credential.Reveal()))
		}
		if l.cfg.Catalog.Scope != "" {
			opts = append(opts, rest.WithScope(l.cfg.Catalog.Scope))
		}
		if len(l.cfg.Catalog.Headers) > 0 {
			opts = append(opts, rest.WithHeaders(l.cfg.Catalog.Headers))
		}
		cat, err := rest.NewCatalog(ctx, l.cfg.Catalog.Name, l.cfg.Catalog.URI.Reveal(), opts...)
		if err != nil {
			return nil, fmt.Errorf("iceberg loader: connect to the REST catalog at %s: %w", storage.RedactURL(l.cfg.Catalog.URI.Reveal()), err)
		}
		l.cat = cat
	case "hadoop":
		cat, err := hadoop.NewCatalog(l.cfg.Catalog.Name, wh, props)
		if err != nil {
			return nil, fmt.Errorf("iceberg loader: open the hadoop catalog in %s: %w", wh, err)
		}
		l.cat = cat
	default:
		db, dialect, where, err := l.openSQL(wh)
		if err != nil {
			return nil, err
		}
		cat, err := sqlcat.NewCatalog(l.cfg.Catalog.Name, db, dialect, props)
		// NewCatalog creates the catalog's tables if missing; workers starting together race on that, and
		// PostgreSQL lets one CREATE TABLE IF NOT EXISTS fail with a unique violation when another wins.
		for attempt := 0; err != nil && attempt < 5 && creationRace(err); attempt++ {
			if err := sleepBackoff(ctx, attempt, time.Second); err != nil {
				db.Close()
				return nil, err
			}
			cat, err = sqlcat.NewCatalog(l.cfg.Catalog.Name, db, dialect, props)
		}
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("iceberg loader: open the sql catalog in %s: %w", where, err)
		}
		l.cat, l.db = cat, db
	}
	return l.cat, nil
}

// openSQL opens the sql catalog's database: PostgreSQL for a postgres:// URI, else a SQLite file.
func (l *Loader) openSQL(wh string) (*sql.DB, sqlcat.SupportedDialect, string, error) {
	uri := l.cfg.Catalog.URI.Reveal()
	if strings.HasPrefix(uri, "postgres://") || strings.HasPrefix(uri, "postgresql://") {
		db, err := sql.Open("pgx", uri)
		if err != nil {
			return nil, "", "", fmt.Errorf("iceberg loader: open the PostgreSQL catalog at %s: %w", storage.RedactURL(uri), err)
		}
		return db, sqlcat.Postgres, storage.RedactURL(uri), nil
	}
	path := strings.TrimPrefix(strings.TrimPrefix(uri, "sqlite://"), "sqlite:")
	if path == "" {
		path = filepath.Join(strings.TrimPrefix(wh, "file://"), "catalog.db")
	}
	db, err := OpenSQLite(path)
	if err != nil {
		return nil, "", "", err
	}
	return db, sqlcat.SQLite, path, nil
}

// OpenSQLite opens a SQLite catalog file for many processes at once: WAL, and a busy timeout so writers queue.
func OpenSQLite(path string) (*sql.DB, error) {
	if err := mkdirAll(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("iceberg loader: create the directory of the catalog file %s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(30000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("iceberg loader: open the SQLite catalog %s: %w", path, err)
	}
	return db, nil
}

func creationRace(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "SQLSTATE 23505") || strings.Contains(msg, "already exists") || strings.Contains(msg, "database is locked")
}

// Close releases the catalog.
func (l *Loader) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	if c, ok := l.cat.(catalog.Closer); ok {
		errs = append(errs, c.Close())
	}
	if l.db != nil {
		errs = append(errs, l.db.Close())
	}
	l.cat, l.db = nil, nil
	return errors.Join(errs...)
}

// CheckSchema tells whether batches of schema can be written: every column has an Iceberg type and the
// partition spec's columns exist with types their transforms accept.
func (l *Loader) CheckSchema(schema *arrow.Schema) error {
	schema, _ = records.PlainJSONSchema(schema)
	sc, err := icebergSchema(schema)
	if err != nil {
		return err
	}
	_, err = buildSpec(l.cfg.PartitionBy, sc)
	return errors.Join(err, checkMergeSchema(&l.cfg, schema), l.checkTruncateSchema(schema))
}

// icebergSchema converts the input schema, refusing unsigned types whose values Iceberg's signed int and long
// cannot all hold (iceberg-go maps uint32 to int, which overflows).
func icebergSchema(schema *arrow.Schema) (*iceberg.Schema, error) {
	var errs []error
	var walk func(path string, dt arrow.DataType)
	walk = func(path string, dt arrow.DataType) {
		switch t := dt.(type) {
		case *arrow.Uint32Type:
			errs = append(errs, fmt.Errorf("column %q is uint32, which Iceberg's int cannot hold: cast it to int64 first", path))
		case *arrow.Uint64Type:
			errs = append(errs, fmt.Errorf("column %q is uint64, which Iceberg's long cannot hold: cast it to decimal(20,0) (or int64 when values stay below 2^63) first", path))
		case *arrow.TimestampType:
			if t.TimeZone != "" && t.TimeZone != "UTC" && t.TimeZone != "Etc/UTC" && t.TimeZone != "+00:00" {
				errs = append(errs, fmt.Errorf("column %q is %s: Iceberg's timestamptz is stored in UTC; cast it to timestamp[us, UTC] first (the instants stay the same)", path, t))
			}
		case *arrow.Date64Type:
			errs = append(errs, fmt.Errorf("column %q is date64, which Iceberg has no type for: cast it to date32 first", path))
		case *arrow.Time32Type:
			errs = append(errs, fmt.Errorf("column %q is %s, which Iceberg has no type for: cast it to time64[us] first", path, t))
		case *arrow.Time64Type:
			if t.Unit != arrow.Microsecond {
				errs = append(errs, fmt.Errorf("column %q is %s: Iceberg's time is in microseconds; cast it to time64[us] first", path, t))
			}
		case *arrow.DurationType:
			errs = append(errs, fmt.Errorf("column %q is %s, which Iceberg has no type for: cast it to int64 first", path, t))
		case *arrow.Decimal256Type:
			errs = append(errs, fmt.Errorf("column %q is %s: Iceberg decimals hold 38 digits at most; cast it to decimal(38, s) or string first", path, t))
		case *arrow.StringViewType, *arrow.BinaryViewType:
			errs = append(errs, fmt.Errorf("column %q is %s: cast it to string or binary first", path, t))
		case arrow.NestedType:
			for _, f := range t.Fields() {
				walk(path+"."+f.Name, f.Type)
			}
		}
	}
	for _, f := range schema.Fields() {
		walk(f.Name, f.Type)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("iceberg loader: %w", err)
	}
	sc, err := table.ArrowSchemaToIcebergWithFreshIDs(schema, true)
	if err != nil {
		return nil, fmt.Errorf("iceberg loader: the input has no Iceberg schema: %w", err)
	}
	return sc, nil
}

// tableProps are the properties of a table the loader creates.
func (l *Loader) tableProps() iceberg.Properties {
	p := iceberg.Properties{
		table.ParquetCompressionKey:            codecs[l.cfg.Compression],
		table.WriteTargetFileSizeBytesKey:      strconv.FormatInt(int64(l.cfg.TargetFileSize), 10),
		table.ParquetRowGroupSizeBytesKey:      strconv.FormatInt(int64(l.cfg.RowGroupSize), 10),
		table.CommitNumRetriesKey:              "0",
		"format-version":                       "2",
		"write.metadata.previous-versions-max": "100",
	}
	for k, v := range l.cfg.Properties {
		p[k] = v
	}
	return p
}

// LoadTable loads the table as it is, without creating it.
func (l *Loader) LoadTable(ctx context.Context) (*table.Table, error) {
	cat, err := l.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	tbl, err := cat.LoadTable(ctx, l.ident)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return nil, fmt.Errorf("table %s does not exist yet (the first run creates it)", l.cfg.Table)
	}
	if err != nil {
		return nil, fmt.Errorf("load table %s: %w", l.cfg.Table, err)
	}
	return tbl, nil
}

// TableName is the table as the config names it.
func (l *Loader) TableName() string { return l.cfg.Table }

// TargetFileSize is the configured target size of data files.
func (l *Loader) TargetFileSize() int64 { return int64(l.cfg.TargetFileSize) }

// Table loads the table, creating it (and its namespace) from schema when it does not exist, and reconciles
// its schema with schema under the schema_evolution policy (once per loader and schema).
func (l *Loader) Table(ctx context.Context, schema *arrow.Schema) (*table.Table, error) {
	cat, err := l.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	tbl, err := cat.LoadTable(ctx, l.ident)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		tbl, err = l.create(ctx, cat, schema)
	}
	if err != nil {
		return nil, fmt.Errorf("iceberg loader: load table %s: %w", l.cfg.Table, l.s3Context(l.cfg.Catalog.Warehouse, err))
	}
	l.specOnce.Do(func() { l.checkSpec(tbl) })
	key := schemaKey(schema)
	l.mu.Lock()
	done := l.checked[key]
	l.mu.Unlock()
	if done {
		return tbl, nil
	}
	tbl, err = l.evolve(ctx, cat, tbl, schema)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.checked[key] = true
	l.mu.Unlock()
	return tbl, nil
}

func schemaKey(s *arrow.Schema) string {
	h := sha256.Sum256([]byte(s.String()))
	return hex.EncodeToString(h[:8])
}

func (l *Loader) create(ctx context.Context, cat catalog.Catalog, schema *arrow.Schema) (*table.Table, error) {
	sc, err := icebergSchema(schema)
	if err != nil {
		return nil, err
	}
	sc = l.keysRequired(sc)
	spec, err := buildSpec(l.cfg.PartitionBy, sc)
	if err != nil {
		return nil, err
	}
	ns := catalog.NamespaceFromIdent(l.ident)
	if err := cat.CreateNamespace(ctx, ns, nil); err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		// A racing worker may have created it between our check and our create: look before failing.
		if ok, cerr := cat.CheckNamespaceExists(ctx, ns); cerr != nil || !ok {
			return nil, fmt.Errorf("create namespace %s: %w", strings.Join(ns, "."), err)
		}
	}
	tbl, err := cat.CreateTable(ctx, l.ident, sc, catalog.WithPartitionSpec(&spec), catalog.WithProperties(l.tableProps()))
	if errors.Is(err, catalog.ErrTableAlreadyExists) {
		return l.loadCreated(ctx, cat)
	}
	if err != nil {
		return nil, fmt.Errorf("create table: %w", err)
	}
	l.log.Info("iceberg: created table", "table", l.cfg.Table, "location", tbl.Location(), "spec", spec.String())
	return tbl, nil
}

// loadCreated loads a table another worker is creating. A catalog may show the table before it can be loaded:
// the hadoop catalog makes the table's directory, then writes its first metadata file, and in between it refuses
// the create (the table exists) and the load (no metadata yet). So a load that finds no table is tried again for a
// few seconds before it fails.
func (l *Loader) loadCreated(ctx context.Context, cat catalog.Catalog) (*table.Table, error) {
	wait := 10 * time.Millisecond
	deadline := time.Now().Add(5 * time.Second)
	for {
		tbl, err := cat.LoadTable(ctx, l.ident)
		if !errors.Is(err, catalog.ErrNoSuchTable) || time.Now().After(deadline) {
			return tbl, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// checkSpec warns when the table's partition spec is not the one partition_by describes: an existing table keeps
// its spec (Iceberg evolves specs explicitly, not by a config edit).
func (l *Loader) checkSpec(tbl *table.Table) {
	spec := tbl.Spec()
	have := specText(&spec, tbl.Schema())
	want := "(unpartitioned)"
	if desired, err := buildSpec(l.cfg.PartitionBy, tbl.Schema()); err == nil {
		want = specText(&desired, tbl.Schema())
	}
	if have != want {
		l.log.Warn("iceberg: the table keeps its own partition spec; partition_by applies to new tables only",
			"table", l.cfg.Table, "spec", have, "partition_by", want)
	}
}

func specText(spec *iceberg.PartitionSpec, sc *iceberg.Schema) string {
	var parts []string
	for _, f := range spec.Fields() {
		src := "?"
		if sf, ok := sc.FindFieldByID(f.SourceIDs[0]); ok {
			src = sf.Name
		}
		parts = append(parts, fmt.Sprintf("%s(%s)", f.Transform, src))
	}
	if len(parts) == 0 {
		return "(unpartitioned)"
	}
	return strings.Join(parts, ", ")
}

// Begin starts writing partition p: data files are written as batches arrive, so memory stays bounded.
func (l *Loader) Begin(ctx context.Context, schema *arrow.Schema, p stage.Partition) (stage.PartitionWriter, error) {
	if p.ID == "" {
		return nil, errors.New("iceberg loader: the partition has no id (the engine sets Partition.ID)")
	}
	if l.cfg.Mode == "merge" {
		return newMergeWriter(l, schema, p)
	}
	// Iceberg has no JSON type: json columns are written as the strings they hold.
	schema, hasJSON := records.PlainJSONSchema(schema)
	tbl, err := l.Table(ctx, schema)
	if err != nil {
		return nil, classify(err)
	}
	w, err := newPartitionWriter(ctx, l, tbl, schema, p)
	if err != nil {
		return nil, err
	}
	if hasJSON {
		w.plain = schema
	}
	return w, nil
}

// FileTag is the text every data file of the partition id carries in its name: the first 8 bytes of the write
// UUID, formatted as a UUID prints them.
func FileTag(partitionID string) string {
	h := sha256.Sum256([]byte(partitionID))
	x := hex.EncodeToString(h[:8])
	return "-" + x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-"
}

func fileHasTag(path, tag string) bool {
	base := path[strings.LastIndexByte(path, '/')+1:]
	return strings.Contains(base, tag)
}

// s3Context names the S3 bucket and endpoint an error of files at loc (an s3:// location) came from, never the
// keys, and says what to check when the store refused the credentials; errors of other locations pass unchanged.
func (l *Loader) s3Context(loc string, err error) error {
	rest, ok := strings.CutPrefix(loc, "s3://")
	if !ok {
		rest, ok = strings.CutPrefix(loc, "s3a://")
	}
	if err == nil || !ok {
		return classify(err)
	}
	bucket, _, _ := strings.Cut(rest, "/")
	at := "AWS S3 (region " + l.cfg.S3.Region + ")"
	if l.cfg.S3.Endpoint != "" {
		at = storage.RedactURL(l.cfg.S3.Endpoint)
	}
	if storage.CredentialsRefused(err) {
		return stage.Fatal("access denied", "check s3.access_key_id and s3.secret_access_key, and the bucket's policy",
			fmt.Errorf("S3 bucket %q at %s refused the request: %w", bucket, at, err))
	}
	return classify(fmt.Errorf("S3 bucket %q at %s: %w", bucket, at, err))
}
