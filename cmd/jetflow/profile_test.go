package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/offheap"
)

// `jetflow run --cpu-profile --mem-profile` writes two profiles in pprof's format (gzipped protobuf) naming the
// run's own code.
func TestRunWritesProfiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", seqPipeline("profiled", 300_000, 2, ""))
	jetflow(t, dir, nil, "run", "p.yaml", "--run", "2026-11-22", "--cpu-profile", "cpu.pprof", "--mem-profile", "mem.pprof").must(t, exitOK)
	for _, name := range []string{"cpu.pprof", "mem.pprof"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s is not a pprof profile: %v", name, err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil || len(raw) == 0 {
			t.Fatalf("%s: %d bytes, %v", name, len(raw), err)
		}
		// A CPU profile of a sub-second run may hold few samples; the heap profile always holds the run's own
		// allocations (the generated batches).
		if name == "mem.pprof" && !bytes.Contains(raw, []byte("github.com/jetflow-dev/jetflow/")) {
			t.Errorf("%s (%d bytes) names none of jetflow's functions", name, len(raw))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "mem.pprof.tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary heap profile left behind: %v", err)
	}
}

// jetflow run maps large Arrow buffers off the Go heap unless JETFLOW_ALLOCATOR=go asks for Go's allocator (the
// README's way out).
func TestAllocatorChoice(t *testing.T) {
	tests := []struct {
		env     string
		offHeap bool
	}{
		{"", true},
		{"go", false},
		{"anything else", true},
	}
	for _, tc := range tests {
		t.Setenv("JETFLOW_ALLOCATOR", tc.env)
		_, off := allocator().(*offheap.Allocator)
		if off != tc.offHeap {
			t.Errorf("JETFLOW_ALLOCATOR=%q: off-heap allocator %v, want %v", tc.env, off, tc.offHeap)
		}
	}
}
