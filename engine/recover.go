package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/jetflow-dev/jetflow/stage"
)

// destinationCheckpoints returns the fallback of a stream's resume when the state store has no checkpoint for a
// lane: the checkpoints the loaders' destinations recorded with their commits. A state store that was lost (an
// ephemeral SQLite file in a pod) then costs nothing: the stream resumes after what is committed instead of at
// its start position, which would load again (or skip) what the destination already holds.
//
// The loaders' records are read once, on the first lane the store does not know. A lane resumes from the newest
// checkpoint every loader holds: the oldest of the loaders' newest, since a crash between two loaders' commits
// leaves the later loader one partition behind, and that partition is read again and replaces its copy where it
// was committed. Nothing is recovered (the lane starts as new) when a loader cannot list its checkpoints, when
// the consumer cannot order them, or when a loader has none for the lane.
func (e *Engine) destinationCheckpoints(sc stage.StreamConsumer, run stage.RunInstance) stage.ResumeFunc {
	var (
		once  sync.Once
		lanes map[string]string
		err   error
	)
	load := func(ctx context.Context) {
		lanes, err = e.recoverCheckpoints(ctx, sc, run)
	}
	return func(ctx context.Context, lane string) (string, bool, error) {
		once.Do(func() { load(ctx) })
		if err != nil {
			return "", false, err
		}
		cp, ok := lanes[lane]
		if ok {
			e.opts.Logger.Warn("the state store has no checkpoint for this lane: resuming after the newest partition the destination holds",
				"lane", lane, "checkpoint", cp)
		}
		return cp, ok, nil
	}
}

func (e *Engine) recoverCheckpoints(ctx context.Context, sc stage.StreamConsumer, run stage.RunInstance) (map[string]string, error) {
	cmp, ok := sc.(stage.CheckpointComparer)
	if !ok {
		return nil, nil
	}
	var perLoader []map[string]string // loader → lane → its newest checkpoint
	for _, l := range e.job.Loaders {
		r, ok := l.Loader.(stage.CheckpointRecoverer)
		if !ok {
			e.opts.Logger.Debug("loader does not record stream checkpoints; lanes the state store lacks start anew", "loader", l.Name)
			return nil, nil
		}
		all, err := r.Checkpoints(ctx, e.job.Pipeline, run)
		if err != nil {
			return nil, fmt.Errorf("loader %s: read the stream checkpoints its destination holds: %w", l.Name, err)
		}
		newest := make(map[string]string, len(all))
		for lane, cps := range all {
			for _, cp := range cps {
				if cur, seen := newest[lane]; seen {
					c, err := cmp.CompareCheckpoints(cp, cur)
					if err != nil {
						return nil, fmt.Errorf("loader %s, lane %s: %w", l.Name, lane, err)
					}
					if c <= 0 {
						continue
					}
				}
				newest[lane] = cp
			}
		}
		perLoader = append(perLoader, newest)
	}
	if len(perLoader) == 0 {
		return nil, nil
	}
	out := map[string]string{}
lanes:
	for lane, cp := range perLoader[0] {
		for _, other := range perLoader[1:] {
			ocp, ok := other[lane]
			if !ok {
				continue lanes // one loader has nothing for the lane: no safe point to resume from
			}
			c, err := cmp.CompareCheckpoints(ocp, cp)
			if err != nil {
				return nil, fmt.Errorf("lane %s: %w", lane, err)
			}
			if c < 0 {
				cp = ocp
			}
		}
		out[lane] = cp
	}
	return out, nil
}
