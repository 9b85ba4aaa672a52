package stagetest

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/pipelines"
)

// RunTests is `jetflow test paths...` inside a Go test: it loads the pipelines under paths, runs their stage tests
// with a checked allocator (a leak fails t), and reports each case as a subtest named pipeline/case. Invalid
// pipeline or test files fail t with their file:line:col. opts.Alloc and opts.TempDir are set for the run.
//
//	func TestPipelines(t *testing.T) { stagetest.RunTests(t, stagetest.Options{}, "../pipelines") }
func RunTests(t *testing.T, opts Options, paths ...string) Report {
	t.Helper()
	ps, err := pipelines.LoadPaths(paths...)
	if err != nil {
		t.Errorf("loading %v:\n%v", paths, err)
	}
	mem := memory.NewCheckedAllocator(offheap.NewGuarded()) // a use after release faults
	defer mem.AssertSize(t, 0)
	opts.Alloc, opts.TempDir = mem, t.TempDir()
	rep := Run(t.Context(), ps, opts)
	for _, e := range rep.Invalid {
		t.Errorf("%v", e)
	}
	for _, r := range rep.Results {
		t.Run(r.ID(), func(t *testing.T) {
			switch r.Status {
			case Fail:
				t.Errorf("%s: stage output differs:\n%s", r.Where, r.Diff)
			case Error:
				t.Errorf("%v", r.Err)
			}
		})
	}
	return rep
}
