package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/internal/notify"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
)

// alertRun ends a `jetflow run FILE`: it records how the run ended in the state store (the last outcome, and
// the last success that check-freshness reads) and sends the pipeline's failure or recovery notification.
// Nothing here changes the exit code: what fails is logged, and counted in the run's metrics.
//
// A run fails when it ends with failed partitions (exit 1) or cannot proceed (exit 4); an interrupted run
// (exit 3) and an invalid one (exit 2) neither fail nor succeed: they record and send nothing.
func alertRun(ctx context.Context, l *loaded, store state.Store, runLabel string, rep *engine.Report, runErr error, code int,
	dependents []string, log *slog.Logger, m *runMetrics) {
	if l == nil || (code != exitOK && code != exitFailed && code != exitError) {
		return
	}
	ctx = context.WithoutCancel(ctx)
	now := time.Now()
	succeeded := code == exitOK
	var prev engine.Outcome
	prevOK := false
	if store != nil {
		var err error
		if prev, prevOK, err = engine.RecordOutcome(ctx, store, l.p.Name, runLabel, succeeded, now); err != nil {
			log.Warn("run outcome not recorded: recovery notifications and check-freshness will not see this run", "err", err)
		}
	}
	ev := notify.Failure
	if succeeded {
		if !prevOK || prev.Status != engine.OutcomeFailed {
			return
		}
		ev = notify.Recovery
	}
	if len(l.p.Notify) == 0 {
		return
	}
	msg := notify.NewMessage(ev, l.p.Name, now)
	msg.RunInstance, msg.ExitCode, msg.Status = runLabel, code, engine.OutcomeOK
	if rep != nil {
		msg.Rows, msg.Bytes, msg.Duration = rep.Rows, rep.Bytes, rep.Duration.Seconds()
		msg.Partitions = notify.Partitions{Committed: rep.Committed, Skipped: rep.Skipped, Failed: rep.Failed, Aborted: rep.Aborted}
	}
	if ev == notify.Recovery {
		if !prev.FailingSince.IsZero() {
			since := prev.FailingSince
			msg.FailingSince = &since
		}
	} else {
		msg.Status, msg.SkippedDependents = engine.OutcomeFailed, dependents
		msg.Error = firstError(rep, runErr)
	}
	s := &notify.Sender{Redactor: l.p.Redactor, Logger: log}
	res := s.Send(ctx, l.p.Notify, msg)
	if m != nil && res.Sent+res.Failed > 0 {
		m.Notified(res.Sent, res.Failed)
	}
}

// firstError is a failed run's first error: the first failed partition's error when partitions failed (with the
// run's error as the message), else the run's error with its innermost cause.
func firstError(rep *engine.Report, runErr error) *notify.ErrorInfo {
	info := &notify.ErrorInfo{}
	if runErr != nil && !errors.Is(runErr, errQuiet) {
		info.Message, info.Cause = runErr.Error(), stage.Innermost(runErr).Error()
	}
	if rep != nil {
		for _, p := range rep.Partitions {
			if p.Outcome == "failed" && p.Error != "" {
				info.Cause = "partition " + p.Key + ": " + p.Error
				break
			}
		}
	}
	if info.Message == "" {
		info.Message, info.Cause = info.Cause, ""
	}
	if info.Message == "" {
		return nil
	}
	return info
}

// dependentsFlag reads --dependents: the names a folder run passes, comma-separated.
func dependentsFlag(s string) []string {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}
