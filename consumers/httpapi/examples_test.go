package httpapi_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
)

// TestExamplePipelines loads, builds and validates the example pipelines in testdata, so that the YAML shown to
// users stays accepted by the loader (defaults, enums, required keys) and by the stages after it.
func TestExamplePipelines(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("example pipelines: %v %v", files, err)
	}
	env := func(string) (string, bool) { return "example-value", true }
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			lake := t.TempDir()
			p, err := pipelines.Options{LookupEnv: func(k string) (string, bool) {
				if k == "LAKE" {
					return lake, true
				}
				return env(k)
			}}.Parse(f, data)
			if err != nil {
				t.Fatal(err)
			}
			b, err := p.Build(stage.BuildContext{Pipeline: p.Name, Alloc: memory.NewGoAllocator(), Dir: filepath.Dir(f)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Validate(t.Context(), b, false); err != nil {
				t.Fatalf("validate: %v", err)
			}
		})
	}
}
