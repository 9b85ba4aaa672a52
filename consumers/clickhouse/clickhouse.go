// Package clickhouse is the `clickhouse` consumer: it reads a table or a query from ClickHouse over the native
// protocol with ch-go and decodes each Native block column by column straight into Arrow buffers (see
// convert.go): one block is one Arrow batch. The schema comes from the result's header block; partitions are
// windows of a time column or ranges of an integer column.
package clickhouse

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/ClickHouse/ch-go"
	"github.com/ClickHouse/ch-go/proto"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/consumers/internal/sqlsource"
	"github.com/jetflow-dev/jetflow/internal/cut"
	"github.com/jetflow-dev/jetflow/stage"
)

const doc = "Reads a ClickHouse table or query over the native protocol (ch-go) and decodes each Native block " +
	"column by column straight into Arrow buffers, one batch per block. The schema comes from the result's " +
	"header. Partitions are windows of a Date/DateTime column or ranges of an integer column."

func init() {
	stage.RegisterConsumer[Config]("clickhouse", doc, build)
}

// Consumer reads one table or query. It is safe for concurrent Reads of different partitions.
type Consumer struct {
	cfg      Config
	alloc    memory.Allocator
	log      *slog.Logger
	tls      *tls.Config
	comp     ch.Compression
	db, name string             // table mode
	tmpl     *template.Template // query mode
	settings string             // " SETTINGS k = v, ..." appended to every query

	mu  sync.Mutex
	src *source

	// server is what the last connection's handshake said of the server: queryErr names its version when it
	// is too old for ch-go.
	server atomic.Pointer[proto.ServerHello]
}

// source is what the server says about the table or query.
type source struct {
	schema *arrow.Schema
	body   string   // table mode: SELECT ... FROM ...; its WHERE is added per partition
	part   partKind // the partition column's kind
	ptype  string   // the partition column's ClickHouse type
}

type partKind int

const (
	partNone partKind = iota
	partInt
	partDate   // Date, Date32
	partTime   // DateTime
	partTime64 // DateTime64
	partParts  // the table's own partitions, by _partition_id
)

var (
	_ stage.Consumer       = (*Consumer)(nil)
	_ stage.DeclaredSchema = (*Consumer)(nil)
)

// autoCompression is what compression: auto picks for addr, without a DNS lookup: none when the server is on
// this machine (localhost or a loopback address), where compressing blocks costs the server and the consumer CPU
// and saves no network, and lz4 otherwise. clickhouse-client decides its default the same way.
func autoCompression(addr string) ch.Compression {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ch.CompressionLZ4
	}
	if strings.EqualFold(host, "localhost") {
		return ch.CompressionDisabled
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return ch.CompressionDisabled
	}
	return ch.CompressionLZ4
}

var (
	settingName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	trailingClause = regexp.MustCompile(`(?is)(\bFORMAT\s+\w+|\bSETTINGS\s+\w+\s*=[^()]*)\s*;?\s*$`)
)

func build(bc stage.BuildContext, cfg *Config) (stage.Source, error) {
	var errs []error
	c := &Consumer{cfg: *cfg, alloc: bc.Alloc, log: bc.Logger}
	if cfg.Addr == "" {
		errs = append(errs, stage.FieldErrorf("addr", "is empty: give host:port of the native protocol (9000)"))
	} else if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		errs = append(errs, stage.FieldErrorf("addr", "%q is not host:port (the native protocol's port, 9000 or 9440 with TLS)", cfg.Addr))
	}
	switch cfg.Compression { // the enum tag admits nothing else
	case "auto", "": // "" only from Go callers that skip the YAML defaults
		c.comp = autoCompression(cfg.Addr)
	case "lz4":
		c.comp = ch.CompressionLZ4
	case "zstd":
		c.comp = ch.CompressionZSTD
	case "none":
		c.comp = ch.CompressionDisabled
	}
	if cfg.TLS.Enabled {
		t, err := tlsConfig(cfg.TLS, cfg.Addr)
		if err != nil {
			errs = append(errs, err)
		}
		c.tls = t
	} else if cfg.TLS.CAFile != "" || cfg.TLS.ServerName != "" || cfg.TLS.InsecureSkipVerify {
		errs = append(errs, stage.FieldErrorf("tls.enabled", "is false, but other tls keys are set: set enabled: true"))
	}
	switch {
	case cfg.Table == "" && cfg.Query == "":
		errs = append(errs, stage.FieldErrorf("table", "set table: (name or database.name) or query: (a SELECT)"))
	case cfg.Table != "" && cfg.Query != "":
		errs = append(errs, stage.FieldErrorf("query", "set either table: or query:, not both"))
	case cfg.Table != "":
		c.db, c.name = c.cfg.Database, cfg.Table
		if db, name, ok := strings.Cut(cfg.Table, "."); ok {
			c.db, c.name = db, name
		}
		if c.db == "" || c.name == "" || strings.Contains(c.name, ".") {
			errs = append(errs, stage.FieldErrorf("table", "%q is not a table name: write name or database.name", cfg.Table))
		}
	case cfg.Query != "":
		t, err := template.New("query").Option("missingkey=error").Parse(cfg.Query)
		if err != nil {
			errs = append(errs, stage.FieldErrorf("query", "template: %v", err))
		}
		c.tmpl = t
		if len(cfg.Columns) > 0 {
			errs = append(errs, stage.FieldErrorf("columns", "applies to table:; with query:, list the columns in the SELECT"))
		}
		if trailingClause.MatchString(cfg.Query) {
			errs = append(errs, stage.FieldErrorf("query", "ends with FORMAT or SETTINGS: leave them out (the consumer reads the Native format; settings go in settings:)"))
		}
	}
	for i, col := range cfg.Columns {
		if col == "" {
			errs = append(errs, stage.FieldErrorf(fmt.Sprintf("columns[%d]", i), "is empty"))
		}
	}
	settings, err := settingsClause(cfg.Settings, cfg.BlockRows)
	if err != nil {
		errs = append(errs, err)
	}
	c.settings = settings
	errs = append(errs, c.checkPartition()...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

func tlsConfig(cfg TLSConfig, addr string) (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(addr)
	t := &tls.Config{ServerName: host, InsecureSkipVerify: cfg.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if cfg.ServerName != "" {
		t.ServerName = cfg.ServerName
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, stage.FieldErrorf("tls.ca_file", "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, stage.FieldErrorf("tls.ca_file", "%s holds no PEM certificate", cfg.CAFile)
		}
		t.RootCAs = pool
	}
	return t, nil
}

// settingsClause renders settings (and max_block_size) as a SETTINGS clause, names checked and values quoted.
func settingsClause(settings map[string]string, blockRows int) (string, error) {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{}
	if _, ok := settings["max_block_size"]; !ok && blockRows > 0 {
		parts = append(parts, "max_block_size = "+strconv.Itoa(blockRows))
	}
	var errs []error
	for _, k := range keys {
		if !settingName.MatchString(k) {
			errs = append(errs, stage.FieldErrorf("settings."+k, "%q is not a setting name", k))
			continue
		}
		parts = append(parts, k+" = "+settingValue(settings[k]))
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	return " SETTINGS " + strings.Join(parts, ", "), nil
}

// settingValue writes a number as is and anything else as a quoted string.
func settingValue(v string) string {
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return v
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil && !strings.ContainsAny(v, "xXnN") {
		return v
	}
	return quoteString(v)
}

// quoteString writes a ClickHouse string literal.
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// quoteIdent writes a ClickHouse identifier in backquotes, so any name is read as a name.
func quoteIdent(s string) string {
	return "`" + strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(s) + "`"
}

func (c *Consumer) checkPartition() []error {
	p := c.cfg.Partition
	if p.Parts {
		var errs []error
		if p.Column != "" || p.Every > 0 || p.Step > 0 || p.Count > 0 {
			errs = append(errs, stage.FieldErrorf("partition.parts", "cannot be combined with column, every, step or count"))
		}
		if c.cfg.Table == "" {
			errs = append(errs, stage.FieldErrorf("partition.parts", "needs table: (a MergeTree table)"))
		}
		return errs
	}
	errs := cut.Check(p.Column, p.Every.D(), p.Step, p.Count, -1)
	if p.Column != "" && c.cfg.Query != "" && p.Step > 0 {
		errs = append(errs, stage.FieldErrorf("partition.step", "needs the column's min and max from table:; with query:, partition a time column by every or count"))
	}
	return errs
}

// DeclaredSchema implements stage.DeclaredSchema: the schema is only known at the source.
func (c *Consumer) DeclaredSchema() (*arrow.Schema, bool, error) { return nil, false, nil }

// Schema is the result's header: the table's (or selected) columns, or the query's.
func (c *Consumer) Schema(ctx context.Context) (*arrow.Schema, error) {
	src, err := c.source(ctx)
	if err != nil {
		return nil, err
	}
	return src.schema, nil
}

// errAuth is the hint for a failed login.
var errAuth = errors.New("check user and password (and that the user may log in from this host)")

// dial opens a connection; errors name the address and user, never the password.
func (c *Consumer) dial(ctx context.Context) (*ch.Client, error) {
	client, err := ch.Dial(ctx, ch.Options{
		Address:     c.cfg.Addr,
		Database:    c.cfg.Database,
		User:        c.cfg.User,
		Password:    c.cfg.Password.Reveal(),
		Compression: c.comp,
		ClientName:  "jetflow",
		TLS:         c.tls,
		DialTimeout: c.cfg.DialTimeout.D(),
		ReadTimeout: c.readTimeout(),
	})
	if err == nil {
		hello := client.ServerInfo()
		c.server.Store(&hello)
		return client, nil
	}
	where := fmt.Sprintf("clickhouse: connect to %s as %s", c.cfg.Addr, c.cfg.User)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: %w", where, ctx.Err())
	}
	if ex, ok := ch.AsException(err); ok {
		if ex.IsCode(proto.ErrAuthenticationFailed, proto.ErrWrongPassword, proto.ErrUnknownUser, proto.ErrRequiredPassword) {
			return nil, classify(err, fmt.Errorf("%s: %s: %w", where, c.redact(ex.Message), errAuth))
		}
		if ex.IsCode(proto.ErrUnknownDatabase) {
			return nil, classify(err, stage.FieldErrorf("database", "%s: %s", where, c.redact(ex.Message)))
		}
		return nil, classify(err, fmt.Errorf("%s: %s (%s)", where, c.redact(ex.Message), ex.Code))
	}
	return nil, fmt.Errorf("%s: %s (is the server up, and addr its native port, 9000, not the HTTP port 8123?)", where, c.redact(err.Error()))
}

func (c *Consumer) readTimeout() time.Duration {
	if c.cfg.ReadTimeout == 0 {
		return 5 * time.Minute
	}
	return c.cfg.ReadTimeout.D()
}

// redact removes the password from a message from a library or the server, in case it quoted it.
func (c *Consumer) redact(msg string) string {
	if pw := c.cfg.Password.Reveal(); pw != "" {
		return strings.ReplaceAll(msg, pw, "[redacted]")
	}
	return msg
}

// queryErr wraps an error of a query with what was being done; the server's exception keeps its code.
func (c *Consumer) queryErr(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("clickhouse: %s on %s: %w", what, c.cfg.Addr, err)
	}
	var ce *columnError
	if errors.As(err, &ce) { // without ch-go's "decode block: raw block: target:" chain
		return fmt.Errorf("clickhouse: %s on %s: %w", what, c.cfg.Addr, ce)
	}
	if ex, ok := ch.AsException(err); ok {
		return classify(err, fmt.Errorf("clickhouse: %s on %s: server error %s: %s%s", what, c.cfg.Addr, ex.Code, c.redact(firstLine(ex.Message)),
			tooOldHint(ex, c.server.Load())))
	}
	return fmt.Errorf("clickhouse: %s on %s: %s", what, c.cfg.Addr, c.redact(err.Error()))
}

// minRevision is the oldest native protocol revision whose queries ch-go encodes so that the server reads them:
// ch-go sends a query's client-info block only from revision 54420 (proto.FeatureClientWriteInfo, ClickHouse
// 19.9), while servers read it from 54032 on; an older server takes the block's bytes for the query's settings.
const minRevision = int(proto.FeatureClientWriteInfo)

// tooOldHint explains the UNKNOWN_SETTING that every query gets from a server older than minRevision (such as
// 18.16, revision 54412: "Unknown setting P", a byte of the misread block): no setting is wrong, the server is
// too old. It is "" for other errors, and for a real unknown setting (a typo in settings:) on a newer server.
func tooOldHint(ex *ch.Exception, server *proto.ServerHello) string {
	if !ex.IsCode(proto.ErrUnknownSetting) || server == nil || server.Revision >= minRevision {
		return ""
	}
	return fmt.Sprintf(" (not a setting of the pipeline: the server, %s %d.%d.%d, speaks native protocol revision %d, "+
		"older than revision %d, which jetflow's ClickHouse client (ch-go) needs, and misreads its queries; upgrade the server to "+
		"ClickHouse 19.9 or later, see consumers/clickhouse/README.md, Server versions)",
		server.Name, server.Major, server.Minor, server.Patch, server.Revision, minRevision)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// source resolves the table or query once: its columns from a LIMIT 0 read of the real SELECT's header.
func (c *Consumer) source(ctx context.Context) (*source, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.src != nil {
		return c.src, nil
	}
	client, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	src := &source{}
	var probe string
	if c.tmpl != nil {
		if c.cfg.Partition.Column != "" {
			src.part = partTime
		}
		// Any bounds do for the header: the partition's only change the WHERE.
		now := time.Now().UTC().Truncate(24 * time.Hour)
		body, used, err := c.render(stage.Partition{Lo: now, Hi: now.Add(time.Hour)}, src.part)
		if err != nil {
			return nil, err
		}
		if err := sqlsource.CheckBoundsUsed(used, c.cfg.Partition.Column); err != nil {
			return nil, err
		}
		probe = "SELECT * FROM (" + body + ") LIMIT 0"
	} else {
		cols, err := c.tableColumns(ctx, client)
		if err != nil {
			return nil, err
		}
		sel := make([]string, 0, len(c.cfg.Columns))
		if len(c.cfg.Columns) == 0 {
			sel = append(sel, "*")
		}
		var errs []error
		for i, col := range c.cfg.Columns {
			if _, ok := cols[col]; !ok {
				errs = append(errs, stage.FieldErrorf(fmt.Sprintf("columns[%d]", i), "no column %q in %s.%s", col, c.db, c.name))
			}
			sel = append(sel, quoteIdent(col))
		}
		if pc := c.cfg.Partition.Column; pc != "" {
			typ, ok := cols[pc]
			if !ok {
				errs = append(errs, stage.FieldErrorf("partition.column", "no column %q in %s.%s", pc, c.db, c.name))
			} else if src.part, err = partitionKind(pc, typ); err != nil {
				errs = append(errs, err)
			}
			src.ptype = typ
		}
		if c.cfg.Partition.Parts {
			src.part = partParts
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		src.body = "SELECT " + strings.Join(sel, ", ") + " FROM " + quoteIdent(c.db) + "." + quoteIdent(c.name)
		probe = src.body + " LIMIT 0"
	}
	res := newBlockResult(c.alloc)
	defer res.release()
	if err := client.Do(ctx, ch.Query{Body: probe + c.settings, Result: res, OnResult: func(context.Context, proto.Block) error { return nil }}); err != nil {
		if c.tmpl != nil {
			return nil, stage.FieldErrorf("query", "%s", c.queryErr("read the query's columns", err))
		}
		return nil, c.queryErr("read the columns of "+c.db+"."+c.name, err)
	}
	if res.schema == nil {
		return nil, fmt.Errorf("clickhouse: the server sent no header for %s", probe)
	}
	src.schema = res.schema
	c.src = src
	return src, nil
}

// tableColumns looks the table up in system.columns: its columns and their types. A missing table is a
// config error on table:.
func (c *Consumer) tableColumns(ctx context.Context, client *ch.Client) (map[string]string, error) {
	var names, types proto.ColStr
	cols := map[string]string{}
	q := "SELECT name, type FROM system.columns WHERE database = " + quoteString(c.db) + " AND table = " + quoteString(c.name)
	err := client.Do(ctx, ch.Query{Body: q, Result: proto.Results{{Name: "name", Data: &names}, {Name: "type", Data: &types}},
		OnResult: func(context.Context, proto.Block) error {
			for i := 0; i < names.Rows(); i++ {
				cols[names.Row(i)] = types.Row(i)
			}
			return nil
		}})
	if err != nil {
		return nil, c.queryErr("look up table "+c.db+"."+c.name, err)
	}
	if len(cols) == 0 {
		return nil, stage.FieldErrorf("table", "no table or view %s.%s on %s (names are case-sensitive)", c.db, c.name, c.cfg.Addr)
	}
	return cols, nil
}

// partKinds are the types a partition column may have, and how its bounds are written.
var partKinds = map[string]partKind{
	"Int8": partInt, "Int16": partInt, "Int32": partInt, "Int64": partInt,
	"UInt8": partInt, "UInt16": partInt, "UInt32": partInt, "UInt64": partInt,
	"Date": partDate, "Date32": partDate, "DateTime": partTime, "DateTime64": partTime64,
}

// partitionKind checks that the partition column is an integer or a time.
func partitionKind(col, typ string) (partKind, error) {
	t, err := parseType(typ)
	if err != nil {
		return 0, err
	}
	if k, ok := partKinds[t.name]; ok {
		return k, nil
	}
	return 0, stage.FieldErrorf("partition.column", "column %q is %s; a partition column is an integer ((U)Int8-64), Date, Date32, DateTime or DateTime64", col, typ)
}

// literal renders a partition bound as a ClickHouse literal of the column's kind.
func literal(k partKind, v any) (string, error) {
	switch x := v.(type) {
	case int64:
		if k != partInt {
			return "", fmt.Errorf("%d is not a time", x)
		}
		return strconv.FormatInt(x, 10), nil
	case time.Time:
		x = x.UTC()
		switch k {
		case partDate:
			if x != x.Truncate(24*time.Hour) {
				return "", fmt.Errorf("%s is not a whole day", x.Format(time.RFC3339Nano))
			}
			return "toDate('" + x.Format("2006-01-02") + "')", nil
		case partTime:
			if x.Nanosecond() != 0 {
				// Sub-second bounds need DateTime64 (servers since 20.1).
				return "toDateTime64('" + x.Format("2006-01-02 15:04:05.999999999") + "', 9, 'UTC')", nil
			}
			return "toDateTime('" + x.Format("2006-01-02 15:04:05") + "', 'UTC')", nil
		case partTime64:
			return "toDateTime64('" + x.Format("2006-01-02 15:04:05.999999999") + "', 9, 'UTC')", nil
		}
		return "", fmt.Errorf("%s is not an integer", x.Format(time.RFC3339Nano))
	}
	return "", fmt.Errorf("bound %v of type %T", v, v)
}

// render executes the query template with the partition's bounds as literals; used says whether the template
// referred to them.
func (c *Consumer) render(p stage.Partition, k partKind) (sql string, used bool, err error) {
	var litErr error
	lit := func(v any) func() string {
		return func() string {
			used = true
			s, err := literal(k, v)
			if err != nil && litErr == nil {
				litErr = err
			}
			return s
		}
	}
	body, err := sqlsource.Render(c.tmpl, lit(p.Lo), lit(p.Hi))
	if err != nil {
		return "", false, err
	}
	if litErr != nil {
		return "", false, fmt.Errorf("clickhouse: partition %s: %w", p.Key, litErr)
	}
	return strings.TrimRight(strings.TrimSpace(body), ";"), used, nil
}

// sql is the SELECT of one partition.
func (c *Consumer) sql(src *source, p stage.Partition) (string, error) {
	if c.tmpl != nil {
		body, _, err := c.render(p, src.part)
		if err != nil {
			return "", err
		}
		return body + c.settings, nil
	}
	if src.part == partNone {
		return src.body + c.settings, nil
	}
	if src.part == partParts {
		id, ok := p.Lo.(string)
		if !ok {
			return "", fmt.Errorf("clickhouse: partition %s: no partition id; was it planned with a different config?", p.Key)
		}
		return src.body + " WHERE _partition_id = " + quoteString(id) + c.settings, nil
	}
	lo, err := literal(src.part, p.Lo)
	if err != nil {
		return "", fmt.Errorf("clickhouse: partition %s: lower bound: %w; was it planned with a different config?", p.Key, err)
	}
	hi, err := literal(src.part, p.Hi)
	if err != nil {
		return "", fmt.Errorf("clickhouse: partition %s: upper bound: %w; was it planned with a different config?", p.Key, err)
	}
	col := quoteIdent(c.cfg.Partition.Column)
	return src.body + " WHERE " + col + " >= " + lo + " AND " + col + " < " + hi + c.settings, nil
}

// Read streams the partition's rows: each Native block the server sends becomes one Arrow batch.
func (c *Consumer) Read(ctx context.Context, p stage.Partition, out func(arrow.RecordBatch) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("clickhouse: partition %s: %w", p.Key, err)
	}
	src, err := c.source(ctx)
	if err != nil {
		return err
	}
	sql, err := c.sql(src, p)
	if err != nil {
		return err
	}
	client, err := c.dial(ctx)
	if err != nil {
		return fmt.Errorf("%w (partition %s)", err, p.Key)
	}
	defer client.Close()
	started := time.Now()
	pl := newPool(c.alloc)
	defer pl.close()
	res := newBlockResult(pl)
	defer res.release()
	var rows, blocks int64
	err = client.Do(ctx, ch.Query{Body: sql, Result: res, OnResult: func(ctx context.Context, blk proto.Block) error {
		if blk.Rows == 0 {
			if !res.schema.Equal(src.schema) {
				return fmt.Errorf("the columns changed since the plan: now %s", res.schema)
			}
			return nil
		}
		if err := res.emit(blk.Rows, out); err != nil {
			return &sqlsource.OutError{Err: err}
		}
		rows += int64(blk.Rows)
		blocks++
		return nil
	}})
	if err != nil {
		if err, ok := sqlsource.Stopped(ctx, "clickhouse", p.Key, rows, err); ok {
			return err
		}
		return c.queryErr(sqlsource.ReadFailed(p.Key, rows), err)
	}
	c.log.Debug("clickhouse: partition read", "addr", c.cfg.Addr, "partition", p.Key, "rows", rows, "blocks", blocks, "took", time.Since(started))
	return nil
}
