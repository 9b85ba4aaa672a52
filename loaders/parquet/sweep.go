package parquet

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/storage"
)

var (
	_ stage.Sweeper     = (*Loader)(nil)
	_ stage.TempSweeper = (*Loader)(nil)
)

// Sweep implements stage.Sweeper. The loader records one intent per attempt: its temporary directory
// (<rendered path>_jetflow/tmp/<partition id>/<nonce>/). Everything under it goes, also writes left in flight,
// except a file the partition's commit marker names (none should: a commit renames its files out).
func (l *Loader) Sweep(ctx context.Context, paths []string, dryRun bool) ([]string, error) {
	var out []string
	for _, p := range paths {
		i := strings.LastIndex(p, "_jetflow/tmp/")
		if i < 0 || !strings.HasSuffix(p, "/") {
			return out, fmt.Errorf("parquet loader: intent %q is no temporary directory of this loader", p)
		}
		base, dir := p[:i], p[i:]
		pid, _, _ := strings.Cut(strings.TrimPrefix(dir, "_jetflow/tmp/"), "/")
		if err := checkPartitionID(pid); err != nil {
			return out, err
		}
		store, err := l.storeAt(ctx, base)
		if err != nil {
			return out, fmt.Errorf("parquet loader: %w", err)
		}
		removed, err := sweepDir(ctx, store, pid, dir, dryRun)
		out = append(out, removed...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// SweepTemp implements stage.TempSweeper: it removes the temporary directories of partitions of run that no
// live attempt works on, left by attempts killed before intents were recorded (or whose intent was lost).
func (l *Loader) SweepTemp(ctx context.Context, run stage.RunInstance, live func(ctx context.Context, partitionID string) (bool, error), dryRun bool) ([]string, error) {
	store, err := l.Destination(ctx, run)
	if err != nil {
		return nil, err
	}
	objs, err := store.ListAll(ctx, "_jetflow/tmp/")
	if err != nil {
		return nil, fmt.Errorf("parquet loader: %w", err)
	}
	var out []string
	done := map[string]bool{}
	for _, o := range objs {
		pid, _, _ := strings.Cut(strings.TrimPrefix(o.Key, "_jetflow/tmp/"), "/")
		if done[pid] || checkPartitionID(pid) != nil {
			continue
		}
		done[pid] = true
		alive, err := live(ctx, pid)
		if err != nil {
			return out, err
		}
		if alive {
			continue
		}
		removed, err := sweepDir(ctx, store, pid, tmpPrefix(pid), dryRun)
		out = append(out, removed...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// sweepDir removes what is under dir (a temporary directory of partition pid) and returns the files' URLs.
func sweepDir(ctx context.Context, store *storage.Store, pid, dir string, dryRun bool) ([]string, error) {
	committed := map[string]bool{}
	m, err := ReadMarker(ctx, store, pid)
	switch {
	case err == nil:
		for _, f := range m.Files {
			committed[f.Path] = true
		}
	case !errors.Is(err, storage.ErrNotFound):
		return nil, fmt.Errorf("parquet loader: %w", err)
	}
	objs, err := store.ListAll(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("parquet loader: %w", err)
	}
	var out []string
	for _, o := range objs {
		if committed[o.Key] {
			continue
		}
		if !dryRun {
			if err := store.Delete(ctx, o.Key); err != nil {
				return out, fmt.Errorf("parquet loader: %w", err)
			}
		}
		out = append(out, store.URL()+o.Key)
	}
	if !dryRun {
		_ = store.PruneDirs(dir)
	}
	return out, nil
}
