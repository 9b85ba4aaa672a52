// Package state records what the engine has done: each partition's status, attempts, rows, bytes and the
// loaders' commit tokens, leases that keep two workers off the same partition, stream checkpoints and incremental
// watermarks. The engine talks only to the Store interface, so an embedded SQLite file (state/sqlite, one machine)
// and a shared PostgreSQL database (state/postgres, many machines) are interchangeable; this package links
// neither. state/stores opens the one a pipeline names, and state/statetest is the suite both pass.
package state

import (
	"context"
	"errors"
	"time"
)

// Status is where a partition stands.
type Status string

const (
	StatusRunning   Status = "running"   // a worker holds the lease and is loading it
	StatusCommitted Status = "committed" // every loader committed it
	StatusFailed    Status = "failed"    // the last attempt failed; the next run retries it
	StatusAborted   Status = "aborted"   // the run was interrupted; nothing of this attempt is visible
)

// ErrLeased is returned by Claim when another worker holds a live lease on the partition.
var ErrLeased = errors.New("partition is being loaded by another worker")

// ErrCommitted is returned by Claim when the partition was committed with the same spec fingerprint meanwhile
// (by another worker) and the claim does not force a reload.
var ErrCommitted = errors.New("partition is already committed")

// ErrLeaseLost is returned when a worker's lease was taken over (it expired and another worker claimed it).
var ErrLeaseLost = errors.New("lease on partition lost to another worker")

// Partition is the stored record of one partition.
type Partition struct {
	Pipeline    string
	RunLabel    string
	ID          string
	Key         string
	Index       int
	Lane        string
	Status      Status
	Attempts    int
	Rows        int64 // committed rows; while running, the rows read so far (recorded at each lease renewal)
	Bytes       int64
	Fingerprint string // spec fingerprint of the committed output
	Tokens      string // JSON object: loader name → commit token
	Checkpoint  string // streams: where the lane resumes after this partition
	Owner       string
	Worker      int // which worker of Owner's process ran the last attempt (1-based); 0 when not recorded
	LeaseUntil  time.Time
	StartedAt   time.Time
	FinishedAt  time.Time
	Error       string
}

// Failure is why an attempt failed, as Fail records it.
type Failure struct {
	Error string // the whole message
	Cause string // the innermost error of its chain: the first cause
	Class string // what kind of fault: see stage.ErrorClass
}

// Attempt is the stored record of one attempt at a partition. A partition's record keeps its last attempt only;
// these keep each, so a retried partition shows what went wrong before.
type Attempt struct {
	Pipeline    string
	RunLabel    string
	PartitionID string
	Number      int // 1-based, as Claim returned it
	Owner       string
	Worker      int
	Status      Status
	Rows        int64 // committed rows; for a failed attempt, the rows it had read at its last lease renewal
	StartedAt   time.Time
	FinishedAt  time.Time
	Failure
}

// Claim is a worker's request to load a partition.
type Claim struct {
	Pipeline string
	RunLabel string
	ID       string
	Key      string
	Index    int
	Lane     string
	Owner    string
	Worker   int // which worker of the owner's process claims it (1-based), for timelines; 0: unknown
	Lease    time.Duration
	// Fingerprint of the spec this worker loads with: a partition committed with the same fingerprint is not
	// claimed again (ErrCommitted) unless Force is set.
	Fingerprint string
	Force       bool
	// TakeOverFrom names an owner known to be dead (its process is gone): its live lease does not block.
	TakeOverFrom string
}

// Store is the state store. Every method is safe for concurrent use, also across processes sharing the store.
type Store interface {
	// Claim takes the lease of a partition for c.Owner and counts an attempt. It fails with ErrLeased while
	// another owner's lease is live; an expired lease is taken over.
	Claim(ctx context.Context, c Claim) (attempt int, err error)
	// Renew extends the owner's lease and records rows, how many rows the attempt has read so far (its
	// progress, which pages of runs in progress show); ErrLeaseLost if another worker took it over.
	Renew(ctx context.Context, pipeline, id, owner string, lease time.Duration, rows int64) error
	// Commit records a committed partition and releases the lease.
	Commit(ctx context.Context, p Partition) error
	// Fail records a failed or aborted attempt and releases the lease.
	Fail(ctx context.Context, pipeline, id, owner string, status Status, f Failure) error
	// Get returns one partition; ok is false when it was never claimed.
	Get(ctx context.Context, pipeline, id string) (p Partition, ok bool, err error)
	// List returns the partitions of a run instance (every run instance when runLabel is ""), by run and index.
	List(ctx context.Context, pipeline, runLabel string) ([]Partition, error)
	// Attempts returns the attempts of a run instance's partitions (every run instance when runLabel is ""), by
	// run, partition id and attempt number: Claim adds one, Commit and Fail record how it ended.
	Attempts(ctx context.Context, pipeline, runLabel string) ([]Attempt, error)
	// Reset forgets partitions (and their attempts) so the next run loads them again; ids empty means the whole
	// run instance.
	Reset(ctx context.Context, pipeline, runLabel string, ids []string) (int, error)
	// Checkpoint returns the checkpoint of the newest committed partition of a stream lane.
	Checkpoint(ctx context.Context, pipeline, lane string) (checkpoint string, ok bool, err error)
	// Watermark and SetWatermark keep incremental positions, as text at full precision.
	Watermark(ctx context.Context, pipeline, name string) (value string, ok bool, err error)
	SetWatermark(ctx context.Context, pipeline, name, value string) error
	// SetWatermarkIfEmpty stores value only where the watermark is absent or empty, and returns the value stored
	// afterwards: value, or what another worker stored first. Workers that race to pin one plan agree on it.
	SetWatermarkIfEmpty(ctx context.Context, pipeline, name, value string) (stored string, err error)
	// AddIntent records, before an attempt writes a file, that it is about to: a killed attempt leaves the
	// intent behind, and the next run removes what it names. Adding the same intent twice is no error.
	AddIntent(ctx context.Context, in Intent) error
	// Intents returns the pipeline's intents, by partition id, owner and path.
	Intents(ctx context.Context, pipeline string) ([]Intent, error)
	// ClearIntents forgets the intents of owner's attempts at a partition: those naming paths, or all when
	// paths is empty. It returns how many it forgot.
	ClearIntents(ctx context.Context, pipeline, partitionID, owner string, paths ...string) (int, error)
	Close() error
}

// Intent names a file (or a set of files, as the loader that recorded it understands Path) that an attempt at a
// partition is about to write. While the attempt's owner holds a live lease on the partition the files are its
// work in progress; once it does not (the process was killed), they are leftovers, unless a commit made them
// part of the output, which only the loader can tell.
type Intent struct {
	Pipeline    string
	PartitionID string
	Owner       string // the lease owner of the attempt
	Attempt     int
	Loader      string // the name of the loader that writes the files, which alone can remove them
	Path        string
	CreatedAt   time.Time
}

// Scanner is one row of a query's result, as database/sql and pgx both give it.
type Scanner interface{ Scan(dest ...any) error }

// Rows is a query's result, as database/sql and pgx both give it.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// One is the result of a query for at most one row that gave v and err: ok is false when err is noRows, the
// driver's "no row" (sql.ErrNoRows, pgx.ErrNoRows), which is then no error.
func One[T any](v T, err, noRows error) (_ T, ok bool, _ error) {
	var zero T
	if errors.Is(err, noRows) {
		return zero, false, nil
	}
	if err != nil {
		return zero, false, err
	}
	return v, true, nil
}

// ScanText reads the one text value of row; ok is false when the query found no row (see One).
func ScanText(row Scanner, noRows error) (v string, ok bool, err error) {
	err = row.Scan(&v)
	return One(v, err, noRows)
}

// Collect reads every row of rows with scan: the partitions a backend's List returns, its Intents.
func Collect[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		p, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
