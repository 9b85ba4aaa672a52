package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jetflow-dev/jetflow/stage"
)

// The columns change capture adds after the table's.
const (
	ColOp         = "_op"          // r (initial load), i (insert), u (update), d (delete)
	ColLSN        = "_lsn"         // the commit's log position (the slot's consistent point for the initial load)
	ColCommitTime = "_commit_time" // the commit's time; null for the initial load
)

// isSlotName reports whether s is what PostgreSQL accepts as a replication slot name: 1 to 63 lower-case letters,
// digits and _. Publications keep to it too, so both can be written into replication commands without quoting. (A
// loop, not a regular expression: `{1,63}` compiles to 63 copies of the class, at every command's start.)
func isSlotName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// checkCDC checks what spans cdc: and the rest of the config.
func (c *Consumer) checkCDC() []error {
	cfg := c.cfg.CDC
	var errs []error
	if c.cfg.Table == "" {
		errs = append(errs, stage.FieldErrorf("cdc", "needs table: (change capture reads one table; query: cannot be replicated)"))
	}
	if c.cfg.Incremental.Column != "" {
		errs = append(errs, stage.FieldErrorf("incremental.column", "cannot be combined with cdc: the slot delivers every change"))
	}
	if c.cfg.Partition.Every > 0 {
		errs = append(errs, stage.FieldErrorf("partition.every", "a stream has no run instance to cut in windows: cut the initial load with step, count or ranges of an integer column"))
	}
	if !isSlotName(cfg.Slot) {
		errs = append(errs, stage.FieldErrorf("cdc.slot", "%q is not a replication slot name: lower-case letters, digits and _, at most 63", cfg.Slot))
	}
	if cfg.Publication != "" && !isSlotName(cfg.Publication) {
		errs = append(errs, stage.FieldErrorf("cdc.publication", "%q: write a publication name in lower-case letters, digits and _, at most 63", cfg.Publication))
	}
	c.cfg.Snapshot = "export" // the initial load reads the slot's exported snapshot
	return errs
}

// CDC is the `postgres` consumer with cdc: a stream of the table's changes from a logical replication slot,
// after an initial load on the snapshot the slot exported when it was created.
type CDC struct {
	base *Consumer // the table's batch reader: the initial load, the catalog, the per-type decoders
	pipe string    // the pipeline's name, for the commands errors suggest
	cfg  CDCConfig
	pub  string

	mu     sync.Mutex
	schema *arrow.Schema // the table's columns and the three change columns

	lag atomic.Int64 // bytes of WAL past the committed position, as the server last reported it

	ahead aheadBounds
}

var (
	_ stage.StreamConsumer     = (*CDC)(nil)
	_ stage.DeclaredSchema     = (*CDC)(nil)
	_ stage.CheckpointComparer = (*CDC)(nil)
	_ stage.ByteLagReporter    = (*CDC)(nil)
)

func newCDC(bc stage.BuildContext, base *Consumer) *CDC {
	cfg := *base.cfg.CDC
	pub := cfg.Publication
	if pub == "" {
		pub = cfg.Slot
	}
	s := &CDC{base: base, pipe: bc.Pipeline, cfg: cfg, pub: pub}
	s.ahead.maxBytes = readAheadBytes
	return s
}

// DeclaredSchema implements stage.DeclaredSchema: the schema is only known at the source.
func (s *CDC) DeclaredSchema() (*arrow.Schema, bool, error) { return nil, false, nil }

// SlotName is the replication slot the stream reads.
func (s *CDC) SlotName() string { return s.cfg.Slot }

// MaxSlotLag is the retained WAL past which the stream warns.
func (s *CDC) MaxSlotLag() stage.ByteSize { return s.cfg.MaxSlotLag }

// Close releases the batch reader's connections.
func (s *CDC) Close() error { return s.base.Close() }

// CompareCheckpoints implements stage.CheckpointComparer: a checkpoint is the log position a slot resumes at.
func (s *CDC) CompareCheckpoints(a, b string) (int, error) {
	x, err := pglogrepl.ParseLSN(a)
	if err != nil {
		return 0, fmt.Errorf("checkpoint %q is not a log position: %w", a, err)
	}
	y, err := pglogrepl.ParseLSN(b)
	if err != nil {
		return 0, fmt.Errorf("checkpoint %q is not a log position: %w", b, err)
	}
	switch {
	case x < y:
		return -1, nil
	case x > y:
		return 1, nil
	}
	return 0, nil
}

// LagBytes implements stage.ByteLagReporter: the bytes of WAL past the slot's committed position.
func (s *CDC) LagBytes() map[string]int64 {
	return map[string]int64{s.cfg.Slot: s.lag.Load()}
}

// Schema is the table's columns (from the catalog) followed by _op, _lsn and _commit_time. It also checks what
// change capture needs of the server, so that validate --connect finds it: wal_level=logical, REPLICA IDENTITY
// FULL, the replication privilege, SELECT on the table and the publication.
func (s *CDC) Schema(ctx context.Context) (*arrow.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.schema != nil {
		return s.schema, nil
	}
	src, err := s.base.source(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkServer(ctx); err != nil {
		return nil, err
	}
	fields := append([]arrow.Field(nil), src.schema.Fields()...)
	fields = append(fields,
		arrow.Field{Name: ColOp, Type: arrow.BinaryTypes.String},
		arrow.Field{Name: ColLSN, Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: ColCommitTime, Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true})
	s.schema = arrow.NewSchema(fields, nil)
	return s.schema, nil
}

// checkServer reads what change capture needs from the catalog and says, for each thing missing, how to fix it.
func (s *CDC) checkServer(ctx context.Context) error {
	conn, err := s.base.connect(ctx)
	if err != nil {
		return err
	}
	defer closeConn(conn)
	name := s.base.table.Sanitize()
	var (
		walLevel, ident, kind, user string
		replicate, sel, owner       bool
		pubExists, pubHolds         bool
	)
	err = conn.QueryRow(ctx, `SELECT current_setting('wal_level'), c.relreplident::text, c.relkind::text, current_user::text,
			r.rolsuper OR r.rolreplication, has_table_privilege(c.oid, 'SELECT'), pg_has_role(c.relowner, 'USAGE'),
			EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $2),
			EXISTS (SELECT 1 FROM pg_publication_tables t WHERE t.pubname = $2
				AND format('%I.%I', t.schemaname, t.tablename)::regclass = c.oid)
		FROM pg_class c, pg_roles r WHERE c.oid = to_regclass($1) AND r.rolname = current_user`, name, s.pub).
		Scan(&walLevel, &ident, &kind, &user, &replicate, &sel, &owner, &pubExists, &pubHolds)
	if err != nil {
		return s.base.sourceErr("check change capture's needs", err)
	}
	quser := pgx.Identifier{user}.Sanitize()
	var errs []error
	if walLevel != "logical" {
		errs = append(errs, stage.FieldErrorf("cdc", "the server %s runs with wal_level=%s; change capture needs logical: ALTER SYSTEM SET wal_level = logical, then restart the server", s.base.where, walLevel))
	}
	if kind != "r" && kind != "p" {
		errs = append(errs, stage.FieldErrorf("table", "%s is not a table (relkind %s); only tables' changes can be captured", name, kind))
	}
	if ident != "f" && (kind == "r" || kind == "p") {
		what := map[string]string{"d": "DEFAULT", "n": "NOTHING", "i": "USING INDEX"}[ident]
		errs = append(errs, stage.FieldErrorf("table", "%s has REPLICA IDENTITY %s; change capture needs FULL, so that an update carries the values of unchanged TOASTed columns and a delete every column: ALTER TABLE %s REPLICA IDENTITY FULL", name, what, name))
	}
	if !replicate {
		errs = append(errs, stage.FieldErrorf("dsn", "user %s may not open a replication connection: ALTER ROLE %s REPLICATION (or connect as a user who may)", user, quser))
	}
	if !sel {
		errs = append(errs, stage.FieldErrorf("table", "user %s may not read %s (the initial load does): GRANT SELECT ON %s TO %s", user, name, name, quser))
	}
	switch {
	case pubExists && !pubHolds:
		errs = append(errs, stage.FieldErrorf("cdc.publication", "publication %s does not publish %s: ALTER PUBLICATION %s ADD TABLE %s", s.pub, name, s.pub, name))
	case !pubExists && !s.cfg.CreatePublication:
		errs = append(errs, stage.FieldErrorf("cdc.publication", "no publication %s on %s: CREATE PUBLICATION %s FOR TABLE %s, or set cdc.create_publication: true", s.pub, s.base.where, s.pub, name))
	case !pubExists && !owner:
		errs = append(errs, stage.FieldErrorf("cdc.create_publication", "user %s does not own %s, so it cannot create publication %s: have the owner run CREATE PUBLICATION %s FOR TABLE %s, and set cdc.create_publication: false", user, name, s.pub, s.pub, name))
	}
	return errors.Join(errs...)
}

// ensurePublication creates the publication when it is missing and create_publication allows it.
func (s *CDC) ensurePublication(ctx context.Context) error {
	conn, err := s.base.connect(ctx)
	if err != nil {
		return err
	}
	defer closeConn(conn)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`, s.pub).Scan(&exists); err != nil {
		return s.base.sourceErr("look up publication "+s.pub, err)
	}
	if exists {
		return nil
	}
	name := s.base.table.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE PUBLICATION "+pgx.Identifier{s.pub}.Sanitize()+" FOR TABLE "+name); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42710" { // another process created it meanwhile
			return nil
		}
		return s.base.sourceErr("create publication "+s.pub+" for "+name, err)
	}
	s.base.log.Info("postgres cdc: created publication", "publication", s.pub, "table", name)
	return nil
}

// replConnect opens a logical replication connection (replication=database) to the consumer's database.
func (s *CDC) replConnect(ctx context.Context) (*pgconn.PgConn, error) {
	pc := s.base.conn.Config.Copy()
	if pc.RuntimeParams == nil {
		pc.RuntimeParams = map[string]string{}
	}
	pc.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, pc)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("postgres cdc: replication connection to %s: %w", s.base.where, ctx.Err())
		}
		return nil, classify(err, fmt.Errorf("postgres cdc: replication connection to %s: %s: %w", s.base.where, redact(err.Error(), s.base.cfg.DSN.Reveal()), errRedacted))
	}
	return conn, nil
}

// SlotInfo is what the server says about a slot.
type SlotInfo struct {
	Exists    bool
	Active    bool
	ActivePID int64
	Confirmed string // confirmed_flush_lsn
	Retained  int64  // bytes of WAL the slot holds back: pg_current_wal_lsn() - restart_lsn
	Behind    int64  // bytes of WAL not yet confirmed: pg_current_wal_lsn() - confirmed_flush_lsn
}

// Slot reads the slot's row of pg_replication_slots.
func (s *CDC) Slot(ctx context.Context) (SlotInfo, error) {
	conn, err := s.base.connect(ctx)
	if err != nil {
		return SlotInfo{}, err
	}
	defer closeConn(conn)
	var si SlotInfo
	var pid *int64
	var confirmed *string
	err = conn.QueryRow(ctx, `SELECT active, active_pid::int8, confirmed_flush_lsn::text,
			COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::int8,
			COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::int8
		FROM pg_replication_slots WHERE slot_name = $1`, s.cfg.Slot).Scan(&si.Active, &pid, &confirmed, &si.Retained, &si.Behind)
	if errors.Is(err, pgx.ErrNoRows) {
		return SlotInfo{}, nil
	}
	if err != nil {
		return SlotInfo{}, s.base.sourceErr("read slot "+s.cfg.Slot, err)
	}
	si.Exists = true
	if pid != nil {
		si.ActivePID = *pid
	}
	if confirmed != nil {
		si.Confirmed = *confirmed
	}
	return si, nil
}

// Drop drops the slot (the server then frees the WAL it held) and, when create_publication made it, the
// publication. It reports what it dropped.
func (s *CDC) Drop(ctx context.Context) (dropped []string, err error) {
	conn, err := s.base.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer closeConn(conn)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE slot_name = $1`, s.cfg.Slot).Scan(&n); err != nil {
		return nil, s.base.sourceErr("drop slot "+s.cfg.Slot+" (is a stream still reading it?)", err)
	}
	if n > 0 {
		dropped = append(dropped, "slot "+s.cfg.Slot)
	}
	if s.cfg.CreatePublication {
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`, s.pub).Scan(&exists); err != nil {
			return dropped, s.base.sourceErr("look up publication "+s.pub, err)
		}
		if exists {
			if _, err := conn.Exec(ctx, "DROP PUBLICATION "+pgx.Identifier{s.pub}.Sanitize()); err != nil {
				return dropped, s.base.sourceErr("drop publication "+s.pub, err)
			}
			dropped = append(dropped, "publication "+s.pub)
		}
	}
	return dropped, nil
}

// changeCols appends the change columns to a batch of the table's columns: the initial load's rows.
func changeCols(mem memory.Allocator, schema *arrow.Schema, rec arrow.RecordBatch, op string, lsn int64) arrow.RecordBatch {
	n := int(rec.NumRows())
	ob := array.NewStringBuilder(mem)
	defer ob.Release()
	lb := array.NewInt64Builder(mem)
	defer lb.Release()
	tb := array.NewTimestampBuilder(mem, schema.Field(schema.NumFields()-1).Type.(*arrow.TimestampType))
	defer tb.Release()
	ob.Reserve(n)
	lb.Reserve(n)
	for range n {
		ob.Append(op)
		lb.UnsafeAppend(lsn)
	}
	tb.AppendNulls(n)
	cols := append(append([]arrow.Array(nil), rec.Columns()...), ob.NewArray(), lb.NewArray(), tb.NewArray())
	out := array.NewRecordBatch(schema, cols, int64(n))
	for _, c := range cols[len(cols)-3:] {
		c.Release()
	}
	return out
}

// slotError turns the server's refusal of a slot into a fault no retry fixes, saying what to do.
func (s *CDC) slotError(start pglogrepl.LSN, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "42704": // undefined_object
			return s.slotDropped(start, fmt.Errorf("postgres cdc: slot %s on %s does not exist: %w", s.cfg.Slot, s.base.where, err))
		case "55006": // object_in_use
			return slotInUse(fmt.Errorf("postgres cdc: slot %s on %s: %w", s.cfg.Slot, s.base.where, err))
		}
	}
	return s.base.sourceErr("start replication from slot "+s.cfg.Slot, err)
}
