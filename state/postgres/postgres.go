// Package postgres is the shared state store: one PostgreSQL database (through pgx) that the machines of a run use
// together.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jetflow-dev/jetflow/state"
)

// DefaultSchema is the schema the store keeps its tables in unless Schema names another.
const DefaultSchema = "jetflow"

// Store is the shared store: one PostgreSQL database the machines of a run (the pods of a Kubernetes Indexed
// Job) use together. Claims are single atomic upserts, so two machines never both win a partition, and leases are
// timed by the database's clock (now()), so machines with skewed clocks agree on when a lease expires.
// Timestamps keep microseconds.
type Store struct {
	pool  *pgxpool.Pool
	where string // the DSN without its password, and the schema: what error messages name
	q     pgQueries
}

// Option adjusts Open.
type Option func(*pgOptions)

type pgOptions struct{ schema string }

// Schema keeps the store's tables in schema (created if missing) instead of DefaultSchema; two schemas in one
// database are two independent stores.
func Schema(schema string) Option {
	return func(o *pgOptions) { o.schema = schema }
}

// Open connects to the database at dsn (a postgres:// URL or key=value pairs, as libpq takes them) and
// creates the store's schema and tables if they are missing. When they exist, it needs no CREATE privilege, so a
// DBA can create them once and grant only reads and writes.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := pgOptions{schema: DefaultSchema}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx masks the password in the text it quotes back.
		return nil, fmt.Errorf("state store postgres: the DSN cannot be parsed (write postgres://user:password@host:port/database): %w", err)
	}
	s := &Store{where: describe(cfg, o.schema)}
	if o.schema == "" {
		return nil, fmt.Errorf("state store %s: the schema name is empty", s.where)
	}
	s.q = newPgQueries(o.schema)
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, s.wrap("connect", err)
	}
	if err := s.createTables(ctx, o.schema); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// describe names the database for messages: host, port, database, user and schema; never the password.
func describe(cfg *pgxpool.Config, schema string) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("postgres://%s@%s/%s (schema %s)", c.User, net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))), c.Database, schema)
}

func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("state store %s: %s: %w", s.where, op, err)
}

var pgTables = []string{"partitions", "checkpoints", "watermarks", "intents", "attempts"}

// pgQueries are the store's statements, made once with the schema's quoted name: no statement is built from
// anything else the user wrote.
type pgQueries struct {
	schema, create, hasColumns, migrate                                               string
	claim, claimAttempt, claimState, renew, commit, commitAttempt, checkpoint, fail   string
	get, list, resetRun, resetIDs, readCheckpoint, watermark, setMark, setMarkIfEmpty string
	attempts                                                                          string
	addIntent, intents, clearIntents, clearIntentPaths                                string
}

const pgPartitionCols = `pipeline, run_label, id, key, idx, lane, status, attempts, rows, bytes, fingerprint, tokens,
	checkpoint, owner, lease_until, started_at, finished_at, error, worker`

func newPgQueries(schema string) pgQueries {
	parts := pgx.Identifier{schema, "partitions"}.Sanitize()
	cps := pgx.Identifier{schema, "checkpoints"}.Sanitize()
	marks := pgx.Identifier{schema, "watermarks"}.Sanitize()
	intents := pgx.Identifier{schema, "intents"}.Sanitize()
	attempts := pgx.Identifier{schema, "attempts"}.Sanitize()
	// Text keys compare bytewise (COLLATE "C"), as in SQLite: List's order does not depend on the database's locale.
	create := fmt.Sprintf(`
CREATE TABLE IF NOT EXISTS %[1]s (
	pipeline    text COLLATE "C" NOT NULL,
	id          text COLLATE "C" NOT NULL,
	run_label   text COLLATE "C" NOT NULL,
	key         text NOT NULL,
	idx         integer NOT NULL,
	lane        text NOT NULL DEFAULT '',
	status      text NOT NULL,
	attempts    integer NOT NULL DEFAULT 0,
	rows        bigint NOT NULL DEFAULT 0,
	bytes       bigint NOT NULL DEFAULT 0,
	fingerprint text NOT NULL DEFAULT '',
	tokens      text NOT NULL DEFAULT '',
	checkpoint  text NOT NULL DEFAULT '',
	owner       text NOT NULL DEFAULT '',
	lease_until timestamptz,
	started_at  timestamptz,
	finished_at timestamptz,
	error       text NOT NULL DEFAULT '',
	worker      integer NOT NULL DEFAULT 0,
	PRIMARY KEY (pipeline, id)
);
CREATE INDEX IF NOT EXISTS partitions_run ON %[1]s (pipeline, run_label, idx);
CREATE TABLE IF NOT EXISTS %[2]s (
	pipeline     text NOT NULL,
	lane         text NOT NULL,
	checkpoint   text NOT NULL,
	partition_id text NOT NULL,
	PRIMARY KEY (pipeline, lane)
);
CREATE TABLE IF NOT EXISTS %[3]s (
	pipeline text NOT NULL,
	name     text NOT NULL,
	value    text NOT NULL,
	PRIMARY KEY (pipeline, name)
);
CREATE TABLE IF NOT EXISTS %[4]s (
	pipeline     text COLLATE "C" NOT NULL,
	partition_id text COLLATE "C" NOT NULL,
	owner        text COLLATE "C" NOT NULL,
	path         text COLLATE "C" NOT NULL,
	attempt      integer NOT NULL DEFAULT 0,
	loader       text NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (pipeline, partition_id, owner, path)
);
CREATE TABLE IF NOT EXISTS %[5]s (
	pipeline     text COLLATE "C" NOT NULL,
	partition_id text COLLATE "C" NOT NULL,
	attempt      integer NOT NULL,
	run_label    text COLLATE "C" NOT NULL,
	owner        text NOT NULL DEFAULT '',
	worker       integer NOT NULL DEFAULT 0,
	status       text NOT NULL,
	rows         bigint NOT NULL DEFAULT 0,
	started_at   timestamptz,
	finished_at  timestamptz,
	error        text NOT NULL DEFAULT '',
	cause        text NOT NULL DEFAULT '',
	class        text NOT NULL DEFAULT '',
	PRIMARY KEY (pipeline, partition_id, attempt)
);
CREATE INDEX IF NOT EXISTS attempts_run ON %[5]s (pipeline, run_label);`, parts, cps, marks, intents, attempts)
	return pgQueries{
		schema: "CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{schema}.Sanitize(),
		create: create,
		// Columns added since the first version, for the tables of an older store (see createTables).
		hasColumns: `SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'partitions' AND column_name = 'worker'`,
		migrate:    `ALTER TABLE ` + parts + ` ADD COLUMN IF NOT EXISTS worker integer NOT NULL DEFAULT 0`,
		// The WHERE is the negation of the reasons to refuse a claim; in READ COMMITTED, PostgreSQL evaluates it on
		// the newest version of a conflicting row after locking it, so of concurrent claims exactly one wins.
		claim: `INSERT INTO ` + parts + ` AS p (pipeline, id, run_label, key, idx, lane, status, attempts, owner, lease_until, started_at, error, worker)
			VALUES ($1, $2, $3, $4, $5, $6, 'running', 1, $7, now() + $8::bigint * interval '1 microsecond', now(), '', $12)
			ON CONFLICT (pipeline, id) DO UPDATE SET status = 'running', attempts = p.attempts + 1, owner = excluded.owner,
				lease_until = excluded.lease_until, started_at = excluded.started_at, error = '', idx = excluded.idx,
				worker = excluded.worker, rows = 0
			WHERE NOT (p.status = 'running' AND p.owner <> $7 AND p.owner <> $9::text AND p.lease_until IS NOT NULL AND p.lease_until > now())
				AND NOT (p.status = 'committed' AND NOT $10::boolean AND $11::text <> '' AND p.fingerprint = $11::text)
			RETURNING p.attempts`,
		// The attempt a claim won: the row is running under the claimant only when the claim above won it.
		claimAttempt: `INSERT INTO ` + attempts + ` AS a (pipeline, partition_id, attempt, run_label, owner, worker, status, started_at)
			SELECT pipeline, id, attempts, run_label, owner, worker, 'running', started_at FROM ` + parts + `
				WHERE pipeline = $1 AND id = $2 AND owner = $3 AND status = 'running'
			ON CONFLICT (pipeline, partition_id, attempt) DO UPDATE SET run_label = excluded.run_label, owner = excluded.owner,
				worker = excluded.worker, status = 'running', rows = 0, started_at = excluded.started_at, finished_at = NULL,
				error = '', cause = '', class = ''`,
		claimState: `SELECT status FROM ` + parts + ` WHERE pipeline = $1 AND id = $2`,
		renew: `UPDATE ` + parts + ` SET lease_until = now() + $4::bigint * interval '1 microsecond', rows = $5
			WHERE pipeline = $1 AND id = $2 AND owner = $3 AND status = 'running'`,
		commit: `INSERT INTO ` + parts + ` AS p (pipeline, id, run_label, key, idx, lane, status, attempts, rows, bytes, fingerprint, tokens, checkpoint, owner, lease_until, started_at, finished_at, error)
			VALUES ($1, $2, $3, $4, $5, $6, 'committed', $7, $8, $9, $10, $11, $12, $13, NULL, $14, COALESCE($15::timestamptz, now()), '')
			ON CONFLICT (pipeline, id) DO UPDATE SET status = 'committed', rows = excluded.rows, bytes = excluded.bytes,
				fingerprint = excluded.fingerprint, tokens = excluded.tokens, checkpoint = excluded.checkpoint,
				owner = excluded.owner, lease_until = NULL, finished_at = excluded.finished_at, error = '',
				attempts = GREATEST(p.attempts, excluded.attempts)`,
		commitAttempt: `INSERT INTO ` + attempts + ` (pipeline, partition_id, attempt, run_label, owner, status, rows, started_at, finished_at)
			VALUES ($1, $2, GREATEST($3::integer, 1), $4, $5, 'committed', $6, $7, COALESCE($8::timestamptz, now()))
			ON CONFLICT (pipeline, partition_id, attempt) DO UPDATE SET status = 'committed', rows = excluded.rows,
				finished_at = excluded.finished_at, error = '', cause = '', class = ''`,
		checkpoint: `INSERT INTO ` + cps + ` (pipeline, lane, checkpoint, partition_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT (pipeline, lane) DO UPDATE SET checkpoint = excluded.checkpoint, partition_id = excluded.partition_id`,
		// One statement: the attempt the partition's row names while its owner runs it, then the row.
		fail: `WITH p AS (UPDATE ` + parts + ` SET status = $4, error = $5, lease_until = NULL, finished_at = now()
				WHERE pipeline = $1 AND id = $2 AND owner = $3 AND status = 'running' RETURNING attempts, rows, finished_at)
			UPDATE ` + attempts + ` a SET status = $4, error = $5, cause = $6, class = $7, rows = p.rows, finished_at = p.finished_at
			FROM p WHERE a.pipeline = $1 AND a.partition_id = $2 AND a.attempt = p.attempts`,
		attempts: `SELECT pipeline, run_label, partition_id, attempt, owner, worker, status, rows, started_at, finished_at,
				error, cause, class
			FROM ` + attempts + ` WHERE pipeline = $1 AND ($2::text = '' OR run_label = $2::text)
			ORDER BY run_label, partition_id, attempt`,
		get: `SELECT ` + pgPartitionCols + ` FROM ` + parts + ` WHERE pipeline = $1 AND id = $2`,
		list: `SELECT ` + pgPartitionCols + ` FROM ` + parts + ` WHERE pipeline = $1 AND ($2::text = '' OR run_label = $2::text)
			ORDER BY run_label, idx, id`,
		resetRun: `WITH a AS (DELETE FROM ` + attempts + ` WHERE pipeline = $1 AND run_label = $2)
			DELETE FROM ` + parts + ` WHERE pipeline = $1 AND run_label = $2`,
		resetIDs: `WITH a AS (DELETE FROM ` + attempts + ` WHERE pipeline = $1 AND partition_id = ANY($2::text[]) AND ($3::text = '' OR run_label = $3::text))
			DELETE FROM ` + parts + ` WHERE pipeline = $1 AND id = ANY($2::text[]) AND ($3::text = '' OR run_label = $3::text)`,
		readCheckpoint: `SELECT checkpoint FROM ` + cps + ` WHERE pipeline = $1 AND lane = $2`,
		watermark:      `SELECT value FROM ` + marks + ` WHERE pipeline = $1 AND name = $2`,
		setMark: `INSERT INTO ` + marks + ` (pipeline, name, value) VALUES ($1, $2, $3)
			ON CONFLICT (pipeline, name) DO UPDATE SET value = excluded.value`,
		setMarkIfEmpty: `INSERT INTO ` + marks + ` AS m (pipeline, name, value) VALUES ($1, $2, $3)
			ON CONFLICT (pipeline, name) DO UPDATE SET value = excluded.value WHERE m.value = ''`,
		addIntent: `INSERT INTO ` + intents + ` (pipeline, partition_id, owner, path, attempt, loader, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7::timestamptz, now())) ON CONFLICT (pipeline, partition_id, owner, path) DO NOTHING`,
		intents: `SELECT pipeline, partition_id, owner, path, attempt, loader, created_at FROM ` + intents + `
			WHERE pipeline = $1 ORDER BY partition_id, owner, path`,
		clearIntents:     `DELETE FROM ` + intents + ` WHERE pipeline = $1 AND partition_id = $2 AND owner = $3`,
		clearIntentPaths: `DELETE FROM ` + intents + ` WHERE pipeline = $1 AND partition_id = $2 AND owner = $3 AND path = ANY($4::text[])`,
	}
}

// createTables creates what is missing. Machines starting together would race on CREATE ... IF NOT EXISTS (it
// can fail with a unique violation in the catalog), so creation holds a transaction-scoped advisory lock.
func (s *Store) createTables(ctx context.Context, schema string) error {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = ANY($2)`,
		schema, pgTables).Scan(&n)
	if err != nil {
		return s.wrap("connect", err)
	}
	var cols int
	if n == len(pgTables) {
		if err := s.pool.QueryRow(ctx, s.q.hasColumns, schema).Scan(&cols); err != nil {
			return s.wrap("connect", err)
		}
		if cols == 1 {
			return nil
		}
	}
	h := fnv.New64a()
	h.Write([]byte("jetflow state store schema " + schema))
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64())); err != nil {
			return err
		}
		if n < len(pgTables) {
			if _, err := tx.Exec(ctx, s.q.schema); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, s.q.create); err != nil {
				return err
			}
		}
		// A store made by an older jetflow gets the columns this version records; what it wrote stays readable
		// with their defaults, and an older jetflow can still write the table, as it names every column it writes.
		_, err := tx.Exec(ctx, s.q.migrate)
		return err
	})
	if err != nil {
		if n == len(pgTables) {
			return s.wrap("add the column worker to the partitions table of an older jetflow (the table's owner runs: "+s.q.migrate+")", err)
		}
		return s.wrap("create tables (the user needs the CREATE privilege on the database, or a DBA creates them once)", err)
	}
	return nil
}

// ts is a timestamp parameter: the zero time is NULL.
func ts(t time.Time) pgtype.Timestamptz { return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()} }

func fromTs(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// Claim implements state.Store.
func (s *Store) Claim(ctx context.Context, c state.Claim) (int, error) {
	var attempt int
	var status string
	// The status read runs after the claim in the same transaction: when the upsert refused, it locked the row
	// without changing it, so what the row holds now is why.
	err := s.inTx(ctx, func(b *pgx.Batch) {
		b.Queue(s.q.claim, c.Pipeline, c.ID, c.RunLabel, c.Key, c.Index, c.Lane, c.Owner, c.Lease.Microseconds(),
			c.TakeOverFrom, c.Force, c.Fingerprint, c.Worker).QueryRow(func(row pgx.Row) error {
			if err := row.Scan(&attempt); !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			attempt = 0 // refused
			return nil
		})
		b.Queue(s.q.claimAttempt, c.Pipeline, c.ID, c.Owner)
		b.Queue(s.q.claimState, c.Pipeline, c.ID).QueryRow(func(row pgx.Row) error { return row.Scan(&status) })
	})
	if err != nil {
		return 0, s.wrap("claim partition "+c.ID, err)
	}
	if attempt > 0 {
		return attempt, nil
	}
	if state.Status(status) == state.StatusCommitted {
		return 0, state.ErrCommitted
	}
	return 0, state.ErrLeased
}

// inTx sends the statements queue adds, between BEGIN and COMMIT, to the server as one batch: one round trip for
// the whole transaction, where pgx.BeginTxFunc takes one for BEGIN, one a statement and one for COMMIT. The
// transaction is READ COMMITTED whatever the database's default: the one-winner argument of the claim relies on
// it, and stricter levels would fail racing claims and commits with serialization errors. After a failed
// statement the server skips the rest of the batch and leaves the transaction aborted; the pool then closes that
// connection rather than reuse it, so nothing of the transaction is committed.
func (s *Store) inTx(ctx context.Context, queue func(b *pgx.Batch)) error {
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	queue(b)
	b.Queue("COMMIT")
	return s.pool.SendBatch(ctx, b).Close()
}

// Renew implements state.Store.
func (s *Store) Renew(ctx context.Context, pipeline, id, owner string, lease time.Duration, rows int64) error {
	tag, err := s.pool.Exec(ctx, s.q.renew, pipeline, id, owner, lease.Microseconds(), rows)
	if err != nil {
		return s.wrap("renew lease", err)
	}
	if tag.RowsAffected() == 0 {
		return state.ErrLeaseLost
	}
	return nil
}

// Commit implements state.Store.
func (s *Store) Commit(ctx context.Context, p state.Partition) error {
	err := s.inTx(ctx, func(b *pgx.Batch) {
		b.Queue(s.q.commit, p.Pipeline, p.ID, p.RunLabel, p.Key, p.Index, p.Lane, p.Attempts, p.Rows,
			p.Bytes, p.Fingerprint, p.Tokens, p.Checkpoint, p.Owner, ts(p.StartedAt), ts(p.FinishedAt))
		b.Queue(s.q.commitAttempt, p.Pipeline, p.ID, p.Attempts, p.RunLabel, p.Owner, p.Rows, ts(p.StartedAt), ts(p.FinishedAt))
		if p.Lane != "" && p.Checkpoint != "" {
			b.Queue(s.q.checkpoint, p.Pipeline, p.Lane, p.Checkpoint, p.ID)
		}
	})
	return s.wrap("commit partition "+p.ID, err)
}

// Fail implements state.Store.
func (s *Store) Fail(ctx context.Context, pipeline, id, owner string, status state.Status, f state.Failure) error {
	_, err := s.pool.Exec(ctx, s.q.fail, pipeline, id, owner, string(status), f.Error, f.Cause, f.Class)
	return s.wrap("record failure of partition "+id, err)
}

// Attempts implements state.Store.
func (s *Store) Attempts(ctx context.Context, pipeline, runLabel string) ([]state.Attempt, error) {
	rows, err := s.pool.Query(ctx, s.q.attempts, pipeline, runLabel)
	if err != nil {
		return nil, s.wrap("list attempts", err)
	}
	defer rows.Close()
	out, err := state.Collect(rows, func(r state.Scanner) (state.Attempt, error) {
		var a state.Attempt
		var status string
		var started, finished pgtype.Timestamptz
		err := r.Scan(&a.Pipeline, &a.RunLabel, &a.PartitionID, &a.Number, &a.Owner, &a.Worker, &status, &a.Rows,
			&started, &finished, &a.Error, &a.Cause, &a.Class)
		a.Status, a.StartedAt, a.FinishedAt = state.Status(status), fromTs(started), fromTs(finished)
		return a, err
	})
	return out, s.wrap("list attempts", err)
}

func scanPgPartition(row state.Scanner) (state.Partition, error) {
	var p state.Partition
	var status string
	var lease, started, finished pgtype.Timestamptz
	err := row.Scan(&p.Pipeline, &p.RunLabel, &p.ID, &p.Key, &p.Index, &p.Lane, &status, &p.Attempts, &p.Rows, &p.Bytes,
		&p.Fingerprint, &p.Tokens, &p.Checkpoint, &p.Owner, &lease, &started, &finished, &p.Error, &p.Worker)
	p.Status = state.Status(status)
	p.LeaseUntil, p.StartedAt, p.FinishedAt = fromTs(lease), fromTs(started), fromTs(finished)
	return p, err
}

// Get implements state.Store.
func (s *Store) Get(ctx context.Context, pipeline, id string) (state.Partition, bool, error) {
	p, err := scanPgPartition(s.pool.QueryRow(ctx, s.q.get, pipeline, id))
	p, ok, err := state.One(p, err, pgx.ErrNoRows)
	return p, ok, s.wrap("get partition "+id, err)
}

// List implements state.Store.
func (s *Store) List(ctx context.Context, pipeline, runLabel string) ([]state.Partition, error) {
	rows, err := s.pool.Query(ctx, s.q.list, pipeline, runLabel)
	if err != nil {
		return nil, s.wrap("list partitions", err)
	}
	defer rows.Close()
	out, err := state.Collect(rows, scanPgPartition)
	return out, s.wrap("list partitions", err)
}

// Reset implements state.Store.
func (s *Store) Reset(ctx context.Context, pipeline, runLabel string, ids []string) (int, error) {
	var tag pgconn.CommandTag
	var err error
	if len(ids) == 0 {
		tag, err = s.pool.Exec(ctx, s.q.resetRun, pipeline, runLabel)
	} else {
		tag, err = s.pool.Exec(ctx, s.q.resetIDs, pipeline, ids, runLabel)
	}
	if err != nil {
		return 0, s.wrap("reset partitions", err)
	}
	return int(tag.RowsAffected()), nil
}

// Checkpoint implements state.Store.
func (s *Store) Checkpoint(ctx context.Context, pipeline, lane string) (string, bool, error) {
	return s.text(ctx, "read checkpoint of lane "+lane, s.q.readCheckpoint, pipeline, lane)
}

// Watermark implements state.Store.
func (s *Store) Watermark(ctx context.Context, pipeline, name string) (string, bool, error) {
	return s.text(ctx, "read watermark "+name, s.q.watermark, pipeline, name)
}

// text reads the one text value query selects; ok is false when there is no row.
func (s *Store) text(ctx context.Context, op, query string, args ...any) (string, bool, error) {
	v, ok, err := state.ScanText(s.pool.QueryRow(ctx, query, args...), pgx.ErrNoRows)
	return v, ok, s.wrap(op, err)
}

// SetWatermark implements state.Store.
func (s *Store) SetWatermark(ctx context.Context, pipeline, name, value string) error {
	_, err := s.pool.Exec(ctx, s.q.setMark, pipeline, name, value)
	return s.wrap("write watermark "+name, err)
}

// SetWatermarkIfEmpty implements state.Store. Racing inserts serialize on the key: the loser's WHERE sees the
// winner's committed value, and the read after it returns that value.
func (s *Store) SetWatermarkIfEmpty(ctx context.Context, pipeline, name, value string) (string, error) {
	if _, err := s.pool.Exec(ctx, s.q.setMarkIfEmpty, pipeline, name, value); err != nil {
		return "", s.wrap("write watermark "+name, err)
	}
	v, _, err := s.Watermark(ctx, pipeline, name)
	return v, err
}

// AddIntent implements state.Store.
func (s *Store) AddIntent(ctx context.Context, in state.Intent) error {
	_, err := s.pool.Exec(ctx, s.q.addIntent, in.Pipeline, in.PartitionID, in.Owner, in.Path, in.Attempt, in.Loader, ts(in.CreatedAt))
	return s.wrap("record intent of partition "+in.PartitionID, err)
}

// Intents implements state.Store.
func (s *Store) Intents(ctx context.Context, pipeline string) ([]state.Intent, error) {
	rows, err := s.pool.Query(ctx, s.q.intents, pipeline)
	if err != nil {
		return nil, s.wrap("list intents", err)
	}
	defer rows.Close()
	out, err := state.Collect(rows, func(r state.Scanner) (state.Intent, error) {
		var in state.Intent
		var created pgtype.Timestamptz
		err := r.Scan(&in.Pipeline, &in.PartitionID, &in.Owner, &in.Path, &in.Attempt, &in.Loader, &created)
		in.CreatedAt = fromTs(created)
		return in, err
	})
	return out, s.wrap("list intents", err)
}

// ClearIntents implements state.Store.
func (s *Store) ClearIntents(ctx context.Context, pipeline, partitionID, owner string, paths ...string) (int, error) {
	var tag pgconn.CommandTag
	var err error
	if len(paths) == 0 {
		tag, err = s.pool.Exec(ctx, s.q.clearIntents, pipeline, partitionID, owner)
	} else {
		tag, err = s.pool.Exec(ctx, s.q.clearIntentPaths, pipeline, partitionID, owner, paths)
	}
	if err != nil {
		return 0, s.wrap("clear intents of partition "+partitionID, err)
	}
	return int(tag.RowsAffected()), nil
}

// Close implements state.Store: it waits for queries in flight and closes the connections.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

var _ state.Store = (*Store)(nil)
