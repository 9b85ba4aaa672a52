package iceberg

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// globParquet lists what a plain glob of the table's data directory finds.
func globParquet(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") && strings.Contains(p, "/data/") {
			out = append(out, p)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// A killed attempt leaves a truncated data file named with its write UUID; Sweep removes it and keeps every file
// a snapshot references, also those of a partition whose intent was never cleared.
func TestSweepRemovesUncommittedDataFiles(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	l := newLoader(t, dir, nil)
	var intents []string
	ctx := stage.WithIntentRecorder(context.Background(), func(_ context.Context, path string) error {
		intents = append(intents, path)
		return nil
	})
	rec := orders(t, mem, 0, 50)
	defer rec.Release()
	testkit.LoadPartition(ctx, t, l, ordersSchema(), testkit.PartitionFor("committed"), rec)
	w, err := l.Begin(ctx, ordersSchema(), testkit.PartitionFor("killed"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(intents) != 2 {
		t.Fatalf("intents = %q, want one per attempt", intents)
	}
	// What the kill left: a data file cut short, named as the attempt names its files.
	committed := globParquet(t, dir)
	id := intents[1][strings.Index(intents[1], intentSep)+len(intentSep) : strings.LastIndex(intents[1], "-*")]
	truncated := filepath.Join(filepath.Dir(committed[0]), "00000-7-"+id+"-00000.parquet")
	if err := os.WriteFile(truncated, []byte("PAR1"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		dryRun bool
		want   []string // reported
		left   []string // found by a glob afterwards
	}{
		{"dry run", true, []string{truncated}, append(slices.Clone(committed), truncated)},
		{"sweep", false, []string{truncated}, committed},
		{"again", false, nil, committed},
	}
	for _, tt := range tests {
		got, err := l.Sweep(context.Background(), intents, tt.dryRun)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for i := range got {
			got[i] = strings.TrimPrefix(got[i], "file://")
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: reported %q, want %q", tt.name, got, tt.want)
		}
		left := globParquet(t, dir)
		want := slices.Clone(tt.left)
		slices.Sort(want)
		if !slices.Equal(left, want) {
			t.Errorf("%s: glob finds %q, want %q", tt.name, left, want)
		}
	}
	if live := dataFiles(t, l); !slices.Equal(live, committed) {
		t.Errorf("live files %q, want %q", live, committed)
	}
}
