package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/state"
)

// Outcome is how the last run of a pipeline ended, kept in its state store (beside the watermarks, as
// jetflow:outcome) so that every process and every night sees it: the first success after a failure is a
// recovery, and jetflow check-freshness reads the last success without running anything.
type Outcome struct {
	Status      string    `json:"status"` // ok or failed
	Run         string    `json:"run"`    // the run instance's label
	At          time.Time `json:"at"`     // when the run ended
	LastSuccess time.Time `json:"last_success,omitzero"`
	// FailingSince is when the first of the failures since the last success ended; zero after a success.
	FailingSince time.Time `json:"failing_since,omitzero"`
}

// Outcome statuses.
const (
	OutcomeOK     = "ok"
	OutcomeFailed = "failed"
)

const outcomeRecord = "jetflow:outcome"

// FreshnessAlertRecord names the state record that holds the last success (RFC 3339, or "never") whose lateness
// was notified: one freshness notification per lateness episode, which a new success ends.
const FreshnessAlertRecord = "jetflow:freshness-alerted"

// LastOutcome reads the outcome of pipeline's last recorded run; ok is false when none was recorded.
func LastOutcome(ctx context.Context, store state.Store, pipeline string) (o Outcome, ok bool, err error) {
	text, found, err := store.Watermark(ctx, pipeline, outcomeRecord)
	if err != nil || !found || text == "" {
		return o, false, err
	}
	if err := json.Unmarshal([]byte(text), &o); err != nil {
		return o, false, fmt.Errorf("state record %s of pipeline %s: %w", outcomeRecord, pipeline, err)
	}
	return o, true, nil
}

// RecordOutcome stores how a run of pipeline ended (succeeded or not, at at) and returns the outcome recorded
// before it (prevOK false when there was none).
func RecordOutcome(ctx context.Context, store state.Store, pipeline, run string, succeeded bool, at time.Time) (prev Outcome, prevOK bool, err error) {
	ctx = context.WithoutCancel(ctx) // an interrupted run's outcome is recorded too
	prev, prevOK, err = LastOutcome(ctx, store, pipeline)
	if err != nil {
		return prev, prevOK, err
	}
	o := Outcome{Status: OutcomeFailed, Run: run, At: at.UTC(), LastSuccess: prev.LastSuccess, FailingSince: prev.FailingSince}
	if succeeded {
		o.Status, o.LastSuccess, o.FailingSince = OutcomeOK, at.UTC(), time.Time{}
	} else if o.FailingSince.IsZero() {
		o.FailingSince = at.UTC()
	}
	b, err := json.Marshal(o)
	if err != nil {
		return prev, prevOK, err
	}
	if err := store.SetWatermark(ctx, pipeline, outcomeRecord, string(b)); err != nil {
		return prev, prevOK, fmt.Errorf("record the run's outcome in the state store: %w", err)
	}
	return prev, prevOK, nil
}

// Freshness is a pipeline's lateness against its freshness.warn_after: the one rule that jetflow check-freshness
// alerts on and jetflow ui shows. A pipeline is late when its last success is older than warnAfter, or when it
// never succeeded; without a warnAfter it is never late.
type Freshness struct {
	WarnAfter   time.Duration
	LastSuccess time.Time     // zero when the state store records no success
	Age         time.Duration // since LastSuccess
	Late        bool
}

// FreshnessOf applies the rule to a pipeline's last outcome (found: LastOutcome found one) at now.
func FreshnessOf(o Outcome, found bool, warnAfter time.Duration, now time.Time) Freshness {
	f := Freshness{WarnAfter: warnAfter}
	if found && !o.LastSuccess.IsZero() {
		f.LastSuccess, f.Age = o.LastSuccess, now.Sub(o.LastSuccess)
	}
	f.Late = warnAfter > 0 && (f.LastSuccess.IsZero() || f.Age > warnAfter)
	return f
}
