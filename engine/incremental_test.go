package engine

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jetflow-dev/jetflow/stage"
)

func runIncremental(t *testing.T, e *Engine, label string) *Report {
	t.Helper()
	rep, err := e.Run(context.Background(), stage.RunInstance{Label: label})
	if err != nil {
		t.Fatalf("run %s: %v", label, err)
	}
	return rep
}

// A run instance of an incremental pipeline keeps the window it was planned with: run again it changes nothing
// (the source grew meanwhile), and with --force it loads that same window again, replacing its output, without
// moving the watermark. The next instance then starts where the first one ended.
func TestIncrementalRerunReadsItsOwnWindow(t *testing.T) {
	store := openStore(t)
	tbl := newTable()
	src := &incSource{rangeSource: rangeSource{mem: checked(t), batch: 100}, pieces: 2}
	job := newJob(src, tbl)
	steps := []struct {
		label     string
		upTo      int64
		force     bool
		committed int
		skipped   int
		keys      string
		mark      string
	}{
		{"2026-11-22", 300, false, 2, 0, "n[000000,000150) n[000150,000300)", "300"},
		{"2026-11-22", 500, false, 0, 2, "n[000000,000150) n[000150,000300)", "300"}, // no-op, not a new window
		{"2026-11-22", 500, true, 2, 0, "n[000000,000150) n[000150,000300)", "300"},  // reload of its own window
		{"2026-11-23", 500, false, 2, 0, "n[000300,000400) n[000400,000500)", "500"},
	}
	for i, st := range steps {
		src.upTo = st.upTo
		e, err := New(job, store, Options{Force: st.force})
		if err != nil {
			t.Fatal(err)
		}
		plan, err := e.Plan(context.Background(), stage.RunInstance{Label: st.label})
		if err != nil {
			t.Fatal(err)
		}
		if st.force {
			for _, en := range plan {
				if en.State != PlanReload {
					t.Errorf("step %d: plan --force shows %s as %s, want reload", i, en.Partition.Key, en.State)
				}
			}
		}
		rep := runIncremental(t, e, st.label)
		var keys []string
		for _, p := range rep.Partitions {
			keys = append(keys, p.Key)
		}
		if !rep.OK() || rep.Committed != st.committed || rep.Skipped != st.skipped || strings.Join(keys, " ") != st.keys {
			t.Fatalf("step %d (%s, force %v): committed %d skipped %d partitions %q; want %d, %d, %q",
				i, st.label, st.force, rep.Committed, rep.Skipped, keys, st.committed, st.skipped, st.keys)
		}
		if v, _, _ := store.Watermark(context.Background(), "p", "n"); v != st.mark {
			t.Fatalf("step %d: watermark %q, want %q", i, v, st.mark)
		}
		orphans, err := e.Orphans(context.Background(), stage.RunInstance{Label: st.label}, plan)
		if err != nil || len(orphans) != 0 {
			t.Fatalf("step %d: an incremental instance reports orphans %v (%v)", i, orphans, err)
		}
	}
	wantSequence(t, tbl.all(), 500)
}

// An instance committed by a jetflow that kept no window is left alone: a re-run is a no-op, and --force refuses,
// since it cannot know what to reload.
func TestIncrementalRerunWithoutArchivedWindow(t *testing.T) {
	store := openStore(t)
	tbl := newTable()
	src := &incSource{rangeSource: rangeSource{mem: checked(t), batch: 100}, upTo: 300}
	job := newJob(src, tbl)
	e, _ := New(job, store, Options{})
	if rep := runIncremental(t, e, "2026-11-22"); !rep.OK() || rep.Committed != 1 {
		t.Fatalf("first run: %+v", rep)
	}
	// What an older jetflow left: committed partitions, no window.
	if err := store.SetWatermark(context.Background(), "p", archivedPlanName("2026-11-22"), ""); err != nil {
		t.Fatal(err)
	}
	src.upTo = 500
	job.Fingerprint = "edited" // committed under another spec, but with no window to reload: still left alone
	e, _ = New(job, store, Options{})
	if rep := runIncremental(t, e, "2026-11-22"); !rep.OK() || rep.Committed != 0 || rep.Skipped != 1 {
		t.Fatalf("a re-run of a legacy instance must change nothing: %+v", rep)
	}
	e, _ = New(job, store, Options{Force: true})
	_, err := e.Run(context.Background(), stage.RunInstance{Label: "2026-11-22"})
	if err == nil || !strings.Contains(err.Error(), "did not keep its window, so --force cannot reload it") {
		t.Fatalf("--force on a legacy instance: %v", err)
	}
	wantSequence(t, tbl.all(), 300)
}

// Shards of one incremental instance: the first shard to finish must not advance the watermark and unpin the
// plan, or the other shard plans a new window past the watermark and its rows are never loaded.
func TestIncrementalShardsCompleteTogether(t *testing.T) {
	store := openStore(t)
	tbl := newTable()
	src := &incSource{rangeSource: rangeSource{mem: checked(t), batch: 100}, upTo: 400, pieces: 4}
	job := newJob(src, tbl)
	for shard, wantMark := range []string{"", "400"} {
		e, err := New(job, store, Options{Shard: shard, Shards: 2})
		if err != nil {
			t.Fatal(err)
		}
		if rep := runIncremental(t, e, "2026-11-22"); !rep.OK() || rep.Committed != 2 {
			t.Fatalf("shard %d: %+v", shard, rep)
		}
		if v, _, _ := store.Watermark(context.Background(), "p", "n"); v != wantMark {
			t.Fatalf("after shard %d the watermark is %q, want %q", shard, v, wantMark)
		}
		if done, _, err := Completed(context.Background(), store, "p", "2026-11-22"); err != nil || done != (shard == 1) {
			t.Fatalf("after shard %d the run instance is complete: %v (%v)", shard, done, err)
		}
	}
	wantSequence(t, tbl.all(), 400)
}

// Shards that start together see the source at different moments; they must still load one plan between them.
func TestIncrementalShardsAgreeOnOnePlan(t *testing.T) {
	store := openStore(t)
	tbl := newTable()
	mem := checked(t)
	var wg sync.WaitGroup
	reps := make([]*Report, 2)
	errs := make([]error, 2)
	for shard, upTo := range []int64{400, 800} { // each shard's consumer sees a different newest row
		src := &incSource{rangeSource: rangeSource{mem: mem, batch: 100}, upTo: upTo, pieces: 4}
		e, err := New(newJob(src, tbl), store, Options{Shard: shard, Shards: 2})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[shard], errs[shard] = e.Run(context.Background(), stage.RunInstance{Label: "2026-11-22"})
		}()
	}
	wg.Wait()
	for shard := range reps {
		if errs[shard] != nil || !reps[shard].OK() {
			t.Fatalf("shard %d: %v %+v", shard, errs[shard], reps[shard])
		}
	}
	got := tbl.all()
	if len(got) != 400 && len(got) != 800 {
		t.Fatalf("the shards loaded %d rows: parts of two different plans", len(got))
	}
	wantSequence(t, got, len(got))
}

// A run instance is complete once every partition committed: a failed partition leaves it incomplete until a
// later run commits it.
func TestCompletedAfterEveryPartitionCommitted(t *testing.T) {
	store := openStore(t)
	tbl := newTable()
	job := newJob(&rangeSource{mem: checked(t), parts: 3, per: 10, batch: 10}, tbl)
	job.Retry.Attempts = 1
	tbl.failOnce["n[000010,000020)"] = true
	for i, want := range []bool{false, true} {
		e, _ := New(job, store, Options{})
		rep := runIncremental(t, e, "2026-11-22")
		done, at, err := Completed(context.Background(), store, "p", "2026-11-22")
		if err != nil || done != want || done != rep.OK() || (done && at.IsZero()) {
			t.Fatalf("run %d (ok %v): complete %v at %v (%v), want %v", i, rep.OK(), done, at, err, want)
		}
	}
	if done, _, _ := Completed(context.Background(), store, "p", "2026-11-23"); done {
		t.Fatal("a run instance never run is complete")
	}
}

// pinnedSource cuts by the source's current size (as by: ctid does by pages) and asks the engine to keep its plan.
type pinnedSource struct{ rangeSource }

func (s *pinnedSource) PinPlan() bool { return true }

// A PlanPinner's run instance keeps its first plan: the retry of a failed partition and a --force reload read the
// same keys and bounds after the source was re-cut, and another run instance is cut afresh.
func TestPlanPinnerKeepsTheFirstPlan(t *testing.T) {
	store := openStore(t)
	tbl := newTable()
	src := &pinnedSource{rangeSource{mem: checked(t), parts: 2, per: 100, batch: 50}}
	job := newJob(src, tbl)
	job.Retry.Attempts = 1
	tbl.failOnce["n[000100,000200)"] = true
	steps := []struct {
		label     string
		per       int
		force     bool
		ok        bool
		committed int
		keys      string
	}{
		{"2026-11-22", 100, false, false, 1, "n[000000,000100) n[000100,000200)"},
		{"2026-11-22", 150, false, true, 1, "n[000000,000100) n[000100,000200)"}, // the retry: the first cut
		{"2026-11-22", 150, true, true, 2, "n[000000,000100) n[000100,000200)"},
		{"2026-11-23", 150, false, true, 2, "n[000000,000150) n[000150,000300)"},
	}
	for i, st := range steps {
		src.per = st.per
		e, err := New(job, store, Options{Force: st.force})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := e.Run(context.Background(), stage.RunInstance{Label: st.label})
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		var keys []string
		for _, p := range rep.Partitions {
			keys = append(keys, p.Key)
		}
		if rep.OK() != st.ok || rep.Committed != st.committed || strings.Join(keys, " ") != st.keys {
			t.Fatalf("step %d (%s, force %v): ok %v committed %d partitions %q; want %v, %d, %q",
				i, st.label, st.force, rep.OK(), rep.Committed, keys, st.ok, st.committed, st.keys)
		}
	}
}
