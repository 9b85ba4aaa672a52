package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jetflow-dev/jetflow/stage"
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

// pinPlan records the plan of an incremental run before any partition of it loads.
func (e *Engine) pinPlan(ctx context.Context, run stage.RunInstance, parts []stage.Partition) error {
	pp := pinnedPlan{Run: run.Label}
	for _, p := range parts {
		lo, err := boundOf(p.Lo)
		if err != nil {
			return fmt.Errorf("pin the plan of run %s: partition %s: %w", run.Label, p.Key, err)
		}
		hi, err := boundOf(p.Hi)
		if err != nil {
			return fmt.Errorf("pin the plan of run %s: partition %s: %w", run.Label, p.Key, err)
		}
		pp.Partitions = append(pp.Partitions, pinnedRange{Key: p.Key, Lane: p.Lane, Lo: lo, Hi: hi})
	}
	b, err := json.Marshal(pp)
	if err != nil {
		return err
	}
	return e.store.SetWatermark(ctx, e.job.Pipeline, pinnedPlanName, string(b))
}

// loadPinnedPlan returns the plan an earlier, unfinished run of this incremental pipeline pinned. A pinned plan of
// another run instance is an error: that run must finish first, or its partitions would be left half-loaded.
func (e *Engine) loadPinnedPlan(ctx context.Context, run stage.RunInstance) ([]stage.Partition, bool, error) {
	text, ok, err := e.store.Watermark(ctx, e.job.Pipeline, pinnedPlanName)
	if err != nil || !ok || text == "" {
		return nil, false, err
	}
	parts, err := decodePinnedPlan(e.job.Pipeline, run, text)
	return parts, err == nil, err
}

// decodePinnedPlan reads the pinned plan text the state store holds for pipeline, for run.
func decodePinnedPlan(pipeline string, run stage.RunInstance, text string) ([]stage.Partition, error) {
	var pp pinnedPlan
	if err := json.Unmarshal([]byte(text), &pp); err != nil {
		return nil, fmt.Errorf("the pinned plan of pipeline %s in the state store is unreadable: %w", pipeline, err)
	}
	if pp.Run != run.Label {
		return nil, fmt.Errorf("run %s of incremental pipeline %s has not finished: run `jetflow run --run %s` again until it "+
			"commits, then run %s (an incremental run starts where the last complete one ended)", pp.Run, pipeline, pp.Run, run.Label)
	}
	parts := make([]stage.Partition, 0, len(pp.Partitions))
	for _, r := range pp.Partitions {
		lo, err := r.Lo.value()
		if err != nil {
			return nil, fmt.Errorf("pinned plan of run %s: partition %s: %w", pp.Run, r.Key, err)
		}
		hi, err := r.Hi.value()
		if err != nil {
			return nil, fmt.Errorf("pinned plan of run %s: partition %s: %w", pp.Run, r.Key, err)
		}
		parts = append(parts, stage.Partition{Key: r.Key, Lane: r.Lane, Lo: lo, Hi: hi, Run: run})
	}
	return parts, nil
}
