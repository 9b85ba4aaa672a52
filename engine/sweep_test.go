package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
)

// dirLoader writes each attempt's rows to a file of its own in dir, recording it as an intent first, and
// commits by naming the file in its commit list; Sweep removes files no commit names.
type dirLoader struct {
	dir       string
	mu        sync.Mutex
	committed map[string]bool // file path → in the committed output
	attempts  int
}

func (l *dirLoader) CheckSchema(*arrow.Schema) error { return nil }

func (l *dirLoader) Begin(ctx context.Context, _ *arrow.Schema, p stage.Partition) (stage.PartitionWriter, error) {
	l.mu.Lock()
	l.attempts++
	path := filepath.Join(l.dir, fmt.Sprintf("%s-%d.rows", p.ID, l.attempts))
	l.mu.Unlock()
	if err := stage.RecordIntent(ctx, path); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		return nil, err
	}
	return &dirWriter{l: l, path: path}, nil
}

func (l *dirLoader) Sweep(_ context.Context, paths []string, dryRun bool) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, p := range paths {
		if l.committed[p] {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			continue
		}
		out = append(out, p)
		if !dryRun {
			if err := os.Remove(p); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

type dirWriter struct {
	l    *dirLoader
	path string
}

func (w *dirWriter) Write(context.Context, arrow.RecordBatch) error { return nil }

func (w *dirWriter) Commit(context.Context, stage.CommitInfo) (stage.CommitResult, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	w.l.committed[w.path] = true
	return stage.CommitResult{Token: w.path}, nil
}

func (w *dirWriter) Abort(context.Context) error { return os.Remove(w.path) }

func files(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestSweepRemovesOnlyWhatDeadAttemptsLeft(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name        string
		owner       string
		lease       time.Duration // the owner's claim; 0: never claimed
		commit      bool          // the owner committed the partition
		inOutput    bool          // the loader holds the file as committed output
		dryRun      bool
		wantRemoved bool
		wantIntent  bool // the intent is still recorded after the sweep
	}{
		{name: "expired lease", owner: "elsewhere:1", lease: time.Millisecond, wantRemoved: true},
		{name: "never claimed", owner: "elsewhere:1", wantRemoved: true},
		{name: "live lease on another machine", owner: "elsewhere:1", lease: time.Hour, wantIntent: true},
		{name: "live lease of a process of this machine that is gone", owner: deadOwner(t), lease: time.Hour, wantRemoved: true},
		{name: "committed file is kept", owner: "elsewhere:1", lease: time.Hour, commit: true, inOutput: true},
		{name: "dry run removes nothing", owner: "elsewhere:1", lease: time.Millisecond, dryRun: true, wantRemoved: true, wantIntent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			store := openStore(t)
			l := &dirLoader{dir: dir, committed: map[string]bool{}}
			job := newJob(&rangeSource{}, newTable())
			job.Loaders = []NamedLoader{{Name: "files", Loader: l}}
			e, err := New(job, store, Options{})
			if err != nil {
				t.Fatal(err)
			}
			const pid = "p0"
			if tt.lease > 0 {
				if _, err := store.Claim(ctx, state.Claim{Pipeline: "p", RunLabel: day.Label, ID: pid, Key: "k", Owner: tt.owner, Lease: tt.lease}); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(dir, "left.rows")
			if err := os.WriteFile(path, []byte("half"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := store.AddIntent(ctx, state.Intent{Pipeline: "p", PartitionID: pid, Owner: tt.owner, Loader: "files", Path: path}); err != nil {
				t.Fatal(err)
			}
			if tt.commit {
				if err := store.Commit(ctx, state.Partition{Pipeline: "p", RunLabel: day.Label, ID: pid, Key: "k", Owner: tt.owner}); err != nil {
					t.Fatal(err)
				}
			}
			l.committed[path] = tt.inOutput
			time.Sleep(5 * time.Millisecond) // expire the short leases

			swept, err := e.Sweep(ctx, nil, tt.dryRun)
			if err != nil {
				t.Fatal(err)
			}
			var reported []string
			for _, s := range swept {
				reported = append(reported, s.Removed...)
			}
			if got := slices.Equal(reported, []string{path}); got != tt.wantRemoved {
				t.Errorf("sweep reported %q, want the leftover: %v", reported, tt.wantRemoved)
			}
			_, statErr := os.Stat(path)
			if gone := os.IsNotExist(statErr); gone != (tt.wantRemoved && !tt.dryRun) {
				t.Errorf("file removed = %v, want %v", gone, tt.wantRemoved && !tt.dryRun)
			}
			ins, err := store.Intents(ctx, "p")
			if err != nil {
				t.Fatal(err)
			}
			if got := len(ins) == 1; got != tt.wantIntent {
				t.Errorf("intent recorded after the sweep = %v, want %v", got, tt.wantIntent)
			}
		})
	}
}

// deadOwner names a process of this machine that has exited.
func deadOwner(t *testing.T) string {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Skipf("cannot start a process to stand for a dead worker: %v", err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, p.Pid)
}

func TestRunRecordsIntentsSweepsAndClearsThem(t *testing.T) {
	ctx := t.Context()
	mem := checked(t)
	dir := t.TempDir()
	store := openStore(t)
	l := &dirLoader{dir: dir, committed: map[string]bool{}}
	job := newJob(&rangeSource{mem: mem, parts: 3, per: 10, batch: 10}, newTable())
	job.Loaders = []NamedLoader{{Name: "files", Loader: l}}

	// A killed attempt's file, its owner's lease long expired.
	left := filepath.Join(dir, "killed.rows")
	if err := os.WriteFile(left, []byte("trunc"), 0o644); err != nil {
		t.Fatal(err)
	}
	pid := stage.PartitionID("p", day.Label, "n[000000,000010)")
	if _, err := store.Claim(ctx, state.Claim{Pipeline: "p", RunLabel: day.Label, ID: pid, Key: "n[000000,000010)", Owner: "elsewhere:9", Lease: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := store.AddIntent(ctx, state.Intent{Pipeline: "p", PartitionID: pid, Owner: "elsewhere:9", Loader: "files", Path: left}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)

	rep := run(t, job, store, Options{Workers: 2})
	if !rep.OK() || rep.Committed != 3 {
		t.Fatalf("report %+v, want 3 committed", rep)
	}
	got := files(t, dir)
	if len(got) != 3 || slices.Contains(got, "killed.rows") {
		t.Fatalf("files after the run = %q, want the 3 committed ones only", got)
	}
	if ins, err := store.Intents(ctx, "p"); err != nil || len(ins) != 0 {
		t.Fatalf("intents after a clean run = %+v %v, want none", ins, err)
	}
}
