package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// copyFixture copies the files of testdata/NAME into a new temporary folder and returns it.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata", name, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, e.Name(), string(b))
	}
	return dir
}

// `jetflow plan DIR` prints the folder's graph and what a run with the same flags would do, from the state store
// alone: a diamond (raw → left, right → gold), an input with shorter run instances (clicks, every 6h, half
// loaded), and an input outside the selection that is not complete (ext), which skips gold and, through it,
// report. The state store is the project file's, filled by real runs, and plan never creates it.
func TestPlanFolder(t *testing.T) {
	dir := copyFixture(t, "plan")
	before := jetflow(t, dir, nil, "plan", ".", "--run", "2026-11-22", "--select", "tag:nightly").must(t, exitOK)
	if !strings.Contains(before.stdout, "a run would load 7 run instance(s) of 4 pipeline(s)") {
		t.Errorf("with no state store yet, everything runnable loads:\n%s", before.stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Fatalf("plan created the state store (%v): it must only read it", err)
	}

	loadSome(t, dir, nil)

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"plan_folder_tag", []string{"--run", "2026-11-22", "--select", "tag:nightly"}},
		{"plan_folder_tag.json", []string{"--run", "2026-11-22", "--select", "tag:nightly", "--format", "json"}},
		{"plan_folder_inputs_force", []string{"--select", "+gold", "--run", "2026-11-22", "--force", "--shard", "0/2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := jetflow(t, dir, nil, append([]string{"plan", "."}, tc.args...)...).must(t, exitOK)
			if strings.HasSuffix(tc.name, ".json") {
				var plan folderPlan
				if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
					t.Fatalf("not JSON: %v\n%s", err, r.stdout)
				}
			}
			checkGolden(t, tc.name, r.stdout)
		})
	}

	// The run with the same flags does what the plan said.
	var plan folderPlan
	r := jetflow(t, dir, nil, "plan", ".", "--run", "2026-11-22", "--select", "tag:nightly", "--format", "json").must(t, exitOK)
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatal(err)
	}
	jetflow(t, dir, nil, "run", ".", "--run", "2026-11-22", "--select", "tag:nightly", "--workers", "1", "--report-dir", "reports")
	var outcomes []pipelineOutcome
	if b, err := os.ReadFile(filepath.Join(dir, "reports", "summary.json")); err != nil || json.Unmarshal(b, &outcomes) != nil {
		t.Fatalf("summary.json: %v\n%s", err, b)
	}
	ran := map[string]pipelineOutcome{}
	for _, o := range outcomes {
		ran[o.Pipeline] = o
	}
	for _, pp := range plan.Pipelines {
		o, inRun := ran[pp.Pipeline]
		wantStatus := map[string]string{"run": "ok", "up-to-date": "ok", "skipped": "skipped", "": ""}[pp.Status]
		if o.Status != wantStatus || inRun != pp.Selected {
			t.Errorf("%s: planned %q (selected %v), ran %q (%s)", pp.Pipeline, pp.Status, pp.Selected, o.Status, o.Reason)
		}
		for _, m := range pp.Missing {
			if !strings.Contains(o.Reason, m.String()) {
				t.Errorf("%s: the run skipped it for %q, the plan for missing %s", pp.Pipeline, o.Reason, m)
			}
		}
	}

	bad := jetflow(t, dir, nil, "plan", ".", "--format", "yaml").must(t, exitInvalid)
	if !strings.Contains(bad.stderr, "--format yaml: want text or json") {
		t.Errorf("stderr:\n%s", bad.stderr)
	}
	unknown := jetflow(t, dir, nil, "plan", ".", "--select", "tag:nighty").must(t, exitInvalid)
	if !strings.Contains(unknown.stderr, `did you mean "nightly"?`) {
		t.Errorf("stderr:\n%s", unknown.stderr)
	}
}

// loadSome loads, in the plan fixture, raw for 2026-11-22 and the first two of clicks' four run instances.
func loadSome(t *testing.T, dir string, env []string) {
	t.Helper()
	jetflow(t, dir, env, "run", "raw.yaml", "--run", "2026-11-22", "--workers", "1").must(t, exitOK)
	for _, h := range []string{"00", "06"} {
		jetflow(t, dir, env, "run", "clicks.yaml", "--run", "2026-11-22T"+h, "--workers", "1").must(t, exitOK)
	}
}

// The same folder with its state in PostgreSQL (the project file names it) plans the same, and never prints the
// store's DSN.
func TestPlanFolderPostgres(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	env := []string{"STATE_DSN=" + dsn}
	dir := copyFixture(t, "plan")
	project, err := os.ReadFile(filepath.Join(dir, "jetflow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pg := strings.Replace(string(project), "    path: state/plan.db\n", "    type: postgres\n    dsn: ${STATE_DSN}\n", 1)
	if pg == string(project) {
		t.Fatal("the fixture's project file no longer names state/plan.db")
	}
	writeFile(t, dir, "jetflow.yaml", pg)
	loadSome(t, dir, env)
	r := jetflow(t, dir, env, "plan", ".", "--run", "2026-11-22", "--select", "tag:nightly").must(t, exitOK)
	checkGolden(t, "plan_folder_tag", r.stdout)
	if strings.Contains(r.stdout+r.stderr, dsn) {
		t.Errorf("plan printed the state DSN")
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Errorf("a SQLite state store was used (%v): the project's postgres state: was not inherited", err)
	}
}
