package state

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openTemp(t *testing.T) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "state.db")
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestClaimCommitLifecycle(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	c := Claim{Pipeline: "p", RunLabel: "2026-11-22", ID: "id1", Key: "rows[0,10)", Index: 3, Owner: "a", Lease: time.Minute}

	tests := []struct {
		name    string
		do      func() error
		wantErr error
	}{
		{"first claim", func() error { n, err := s.Claim(ctx, c); check(t, n, 1); return err }, nil},
		{"other owner is kept out", func() error { o := c; o.Owner = "b"; _, err := s.Claim(ctx, o); return err }, ErrLeased},
		{"same owner reclaims", func() error { n, err := s.Claim(ctx, c); check(t, n, 2); return err }, nil},
		{"renew by owner", func() error { return s.Renew(ctx, "p", "id1", "a", time.Minute) }, nil},
		{"renew by other", func() error { return s.Renew(ctx, "p", "id1", "b", time.Minute) }, ErrLeaseLost},
		{"fail releases", func() error { return s.Fail(ctx, "p", "id1", "a", StatusFailed, "boom") }, nil},
		{"other owner claims after failure", func() error {
			o := c
			o.Owner = "b"
			n, err := s.Claim(ctx, o)
			check(t, n, 3)
			return err
		}, nil},
	}
	for _, tt := range tests {
		if err := tt.do(); !errors.Is(err, tt.wantErr) {
			t.Fatalf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
		}
	}
	err := s.Commit(ctx, Partition{Pipeline: "p", RunLabel: "2026-11-22", ID: "id1", Key: "rows[0,10)", Index: 3,
		Attempts: 3, Rows: 10, Bytes: 99, Fingerprint: "fp", Tokens: `{"parquet":"m"}`, Owner: "b"})
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(ctx, "p", "id1")
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	if got.Status != StatusCommitted || got.Rows != 10 || got.Bytes != 99 || got.Attempts != 3 || got.Fingerprint != "fp" ||
		got.Tokens != `{"parquet":"m"}` || got.Key != "rows[0,10)" || got.Index != 3 || got.Error != "" || got.FinishedAt.IsZero() {
		t.Fatalf("unexpected record %+v", got)
	}
	if _, ok, _ := s.Get(ctx, "p", "nope"); ok {
		t.Fatal("unknown partition reported as present")
	}
}

func check(t *testing.T, got, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("attempt = %d, want %d", got, want)
	}
}

func TestExpiredLeaseIsTakenOver(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	c := Claim{Pipeline: "p", RunLabel: "r", ID: "x", Key: "k", Owner: "dead", Lease: time.Millisecond}
	if _, err := s.Claim(ctx, c); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	c.Owner, c.Lease = "alive", time.Minute
	if _, err := s.Claim(ctx, c); err != nil {
		t.Fatalf("expired lease not taken over: %v", err)
	}
	if err := s.Renew(ctx, "p", "x", "dead", time.Minute); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("old owner renew: %v, want ErrLeaseLost", err)
	}
}

// Two store handles on one file stand for two processes: of many concurrent claims, exactly one wins.
func TestConcurrentClaimsOneWinner(t *testing.T) {
	ctx := context.Background()
	s1, path := openTemp(t)
	s2, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, leased := 0, 0
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := s1
			if i%2 == 1 {
				s = s2
			}
			_, err := s.Claim(ctx, Claim{Pipeline: "p", RunLabel: "r", ID: "same", Key: "k", Owner: string(rune('a' + i)), Lease: time.Minute})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, ErrLeased):
				leased++
			default:
				t.Errorf("claim: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || leased != 15 {
		t.Fatalf("wins=%d leased=%d, want 1 and 15", wins, leased)
	}
}

func TestListResetCheckpointWatermark(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	for i, id := range []string{"b", "a", "c"} {
		run := "2026-11-22"
		if id == "c" {
			run = "2026-11-23"
		}
		if err := s.Commit(ctx, Partition{Pipeline: "p", RunLabel: run, ID: id, Key: id, Index: 2 - i, Lane: "0", Checkpoint: id + "-cp"}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.List(ctx, "p", "2026-11-22")
	if err != nil || len(list) != 2 || list[0].ID != "a" || list[1].ID != "b" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if all, _ := s.List(ctx, "p", ""); len(all) != 3 {
		t.Fatalf("list all = %d rows, want 3", len(all))
	}
	if cp, ok, err := s.Checkpoint(ctx, "p", "0"); err != nil || !ok || cp != "c-cp" {
		t.Fatalf("checkpoint = %q %v %v, want the newest commit's", cp, ok, err)
	}
	if n, err := s.Reset(ctx, "p", "2026-11-22", []string{"a"}); err != nil || n != 1 {
		t.Fatalf("reset one = %d, %v", n, err)
	}
	if n, err := s.Reset(ctx, "p", "2026-11-22", nil); err != nil || n != 1 {
		t.Fatalf("reset run = %d, %v", n, err)
	}
	if _, ok, _ := s.Watermark(ctx, "p", "updated_at"); ok {
		t.Fatal("watermark present before set")
	}
	const ts = "2026-11-22T13:45:01.123456Z" // microseconds must survive
	if err := s.SetWatermark(ctx, "p", "updated_at", ts); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.Watermark(ctx, "p", "updated_at"); err != nil || !ok || v != ts {
		t.Fatalf("watermark = %q %v %v", v, ok, err)
	}
}

func TestClaimSkipsCommittedUnlessForced(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if err := s.Commit(ctx, Partition{Pipeline: "p", RunLabel: "r", ID: "x", Key: "k", Fingerprint: "fp"}); err != nil {
		t.Fatal(err)
	}
	c := Claim{Pipeline: "p", RunLabel: "r", ID: "x", Key: "k", Owner: "a", Lease: time.Minute, Fingerprint: "fp"}
	if _, err := s.Claim(ctx, c); !errors.Is(err, ErrCommitted) {
		t.Fatalf("claim of committed partition: %v, want ErrCommitted", err)
	}
	c.Force = true
	if _, err := s.Claim(ctx, c); err != nil {
		t.Fatalf("forced claim: %v", err)
	}
	if err := s.Commit(ctx, Partition{Pipeline: "p", RunLabel: "r", ID: "x", Key: "k", Fingerprint: "fp"}); err != nil {
		t.Fatal(err)
	}
	c.Force, c.Fingerprint = false, "other"
	if _, err := s.Claim(ctx, c); err != nil {
		t.Fatalf("claim of partition committed with another spec: %v", err)
	}
}
