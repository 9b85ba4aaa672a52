package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
)

// Swept is what a sweep removed (or, in a dry run, would remove) for one intent.
type Swept struct {
	Loader      string
	PartitionID string
	Owner       string
	Intent      string   // the path the attempt recorded; "" for temporary files found without an intent
	Removed     []string // the files removed through the loader's storage
}

// intentRecorder records the files an attempt at p writes as intents of this worker in the state store.
func (e *Engine) intentRecorder(p stage.Partition, attempt int, loader string) stage.IntentRecorder {
	return func(ctx context.Context, path string) error {
		err := e.store.AddIntent(ctx, state.Intent{Pipeline: e.job.Pipeline, PartitionID: p.ID, Owner: e.opts.Owner,
			Attempt: attempt, Loader: loader, Path: path})
		if err != nil {
			return fmt.Errorf("record the intent to write %s: %w", path, err)
		}
		return nil
	}
}

// clearIntents forgets this worker's intents on p once its attempt no longer needs them (committed, or aborted
// with its files removed). A failure only leaves intents that a later sweep finds dead and clears.
func (e *Engine) clearIntents(ctx context.Context, p stage.Partition) {
	if _, err := e.store.ClearIntents(context.WithoutCancel(ctx), e.job.Pipeline, p.ID, e.opts.Owner); err != nil {
		e.opts.Logger.Warn("could not clear the partition's write intents; the next run clears them", "partition", p.Key, "id", p.ID, "err", err)
	}
}

// Sweep removes what attempts that are dead left behind: the files their intents name, through the loader that
// recorded them, except files committed output holds (each loader checks), and then forgets the intents. An
// attempt is dead when its owner holds no live lease on the partition: the lease expired or was released, or the
// owner is a process of this machine that is gone. With dryRun nothing is removed or forgotten. Intents of a
// loader that is not in the job, or that cannot sweep, are left alone. Loaders that keep temporary files in a
// known place (stage.TempSweeper) also remove, in the destinations of runs, those of partitions no live attempt
// works on.
func (e *Engine) Sweep(ctx context.Context, runs []stage.RunInstance, dryRun bool) ([]Swept, error) {
	intents, err := e.store.Intents(ctx, e.job.Pipeline)
	if err != nil {
		return nil, err
	}
	sweepers := map[string]stage.Sweeper{}
	for _, l := range e.job.Loaders {
		if s, ok := l.Loader.(stage.Sweeper); ok {
			sweepers[l.Name] = s
		}
	}
	type attempt struct{ pid, owner string }
	live := map[attempt]bool{}
	byLoader := map[string][]state.Intent{}
	for _, in := range intents {
		a := attempt{in.PartitionID, in.Owner}
		alive, seen := live[a]
		if !seen {
			if alive, err = e.attemptLive(ctx, in.PartitionID, in.Owner); err != nil {
				return nil, err
			}
			live[a] = alive
		}
		if alive || sweepers[in.Loader] == nil {
			continue
		}
		byLoader[in.Loader] = append(byLoader[in.Loader], in)
	}
	loaders := make([]string, 0, len(byLoader))
	for name := range byLoader {
		loaders = append(loaders, name)
	}
	sort.Strings(loaders)
	var out []Swept
	var errs []error
	for _, name := range loaders {
		// One intent at a time, so that a file is attributed to the intent that named it and an intent is
		// forgotten only once what it names is gone.
		for _, in := range byLoader[name] {
			removed, err := sweepers[name].Sweep(ctx, []string{in.Path}, dryRun)
			if err != nil {
				errs = append(errs, fmt.Errorf("loader %s: remove what a dead attempt at partition %s left (%s): %w", name, in.PartitionID, in.Path, err))
				continue
			}
			out = append(out, Swept{Loader: name, PartitionID: in.PartitionID, Owner: in.Owner, Intent: in.Path, Removed: removed})
			if dryRun {
				continue
			}
			if _, err := e.store.ClearIntents(ctx, e.job.Pipeline, in.PartitionID, in.Owner, in.Path); err != nil {
				errs = append(errs, err)
			}
		}
	}
	reported := map[string]bool{}
	for _, s := range out {
		for _, f := range s.Removed {
			reported[f] = true
		}
	}
	for _, l := range e.job.Loaders {
		ts, ok := l.Loader.(stage.TempSweeper)
		if !ok {
			continue
		}
		for _, run := range runs {
			found, err := ts.SweepTemp(ctx, run, e.partitionLive, dryRun)
			if err != nil {
				errs = append(errs, fmt.Errorf("loader %s: remove temporary files of run %s that no attempt owns: %w", l.Name, run.Label, err))
			}
			var removed []string
			for _, f := range found {
				if !reported[f] { // a dry run finds again what intents named
					removed = append(removed, f)
				}
			}
			if len(removed) > 0 {
				out = append(out, Swept{Loader: l.Name, Removed: removed})
			}
		}
	}
	return out, errors.Join(errs...)
}

// partitionLive tells whether some worker still works on partition id.
func (e *Engine) partitionLive(ctx context.Context, id string) (bool, error) {
	rec, ok, err := e.store.Get(ctx, e.job.Pipeline, id)
	if err != nil || !ok {
		return false, err
	}
	return leaseLive(rec, rec.Owner), nil
}

// attemptLive tells whether owner still works on partition id: it holds the partition's live lease and, when it
// is a process of this machine, that process exists.
func (e *Engine) attemptLive(ctx context.Context, id, owner string) (bool, error) {
	rec, ok, err := e.store.Get(ctx, e.job.Pipeline, id)
	if err != nil || !ok {
		return false, err
	}
	return leaseLive(rec, owner), nil
}

// leaseLive tells whether owner holds rec's live lease and, when it is a process of this machine, still exists.
func leaseLive(rec state.Partition, owner string) bool {
	return rec.Status == state.StatusRunning && rec.Owner == owner && time.Now().Before(rec.LeaseUntil) && !ownerGone(owner)
}

// sweepAtStart runs Sweep before a run loads anything; a failure is logged, never fatal: leftovers cost space,
// not correctness.
func (e *Engine) sweepAtStart(ctx context.Context, run stage.RunInstance) {
	swept, err := e.Sweep(ctx, []stage.RunInstance{run}, false)
	files := 0
	for _, s := range swept {
		files += len(s.Removed)
	}
	if len(swept) > 0 {
		e.opts.Logger.Info("removed what killed attempts left behind", "intents", len(swept), "files", files)
	}
	if err != nil {
		e.opts.Logger.Warn("could not remove everything killed attempts left behind; `jetflow state gc` retries", "err", err)
	}
}
