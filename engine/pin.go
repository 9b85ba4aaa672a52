package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
)

// pinnedPlanName is where an incremental run's plan is kept in the state store, beside the watermarks (a name no
// consumer's watermark can have: it holds a colon).
const pinnedPlanName = "jetflow:pinned-plan"

type pinnedPlan struct {
	Run        string        `json:"run"`
	Partitions []pinnedRange `json:"partitions"`
}

type pinnedRange struct {
	Key  string      `json:"key"`
	Lane string      `json:"lane,omitempty"`
	Lo   pinnedBound `json:"lo"`
	Hi   pinnedBound `json:"hi"`
}

// pinnedBound keeps a partition bound's Go type through JSON: time.Time at full precision, int64, or string.
type pinnedBound struct {
	Kind  string `json:"kind,omitempty"` // "time", "int", "string"; empty for nil
	Value string `json:"value,omitempty"`
}

func boundOf(v any) (pinnedBound, error) {
	switch b := v.(type) {
	case nil:
		return pinnedBound{}, nil
	case time.Time:
		return pinnedBound{Kind: "time", Value: b.Format(time.RFC3339Nano)}, nil
	case int64:
		return pinnedBound{Kind: "int", Value: strconv.FormatInt(b, 10)}, nil
	case string:
		return pinnedBound{Kind: "string", Value: b}, nil
	}
	return pinnedBound{}, fmt.Errorf("a partition bound of type %T cannot be pinned (want time.Time, int64 or string)", v)
}

func (b pinnedBound) value() (any, error) {
	switch b.Kind {
	case "":
		return nil, nil
	case "time":
		return time.Parse(time.RFC3339Nano, b.Value)
	case "int":
		return strconv.ParseInt(b.Value, 10, 64)
	case "string":
		return b.Value, nil
	}
	return nil, fmt.Errorf("unknown bound kind %q", b.Kind)
}

// archivedPlanName is where the window of each incremental run instance is kept for good, once pinned: a re-run
// of that instance plans exactly its window again (a no-op once committed; a reload with --force), never a new
// window of whatever arrived since.
func archivedPlanName(label string) string { return "jetflow:plan:" + label }

// encodePlan is the stored form of an incremental run's partitions.
func encodePlan(run stage.RunInstance, parts []stage.Partition) (string, error) {
	pp := pinnedPlan{Run: run.Label}
	for _, p := range parts {
		lo, err := boundOf(p.Lo)
		if err != nil {
			return "", fmt.Errorf("pin the plan of run %s: partition %s: %w", run.Label, p.Key, err)
		}
		hi, err := boundOf(p.Hi)
		if err != nil {
			return "", fmt.Errorf("pin the plan of run %s: partition %s: %w", run.Label, p.Key, err)
		}
		pp.Partitions = append(pp.Partitions, pinnedRange{Key: p.Key, Lane: p.Lane, Lo: lo, Hi: hi})
	}
	b, err := json.Marshal(pp)
	return string(b), err
}

// decodePlan reads a stored plan; name says which record it came from, for the error.
func (e *Engine) decodePlan(text, name string, run stage.RunInstance) (pinnedPlan, []stage.Partition, error) {
	var pp pinnedPlan
	if err := json.Unmarshal([]byte(text), &pp); err != nil {
		return pp, nil, fmt.Errorf("the stored plan %s of pipeline %s is unreadable: %w (reset the pipeline's state with `jetflow state reset`)",
			name, e.job.Pipeline, err)
	}
	parts := make([]stage.Partition, 0, len(pp.Partitions))
	for _, r := range pp.Partitions {
		lo, err := r.Lo.value()
		if err != nil {
			return pp, nil, fmt.Errorf("stored plan of run %s: partition %s: %w", pp.Run, r.Key, err)
		}
		hi, err := r.Hi.value()
		if err != nil {
			return pp, nil, fmt.Errorf("stored plan of run %s: partition %s: %w", pp.Run, r.Key, err)
		}
		parts = append(parts, stage.Partition{Key: r.Key, Lane: r.Lane, Lo: lo, Hi: hi, Run: run})
	}
	return pp, parts, nil
}

// pinPlan records the plan of an incremental run before any partition of it loads, and archives it as the run
// instance's window. Workers (shards) that plan at once race to pin: the first plan stored wins, and every worker
// returns and loads that one.
func (e *Engine) pinPlan(ctx context.Context, run stage.RunInstance, parts []stage.Partition) ([]stage.Partition, error) {
	text, err := encodePlan(run, parts)
	if err != nil {
		return nil, err
	}
	stored, err := e.store.SetWatermarkIfEmpty(ctx, e.job.Pipeline, pinnedPlanName, text)
	if err != nil {
		return nil, err
	}
	pp, parts, err := e.decodePlan(stored, pinnedPlanName, run)
	if err != nil {
		return nil, err
	}
	if pp.Run != run.Label {
		return nil, e.unfinished(pp.Run, run)
	}
	if err := e.store.SetWatermark(ctx, e.job.Pipeline, archivedPlanName(run.Label), stored); err != nil {
		return nil, err
	}
	return parts, nil
}

// archivePlan keeps the first plan of a PlanPinner's run instance for good; workers that plan at once race to
// store it, and every one returns the plan stored first.
func (e *Engine) archivePlan(ctx context.Context, run stage.RunInstance, parts []stage.Partition) ([]stage.Partition, error) {
	text, err := encodePlan(run, parts)
	if err != nil {
		return nil, err
	}
	name := archivedPlanName(run.Label)
	stored, err := e.store.SetWatermarkIfEmpty(ctx, e.job.Pipeline, name, text)
	if err != nil {
		return nil, err
	}
	_, parts, err = e.decodePlan(stored, name, run)
	return parts, err
}

func (e *Engine) unfinished(pinned string, run stage.RunInstance) error {
	return fmt.Errorf("run %s of incremental pipeline %s has not finished: run `jetflow run --run %s` again until it "+
		"commits, then run %s (an incremental run starts where the last complete one ended)", pinned, e.job.Pipeline, pinned, run.Label)
}

// loadPinnedPlan returns the plan an earlier, unfinished run of this incremental pipeline pinned. A pinned plan of
// another run instance is an error: that run must finish first, or its partitions would be left half-loaded.
func (e *Engine) loadPinnedPlan(ctx context.Context, run stage.RunInstance) ([]stage.Partition, bool, error) {
	text, ok, err := e.store.Watermark(ctx, e.job.Pipeline, pinnedPlanName)
	if err != nil || !ok || text == "" {
		return nil, false, err
	}
	pp, parts, err := e.decodePlan(text, pinnedPlanName, run)
	if err != nil {
		return nil, false, err
	}
	if pp.Run != run.Label {
		return nil, false, e.unfinished(pp.Run, run)
	}
	return parts, true, nil
}

// loadArchivedPlan returns the window of a run instance that was planned before: its partitions as they were cut.
func (e *Engine) loadArchivedPlan(ctx context.Context, run stage.RunInstance) ([]stage.Partition, bool, error) {
	name := archivedPlanName(run.Label)
	text, ok, err := e.store.Watermark(ctx, e.job.Pipeline, name)
	if err != nil || !ok || text == "" {
		return nil, false, err
	}
	_, parts, err := e.decodePlan(text, name, run)
	return parts, err == nil, err
}

// CompletedMarker is the state record (kept beside the watermarks) that says a run instance of a pipeline is
// complete: every partition of its plan, every shard's, committed. A pipeline that depends on this one waits for
// it; `jetflow state reset` of the instance removes it.
func CompletedMarker(label string) string { return "jetflow:complete:" + label }

// markCompleted records that run is complete, with the time it completed.
func (e *Engine) markCompleted(ctx context.Context, run stage.RunInstance) error {
	err := e.store.SetWatermark(context.WithoutCancel(ctx), e.job.Pipeline, CompletedMarker(run.Label), time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("mark run %s complete: %w", run.Label, err)
	}
	return nil
}

// StagesRecord is the state record (kept beside the watermarks) of the per-stage stats of the last run of a
// run instance by this process, what the run instance page of jetflow ui shows without a run report.
func StagesRecord(label string) string { return "jetflow:stages:" + label }

// recordStages keeps the run's per-stage stats in the state store. A run that could not record them still
// loaded its data: the failure is logged, not returned.
func (e *Engine) recordStages(ctx context.Context, run stage.RunInstance, stages []StageStats) {
	b, err := json.Marshal(stages)
	if err == nil {
		err = e.store.SetWatermark(context.WithoutCancel(ctx), e.job.Pipeline, StagesRecord(run.Label), string(b))
	}
	if err != nil {
		e.opts.Logger.Warn("could not record the per-stage stats in the state store", "run", run.Label, "err", err)
	}
}

// RecordedStages returns the per-stage stats recorded by the last run of a run instance; ok is false when none
// were.
func RecordedStages(ctx context.Context, store state.Store, pipeline, label string) (stages []StageStats, ok bool, err error) {
	v, ok, err := store.Watermark(ctx, pipeline, StagesRecord(label))
	if err != nil || !ok || v == "" {
		return nil, false, err
	}
	if err := json.Unmarshal([]byte(v), &stages); err != nil {
		return nil, false, fmt.Errorf("read the per-stage stats of run %s: %w", label, err)
	}
	return stages, true, nil
}

// Completed says whether a run instance of pipeline is complete, and since when.
func Completed(ctx context.Context, store state.Store, pipeline, label string) (bool, time.Time, error) {
	v, ok, err := store.Watermark(ctx, pipeline, CompletedMarker(label))
	if err != nil || !ok || v == "" {
		return false, time.Time{}, err
	}
	at, err := time.Parse(time.RFC3339Nano, v)
	return err == nil, at, err
}
