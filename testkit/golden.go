package testkit

import (
	"os"
	"path/filepath"
	"testing"
)

// Golden compares got with the golden file at path, or, with update (a test's -update flag), writes got there.
func Golden(t testing.TB, path, got string, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("writing golden file: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (rerun with -update to create it): %v", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (rerun with -update if the change is intended)\n--- want\n%s--- got\n%s", path, want, got)
	}
}

// TempLeftovers lists the files under a Parquet destination's _jetflow/tmp/: what attempts left that no sweep
// removed. After a run that ended cleanly it is empty.
func TempLeftovers(out string) []string {
	var left []string
	_ = filepath.WalkDir(filepath.Join(out, "_jetflow", "tmp"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, path)
		}
		return nil
	})
	return left
}
