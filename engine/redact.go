package engine

import (
	"context"
	"log/slog"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
)

// Run loads one run instance. It returns a report of every partition; err is set when the run could not be
// planned, was interrupted or was stopped by a fatal fault (stage.Fatal), whose reason then comes first in err's
// message. A run whose report is not OK left failed partitions for the next run to retry. Error texts in the
// report and err are redacted (Job.Redactor).
func (e *Engine) Run(ctx context.Context, run stage.RunInstance) (*Report, error) {
	rep, err := e.runInstance(ctx, run)
	return e.job.redactReport(rep), e.job.Redactor.Err(stage.CauseFirst(err))
}

// Stream loads an unbounded source until ctx is cancelled: each partition the consumer cuts is loaded and
// committed together with its checkpoint, and a restart resumes after the last committed checkpoint of each lane.
// A fatal fault stops it with the fault's reason first. Error texts in the report and err are redacted.
func (e *Engine) Stream(ctx context.Context, run stage.RunInstance) (*Report, error) {
	rep, err := e.stream(ctx, run)
	return e.job.redactReport(rep), e.job.Redactor.Err(stage.CauseFirst(err))
}

func (j *Job) redactReport(rep *Report) *Report {
	if rep != nil && j.Redactor != nil {
		for i := range rep.Partitions {
			rep.Partitions[i].Error = j.Redactor.Redact(rep.Partitions[i].Error)
		}
	}
	return rep
}

func (j *Job) redactLogger(l *slog.Logger) *slog.Logger {
	if j.Redactor == nil {
		return l
	}
	return slog.New(j.Redactor.Handler(l.Handler()))
}

func (j *Job) redactStore(s state.Store) state.Store {
	if j.Redactor == nil {
		return s
	}
	return redactingStore{Store: s, r: j.Redactor}
}

// redactingStore keeps secrets out of the error texts the state store records: `jetflow state` prints them, and
// a shared PostgreSQL store is read by more people than the pipeline's secrets are meant for.
type redactingStore struct {
	state.Store
	r *stage.Redactor
}

func (s redactingStore) Fail(ctx context.Context, pipeline, id, owner string, status state.Status, f state.Failure) error {
	f.Error, f.Cause = s.r.Redact(f.Error), s.r.Redact(f.Cause)
	return s.Store.Fail(ctx, pipeline, id, owner, status, f)
}
