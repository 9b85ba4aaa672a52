package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// Tracker holds live counters of a run, read by a progress display while the run goes on.
type Tracker struct {
	Started    time.Time
	Total      atomic.Int64 // partitions this worker is responsible for
	Committed  atomic.Int64 // loaded and committed in this run
	Skipped    atomic.Int64 // already committed before, or by another worker
	Failed     atomic.Int64
	InFlight   atomic.Int64
	Rows       atomic.Int64 // rows read from the source in this run (retried attempts count again)
	Bytes      atomic.Int64 // Arrow bytes read
	Written    atomic.Int64 // bytes the loaders reported at commit
	RowsLoaded atomic.Int64 // rows of committed partitions
}

// StageStats is the observability contract every stage reports under, with the same names for every stage type:
// rows in, rows out, bytes, errors and time spent, labelled by the stage's name and kind.
type StageStats struct {
	Stage   string `json:"stage"`
	Kind    string `json:"kind"`
	RowsIn  int64  `json:"rows_in"`
	RowsOut int64  `json:"rows_out"`
	Bytes   int64  `json:"bytes"`
	Errors  int64  `json:"errors"`
	// BadRecords counts the source's records left out as bad (skipped or dead-lettered), for sources that
	// count them (stage.BadRecordCounter).
	BadRecords int64         `json:"bad_records"`
	Duration   time.Duration `json:"duration_ns"`
}

// stageMeter accumulates one stage's stats from many workers.
type stageMeter struct {
	mu sync.Mutex
	s  StageStats
}

func (m *stageMeter) add(rowsIn, rowsOut, bytes int64, d time.Duration, failed bool) {
	m.mu.Lock()
	m.s.RowsIn += rowsIn
	m.s.RowsOut += rowsOut
	m.s.Bytes += bytes
	m.s.Duration += d
	if failed {
		m.s.Errors++
	}
	m.mu.Unlock()
}

func (m *stageMeter) snapshot() StageStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s
}

// PartitionResult is the outcome of one partition in a run.
type PartitionResult struct {
	ID       string `json:"id"`
	Key      string `json:"key"`
	Outcome  string `json:"outcome"` // committed, skipped, failed, aborted
	Attempts int    `json:"attempts"`
	Rows     int64  `json:"rows"`
	Bytes    int64  `json:"bytes"`
	Error    string `json:"error,omitempty"`
	// Duration is the time from the first claim to the outcome, retries and their backoff included; 0 when skipped.
	Duration time.Duration `json:"duration_ns"`

	err error // the last attempt's error, for the engine to tell a fatal fault
}

// Report sums up a run.
type Report struct {
	Pipeline   string            `json:"pipeline"`
	Run        string            `json:"run"`
	Partitions []PartitionResult `json:"partitions"`
	Stages     []StageStats      `json:"stages"`
	Duration   time.Duration     `json:"duration_ns"`
	Committed  int               `json:"committed"`
	Skipped    int               `json:"skipped"`
	Failed     int               `json:"failed"`
	Aborted    int               `json:"aborted"`
	Rows       int64             `json:"rows"`
	Bytes      int64             `json:"bytes"`
}

// OK tells whether every partition of the run is committed.
func (r *Report) OK() bool { return r.Failed == 0 && r.Aborted == 0 }

// tally counts the partitions' outcomes into the report's totals.
func (r *Report) tally() {
	for _, p := range r.Partitions {
		switch p.Outcome {
		case "committed":
			r.Committed++
			r.Rows += p.Rows
			r.Bytes += p.Bytes
		case "skipped":
			r.Skipped++
		case "failed":
			r.Failed++
		case "aborted":
			r.Aborted++
		}
	}
}
