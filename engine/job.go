// Package engine runs one run instance of a pipeline: it plans the partitions, skips those already committed,
// loads the rest on a pool of workers (consumer → transformers → loaders with bounded queues between them),
// retries failed partitions with backoff, and records every commit in the state store. Everything the stages
// share — retries, concurrency, leases, metrics, progress — lives here once, not in each stage.
package engine

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jetflow-dev/jetflow/stage"
)

// Job is a built pipeline, ready to run.
type Job struct {
	Pipeline     string // names the partitions with the run instance and key (stage.PartitionID)
	Fingerprint  string // of the output-relevant spec; a committed partition with another fingerprint is stale
	Source       stage.Source
	SourceName   string // label of the consumer in metrics; default "consumer"
	Transformers []NamedTransformer
	Loaders      []NamedLoader
	Retry        RetryPolicy
	// Redactor holds the pipeline's secrets: every log line, stored error and report field passes through it,
	// whatever produced the text. Nil: nothing is redacted.
	Redactor *stage.Redactor
}

// NamedTransformer is a transformer with the label it reports metrics under.
type NamedTransformer = stage.NamedTransformer

// NamedLoader is a loader with the label it reports metrics and commit tokens under.
type NamedLoader struct {
	Name string
	stage.Loader
}

// RetryPolicy says how often and how patiently a failed partition is tried again.
type RetryPolicy struct {
	Attempts   int // total tries of one partition, at least 1
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// Options tune one run.
type Options struct {
	Workers int    // partitions loaded at once; default 1
	Force   bool   // load committed partitions again, replacing their output
	Owner   string // this worker's name in leases; default host:pid
	Shard   int    // with Shards > 1: load only the partitions whose index % Shards == Shard
	Shards  int
	Queue   int           // batches buffered between reading and loading one partition; default 4
	Lease   time.Duration // how long a claim holds without renewal; default DefaultLease
	Logger  *slog.Logger
	Tracker *Tracker // progress counters for a display; may be nil
	// PollInterval is how often a worker looks again at partitions another worker is loading; default 500ms.
	PollInterval time.Duration
	// OnPartition, when set, is told each partition's result as soon as it is known (metrics). It is called from
	// the workers' goroutines, possibly at once.
	OnPartition func(PartitionResult)
}

func (o *Options) defaults() error {
	if o.Workers <= 0 {
		o.Workers = 1
	}
	if o.Queue <= 0 {
		o.Queue = 4
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Tracker == nil {
		o.Tracker = &Tracker{}
	}
	if o.Shards < 0 || (o.Shards > 0 && (o.Shard < 0 || o.Shard >= o.Shards)) {
		return fmt.Errorf("shard %d/%d: want 0 <= shard < shards", o.Shard, o.Shards)
	}
	return nil
}

func (j *Job) check() error {
	if j.Source == nil || len(j.Loaders) == 0 {
		return fmt.Errorf("job %q is incomplete: it needs a source, at least one loader", j.Pipeline)
	}
	if j.SourceName == "" {
		j.SourceName = "consumer"
	}
	if j.Retry.Attempts < 1 {
		j.Retry.Attempts = 1
	}
	return nil
}
