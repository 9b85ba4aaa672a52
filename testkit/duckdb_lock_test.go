package testkit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestDuckDBLockFileIsComplete keeps `npm ci` working on a fresh machine: npm ci refuses a lock file that lacks an
// entry for an optional dependency of a locked package (DuckDB's per-platform bindings), even one this platform
// skips, and the Makefile runs npm ci alone.
func TestDuckDBLockFileIsComplete(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("duckdb", "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Packages map[string]struct {
			Dependencies         map[string]string `json:"dependencies"`
			OptionalDependencies map[string]string `json:"optionalDependencies"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatalf("package-lock.json: %v", err)
	}
	for name, p := range lock.Packages {
		for _, deps := range []map[string]string{p.Dependencies, p.OptionalDependencies} {
			for dep := range deps {
				if _, ok := lock.Packages["node_modules/"+dep]; !ok {
					t.Errorf("%s depends on %s, which package-lock.json does not lock: npm ci will refuse it; "+
						"regenerate with `npm install --package-lock-only` in testkit/duckdb", name, dep)
				}
			}
		}
	}
}
