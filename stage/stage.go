// Package stage holds the contracts between the jetflow engine and the stages it runs: consumers that read a
// source into Arrow batches, transformers that reshape batches, and loaders that commit them, one partition at a
// time. It also holds the registry that maps a YAML `type:` to a stage's config struct and constructor.
package stage

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// RunInstance is the business unit one run covers: a day, an hour, or the open-ended window of a stream.
type RunInstance struct {
	Start time.Time // inclusive, UTC
	End   time.Time // exclusive, UTC; zero for a stream
	Label string    // canonical text ("2026-11-22", "2026-11-22T13", "stream"); part of every partition id
}

// Partition is a deterministic slice of one run instance: the unit of retry, of parallel work and of commit.
// Its bounds follow from the row data alone, so a re-run cuts exactly the same partitions.
type Partition struct {
	// ID is set by the engine: a hash of the pipeline name, the output-relevant part of the spec, the run
	// instance and Key. Loaders name their output after it.
	ID string
	// Key is the canonical text of the bounds ("id[0,100000)", "updated_at[2026-11-22T00:00:00Z,...)",
	// "orders/3@1200"); two partitions of one run instance never share a Key.
	Key string
	// Index orders the partitions of a plan; it is not part of the id.
	Index int
	// Lo and Hi are the bounds for query templates ({{ .Partition.Lo }}): int64, time.Time or string.
	Lo, Hi any
	// Run is the run instance the partition belongs to.
	Run RunInstance
	// Lane names the independent sequence a stream partition belongs to (a Kafka topic-partition); "" when bounded.
	Lane string
}

// Consumer reads a bounded source. Partitions must be deterministic for a given run instance and config, and
// Read must deliver exactly the rows inside the partition's bounds.
type Consumer interface {
	Source
	Partitions(ctx context.Context, run RunInstance) ([]Partition, error)
	// Read streams the partition's rows to out. out owns nothing it is given: it retains what it keeps, and Read
	// releases each batch after out returns. An error from out stops Read and is returned as is.
	Read(ctx context.Context, p Partition, out func(arrow.RecordBatch) error) error
}

// Source is what every consumer, bounded or not, provides.
type Source interface {
	// Schema is the Arrow schema of every batch the consumer emits, inferred from the source where it must be.
	Schema(ctx context.Context) (*arrow.Schema, error)
}

// DeclaredSchema is implemented by sources whose schema follows from their config alone, so that
// `jetflow validate` can check a whole pipeline without touching the source. ok is false when the schema is only
// known at the source (then `validate --connect` calls Schema).
type DeclaredSchema interface {
	DeclaredSchema() (schema *arrow.Schema, ok bool, err error)
}

// Watermarked is implemented by consumers that load incrementally: only rows past a watermark (the greatest
// updated_at loaded so far). Before planning, the engine hands them the stored watermark (ok false on the first
// run); Partitions cuts from it. Once every partition of the run is committed, the engine stores the watermark of
// the last partition of the plan that reports one. A run with a failed partition stores nothing, so the next run
// plans from the same watermark, cuts the same partition keys and replaces what was committed.
type Watermarked interface {
	WatermarkName() (name string, ok bool)
	ResumeWatermark(value string, ok bool)
	PartitionWatermark(p Partition) (value string, ok bool)
}

// PlanPinner is implemented by consumers whose partitions depend on the source's state when they are cut, not only
// on the config and run instance: a table's size in pages. When PinPlan is true the engine keeps the first plan of
// each run instance in the state store and plans exactly it again (a retry, --force, another worker), so a
// partition committed before keeps its key and bounds.
type PlanPinner interface {
	PinPlan() bool
}

// StreamConsumer reads an unbounded source (Kafka, a generator without end). It cuts its input into partitions
// by rows, bytes or time and hands each one to handle, which loads and commits it before returning.
type StreamConsumer interface {
	Source
	// Stream runs until ctx is cancelled (then it returns nil after the partition in flight is committed or
	// aborted) or until handle fails (then it returns that error). resume returns the checkpoint committed with the
	// newest partition of a lane, so a restart continues exactly after it. Stream may call handle from several
	// goroutines at once, one per lane.
	Stream(ctx context.Context, run RunInstance, resume ResumeFunc, handle PartitionHandler) error
}

// BadRecordCounter is implemented by sources that leave bad records out of their batches (on_error: skip or
// dead_letter): how many since the source was built. The engine reports it with the source's stage metrics, so a
// record left out is counted where a run's numbers are read, never silently dropped.
type BadRecordCounter interface {
	BadRecords() int64
}

// LagReporter is implemented by stream consumers that know how far behind their source they are: for each lane
// they read, the records the source holds past the lane's committed position (Kafka: the partition's high
// watermark minus the next offset to commit). Metrics report it while a stream runs.
type LagReporter interface {
	Lag() map[string]int64
}

// ByteLagReporter is implemented by stream consumers whose distance behind their source is a number of bytes, not
// records: for each lane, the bytes the source holds past the lane's committed position (PostgreSQL change
// capture: the WAL past the slot's confirmed position). Metrics report it while a stream runs.
type ByteLagReporter interface {
	LagBytes() map[string]int64
}

// CheckpointComparer is implemented by stream consumers whose checkpoints have an order (Kafka offsets, row
// numbers). With it the engine can find a lane's newest checkpoint among those a destination holds, when the
// state store has none (a lost or new state store): Compare returns <0, 0 or >0 as a is before, at or after b.
type CheckpointComparer interface {
	CompareCheckpoints(a, b string) (int, error)
}

// CompareIntCheckpoints orders checkpoints that are decimal integers (an offset, a row number), for consumers
// that implement CheckpointComparer with such checkpoints.
func CompareIntCheckpoints(a, b string) (int, error) {
	x, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("checkpoint %q is not an offset: %w", a, err)
	}
	y, err := strconv.ParseInt(b, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("checkpoint %q is not an offset: %w", b, err)
	}
	return cmp.Compare(x, y), nil
}

// CheckpointRecoverer is implemented by loaders that record each stream commit's lane and checkpoint in the
// destination (a commit marker, a snapshot summary). Checkpoints returns, per lane, the checkpoints of the
// partitions committed for pipeline: what a stream resumes from when the state store lost them.
type CheckpointRecoverer interface {
	Checkpoints(ctx context.Context, pipeline string, run RunInstance) (map[string][]string, error)
}

// ResumeFunc returns the checkpoint committed with the newest partition of lane; ok is false for a new lane.
type ResumeFunc func(ctx context.Context, lane string) (checkpoint string, ok bool, err error)

// PartitionHandler loads one stream partition: it calls read once, writes what read emits to every loader and
// commits it together with the checkpoint read returns.
type PartitionHandler func(ctx context.Context, p Partition, read StreamRead) error

// StreamRead emits the partition's batches to out (ownership as in Consumer.Read) and returns the checkpoint
// that resumes the lane right after this partition.
type StreamRead func(ctx context.Context, out func(arrow.RecordBatch) error) (checkpoint string, err error)

// Transformer reshapes batches. OutputSchema lets `validate` carry the schema through a pipeline without data;
// Transform must return batches of exactly that schema.
type Transformer interface {
	OutputSchema(in *arrow.Schema) (*arrow.Schema, error)
	// Transform does not own batch (the engine releases it); the caller owns the result, which may be batch
	// itself after a Retain. A nil result with a nil error drops the batch.
	Transform(ctx context.Context, batch arrow.RecordBatch) (arrow.RecordBatch, error)
}

// PartitionTransformer is implemented by transformers that keep state within a partition (dedupe) or need its
// identity (metadata columns): the engine asks for a fresh instance per partition.
type PartitionTransformer interface {
	Transformer
	ForPartition(p Partition) (Transformer, error)
}

// Flusher is implemented by partition instances of transformers that hold rows back until the partition ends
// (dedupe keeping the last row of a key). After the partition's last batch the engine calls Flush once on each
// such instance, in pipeline order, and passes what it returns through the transformers after it. A nil batch
// with a nil error means nothing was held back. The caller owns the returned batch.
type Flusher interface {
	Flush(ctx context.Context) (arrow.RecordBatch, error)
}

// Loader writes partitions to a destination.
type Loader interface {
	// CheckSchema tells whether the loader can write batches of this schema (partition columns exist, types are
	// supported); validate calls it without touching the destination.
	CheckSchema(schema *arrow.Schema) error
	Begin(ctx context.Context, schema *arrow.Schema, p Partition) (PartitionWriter, error)
}

// PartitionWriter receives one partition's batches. Nothing it writes is visible before Commit returns.
type PartitionWriter interface {
	// Write does not own batch: it retains what it keeps past its return.
	Write(ctx context.Context, batch arrow.RecordBatch) error
	// Commit makes the partition visible atomically. Committing a partition id that is already committed
	// replaces the earlier output, never adds to it, so a retry or a racing worker leaves exactly one copy.
	Commit(ctx context.Context, info CommitInfo) (CommitResult, error)
	// Abort discards everything written; it is safe after a failed Write or Commit and leaves nothing visible.
	Abort(ctx context.Context) error
}

// CommitInfo is what a loader records with a commit (in a marker, a snapshot summary), so the destination alone
// tells which partitions it holds.
type CommitInfo struct {
	Pipeline    string
	RunInstance string
	PartitionID string
	Key         string
	Lane        string // streams: the lane (a Kafka topic-partition) the partition belongs to
	Checkpoint  string // streams: where the lane resumes after this partition
	Rows        int64
}

// CommitResult reports what a commit made visible.
type CommitResult struct {
	Token string // loader-specific proof of the commit (marker path, snapshot id)
	Files int
	Bytes int64
}
