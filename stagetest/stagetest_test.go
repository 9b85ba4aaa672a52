package stagetest_test

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	_ "github.com/jetflow-dev/jetflow/builtin"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stagetest"
)

// TestExamples runs the stage tests of every pipeline under examples/, as `jetflow test examples/` does, so that
// `make test` keeps the examples honest.
func TestExamples(t *testing.T) {
	ps, err := pipelines.LoadPaths("../examples")
	if err != nil {
		t.Fatalf("loading the examples: %v", err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rep := stagetest.Run(context.Background(), ps, stagetest.Options{Alloc: mem, TempDir: t.TempDir()})
	for _, e := range rep.Invalid {
		t.Errorf("invalid case: %v", e)
	}
	for _, r := range rep.Results {
		switch r.Status {
		case stagetest.Pass:
			t.Logf("--- PASS %s", r.ID())
		case stagetest.Fail:
			t.Errorf("--- FAIL %s (%s)\n%s", r.ID(), r.Where, r.Diff)
		default:
			t.Errorf("--- ERROR %s: %v", r.ID(), r.Err)
		}
	}
	if len(rep.Results) < 5 {
		t.Errorf("ran %d cases; the examples declare more", len(rep.Results))
	}
}
