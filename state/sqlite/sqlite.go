// Package sqlite is the embedded state store: one SQLite file (modernc.org/sqlite, no cgo), shared safely by the
// processes of one machine.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite" // pure-Go SQLite: no cgo, one static binary
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/jetflow-dev/jetflow/state"
)

// Store is the embedded store: one file, shared safely by the processes of one machine (WAL, busy timeout,
// immediate transactions for claims).
type Store struct {
	db   *sql.DB
	path string
}

const schemaSQL = `
CREATE TABLE IF NOT EXISTS partitions (
	pipeline    TEXT NOT NULL,
	id          TEXT NOT NULL,
	run_label   TEXT NOT NULL,
	key         TEXT NOT NULL,
	idx         INTEGER NOT NULL,
	lane        TEXT NOT NULL DEFAULT '',
	status      TEXT NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	rows        INTEGER NOT NULL DEFAULT 0,
	bytes       INTEGER NOT NULL DEFAULT 0,
	fingerprint TEXT NOT NULL DEFAULT '',
	tokens      TEXT NOT NULL DEFAULT '',
	checkpoint  TEXT NOT NULL DEFAULT '',
	owner       TEXT NOT NULL DEFAULT '',
	lease_until INTEGER NOT NULL DEFAULT 0,
	started_at  INTEGER NOT NULL DEFAULT 0,
	finished_at INTEGER NOT NULL DEFAULT 0,
	error       TEXT NOT NULL DEFAULT '',
	worker      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (pipeline, id)
);
CREATE INDEX IF NOT EXISTS partitions_run ON partitions (pipeline, run_label, idx);
CREATE TABLE IF NOT EXISTS checkpoints (
	pipeline   TEXT NOT NULL,
	lane       TEXT NOT NULL,
	checkpoint TEXT NOT NULL,
	partition_id TEXT NOT NULL,
	PRIMARY KEY (pipeline, lane)
);
CREATE TABLE IF NOT EXISTS watermarks (
	pipeline TEXT NOT NULL,
	name     TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (pipeline, name)
);
CREATE TABLE IF NOT EXISTS intents (
	pipeline     TEXT NOT NULL,
	partition_id TEXT NOT NULL,
	owner        TEXT NOT NULL,
	path         TEXT NOT NULL,
	attempt      INTEGER NOT NULL DEFAULT 0,
	loader       TEXT NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (pipeline, partition_id, owner, path)
);
CREATE TABLE IF NOT EXISTS attempts (
	pipeline     TEXT NOT NULL,
	partition_id TEXT NOT NULL,
	attempt      INTEGER NOT NULL,
	run_label    TEXT NOT NULL,
	owner        TEXT NOT NULL DEFAULT '',
	worker       INTEGER NOT NULL DEFAULT 0,
	status       TEXT NOT NULL,
	rows         INTEGER NOT NULL DEFAULT 0,
	started_at   INTEGER NOT NULL DEFAULT 0,
	finished_at  INTEGER NOT NULL DEFAULT 0,
	error        TEXT NOT NULL DEFAULT '',
	cause        TEXT NOT NULL DEFAULT '',
	class        TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (pipeline, partition_id, attempt)
);
CREATE INDEX IF NOT EXISTS attempts_run ON attempts (pipeline, run_label);`

// busyTimeout is how long a statement waits for another process's write to the store before it fails.
const busyTimeout = 30 * time.Second

// Open opens (creating if needed) the store file at path and its directory.
func Open(ctx context.Context, path string) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("state store: create directory %s: %w", dir, err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("state store %s: %w", path, err)
	}
	// Processes that open a new store together race to switch it to WAL and create its tables; SQLite answers
	// the loser "database is locked" at once, without waiting out busy_timeout, so that is retried here.
	giveUp := time.Now().Add(busyTimeout)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err = prepare(ctx, db)
		if err == nil {
			return &Store{db: db, path: path}, nil
		}
		var se *sqlite.Error
		if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || ctx.Err() != nil || time.Now().After(giveUp) {
			db.Close()
			return nil, fmt.Errorf("state store %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// prepare creates the tables of a new store and migrates those of an older one.
func prepare(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, schemaSQL); err != nil {
		return fmt.Errorf("create tables: %w", err)
	}
	if err := migrate(ctx, db); err != nil {
		return fmt.Errorf("add the columns of this version to the tables of an older one: %w", err)
	}
	return nil
}

// migrate adds to the tables of a store made by an older jetflow the columns this version records (a table it
// lacks, such as attempts, is made by schemaSQL's CREATE TABLE IF NOT EXISTS): what an older
// version wrote stays readable (with the columns' defaults) and it can still write the store, as it names every
// column it writes. The check and the change run in one immediate transaction, so processes opening the store
// together add each column once.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('partitions') WHERE name = 'worker'`).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE partitions ADD COLUMN worker INTEGER NOT NULL DEFAULT 0`); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("state store %s: %s: %w", s.path, op, err)
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Claim implements state.Store.
func (s *Store) Claim(ctx context.Context, c state.Claim) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil) // immediate: takes the write lock now, so two claims serialize
	if err != nil {
		return 0, s.wrap("claim", err)
	}
	defer tx.Rollback()
	now := time.Now()
	var status, owner, fingerprint string
	var attempts int
	var leaseUntil int64
	err = tx.QueryRowContext(ctx, `SELECT status, owner, attempts, lease_until, fingerprint FROM partitions WHERE pipeline = ? AND id = ?`,
		c.Pipeline, c.ID).Scan(&status, &owner, &attempts, &leaseUntil, &fingerprint)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		attempts = 0
	case err != nil:
		return 0, s.wrap("claim", err)
	case state.Status(status) == state.StatusRunning && owner != c.Owner && owner != c.TakeOverFrom && leaseUntil > now.UnixMilli():
		return 0, state.ErrLeased
	case state.Status(status) == state.StatusCommitted && !c.Force && c.Fingerprint != "" && fingerprint == c.Fingerprint:
		return 0, state.ErrCommitted
	}
	attempts++
	_, err = tx.ExecContext(ctx, `INSERT INTO partitions (pipeline, id, run_label, key, idx, lane, status, attempts, owner, lease_until, started_at, error, worker)
		VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, '', ?)
		ON CONFLICT (pipeline, id) DO UPDATE SET status = 'running', attempts = excluded.attempts, owner = excluded.owner,
			lease_until = excluded.lease_until, started_at = excluded.started_at, error = '', idx = excluded.idx, worker = excluded.worker,
			rows = 0`,
		c.Pipeline, c.ID, c.RunLabel, c.Key, c.Index, c.Lane, attempts, c.Owner, now.Add(c.Lease).UnixMilli(), now.UnixMilli(), c.Worker)
	if err != nil {
		return 0, s.wrap("claim", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO attempts (pipeline, partition_id, attempt, run_label, owner, worker, status, started_at)
		VALUES (?, ?, ?, ?, ?, ?, 'running', ?)
		ON CONFLICT (pipeline, partition_id, attempt) DO UPDATE SET run_label = excluded.run_label, owner = excluded.owner,
			worker = excluded.worker, status = 'running', rows = 0, started_at = excluded.started_at, finished_at = 0,
			error = '', cause = '', class = ''`,
		c.Pipeline, c.ID, attempts, c.RunLabel, c.Owner, c.Worker, now.UnixMilli())
	if err != nil {
		return 0, s.wrap("claim: record attempt", err)
	}
	return attempts, s.wrap("claim", tx.Commit())
}

// Renew implements state.Store.
func (s *Store) Renew(ctx context.Context, pipeline, id, owner string, lease time.Duration, rows int64) error {
	res, err := s.db.ExecContext(ctx, `UPDATE partitions SET lease_until = ?, rows = ? WHERE pipeline = ? AND id = ? AND owner = ? AND status = 'running'`,
		time.Now().Add(lease).UnixMilli(), rows, pipeline, id, owner)
	if err != nil {
		return s.wrap("renew lease", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return state.ErrLeaseLost
	}
	return nil
}

// Commit implements state.Store.
func (s *Store) Commit(ctx context.Context, p state.Partition) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap("commit", err)
	}
	defer tx.Rollback()
	finished := p.FinishedAt
	if finished.IsZero() {
		finished = time.Now()
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO partitions (pipeline, id, run_label, key, idx, lane, status, attempts, rows, bytes, fingerprint, tokens, checkpoint, owner, lease_until, started_at, finished_at, error)
		VALUES (?, ?, ?, ?, ?, ?, 'committed', ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, '')
		ON CONFLICT (pipeline, id) DO UPDATE SET status = 'committed', rows = excluded.rows, bytes = excluded.bytes,
			fingerprint = excluded.fingerprint, tokens = excluded.tokens, checkpoint = excluded.checkpoint,
			owner = excluded.owner, lease_until = 0, finished_at = excluded.finished_at, error = '',
			attempts = MAX(partitions.attempts, excluded.attempts)`,
		p.Pipeline, p.ID, p.RunLabel, p.Key, p.Index, p.Lane, p.Attempts, p.Rows, p.Bytes, p.Fingerprint, p.Tokens,
		p.Checkpoint, p.Owner, unixMilli(p.StartedAt), finished.UnixMilli())
	if err != nil {
		return s.wrap("commit", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO attempts (pipeline, partition_id, attempt, run_label, owner, status, rows, started_at, finished_at)
		VALUES (?, ?, ?, ?, ?, 'committed', ?, ?, ?)
		ON CONFLICT (pipeline, partition_id, attempt) DO UPDATE SET status = 'committed', rows = excluded.rows,
			finished_at = excluded.finished_at, error = '', cause = '', class = ''`,
		p.Pipeline, p.ID, max(p.Attempts, 1), p.RunLabel, p.Owner, p.Rows, unixMilli(p.StartedAt), finished.UnixMilli())
	if err != nil {
		return s.wrap("commit: record attempt", err)
	}
	if p.Lane != "" && p.Checkpoint != "" {
		_, err = tx.ExecContext(ctx, `INSERT INTO checkpoints (pipeline, lane, checkpoint, partition_id) VALUES (?, ?, ?, ?)
			ON CONFLICT (pipeline, lane) DO UPDATE SET checkpoint = excluded.checkpoint, partition_id = excluded.partition_id`,
			p.Pipeline, p.Lane, p.Checkpoint, p.ID)
		if err != nil {
			return s.wrap("commit checkpoint", err)
		}
	}
	return s.wrap("commit", tx.Commit())
}

// Fail implements state.Store.
func (s *Store) Fail(ctx context.Context, pipeline, id, owner string, status state.Status, f state.Failure) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap("record failure", err)
	}
	defer tx.Rollback()
	now := time.Now().UnixMilli()
	// The attempt first: the partition's row names it only while the owner's attempt is running.
	_, err = tx.ExecContext(ctx, `UPDATE attempts SET status = ?, error = ?, cause = ?, class = ?, finished_at = ?,
			rows = (SELECT rows FROM partitions WHERE pipeline = ? AND id = ?)
		WHERE pipeline = ? AND partition_id = ? AND attempt = (SELECT attempts FROM partitions
			WHERE pipeline = ? AND id = ? AND owner = ? AND status = 'running')`,
		string(status), f.Error, f.Cause, f.Class, now, pipeline, id, pipeline, id, pipeline, id, owner)
	if err != nil {
		return s.wrap("record failure", err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE partitions SET status = ?, error = ?, lease_until = 0, finished_at = ?
		WHERE pipeline = ? AND id = ? AND owner = ? AND status = 'running'`,
		string(status), f.Error, now, pipeline, id, owner)
	if err != nil {
		return s.wrap("record failure", err)
	}
	return s.wrap("record failure", tx.Commit())
}

// Attempts implements state.Store.
func (s *Store) Attempts(ctx context.Context, pipeline, runLabel string) ([]state.Attempt, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT pipeline, run_label, partition_id, attempt, owner, worker, status, rows,
			started_at, finished_at, error, cause, class
		FROM attempts WHERE pipeline = ? AND (? = '' OR run_label = ?) ORDER BY run_label, partition_id, attempt`,
		pipeline, runLabel, runLabel)
	if err != nil {
		return nil, s.wrap("list attempts", err)
	}
	defer rows.Close()
	out, err := state.Collect(rows, func(r state.Scanner) (state.Attempt, error) {
		var a state.Attempt
		var status string
		var started, finished int64
		err := r.Scan(&a.Pipeline, &a.RunLabel, &a.PartitionID, &a.Number, &a.Owner, &a.Worker, &status, &a.Rows,
			&started, &finished, &a.Error, &a.Cause, &a.Class)
		a.Status, a.StartedAt, a.FinishedAt = state.Status(status), fromMilli(started), fromMilli(finished)
		return a, err
	})
	return out, s.wrap("list attempts", err)
}

const partitionCols = `pipeline, run_label, id, key, idx, lane, status, attempts, rows, bytes, fingerprint, tokens, checkpoint, owner, lease_until, started_at, finished_at, error, worker`

func scanPartition(row state.Scanner) (state.Partition, error) {
	var p state.Partition
	var status string
	var lease, started, finished int64
	err := row.Scan(&p.Pipeline, &p.RunLabel, &p.ID, &p.Key, &p.Index, &p.Lane, &status, &p.Attempts, &p.Rows, &p.Bytes,
		&p.Fingerprint, &p.Tokens, &p.Checkpoint, &p.Owner, &lease, &started, &finished, &p.Error, &p.Worker)
	p.Status = state.Status(status)
	p.LeaseUntil, p.StartedAt, p.FinishedAt = fromMilli(lease), fromMilli(started), fromMilli(finished)
	return p, err
}

// Get implements state.Store.
func (s *Store) Get(ctx context.Context, pipeline, id string) (state.Partition, bool, error) {
	p, err := scanPartition(s.db.QueryRowContext(ctx, `SELECT `+partitionCols+` FROM partitions WHERE pipeline = ? AND id = ?`, pipeline, id))
	p, ok, err := state.One(p, err, sql.ErrNoRows)
	return p, ok, s.wrap("get partition", err)
}

// List implements state.Store.
func (s *Store) List(ctx context.Context, pipeline, runLabel string) ([]state.Partition, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+partitionCols+` FROM partitions WHERE pipeline = ? AND (? = '' OR run_label = ?)
		ORDER BY run_label, idx, id`, pipeline, runLabel, runLabel)
	if err != nil {
		return nil, s.wrap("list partitions", err)
	}
	defer rows.Close()
	out, err := state.Collect(rows, scanPartition)
	return out, s.wrap("list partitions", err)
}

// Reset implements state.Store.
func (s *Store) Reset(ctx context.Context, pipeline, runLabel string, ids []string) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.wrap("reset", err)
	}
	defer tx.Rollback()
	var n int64
	if len(ids) == 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM attempts WHERE pipeline = ? AND run_label = ?`, pipeline, runLabel); err != nil {
			return 0, s.wrap("reset", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM partitions WHERE pipeline = ? AND run_label = ?`, pipeline, runLabel)
		if err != nil {
			return 0, s.wrap("reset", err)
		}
		n, _ = res.RowsAffected()
	}
	for _, id := range ids {
		_, err := tx.ExecContext(ctx, `DELETE FROM attempts WHERE pipeline = ? AND partition_id = ? AND (? = '' OR run_label = ?)`, pipeline, id, runLabel, runLabel)
		if err != nil {
			return 0, s.wrap("reset", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM partitions WHERE pipeline = ? AND id = ? AND (? = '' OR run_label = ?)`, pipeline, id, runLabel, runLabel)
		if err != nil {
			return 0, s.wrap("reset", err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return int(n), s.wrap("reset", tx.Commit())
}

// Checkpoint implements state.Store.
func (s *Store) Checkpoint(ctx context.Context, pipeline, lane string) (string, bool, error) {
	return s.text(ctx, "read checkpoint", `SELECT checkpoint FROM checkpoints WHERE pipeline = ? AND lane = ?`, pipeline, lane)
}

// Watermark implements state.Store.
func (s *Store) Watermark(ctx context.Context, pipeline, name string) (string, bool, error) {
	return s.text(ctx, "read watermark", `SELECT value FROM watermarks WHERE pipeline = ? AND name = ?`, pipeline, name)
}

// text reads the one text value query selects; ok is false when there is no row.
func (s *Store) text(ctx context.Context, op, query string, args ...any) (string, bool, error) {
	v, ok, err := state.ScanText(s.db.QueryRowContext(ctx, query, args...), sql.ErrNoRows)
	return v, ok, s.wrap(op, err)
}

// SetWatermark implements state.Store.
func (s *Store) SetWatermark(ctx context.Context, pipeline, name, value string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO watermarks (pipeline, name, value) VALUES (?, ?, ?)
		ON CONFLICT (pipeline, name) DO UPDATE SET value = excluded.value`, pipeline, name, value)
	return s.wrap("write watermark", err)
}

// SetWatermarkIfEmpty implements state.Store.
func (s *Store) SetWatermarkIfEmpty(ctx context.Context, pipeline, name, value string) (string, error) {
	_, err := s.db.ExecContext(ctx, `INSERT INTO watermarks (pipeline, name, value) VALUES (?, ?, ?)
		ON CONFLICT (pipeline, name) DO UPDATE SET value = excluded.value WHERE watermarks.value = ''`, pipeline, name, value)
	if err != nil {
		return "", s.wrap("write watermark", err)
	}
	v, _, err := s.Watermark(ctx, pipeline, name)
	return v, err
}

// AddIntent implements state.Store.
func (s *Store) AddIntent(ctx context.Context, in state.Intent) error {
	created := in.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO intents (pipeline, partition_id, owner, path, attempt, loader, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (pipeline, partition_id, owner, path) DO NOTHING`,
		in.Pipeline, in.PartitionID, in.Owner, in.Path, in.Attempt, in.Loader, created.UnixMilli())
	return s.wrap("record intent", err)
}

// Intents implements state.Store.
func (s *Store) Intents(ctx context.Context, pipeline string) ([]state.Intent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT pipeline, partition_id, owner, path, attempt, loader, created_at FROM intents
		WHERE pipeline = ? ORDER BY partition_id, owner, path`, pipeline)
	if err != nil {
		return nil, s.wrap("list intents", err)
	}
	defer rows.Close()
	out, err := state.Collect(rows, func(r state.Scanner) (state.Intent, error) {
		var in state.Intent
		var created int64
		err := r.Scan(&in.Pipeline, &in.PartitionID, &in.Owner, &in.Path, &in.Attempt, &in.Loader, &created)
		in.CreatedAt = fromMilli(created)
		return in, err
	})
	return out, s.wrap("list intents", err)
}

// ClearIntents implements state.Store.
func (s *Store) ClearIntents(ctx context.Context, pipeline, partitionID, owner string, paths ...string) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.wrap("clear intents", err)
	}
	defer tx.Rollback()
	var n int64
	if len(paths) == 0 {
		res, err := tx.ExecContext(ctx, `DELETE FROM intents WHERE pipeline = ? AND partition_id = ? AND owner = ?`, pipeline, partitionID, owner)
		if err != nil {
			return 0, s.wrap("clear intents", err)
		}
		n, _ = res.RowsAffected()
	}
	for _, p := range paths {
		res, err := tx.ExecContext(ctx, `DELETE FROM intents WHERE pipeline = ? AND partition_id = ? AND owner = ? AND path = ?`,
			pipeline, partitionID, owner, p)
		if err != nil {
			return 0, s.wrap("clear intents", err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return int(n), s.wrap("clear intents", tx.Commit())
}

// Close implements state.Store.
func (s *Store) Close() error { return s.db.Close() }

var _ state.Store = (*Store)(nil)
