// Package statetest is the conformance suite of state stores: every backend's tests run it, so the engine cannot
// tell one store from another. Only tests import it (it imports testing).
package statetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/state"
)

// Backend is one state.Store implementation under the suite.
type Backend struct {
	Name string
	// Open returns an empty store, and a function opening another handle on the same storage: another process,
	// or another machine.
	Open func(t *testing.T) (s state.Store, another func(t *testing.T) state.Store)
	// Precision is how finely the store keeps timestamps.
	Precision time.Duration
}

// suiteCase is one behaviour every store must have.
type suiteCase struct {
	name string
	run  func(t *testing.T, ctx context.Context, b Backend, s state.Store, another func(t *testing.T) state.Store)
}

// Run runs every case of the suite on b, each on a fresh store.
func Run(t *testing.T, b Backend) {
	t.Helper()
	for _, c := range storeSuite {
		t.Run(c.name, func(t *testing.T) {
			s, another := b.Open(t)
			c.run(t, t.Context(), b, s, another)
		})
	}
}

// ConcurrentClaims checks that of claims racing on one partition through s and another handle, exactly one wins.
func ConcurrentClaims(t *testing.T, s state.Store, another func(t *testing.T) state.Store) {
	t.Helper()
	testConcurrentClaims(t, t.Context(), Backend{}, s, another)
}

var storeSuite = []suiteCase{
	{"claim lifecycle", testClaimLifecycle},
	{"expired lease is taken over", testExpiredLease},
	{"renew keeps the lease", testRenew},
	{"take over from a dead owner", testTakeOverFrom},
	{"committed partition is skipped unless forced", testCommittedUnlessForced},
	{"fail and abort", testFail},
	{"commit record", testCommitRecord},
	{"lease duration", testLeaseDuration},
	{"list order", testListOrder},
	{"reset", testReset},
	{"attempts and progress", testAttempts},
	{"checkpoints", testCheckpoints},
	{"watermarks", testWatermarks},
	{"set a watermark only where empty", testSetWatermarkIfEmpty},
	{"racing pins agree on one value", testConcurrentSetIfEmpty},
	{"intents", testIntents},
	{"concurrent claims have one winner", testConcurrentClaims},
}

func wantAttempt(t *testing.T, got, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("attempt = %d, want %d", got, want)
	}
}

func mustGet(t *testing.T, ctx context.Context, s state.Store, pipeline, id string) state.Partition {
	t.Helper()
	p, ok, err := s.Get(ctx, pipeline, id)
	if err != nil || !ok {
		t.Fatalf("get %s: ok=%v err=%v", id, ok, err)
	}
	return p
}

func testClaimLifecycle(t *testing.T, ctx context.Context, _ Backend, s state.Store, _ func(*testing.T) state.Store) {
	c := state.Claim{Pipeline: "p", RunLabel: "2026-11-22", ID: "id1", Key: "rows[0,10)", Index: 3, Owner: "a", Lease: time.Minute}
	steps := []struct {
		name    string
		do      func() error
		wantErr error
	}{
		{"first claim", func() error { n, err := s.Claim(ctx, c); wantAttempt(t, n, 1); return err }, nil},
		{"other owner is kept out", func() error { o := c; o.Owner = "b"; _, err := s.Claim(ctx, o); return err }, state.ErrLeased},
		{"same owner reclaims", func() error { n, err := s.Claim(ctx, c); wantAttempt(t, n, 2); return err }, nil},
		{"renew by owner", func() error { return s.Renew(ctx, "p", "id1", "a", time.Minute, 0) }, nil},
		{"renew by other", func() error { return s.Renew(ctx, "p", "id1", "b", time.Minute, 0) }, state.ErrLeaseLost},
		{"renew of unknown partition", func() error { return s.Renew(ctx, "p", "nope", "a", time.Minute, 0) }, state.ErrLeaseLost},
		{"fail releases", func() error { return s.Fail(ctx, "p", "id1", "a", state.StatusFailed, state.Failure{Error: "boom"}) }, nil},
		{"renew after failure", func() error { return s.Renew(ctx, "p", "id1", "a", time.Minute, 0) }, state.ErrLeaseLost},
		{"other owner claims after failure", func() error {
			o := c
			o.Owner, o.Worker = "b", 7
			n, err := s.Claim(ctx, o)
			wantAttempt(t, n, 3)
			return err
		}, nil},
	}
	for _, st := range steps {
		if err := st.do(); !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.wantErr)
		}
	}
	err := s.Commit(ctx, state.Partition{Pipeline: "p", RunLabel: "2026-11-22", ID: "id1", Key: "rows[0,10)", Index: 3,
		Attempts: 3, Rows: 10, Bytes: 99, Fingerprint: "fp", Tokens: `{"parquet":"m"}`, Owner: "b"})
	if err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, ctx, s, "p", "id1")
	if got.Status != state.StatusCommitted || got.Rows != 10 || got.Bytes != 99 || got.Attempts != 3 || got.Fingerprint != "fp" ||
		got.Tokens != `{"parquet":"m"}` || got.Key != "rows[0,10)" || got.Index != 3 || got.Error != "" ||
		got.FinishedAt.IsZero() || !got.LeaseUntil.IsZero() || got.Owner != "b" || got.RunLabel != "2026-11-22" ||
		got.Worker != 7 || got.StartedAt.IsZero() || got.FinishedAt.Before(got.StartedAt) {
		t.Fatalf("unexpected record %+v", got)
	}
	if _, ok, err := s.Get(ctx, "p", "nope"); ok || err != nil {
		t.Fatalf("unknown partition: ok=%v err=%v, want absent", ok, err)
	}
	if _, ok, _ := s.Get(ctx, "other-pipeline", "id1"); ok {
		t.Fatal("a partition id of one pipeline found under another")
	}
}

func testExpiredLease(t *testing.T, ctx context.Context, _ Backend, s state.Store, _ func(*testing.T) state.Store) {
	c := state.Claim{Pipeline: "p", RunLabel: "r", ID: "x", Key: "k", Owner: "dead", Lease: time.Millisecond}
	if _, err := s.Claim(ctx, c); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	c.Owner, c.Lease = "alive", time.Minute
	n, err := s.Claim(ctx, c)
	if err != nil {
		t.Fatalf("expired lease not taken over: %v", err)
	}
	wantAttempt(t, n, 2)
	if err := s.Renew(ctx, "p", "x", "dead", time.Minute, 0); !errors.Is(err, state.ErrLeaseLost) {
		t.Fatalf("old owner renew: %v, want ErrLeaseLost", err)
	}
	if err := s.Fail(ctx, "p", "x", "dead", state.StatusFailed, state.Failure{Error: "late"}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, ctx, s, "p", "x"); got.Status != state.StatusRunning || got.Owner != "alive" || got.Error != "" {
		t.Fatalf("the old owner's failure changed the new owner's record: %+v", got)
	}
}

func testRenew(t *testing.T, ctx context.Context, _ Backend, s state.Store, _ func(*testing.T) state.Store) {
	c := state.Claim{Pipeline: "p", RunLabel: "r", ID: "x", Key: "k", Owner: "a", Lease: 50 * time.Millisecond}
	if _, err := s.Claim(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.Renew(ctx, "p", "x", "a", time.Hour, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // past the first lease, well within the renewed one
	c.Owner = "b"
	if _, err := s.Claim(ctx, c); !errors.Is(err, state.ErrLeased) {
		t.Fatalf("claim of a renewed lease: %v, want ErrLeased", err)
	}
}

func testTakeOverFrom(t *testing.T, ctx context.Context, _ Backend, s state.Store, _ func(*testing.T) state.Store) {
	c := state.Claim{Pipeline: "p", RunLabel: "r", ID: "x", Key: "k", Owner: "dead", Lease: time.Hour}
	if _, err := s.Claim(ctx, c); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		owner, takeOverFrom string
		wantErr             error
		wantAttempt         int
	}{
		{"b", "", state.ErrLeased, 0},
		{"b", "someone-else", state.ErrLeased, 0},
		{"b", "dead", nil, 2},
		{"c", "dead", state.ErrLeased, 0}, // b holds it now
	}
	for _, tt := range tests {
		c.Owner, c.TakeOverFrom = tt.owner, tt.takeOverFrom
		n, err := s.Claim(ctx, c)
		if !errors.Is(err, tt.wantErr) || n != tt.wantAttempt {
			t.Fatalf("claim by %s taking over from %q: attempt %d, err %v; want %d, %v", tt.owner, tt.takeOverFrom, n, err, tt.wantAttempt, tt.wantErr)
		}
	}
	if err := s.Renew(ctx, "p", "x", "dead", time.Hour, 0); !errors.Is(err, state.ErrLeaseLost) {
		t.Fatalf("dead owner renew: %v, want ErrLeaseLost", err)
	}
}

func testCommittedUnlessForced(t *testing.T, ctx context.Context, _ Backend, s state.Store, _ func(*testing.T) state.Store) {
	if err := s.Commit(ctx, state.Partition{Pipeline: "p", RunLabel: "r", ID: "x", Key: "k", Fingerprint: "fp"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		fingerprint string
		force       bool
		wantErr     error
	}{
		{"same spec", "fp", false, state.ErrCommitted},
		{"same spec, forced", "fp", true, nil},
		{"another spec", "other", false, nil},
		{"no fingerprint", "", false, nil},
	}
	for _, tt := range tests {
		c := state.Claim{Pipeline: "p", RunLabel: "r", ID: "x", Key: "k", Owner: "a", Lease: time.Minute, Fingerprint: tt.fingerprint, Force: tt.force}
		if _, err := s.Claim(ctx, c); !errors.Is(err, tt.wantErr) {
			t.Fatalf("%s: claim err = %v, want %v", tt.name, err, tt.wantErr)
		}
		if err := s.Commit(ctx, state.Partition{Pipeline: "p", RunLabel: "r", ID: "x", Key: "k", Fingerprint: "fp"}); err != nil {
			t.Fatal(err)
		}
	}
}

func testFail(t *testing.T, ctx context.Context, _ Backend, s state.Store, _ func(*testing.T) state.Store) {
	tests := []struct {
		id, failer, errText string
		status              state.Status
		want                state.Status
		wantText            string
	}{
		{"f", "a", "boom", state.StatusFailed, state.StatusFailed, "boom"},
		{"ab", "a", "interrupted", state.StatusAborted, state.StatusAborted, "interrupted"},
		{"other", "b", "boom", state.StatusFailed, state.StatusRunning, ""}, // only the owner's attempt can fail
	}
	for _, tt := range tests {
		c := state.Claim{Pipeline: "p", RunLabel: "r", ID: tt.id, Key: "k", Owner: "a", Lease: time.Hour}
		if _, err := s.Claim(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.Fail(ctx, "p", tt.id, tt.failer, tt.status, state.Failure{Error: tt.errText}); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, ctx, s, "p", tt.id)
		if got.Status != tt.want || got.Error != tt.wantText || got.Attempts != 1 || got.Owner != "a" {
			t.Fatalf("%s: record %+v, want status %s error %q", tt.id, got, tt.want, tt.wantText)
		}
		if released := got.LeaseUntil.IsZero(); released != (tt.want != state.StatusRunning) {
			t.Fatalf("%s: lease until %v after fail by %s", tt.id, got.LeaseUntil, tt.failer)
		}
		if tt.want != state.StatusRunning && got.FinishedAt.IsZero() {
			t.Fatalf("%s: no finish time after failure", tt.id)
		}
	}
	if err := s.Fail(ctx, "p", "never-claimed", "a", state.StatusFailed, state.Failure{Error: "x"}); err != nil {
		t.Fatalf("fail of an unknown partition: %v", err)
	}
	if _, ok, _ := s.Get(ctx, "p", "never-claimed"); ok {
		t.Fatal("fail created a record")
	}
}

func testCommitRecord(t *testing.T, ctx context.Context, b Backend, s state.Store, _ func(*testing.T) state.Store) {
	started := time.Date(2026, 11, 22, 13, 45, 1, 123456789, time.UTC)
	finished := started.Add(90*time.Second + 987654321)
	tests := []struct {
		name            string
		claimFirst      int // attempts made before the commit
		commitAttempts  int
		started, finish time.Time
		wantAttempts    int
	}{
		{"never claimed", 0, 1, started, finished, 1},
		{"more attempts in the store than in the commit", 3, 1, started, finished, 3},
		{"more attempts in the commit", 1, 5, time.Time{}, time.Time{}, 5},
	}
	for i, tt := range tests {
		id := fmt.Sprint("x", i)
		for range tt.claimFirst {
			if _, err := s.Claim(ctx, state.Claim{Pipeline: "p", RunLabel: "r", ID: id, Key: "k", Owner: "a", Lease: time.Hour}); err != nil {
				t.Fatal(err)
			}
		}
		before := time.Now()
		err := s.Commit(ctx, state.Partition{Pipeline: "p", RunLabel: "r", ID: id, Key: "k", Attempts: tt.commitAttempts,
			Owner: "a", StartedAt: tt.started, FinishedAt: tt.finish})
		if err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, ctx, s, "p", id)
		if got.Attempts != tt.wantAttempts || got.Status != state.StatusCommitted {
			t.Fatalf("%s: %+v, want %d attempts", tt.name, got, tt.wantAttempts)
		}
		if tt.finish.IsZero() {
			// The store stamps the commit time itself.
			if d := got.FinishedAt.Sub(before); d < -time.Second || d > 10*time.Second {
				t.Fatalf("%s: finished at %v, want about %v", tt.name, got.FinishedAt, before)
			}
			continue
		}
		// Timestamps keep the store's precision exactly, in UTC. A claimed partition keeps its claim's start.
		if want := tt.started.Truncate(b.Precision); tt.claimFirst == 0 && (!got.StartedAt.Equal(want) || got.StartedAt.Location() != time.UTC) {
			t.Fatalf("%s: started at %v, want %v", tt.name, got.StartedAt, want)
		}
		if want := tt.finish.Truncate(b.Precision); !got.FinishedAt.Equal(want) {
			t.Fatalf("%s: finished at %v, want %v", tt.name, got.FinishedAt, want)
		}
	}
}

// The lease ends its duration after the claim or renewal (the stores here share the test machine's clock).
func testLeaseDuration(t *testing.T, ctx context.Context, _ Backend, s state.Store, _ func(*testing.T) state.Store) {
	tests := []struct {
		name  string
		lease time.Duration
		renew bool
	}{
		{"claim", 90 * time.Minute, false},
		{"renew", 36 * time.Hour, true},
	}
	for _, tt := range tests {
		c := state.Claim{Pipeline: "p", RunLabel: "r", ID: "x", Key: "k", Owner: "a", Lease: time.Minute}
		if !tt.renew {
			c.Lease = tt.lease
		}
		before := time.Now()
		if _, err := s.Claim(ctx, c); err != nil {
			t.Fatal(err)
		}
		if tt.renew {
			if err := s.Renew(ctx, "p", "x", "a", tt.lease, 0); err != nil {
				t.Fatal(err)
			}
		}
		after := time.Now()
		got := mustGet(t, ctx, s, "p", "x")
		if lo, hi := before.Add(tt.lease-time.Second), after.Add(tt.lease+time.Second); got.LeaseUntil.Before(lo) || got.LeaseUntil.After(hi) {
			t.Fatalf("%s: lease until %v, want between %v and %v", tt.name, got.LeaseUntil, lo, hi)
		}
		if got.StartedAt.Before(before.Add(-time.Second)) || got.StartedAt.After(after.Add(time.Second)) {
			t.Fatalf("%s: started at %v, want about %v", tt.name, got.StartedAt, before)
		}
	}
}

func commitAll(t *testing.T, ctx context.Context, s state.Store, ps ...state.Partition) {
	t.Helper()
	for _, p := range ps {
		if p.Pipeline == "" {
			p.Pipeline = "p"
		}
		if err := s.Commit(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(ps []state.Partition) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func testListOrder(t *testing.T, ctx context.Context, _ Backend, s state.Store, _ func(*testing.T) state.Store) {
	// By run label, then index, then id, comparing text bytewise (uppercase before lowercase, as in C).
	commitAll(t, ctx, s,
		state.Partition{RunLabel: "2026-11-23", ID: "c", Key: "c", Index: 0},
		state.Partition{RunLabel: "2026-11-22", ID: "b", Key: "b", Index: 0},
		state.Partition{RunLabel: "2026-11-22", ID: "a", Key: "a", Index: 1},
		state.Partition{RunLabel: "2026-11-22", ID: "z", Key: "z", Index: 10},
		state.Partition{RunLabel: "2026-11-22", ID: "y", Key: "y", Index: 2},
		state.Partition{RunLabel: "2026-11-22", ID: "e", Key: "e", Index: 0},
		state.Partition{RunLabel: "2026-11-22", ID: "E", Key: "E", Index: 0},
		state.Partition{Pipeline: "q", RunLabel: "2026-11-22", ID: "other", Key: "o"},
	)
	tests := []struct {
		pipeline, run string
		want          []string
	}{
		{"p", "2026-11-22", []string{"E", "b", "e", "a", "y", "z"}},
		{"p", "", []string{"E", "b", "e", "a", "y", "z", "c"}},
		{"p", "2026-11-23", []string{"c"}},
		{"p", "2026-11-24", nil},
		{"q", "", []string{"other"}},
		{"none", "", nil},
	}
	for _, tt := range tests {
		got, err := s.List(ctx, tt.pipeline, tt.run)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ids(got)) != fmt.Sprint(tt.want) {
			t.Errorf("list %s %q = %v, want %v", tt.pipeline, tt.run, ids(got), tt.want)
		}
	}
}

func testReset(t *testing.T, ctx context.Context, _ Backend, s state.Store, _ func(*testing.T) state.Store) {
	tests := []struct {
		name   string
		run    string
		ids    []string
		want   int
		remain []string
	}{
		{"one id", "2026-11-22", []string{"a"}, 1, []string{"b", "c", "d", "x"}},
		{"id of another run is kept", "2026-11-22", []string{"x"}, 0, []string{"b", "c", "d", "x"}},
		{"ids of any run", "", []string{"x", "b", "unknown", "b"}, 2, []string{"c", "d"}},
		{"whole run", "2026-11-22", nil, 2, nil},
	}
	commitAll(t, ctx, s,
		state.Partition{RunLabel: "2026-11-22", ID: "a", Key: "a", Index: 0},
		state.Partition{RunLabel: "2026-11-22", ID: "b", Key: "b", Index: 1},
		state.Partition{RunLabel: "2026-11-22", ID: "c", Key: "c", Index: 2},
		state.Partition{RunLabel: "2026-11-22", ID: "d", Key: "d", Index: 3},
		state.Partition{RunLabel: "2026-11-23", ID: "x", Key: "x", Index: 0},
		state.Partition{Pipeline: "q", RunLabel: "2026-11-22", ID: "a", Key: "a"},
	)
	for _, tt := range tests {
		n, err := s.Reset(ctx, "p", tt.run, tt.ids)
		if err != nil || n != tt.want {
			t.Fatalf("%s: reset = %d, %v; want %d", tt.name, n, err, tt.want)
		}
		left, err := s.List(ctx, "p", "2026-11-22")
		if err != nil {
			t.Fatal(err)
		}
		var remain []string
		remain = append(remain, ids(left)...)
		if _, ok, _ := s.Get(ctx, "p", "x"); ok {
			remain = append(remain, "x")
		}
		if fmt.Sprint(remain) != fmt.Sprint(tt.remain) {
			t.Fatalf("%s: left %v, want %v", tt.name, remain, tt.remain)
		}
	}
	if _, ok, _ := s.Get(ctx, "q", "a"); !ok {
		t.Fatal("reset of one pipeline removed another's partition")
	}
}

// Each claim adds an attempt, a renewal records the rows read so far, and the outcome ends the attempt: a retried
// partition keeps the failure of its first attempt next to its commit.
func testAttempts(t *testing.T, ctx context.Context, _ Backend, s state.Store, _ func(*testing.T) state.Store) {
	claim := func(id, run string, worker int) {
		t.Helper()
		c := state.Claim{Pipeline: "p", RunLabel: run, ID: id, Key: id, Owner: "a", Worker: worker, Lease: time.Hour}
		if _, err := s.Claim(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	claim("x", "r", 2)
	if err := s.Renew(ctx, "p", "x", "a", time.Hour, 40); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, ctx, s, "p", "x"); got.Rows != 40 || got.Status != state.StatusRunning {
		t.Fatalf("after a renewal with progress: %+v, want 40 rows running", got)
	}
	fail := state.Failure{Error: "loader out: write: <script>reset</script>", Cause: "<script>reset</script>", Class: "transient"}
	if err := s.Fail(ctx, "p", "x", "a", state.StatusFailed, fail); err != nil {
		t.Fatal(err)
	}
	claim("x", "r", 1)
	if got := mustGet(t, ctx, s, "p", "x"); got.Rows != 0 || got.Attempts != 2 {
		t.Fatalf("after a new claim: %+v, want no rows yet, attempt 2", got)
	}
	if err := s.Commit(ctx, state.Partition{Pipeline: "p", RunLabel: "r", ID: "x", Key: "x", Attempts: 2, Rows: 100, Owner: "a"}); err != nil {
		t.Fatal(err)
	}
	claim("y", "r", 1)
	if err := s.Fail(ctx, "p", "y", "a", state.StatusAborted, state.Failure{Error: "interrupted", Cause: "interrupted", Class: "aborted"}); err != nil {
		t.Fatal(err)
	}
	claim("z", "other-run", 1)

	got, err := s.Attempts(ctx, "p", "r")
	if err != nil {
		t.Fatal(err)
	}
	type brief struct {
		ID     string
		N      int
		Worker int
		Status state.Status
		Rows   int64
		state.Failure
	}
	var briefs []brief
	for _, a := range got {
		if a.StartedAt.IsZero() || a.FinishedAt.Before(a.StartedAt) || a.Owner != "a" || a.RunLabel != "r" {
			t.Fatalf("attempt %+v: want owner a, run r, a start and an end after it", a)
		}
		briefs = append(briefs, brief{a.PartitionID, a.Number, a.Worker, a.Status, a.Rows, a.Failure})
	}
	want := []brief{
		{"x", 1, 2, state.StatusFailed, 40, fail},
		{"x", 2, 1, state.StatusCommitted, 100, state.Failure{}},
		{"y", 1, 1, state.StatusAborted, 0, state.Failure{Error: "interrupted", Cause: "interrupted", Class: "aborted"}},
	}
	if fmt.Sprint(briefs) != fmt.Sprint(want) {
		t.Fatalf("attempts:\n got %+v\nwant %+v", briefs, want)
	}
	if all, err := s.Attempts(ctx, "p", ""); err != nil || len(all) != 4 {
		t.Fatalf("attempts of every run: %d, %v; want 4", len(all), err)
	}
	if _, err := s.Reset(ctx, "p", "r", nil); err != nil {
		t.Fatal(err)
	}
	if left, err := s.Attempts(ctx, "p", "r"); err != nil || len(left) != 0 {
		t.Fatalf("attempts after reset: %+v, %v", left, err)
	}
}

func testCheckpoints(t *testing.T, ctx context.Context, _ Backend, s state.Store, _ func(*testing.T) state.Store) {
	commitAll(t, ctx, s,
		state.Partition{RunLabel: "r", ID: "a", Key: "a", Lane: "0", Checkpoint: "offset=10"},
		state.Partition{RunLabel: "r", ID: "b", Key: "b", Lane: "1", Checkpoint: "offset=5"},
		state.Partition{RunLabel: "r", ID: "c", Key: "c", Lane: "0", Checkpoint: "offset=20"},
		state.Partition{RunLabel: "r", ID: "d", Key: "d", Lane: "0"},                          // no checkpoint: keeps the lane's
		state.Partition{RunLabel: "r", ID: "e", Key: "e", Checkpoint: "batch-without-a-lane"}, // no lane: no lane checkpoint
		state.Partition{Pipeline: "q", RunLabel: "r", ID: "a", Key: "a", Lane: "0", Checkpoint: "other"},
	)
	tests := []struct {
		pipeline, lane string
		want           string
		ok             bool
	}{
		{"p", "0", "offset=20", true},
		{"p", "1", "offset=5", true},
		{"p", "2", "", false},
		{"p", "", "", false},
		{"q", "0", "other", true},
	}
	for _, tt := range tests {
		got, ok, err := s.Checkpoint(ctx, tt.pipeline, tt.lane)
		if err != nil || ok != tt.ok || got != tt.want {
			t.Errorf("checkpoint %s lane %q = %q %v %v, want %q %v", tt.pipeline, tt.lane, got, ok, err, tt.want, tt.ok)
		}
	}
}

func testWatermarks(t *testing.T, ctx context.Context, _ Backend, s state.Store, _ func(*testing.T) state.Store) {
	if _, ok, err := s.Watermark(ctx, "p", "updated_at"); ok || err != nil {
		t.Fatalf("watermark before set: ok=%v err=%v", ok, err)
	}
	tests := []struct{ name, value string }{
		{"updated_at", "2026-11-22T13:45:01.123456Z"}, // microseconds must survive
		{"updated_at", "2026-11-22T13:45:01.123456789+05:30"},
		{"id", "123456789012345678901234567890"}, // wider than any integer type
		{"price", "0.1000000000000000055511151231257827"},
		{"empty", ""},
		{"unicode", "ünïcödé ✓ 'quoted' \"x\""},
	}
	for _, tt := range tests {
		if err := s.SetWatermark(ctx, "p", tt.name, tt.value); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := s.Watermark(ctx, "p", tt.name); err != nil || !ok || v != tt.value {
			t.Fatalf("watermark %s = %q %v %v, want %q", tt.name, v, ok, err, tt.value)
		}
	}
	if _, ok, _ := s.Watermark(ctx, "q", "updated_at"); ok {
		t.Fatal("a watermark of one pipeline found under another")
	}
}

func testSetWatermarkIfEmpty(t *testing.T, ctx context.Context, _ Backend, s state.Store, _ func(*testing.T) state.Store) {
	steps := []struct{ value, want string }{
		{"first", "first"},  // absent: stored
		{"second", "first"}, // set: kept
		{"", "first"},       // an empty value never clears it
	}
	for _, st := range steps {
		got, err := s.SetWatermarkIfEmpty(ctx, "p", "pin", st.value)
		if err != nil || got != st.want {
			t.Fatalf("SetWatermarkIfEmpty(%q) = %q, %v; want %q", st.value, got, err, st.want)
		}
	}
	if err := s.SetWatermark(ctx, "p", "pin", ""); err != nil { // cleared, as a finished run clears its pin
		t.Fatal(err)
	}
	if got, err := s.SetWatermarkIfEmpty(ctx, "p", "pin", "third"); err != nil || got != "third" {
		t.Fatalf("after clearing: got %q, %v; want third", got, err)
	}
}

// Workers that start together each try to pin their plan through their own handle: all must get the same one.
func testConcurrentSetIfEmpty(t *testing.T, ctx context.Context, _ Backend, s1 state.Store, another func(*testing.T) state.Store) {
	s2 := another(t)
	const n = 16
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := s1
			if i%2 == 1 {
				s = s2
			}
			got[i], errs[i] = s.SetWatermarkIfEmpty(ctx, "race", "pin", fmt.Sprintf("plan-%d", i))
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("writer %d: %v", i, errs[i])
		}
		if got[i] != got[0] {
			t.Fatalf("writers disagree: %q and %q", got[0], got[i])
		}
	}
}

func testIntents(t *testing.T, ctx context.Context, b Backend, s state.Store, another func(*testing.T) state.Store) {
	if got, err := s.Intents(ctx, "p"); err != nil || len(got) != 0 {
		t.Fatalf("intents of an empty store = %v %v", got, err)
	}
	created := time.Date(2026, 11, 22, 13, 45, 1, 0, time.UTC)
	add := []state.Intent{
		{Pipeline: "p", PartitionID: "b", Owner: "h:1", Attempt: 1, Loader: "lake", Path: "s3://x/data/1.parquet", CreatedAt: created},
		{Pipeline: "p", PartitionID: "a", Owner: "h:2", Attempt: 2, Loader: "files", Path: "/out/_jetflow/tmp/a/n2/", CreatedAt: created},
		{Pipeline: "p", PartitionID: "a", Owner: "h:1", Attempt: 1, Loader: "files", Path: "/out/_jetflow/tmp/a/n1/", CreatedAt: created},
		{Pipeline: "p", PartitionID: "b", Owner: "h:1", Attempt: 1, Loader: "lake", Path: "s3://x/data/0.parquet", CreatedAt: created},
		{Pipeline: "q", PartitionID: "a", Owner: "h:1", Attempt: 1, Loader: "files", Path: "/other/", CreatedAt: created},
	}
	for _, in := range add {
		if err := s.AddIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddIntent(ctx, add[0]); err != nil { // a retried write records its intent again
		t.Fatalf("adding an intent twice: %v", err)
	}
	paths := func(in []state.Intent) []string {
		var out []string
		for _, x := range in {
			out = append(out, x.PartitionID+" "+x.Owner+" "+x.Path)
		}
		return out
	}
	got, err := another(t).Intents(ctx, "p") // seen by another process
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a h:1 /out/_jetflow/tmp/a/n1/", "a h:2 /out/_jetflow/tmp/a/n2/", "b h:1 s3://x/data/0.parquet", "b h:1 s3://x/data/1.parquet"}
	if fmt.Sprint(paths(got)) != fmt.Sprint(want) {
		t.Fatalf("intents = %q, want %q", paths(got), want)
	}
	if g := got[1]; g.Pipeline != "p" || g.Attempt != 2 || g.Loader != "files" || !g.CreatedAt.Equal(created.Truncate(b.Precision)) {
		t.Fatalf("intent record %+v, want attempt 2 of loader files created %s", g, created)
	}
	tests := []struct {
		name        string
		pid, owner  string
		paths       []string
		wantCleared int
		wantLeft    []string
	}{
		{"another owner's attempt stays", "a", "h:3", nil, 0, want},
		{"one path", "b", "h:1", []string{"s3://x/data/1.parquet", "s3://x/data/9.parquet"}, 1, want[:3]},
		{"every path of an attempt", "a", "h:1", nil, 1, want[1:3]},
		{"the rest", "b", "h:1", nil, 1, want[1:2]},
	}
	for _, tt := range tests {
		n, err := s.ClearIntents(ctx, "p", tt.pid, tt.owner, tt.paths...)
		if err != nil || n != tt.wantCleared {
			t.Fatalf("%s: cleared %d %v, want %d", tt.name, n, err, tt.wantCleared)
		}
		got, err := s.Intents(ctx, "p")
		if err != nil || fmt.Sprint(paths(got)) != fmt.Sprint(tt.wantLeft) {
			t.Fatalf("%s: left %q %v, want %q", tt.name, paths(got), err, tt.wantLeft)
		}
	}
	if got, _ := s.Intents(ctx, "q"); len(got) != 1 {
		t.Fatalf("intents of another pipeline = %v, want its one untouched", got)
	}
}

// Of many concurrent claims on one partition through two store handles (two processes, or two machines), exactly
// one wins, whatever state the partition was in.
func testConcurrentClaims(t *testing.T, ctx context.Context, _ Backend, s1 state.Store, another func(*testing.T) state.Store) {
	s2 := another(t)
	tests := []struct {
		name  string
		setup func(id string)
	}{
		{"new partition", func(string) {}},
		{"expired lease", func(id string) {
			if _, err := s1.Claim(ctx, state.Claim{Pipeline: "p", RunLabel: "r", ID: id, Key: "k", Owner: "dead", Lease: time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}},
		{"failed", func(id string) {
			if _, err := s1.Claim(ctx, state.Claim{Pipeline: "p", RunLabel: "r", ID: id, Key: "k", Owner: "x", Lease: time.Hour}); err != nil {
				t.Fatal(err)
			}
			if err := s1.Fail(ctx, "p", id, "x", state.StatusFailed, state.Failure{Error: "boom"}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		tt.setup(tt.name)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []string
		leased := 0
		start := make(chan struct{})
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := s1
				if i%2 == 1 {
					s = s2
				}
				owner := fmt.Sprint("w", i)
				<-start
				_, err := s.Claim(ctx, state.Claim{Pipeline: "p", RunLabel: "r", ID: tt.name, Key: "k", Owner: owner, Lease: time.Minute})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, owner)
				case errors.Is(err, state.ErrLeased):
					leased++
				default:
					t.Errorf("%s: claim: %v", tt.name, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 || leased != 15 {
			t.Fatalf("%s: winners=%v leased=%d, want one winner and 15 ErrLeased", tt.name, winners, leased)
		}
		if got := mustGet(t, ctx, s2, "p", tt.name); got.Owner != winners[0] || got.Status != state.StatusRunning {
			t.Fatalf("%s: record %+v, want owned by the winner %s", tt.name, got, winners[0])
		}
	}
}
