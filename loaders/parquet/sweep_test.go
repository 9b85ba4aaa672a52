package parquet_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/stage"
)

// tmpKeys lists what is under _jetflow/tmp/, writes left in flight included.
func tmpKeys(t *testing.T, l *parquet.Loader) []string {
	t.Helper()
	keys, err := listTmp(l)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func listTmp(l *parquet.Loader) ([]string, error) {
	s, err := l.Destination(context.Background(), testRun)
	if err != nil {
		return nil, err
	}
	objs, err := s.ListAll(context.Background(), "_jetflow/tmp/")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out, nil
}

// settle waits until the listing of _jetflow/tmp/ has stayed the same for a while: the writers' goroutines are
// idle.
func settle(t *testing.T, l *parquet.Loader) {
	t.Helper()
	var last []string
	stable := 0
	for deadline := time.Now().Add(10 * time.Second); stable < 10 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		keys, err := listTmp(l) // a listing that meets a file being renamed fails: not settled yet
		if err == nil && slices.Equal(keys, last) {
			stable++
		} else {
			last, stable = keys, 0
		}
	}
}

// An attempt killed mid-write leaves finished temporary files and the one being written; its intent leads Sweep
// to all of them, while a committed partition's files stay.
func TestSweepRemovesAKilledAttemptsFiles(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	l := newLoader(t, mem, parquet.Config{Path: dir, Compression: "none", TargetFileSize: 16 << 10, Writers: 2})
	var intents []string
	ctx := stage.WithIntentRecorder(context.Background(), func(_ context.Context, path string) error {
		intents = append(intents, path)
		return nil
	})
	b := int64Batch(mem, 0, 3000)
	defer b.Release()

	// A committed partition: its intent is swept too (the engine clears it with the commit, unless killed first).
	cw, err := l.Begin(ctx, b.Schema(), testPartition("cc"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cw.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := cw.Commit(ctx, stage.CommitInfo{Pipeline: "orders", PartitionID: "cc"}); err != nil {
		t.Fatal(err)
	}
	// The killed attempt: files finished and one open.
	kw, err := l.Begin(ctx, b.Schema(), testPartition("kk"))
	if err != nil {
		t.Fatal(err)
	}
	defer kw.Abort(context.Background())
	for range 5 {
		if err := kw.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// A killed attempt writes nothing more, but this one's file writers still encode the last batches on their
	// goroutines (and may roll a new file): wait until what is under _jetflow/tmp/ stops changing.
	settle(t, l)
	if len(intents) != 2 || !strings.HasSuffix(intents[1], "/") || !strings.Contains(intents[1], "_jetflow/tmp/kk/") {
		t.Fatalf("intents = %q, want each attempt's temporary directory", intents)
	}
	s, _ := l.Destination(context.Background(), testRun)
	committed := dataFiles(t, s)

	tests := []struct {
		name      string
		dryRun    bool
		wantLeft  bool // temporary files still there after the sweep
		wantFound bool
	}{
		{"dry run", true, true, true},
		{"sweep", false, false, true},
		{"again: nothing left", false, false, false},
	}
	for _, tt := range tests {
		before := tmpKeys(t, l)
		removed, err := l.Sweep(context.Background(), intents, tt.dryRun)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if tt.wantFound != (len(removed) > 0) || len(removed) != len(before) {
			t.Fatalf("%s: removed %q, want the %d temporary files %q", tt.name, removed, len(before), before)
		}
		if left := tmpKeys(t, l); (len(left) > 0) != tt.wantLeft {
			t.Fatalf("%s: left under _jetflow/tmp/: %q", tt.name, left)
		}
		if got := dataFiles(t, s); !slices.Equal(got, committed) {
			t.Fatalf("%s: committed files %q became %q", tt.name, committed, got)
		}
	}
	if len(committed) == 0 {
		t.Fatal("the committed partition has no files")
	}
}

func TestSweepTempSparesLivePartitions(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	l := newLoader(t, mem, parquet.Config{Path: t.TempDir()})
	s, _ := l.Destination(ctx, testRun)
	for _, k := range []string{"_jetflow/tmp/old/01/0-0.parquet.tmp", "_jetflow/tmp/old/02/0-0.parquet.tmp", "_jetflow/tmp/busy/03/0-0.parquet.tmp"} {
		if err := s.WriteAll(ctx, k, []byte("PAR1 half")); err != nil {
			t.Fatal(err)
		}
	}
	live := func(_ context.Context, pid string) (bool, error) { return pid == "busy", nil }
	removed, err := l.SweepTemp(ctx, testRun, live, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 || !strings.HasSuffix(removed[0], "_jetflow/tmp/old/01/0-0.parquet.tmp") {
		t.Fatalf("removed %q, want the two files of partition old", removed)
	}
	if left := tmpKeys(t, l); !slices.Equal(left, []string{"_jetflow/tmp/busy/03/0-0.parquet.tmp"}) {
		t.Fatalf("left %q, want the live partition's file", left)
	}
}
