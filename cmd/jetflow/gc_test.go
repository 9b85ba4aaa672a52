package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/failpoint"
	"github.com/jetflow-dev/jetflow/testkit"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files from the current output")

// checkGolden compares got with testdata/name.golden, or rewrites the file under -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", name+".golden"), got, *update)
}

var (
	nonceRE = regexp.MustCompile(`/[0-9a-f]{16}/`)
	ownerRE = regexp.MustCompile(`of [^ ,)]+:[0-9]+\)`)
)

// `state gc` finds what a killed run left: --dry-run lists it and removes nothing, a plain gc removes it, and a
// second gc finds nothing.
func TestStateGC(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", seqPipeline("gc", 20_000, 2, ""))
	r := jetflow(t, dir, []string{failpoint.EnvVar + "=parquet.before-intent=kill"}, "run", "p.yaml", "--run", "2026-11-22", "--workers", "1")
	if !r.killed {
		t.Fatalf("process was not killed (code %d)\n%s", r.code, r.stderr)
	}
	tmp := filepath.Join(dir, "out", "gc", "_jetflow", "tmp")
	count := func() int {
		n := 0
		_ = filepath.WalkDir(tmp, func(_ string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	before := count()
	if before == 0 {
		t.Fatal("the killed run left no temporary file: the test kills at the wrong point")
	}
	dry := jetflow(t, dir, nil, "state", "gc", "p.yaml", "--dry-run").must(t, exitOK)
	out := strings.ReplaceAll(dry.stdout, dir, "$DIR")
	out = nonceRE.ReplaceAllString(out, "/NONCE/")
	out = ownerRE.ReplaceAllString(out, "of OWNER)")
	checkGolden(t, "state_gc_dry_run", out)
	if n := count(); n != before {
		t.Fatalf("--dry-run removed files: %d left of %d", n, before)
	}

	gc := jetflow(t, dir, nil, "state", "gc", "p.yaml").must(t, exitOK)
	if n := count(); n != 0 || !strings.Contains(gc.stdout, "removed ") {
		t.Fatalf("gc left %d file(s) in _jetflow/tmp/:\n%s", n, gc.stdout)
	}
	again := jetflow(t, dir, nil, "state", "gc", "p.yaml", "--dry-run").must(t, exitOK)
	if !strings.HasPrefix(again.stdout, "would remove 0 file(s)") {
		t.Fatalf("a second gc finds:\n%s", again.stdout)
	}
	jetflow(t, dir, nil, "run", "p.yaml", "--run", "2026-11-22").must(t, exitOK)
	assertExactlyOnce(t, filepath.Join(dir, "out", "gc"), 20_000)
}
