// Package postgres is the `postgres` consumer: it reads a table or a query from PostgreSQL at the protocol level
// (pgconn, extended protocol, binary result format) and decodes each column's raw bytes by type straight into
// reused Arrow builders, with no allocation per row. Partitions are ranges of an integer or time column; with
// snapshot: export, parallel partitions read one consistent snapshot.
package postgres

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/jetflow-dev/jetflow/consumers/internal/sqlsource"
	"github.com/jetflow-dev/jetflow/internal/cut"
	"github.com/jetflow-dev/jetflow/stage"
)

const doc = "Reads a PostgreSQL table or query into Arrow batches through the binary protocol, decoding each " +
	"value by type straight into Arrow builders. The schema (names, types, NOT NULL) comes from the catalog or the " +
	"query's description. Partitions are ranges of an integer, date or timestamp column; with snapshot: export, " +
	"every partition reads the same consistent snapshot."

// readBufferSize is the socket read buffer of each connection.
const readBufferSize = 256 << 10

func init() {
	stage.RegisterConsumer[Config]("postgres", doc, build)
}

// Consumer reads one table or query. It is safe for concurrent Reads of different partitions.
type Consumer struct {
	cfg    Config
	conn   *pgx.ConnConfig
	where  string // host:port/database, for errors (never the password)
	alloc  memory.Allocator
	log    *slog.Logger
	inf    infinityMode
	tmpl   *template.Template // query mode
	table  pgx.Identifier     // table mode
	ranges []rawRange         // partition.ranges, parsed once the column's type is known

	mu        sync.Mutex
	watermark string  // incremental: the stored watermark the engine resumed from ("" on the first run)
	src       *source // resolved on first use
	snapConn  *pgx.Conn
	snapID    string
}

type rawRange struct{ lo, hi string }

// source is what the catalog says about the table or query.
type source struct {
	schema *arrow.Schema
	types  []*pgType
	names  []string
	sql    string // the SELECT, with $1/$2 where the bounds go
	// literal renders the SELECT with the bounds as quoted literals, for COPY, which takes no parameters.
	literal func(lo, hi string) (string, error)
	attOIDs []uint32 // table mode: each column's pg_attribute.atttypid (a domain's own oid), for change capture
	params  int      // how many bounds the SQL uses: 0 or 2 (table mode); the ones the template used (query mode)
	loFirst bool     // query mode: $1 is Lo (else Hi), when only one is used
	part    partColumn
}

// partColumn is the partition column's kind.
type partColumn struct {
	name string
	kind kind // kInt16/32/64, kDate, kTimestamp, kTimestampTZ
}

var (
	_ stage.Consumer       = (*Consumer)(nil)
	_ stage.DeclaredSchema = (*Consumer)(nil)
)

func build(bc stage.BuildContext, cfg *Config) (stage.Source, error) {
	var errs []error
	c := &Consumer{cfg: *cfg, alloc: bc.Alloc, log: bc.Logger}
	if cfg.DSN == "" {
		errs = append(errs, stage.FieldErrorf("dsn", "is empty: give a connection string, normally from the environment (dsn: ${ORDERS_PG_DSN})"))
	} else if pc, err := pgx.ParseConfig(cfg.DSN.Reveal()); err != nil {
		errs = append(errs, stage.FieldErrorf("dsn", "is not a valid PostgreSQL connection string: %s", redact(err.Error(), cfg.DSN.Reveal())))
	} else {
		// pgproto3 reads the socket 8 KiB at a time; a larger buffer in front of it cuts the read syscalls of a
		// long result about 30-fold, which is most of the client's CPU once decoding is cheap.
		pc.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
			return pgproto3.NewFrontend(bufio.NewReaderSize(r, readBufferSize), w)
		}
		c.conn = pc
		c.where = net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port))) + "/" + pc.Database
	}
	switch {
	case cfg.Table == "" && cfg.Query == "":
		errs = append(errs, stage.FieldErrorf("table", "set table: (schema.table) or query: (a SELECT)"))
	case cfg.Table != "" && cfg.Query != "":
		errs = append(errs, stage.FieldErrorf("query", "set either table: or query:, not both"))
	case cfg.Table != "":
		parts := strings.Split(cfg.Table, ".")
		if len(parts) > 2 || slicesContainsEmpty(parts) {
			errs = append(errs, stage.FieldErrorf("table", "%q is not a table name: write table or schema.table", cfg.Table))
		}
		c.table = pgx.Identifier(parts)
	case cfg.Query != "":
		t, err := template.New("query").Option("missingkey=error").Parse(cfg.Query)
		if err != nil {
			errs = append(errs, stage.FieldErrorf("query", "template: %v", err))
		}
		c.tmpl = t
		if len(cfg.Columns) > 0 {
			errs = append(errs, stage.FieldErrorf("columns", "applies to table:; with query:, list the columns in the SELECT"))
		}
	}
	for i, col := range cfg.Columns {
		if col == "" {
			errs = append(errs, stage.FieldErrorf(fmt.Sprintf("columns[%d]", i), "is empty"))
		}
	}
	switch cfg.Infinity { // the enum tag admits nothing else
	case "error":
		c.inf = infError
	case "null":
		c.inf = infNull
	case "clamp":
		c.inf = infClamp
	}
	errs = append(errs, c.checkPartition()...)
	if cfg.Incremental.Column != "" {
		if cfg.Partition.Column != "" || cfg.Partition.By != "" {
			errs = append(errs, stage.FieldErrorf("incremental.column", "cannot be combined with partition: an incremental run reads one range [watermark, high)"))
		}
		if cfg.Table == "" {
			errs = append(errs, stage.FieldErrorf("incremental.column", "needs table: (the high mark is read from the table)"))
		}
	}
	if cfg.CDC != nil {
		errs = append(errs, c.checkCDC()...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.CDC != nil {
		return newCDC(bc, c), nil
	}
	return c, nil
}

func slicesContainsEmpty(s []string) bool {
	for _, x := range s {
		if x == "" {
			return true
		}
	}
	return false
}

func (c *Consumer) checkPartition() []error {
	p := c.cfg.Partition
	if p.By == byCTID {
		return c.checkCTID()
	}
	errs := cut.Check(p.Column, p.Every.D(), p.Step, p.Count, len(p.Ranges))
	if p.Column == "" {
		return errs
	}
	for i, r := range p.Ranges {
		if len(r) != 2 {
			errs = append(errs, stage.FieldErrorf(fmt.Sprintf("partition.ranges[%d]", i), "want [lo, hi], got %d values", len(r)))
			continue
		}
		c.ranges = append(c.ranges, rawRange{r[0], r[1]})
	}
	return errs
}

// redact removes a secret from a message from a library, in case it quoted it.
func redact(msg, secret string) string {
	if secret == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, secret, "[redacted]")
	if u, err := parseURLPassword(secret); err == nil && u != "" {
		msg = strings.ReplaceAll(msg, u, "[redacted]")
	}
	return msg
}

// parseURLPassword extracts the password of a URL or key=value DSN, to scrub it from messages.
func parseURLPassword(dsn string) (string, error) {
	if pc, err := pgconn.ParseConfig(dsn); err == nil {
		return pc.Password, nil
	}
	return "", errors.New("unparsable")
}

// DeclaredSchema implements stage.DeclaredSchema: the schema is only known at the source.
func (c *Consumer) DeclaredSchema() (*arrow.Schema, bool, error) { return nil, false, nil }

// Schema is inferred from the source: the table's columns from the catalog (NOT NULL makes a field
// non-nullable), or the query's result description (every field nullable).
func (c *Consumer) Schema(ctx context.Context) (*arrow.Schema, error) {
	src, err := c.source(ctx)
	if err != nil {
		return nil, err
	}
	return src.schema, nil
}

// connect opens a connection; errors name host:port/database, never the password.
func (c *Consumer) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, c.conn.Copy())
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("postgres: connect to %s: %w", c.where, ctx.Err())
		}
		return nil, classify(err, fmt.Errorf("postgres: connect to %s: %s: %w", c.where, redact(err.Error(), c.cfg.DSN.Reveal()), errRedacted))
	}
	return conn, nil
}

// errRedacted stands in for a driver error whose text was scrubbed of the password.
var errRedacted = errors.New("check the host, port, database, user and password in dsn")

// sourceErr wraps an error from the server with where it happened, scrubbed of the password.
func (c *Consumer) sourceErr(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("postgres: %s on %s: %w", what, c.where, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return classify(err, fmt.Errorf("postgres: %s on %s: %w", what, c.where, err))
	}
	return fmt.Errorf("postgres: %s on %s: %s", what, c.where, redact(err.Error(), c.cfg.DSN.Reveal()))
}

// source resolves the table or query once.
func (c *Consumer) source(ctx context.Context) (*source, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.src != nil {
		return c.src, nil
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer closeConn(conn)
	var src *source
	if c.tmpl != nil {
		src, err = c.querySource(ctx, conn)
	} else {
		src, err = c.tableSource(ctx, conn)
	}
	if err != nil {
		return nil, err
	}
	c.src = src
	return src, nil
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

func (c *Consumer) tableSource(ctx context.Context, conn *pgx.Conn) (*source, error) {
	name := c.table.Sanitize()
	var relid uint32
	if err := conn.QueryRow(ctx, `SELECT to_regclass($1)::oid`, name).Scan(&relid); err != nil {
		if errors.Is(err, pgx.ErrNoRows) || strings.Contains(err.Error(), "cannot scan NULL") {
			return nil, stage.FieldErrorf("table", "no table or view %s on %s (names are case-sensitive as written; is the schema right?)", name, c.where)
		}
		return nil, c.sourceErr("look up table "+name, err)
	}
	rows, err := conn.Query(ctx, `SELECT a.attname::text, a.atttypid, a.atttypmod, a.attnotnull FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, relid)
	if err != nil {
		return nil, c.sourceErr("columns of "+name, err)
	}
	type att struct {
		name    string
		oid     uint32
		typmod  int32
		notNull bool
	}
	var atts []att
	byName := map[string]int{}
	for rows.Next() {
		var a att
		if err := rows.Scan(&a.name, &a.oid, &a.typmod, &a.notNull); err != nil {
			rows.Close()
			return nil, c.sourceErr("columns of "+name, err)
		}
		byName[a.name] = len(atts)
		atts = append(atts, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, c.sourceErr("columns of "+name, err)
	}
	pick := make([]int, 0, len(atts))
	if len(c.cfg.Columns) == 0 {
		for i := range atts {
			pick = append(pick, i)
		}
	}
	var errs []error
	for i, col := range c.cfg.Columns {
		j, ok := byName[col]
		if !ok {
			errs = append(errs, stage.FieldErrorf(fmt.Sprintf("columns[%d]", i), "no column %q in %s", col, name))
			continue
		}
		pick = append(pick, j)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	res := &resolver{conn: conn}
	src := &source{}
	fields := make([]arrow.Field, len(pick))
	sel := make([]string, len(pick))
	for k, i := range pick {
		a := atts[i]
		t, err := res.resolve(ctx, a.name, a.oid, a.typmod, 0)
		if err != nil {
			return nil, fmt.Errorf("postgres: table %s on %s: %w", name, c.where, err)
		}
		src.types = append(src.types, t)
		src.names = append(src.names, a.name)
		src.attOIDs = append(src.attOIDs, a.oid)
		fields[k] = arrow.Field{Name: a.name, Type: t.dt, Nullable: !a.notNull}
		sel[k] = pgx.Identifier{a.name}.Sanitize()
	}
	src.schema = arrow.NewSchema(fields, nil)
	src.sql = "SELECT " + strings.Join(sel, ", ") + " FROM " + name
	if pc := c.rangeColumn(); pc != "" {
		if c.cfg.Partition.By == byCTID {
			if err := c.checkCTIDTable(ctx, conn, relid); err != nil {
				return nil, err
			}
			src.part = partColumn{name: pc, kind: kTID}
		} else {
			i, ok := byName[pc]
			if !ok {
				return nil, stage.FieldErrorf(c.rangeKey(), "no column %q in %s", pc, name)
			}
			k, err := partKind(ctx, pc, atts[i].oid, res)
			if err != nil {
				return nil, err
			}
			src.part = partColumn{name: pc, kind: k}
		}
		col := pgx.Identifier{pc}.Sanitize()
		base := src.sql
		src.sql = base + " WHERE " + col + " >= $1 AND " + col + " < $2"
		src.literal = func(lo, hi string) (string, error) {
			return base + " WHERE " + col + " >= " + lo + " AND " + col + " < " + hi, nil
		}
		src.params = 2
		src.loFirst = true
	}
	return src, nil
}

// partKind checks that the partition column is an integer or a time (domains of them too).
func partKind(ctx context.Context, col string, oid uint32, res *resolver) (kind, error) {
	t, err := res.resolve(ctx, col, oid, -1, 0)
	if err != nil {
		return 0, stage.FieldErrorf("partition.column", "%v", err)
	}
	switch t.kind {
	case kInt16, kInt32, kInt64, kDate, kTimestamp, kTimestampTZ:
		return t.kind, nil
	}
	return 0, stage.FieldErrorf("partition.column", "column %q is %s; a partition column is an integer, date, timestamp or timestamptz", col, t.name)
}

func (c *Consumer) querySource(ctx context.Context, conn *pgx.Conn) (*source, error) {
	// Each bound the query uses becomes a bind parameter, numbered in the order the query first uses them.
	n, lo, hi := 0, 0, 0
	param := func(i *int) func() string {
		return func() string {
			if *i == 0 {
				n++
				*i = n
			}
			return "$" + strconv.Itoa(*i)
		}
	}
	sql, err := sqlsource.Render(c.tmpl, param(&lo), param(&hi))
	if err != nil {
		return nil, err
	}
	src := &source{sql: sql, params: n, loFirst: lo == 1}
	src.literal = func(lo, hi string) (string, error) {
		return sqlsource.Render(c.tmpl, func() string { return lo }, func() string { return hi })
	}
	if err := sqlsource.CheckBoundsUsed(n > 0, c.cfg.Partition.Column); err != nil {
		return nil, err
	}
	sd, err := conn.PgConn().Prepare(ctx, "", src.sql, nil)
	if err != nil {
		return nil, stage.FieldErrorf("query", "%s", c.sourceErr("prepare the query", err))
	}
	res := &resolver{conn: conn}
	fields := make([]arrow.Field, len(sd.Fields))
	for i, f := range sd.Fields {
		t, err := res.resolve(ctx, f.Name, f.DataTypeOID, f.TypeModifier, 0)
		if err != nil {
			return nil, fmt.Errorf("postgres: query on %s: %w", c.where, err)
		}
		src.types = append(src.types, t)
		src.names = append(src.names, f.Name)
		fields[i] = arrow.Field{Name: f.Name, Type: t.dt, Nullable: true}
	}
	src.schema = arrow.NewSchema(fields, nil)
	if pc := c.cfg.Partition.Column; pc != "" {
		// The bounds' type is the one the server inferred for the placeholders.
		k, err := partKind(ctx, pc, sd.ParamOIDs[0], res)
		if err != nil {
			return nil, err
		}
		src.part = partColumn{name: pc, kind: k}
	}
	return src, nil
}

// Close ends the exported snapshot's transaction, if any. The CLI calls it at the end of a run.
func (c *Consumer) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snapConn != nil {
		closeConn(c.snapConn)
		c.snapConn, c.snapID = nil, ""
	}
	return nil
}

// snapshot returns the exported snapshot's id, exporting it on first use. The exporting transaction stays open
// until Close: an exported snapshot can only be imported while its transaction lives.
func (c *Consumer) snapshot(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snapID != "" {
		return c.snapID, nil
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return "", err
	}
	// The snapshot must outlive ctx, which may be one partition's: export it on a connection of its own.
	if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		closeConn(conn)
		return "", c.sourceErr("begin the snapshot transaction", err)
	}
	var id string
	if err := conn.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&id); err != nil {
		closeConn(conn)
		return "", c.sourceErr("export a snapshot (pg_export_snapshot)", err)
	}
	c.snapConn, c.snapID = conn, id
	c.log.Debug("postgres: exported snapshot", "where", c.where, "snapshot", id)
	return id, nil
}

// begin starts the read transaction in the exported snapshot when snapshot: export.
func (c *Consumer) begin(ctx context.Context, conn *pgx.Conn) error {
	if c.cfg.Snapshot != "export" {
		return nil
	}
	id, err := c.snapshot(ctx)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return c.sourceErr("begin a read transaction", err)
	}
	// The id comes from the server; quote it as a literal all the same.
	if _, err := conn.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+strings.ReplaceAll(id, "'", "''")+"'"); err != nil {
		return c.sourceErr("import snapshot "+id+" (is the exporting transaction still open?)", err)
	}
	return nil
}

// Read streams the partition's rows in batches of batch_rows. Values are read in binary and decoded by type into
// builders that are reused from batch to batch; nothing is allocated per row.
func (c *Consumer) Read(ctx context.Context, p stage.Partition, out func(arrow.RecordBatch) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: partition %s: %w", p.Key, err)
	}
	src, err := c.source(ctx)
	if err != nil {
		return err
	}
	params, err := c.params(src, p)
	if err != nil {
		return err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return fmt.Errorf("%w (partition %s)", err, p.Key)
	}
	defer func() {
		// A connection left mid-result (an error, out failed, ctx cancelled) is closed, not drained.
		_ = conn.PgConn().Conn().Close()
		closeConn(conn)
	}()
	if err := c.begin(ctx, conn); err != nil {
		return fmt.Errorf("%w (partition %s)", err, p.Key)
	}

	started := time.Now()
	bt := newBatcher(c.alloc, src, c.inf, c.cfg.BatchRows, out)
	defer bt.release()
	var readErr error
	if c.cfg.ReadMode == "copy" {
		readErr = c.readCopy(ctx, conn, src, p, bt)
	} else {
		readErr = c.readExtended(ctx, conn, src, params, p, bt)
	}
	if readErr != nil {
		if err, ok := sqlsource.Stopped(ctx, "postgres", p.Key, bt.rows(), readErr); ok {
			return err
		}
		if errors.As(readErr, new(*decodeError)) {
			return stage.Permanent(readErr) // the same rows would not fit the second time either
		}
		return c.sourceErr(sqlsource.ReadFailed(p.Key, bt.rows()), readErr)
	}
	if err := bt.flush(); err != nil {
		return err
	}
	c.log.Debug("postgres: partition read", "where", c.where, "partition", p.Key, "rows", bt.total,
		"mode", c.cfg.ReadMode, "took", time.Since(started))
	return nil
}

// decodeError is a value the Arrow type cannot hold (or one the server sent malformed); its text names the
// partition, row, column and value.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// batcher decodes rows into reused builders and emits a batch every batchRows rows.
type batcher struct {
	schema    *arrow.Schema
	decs      []*decoder
	arrs      []arrow.Array
	batchRows int
	n         int   // rows in the builders
	total     int64 // rows emitted
	out       func(arrow.RecordBatch) error
}

func newBatcher(mem memory.Allocator, src *source, inf infinityMode, batchRows int, out func(arrow.RecordBatch) error) *batcher {
	bt := &batcher{schema: src.schema, batchRows: batchRows, out: out, arrs: make([]arrow.Array, len(src.types))}
	for i, t := range src.types {
		d := newDecoder(mem, src.names[i], t, inf)
		d.top = true
		d.b.Reserve(batchRows)
		bt.decs = append(bt.decs, d)
	}
	return bt
}

func (bt *batcher) rows() int64 { return bt.total + int64(bt.n) }

func (bt *batcher) release() {
	for _, d := range bt.decs {
		d.b.Release()
	}
}

// row decodes one row's binary values (nil is NULL) and emits a batch when it is full.
func (bt *batcher) row(ctx context.Context, p stage.Partition, vals [][]byte) error {
	if len(vals) != len(bt.decs) {
		return &decodeError{fmt.Errorf("postgres: partition %s, row %d: %d values, want %d", p.Key, bt.rows(), len(vals), len(bt.decs))}
	}
	for i, v := range vals {
		if v == nil {
			bt.decs[i].b.AppendNull()
			continue
		}
		if err := bt.decs[i].decode(v); err != nil {
			return &decodeError{fmt.Errorf("postgres: partition %s, row %d: %w", p.Key, bt.rows(), err)}
		}
	}
	return bt.endRow(ctx)
}

// endRow counts a decoded row and emits a batch when it is full.
func (bt *batcher) endRow(ctx context.Context) error {
	bt.n++
	if bt.n == bt.batchRows {
		if err := bt.flush(); err != nil {
			return &sqlsource.OutError{Err: err}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// flush emits the rows in the builders as one batch, if any.
func (bt *batcher) flush() error {
	if bt.n == 0 {
		return nil
	}
	for i, d := range bt.decs {
		if d.bin != nil {
			d.lastData = d.bin.DataLen()
		}
		bt.arrs[i] = d.b.NewArray()
	}
	rows := bt.n
	bt.total += int64(bt.n)
	bt.n = 0
	if err := sqlsource.Emit(bt.schema, bt.arrs, rows, bt.out); err != nil {
		return err
	}
	for _, d := range bt.decs {
		d.b.Reserve(bt.batchRows)
		if d.bin != nil {
			// The next batch likely holds as many bytes: one allocation instead of a series of doublings.
			d.bin.ReserveData(d.lastData)
		}
	}
	return nil
}

// params renders the partition's bounds as text parameters in the order the SQL numbers them.
func (c *Consumer) params(src *source, p stage.Partition) ([][]byte, error) {
	if src.params == 0 {
		return nil, nil
	}
	lo, err := formatBound(src.part.kind, p.Lo)
	if err != nil {
		return nil, fmt.Errorf("postgres: partition %s: lower bound: %w; was it planned with a different config?", p.Key, err)
	}
	hi, err := formatBound(src.part.kind, p.Hi)
	if err != nil {
		return nil, fmt.Errorf("postgres: partition %s: upper bound: %w; was it planned with a different config?", p.Key, err)
	}
	switch {
	case src.params == 2 && src.loFirst:
		return [][]byte{lo, hi}, nil
	case src.params == 2:
		return [][]byte{hi, lo}, nil
	case src.loFirst:
		return [][]byte{lo}, nil
	}
	return [][]byte{hi}, nil
}

// formatBound writes a bound in the text form the column's type reads, so the server compares it in the
// column's own type (and can use its index).
func formatBound(k kind, v any) ([]byte, error) {
	switch k {
	case kInt16, kInt32, kInt64:
		i, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("%v is not an integer", v)
		}
		return strconv.AppendInt(nil, i, 10), nil
	case kTID:
		page, ok := v.(int64)
		if !ok || page < 0 || page > maxPage {
			return nil, fmt.Errorf("%v is not a page number", v)
		}
		return fmt.Appendf(nil, "(%d,0)", page), nil
	case kDate, kTimestamp, kTimestampTZ:
		t, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("%v is not a time", v)
		}
		t = t.UTC()
		switch k {
		case kDate:
			return t.AppendFormat(nil, "2006-01-02"), nil
		case kTimestamp:
			return t.AppendFormat(nil, "2006-01-02 15:04:05.999999"), nil
		}
		return t.AppendFormat(nil, "2006-01-02 15:04:05.999999Z07:00"), nil
	}
	return nil, fmt.Errorf("no partition column")
}
