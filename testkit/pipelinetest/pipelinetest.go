// Package pipelinetest runs the stage tests declared next to pipelines (`tests:` or <name>.test.yaml) inside a Go
// test, each case a subtest, with a checked allocator so a leak fails the test. The runner itself is package
// stagetest, which `jetflow test` uses without linking testing.
package pipelinetest

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stagetest"
)

// Run is `jetflow test paths...` inside a Go test: it loads the pipelines under paths, runs their stage tests
// with a checked allocator (a leak fails t), and reports each case as a subtest named pipeline/case. Invalid
// pipeline or test files fail t with their file:line:col. opts.Alloc and opts.TempDir are set for the run.
//
//	func TestPipelines(t *testing.T) { pipelinetest.Run(t, stagetest.Options{}, "../pipelines") }
func Run(t *testing.T, opts stagetest.Options, paths ...string) stagetest.Report {
	t.Helper()
	ps, err := pipelines.LoadPaths(paths...)
	if err != nil {
		t.Errorf("loading %v:\n%v", paths, err)
	}
	mem := memory.NewCheckedAllocator(offheap.NewGuarded()) // a use after release faults
	defer mem.AssertSize(t, 0)
	opts.Alloc, opts.TempDir = mem, t.TempDir()
	rep := stagetest.Run(t.Context(), ps, opts)
	for _, e := range rep.Invalid {
		t.Errorf("%v", e)
	}
	for _, r := range rep.Results {
		t.Run(r.ID(), func(t *testing.T) {
			switch r.Status {
			case stagetest.Fail:
				t.Errorf("%s: stage output differs:\n%s", r.Where, r.Diff)
			case stagetest.Error:
				t.Errorf("%v", r.Err)
			}
		})
	}
	return rep
}
