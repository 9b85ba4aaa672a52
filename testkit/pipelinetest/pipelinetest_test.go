package pipelinetest_test

import (
	"testing"

	_ "github.com/jetflow-dev/jetflow/builtin"
	"github.com/jetflow-dev/jetflow/stagetest"
	"github.com/jetflow-dev/jetflow/testkit/pipelinetest"
)

// TestExamples runs the stage tests of every pipeline under examples/, as `jetflow test examples/` does, so that
// `make test` keeps the examples honest.
func TestExamples(t *testing.T) {
	rep := pipelinetest.Run(t, stagetest.Options{}, "../../examples")
	perPipeline := map[string]int{}
	for _, r := range rep.Results {
		perPipeline[r.Pipeline]++
	}
	for _, name := range []string{"demo", "orders_clean", "customers", "tickets_api"} {
		if perPipeline[name] < 2 {
			t.Errorf("example %s carries %d stage tests; each example should carry at least 2", name, perPipeline[name])
		}
	}
}
