package pipelines_test

import (
	"flag"
	"os"
	"strings"
	"testing"

	_ "github.com/jetflow-dev/jetflow/builtin"
	"github.com/jetflow-dev/jetflow/pipelines"
)

// -update is defined by the package's internal tests, which share this test binary.
func updating() bool { return flag.Lookup("update").Value.String() == "true" }

// TestReference keeps docs/REFERENCE.md equal to what pipelines.Reference() renders for the built-in stages.
func TestReference(t *testing.T) {
	const path = "../docs/REFERENCE.md"
	got := pipelines.ReferenceWithoutTestStages()
	for _, want := range []string{"## Top level", "`run_instance.every`", "### generate", "`columns[].name`", "### parquet", "`s3.secret_access_key`"} {
		if !strings.Contains(got, want) {
			t.Errorf("reference lacks %q", want)
		}
	}
	if updating() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pipelines -run TestReference -update)", err)
	}
	if got != string(want) {
		t.Errorf("docs/REFERENCE.md is out of date: run go test ./pipelines -run TestReference -update")
	}
}
