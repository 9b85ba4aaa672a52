package httpapi_test

import (
	"os"
	"path/filepath"
	"strings"
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
	// Endpoints (*_API, *_AUTH) keep their ${VAR:-default}; every other variable (keys, secrets) gets a value.
	env := func(k string) (string, bool) {
		if strings.HasSuffix(k, "_API") || strings.HasSuffix(k, "_AUTH") {
			return "", false
		}
		return "example-value", true
	}
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

// TestReadmeShowsThePipelines keeps README.md true: the pipelines it shows are the files the end-to-end tests run.
func TestReadmeShowsThePipelines(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"testdata/crm_contacts.yaml", "testdata/shop_orders.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(readme), "`"+f+"`:\n\n```yaml\n"+string(data)+"```\n") {
			t.Errorf("README.md does not show %s as it is; copy the file into its yaml block", f)
		}
	}
}
