package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// Two processes with separate working directories (two machines) share one run instance through the PostgreSQL
// state store: each partition is loaded by one of them, every row lands once, and both see the whole run done.
func TestSharedPostgresState(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	out := filepath.Join(t.TempDir(), "lake")
	pipeline := seqPipeline("shared", 200_000, 10, "") + "state:\n  type: postgres\n  dsn: ${STATE_DSN}\n"
	pipeline = strings.Replace(pipeline, "path: out/shared", "path: "+out, 1)
	env := []string{"STATE_DSN=" + dsn}
	dirs := []string{t.TempDir(), t.TempDir()}
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i, dir := range dirs {
		writeFile(t, dir, "p.yaml", pipeline)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = jetflow(t, dir, env, "run", "p.yaml", "--run", "2026-11-22", "--workers", "2")
		}()
	}
	wg.Wait()
	committed := 0
	for i, r := range results {
		r.must(t, exitOK)
		if strings.Contains(r.stdout+r.stderr, dsn) {
			t.Fatalf("process %d printed the state DSN", i)
		}
		var c int
		if _, err := fmtSscanCommitted(r.stdout, &c); err != nil {
			t.Fatalf("process %d summary: %v\n%s", i, err, r.stdout)
		}
		committed += c
	}
	if committed != 10 {
		t.Fatalf("the two processes committed %d partitions together, want 10 (each once)", committed)
	}
	assertExactlyOnce(t, out, 200_000)
	plan := jetflow(t, dirs[1], env, "plan", "p.yaml", "--run", "2026-11-22").must(t, exitOK)
	if !strings.Contains(plan.stdout, "0 new, 10 committed") {
		t.Fatalf("plan from the second machine:\n%s", plan.stdout)
	}
	if local, _ := filepath.Glob(filepath.Join(dirs[0], ".jetflow", "*")); len(local) > 0 {
		t.Fatalf("a postgres-state run wrote a local state file: %v", local)
	}
}

// fmtSscanCommitted reads "N committed" from a run summary.
func fmtSscanCommitted(summary string, n *int) (int, error) {
	i := strings.Index(summary, " committed,")
	j := strings.LastIndex(summary[:max(i, 0)], " ")
	if i < 0 || j < 0 {
		return 0, errNoSummary
	}
	return fmt.Sscan(summary[j+1:i], n)
}

var errNoSummary = errors.New("no 'N committed' in the run summary")
