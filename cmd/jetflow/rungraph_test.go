package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/pipelines"
)

// graphPipeline is a small generate → Parquet pipeline for folder runs; extra is YAML added at the top level.
func graphPipeline(name, extra, path string) string {
	return "name: " + name + "\n" + extra + `consumer:
  type: generate
  rows: 100
  columns:
    - { name: id, type: int64, sequence: true }
loaders:
  - type: parquet
    path: ` + path + "/{{ .RunLabel }}\n"
}

// A folder runs as one graph: in dependency order, a six-hourly input all four times for a daily run, a failed
// pipeline skipping its dependents while the rest go on, the worst exit code last; then a selection whose inputs
// are not complete is skipped with the reason, and a Markdown summary is written.
func TestRunFolderAsGraph(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "blocker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"bronze_a.yaml": graphPipeline("bronze_a", "tags: [nightly]\n", "out/a"),
		"bronze_b.yaml": graphPipeline("bronze_b", "run_instance: {every: 6h}\ntags: [nightly]\n", "out/b"),
		"silver.yaml":   graphPipeline("silver", "depends_on: [bronze_a, bronze_b]\n", "out/silver"),
		// Its output path lies under a regular file: it cannot write, and fails.
		"broken.yaml": graphPipeline("broken", "", "blocker/out"),
		"gold.yaml":   graphPipeline("gold", "depends_on: [broken, silver]\n", "out/gold"),
		// A stage test file beside the pipelines is not a pipeline.
		"silver.test.yaml": "tests: []\n",
	}
	for name, text := range files {
		writeFile(t, dir, name, text)
	}
	summary := filepath.Join(dir, "summary.md")
	r := jetflow(t, dir, nil, "run", ".", "--run", "2026-11-22", "--max-parallel", "2", "--report-dir", "reports",
		"--summary-markdown", summary, "--workers", "1", "--metrics-dir", "metrics")
	if r.code == exitOK || r.code == exitInvalid {
		t.Fatalf("exit %d, want the failed pipeline's code\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var outcomes []pipelineOutcome
	b, err := os.ReadFile(filepath.Join(dir, "reports", "summary.json"))
	if err != nil || json.Unmarshal(b, &outcomes) != nil {
		t.Fatalf("summary.json: %v\n%s", err, b)
	}
	got := map[string]pipelineOutcome{}
	var order []string
	for _, o := range outcomes {
		got[o.Pipeline] = o
		order = append(order, o.Pipeline)
	}
	want := map[string]struct {
		status string
		runs   int
		rows   int64
		reason string
	}{
		"bronze_a": {"ok", 1, 100, ""},
		"bronze_b": {"ok", 4, 400, ""},
		"silver":   {"ok", 1, 100, ""},
		"broken":   {"failed", 1, 0, "run 2026-11-22: exit"},
		"gold":     {"skipped", 1, 0, "upstream broken failed"},
	}
	for name, w := range want {
		o := got[name]
		if o.Status != w.status || len(o.Runs) != w.runs || o.Rows != w.rows || !strings.Contains(o.Reason, w.reason) {
			t.Errorf("%s: %+v; want status %s, %d run(s), %d rows, reason %q", name, o, w.status, w.runs, w.rows, w.reason)
		}
	}
	if strings.Join(order, " ") != "broken bronze_a bronze_b silver gold" {
		t.Errorf("order %v: want dependency order, by file among those free to go", order)
	}
	if !strings.Contains(r.stderr, "broken | ") {
		t.Errorf("the failed pipeline's log lines are not prefixed with its name:\n%s", r.stderr)
	}
	for _, want := range []string{"PIPELINE", "gold      skipped", "2026-11-22T00 … 2026-11-22T18 (4)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the summary table lacks %q:\n%s", want, r.stdout)
		}
	}
	if prom, err := os.ReadFile(filepath.Join(dir, "metrics", "bronze_b.prom")); err != nil || !strings.Contains(string(prom), `jetflow_run_ok{pipeline="bronze_b"} 1`) {
		t.Errorf("--metrics-dir: bronze_b.prom (%v):\n%s", err, prom)
	}
	md, err := os.ReadFile(summary)
	if err != nil || !strings.Contains(string(md), "| gold | ⏭️ skipped |") || !strings.Contains(string(md), "3 of 5 pipeline(s) ok") {
		t.Errorf("Markdown summary (%v):\n%s", err, md)
	}

	// An input reset since: silver's selection without its inputs waits for nothing and is skipped, saying why.
	jetflow(t, dir, nil, "state", "reset", "bronze_b.yaml", "--run", "2026-11-22T06").must(t, exitOK)
	r = jetflow(t, dir, nil, "run", ".", "--run", "2026-11-22", "--select", "silver", "--force")
	if r.code != exitFailed || !strings.Contains(r.stdout, "input bronze_b 2026-11-22T06 not complete (run it first, or give --wait)") {
		t.Fatalf("exit %d; want 1 and the missing input named\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// With its inputs selected too, the input is reloaded first and silver runs.
	// Each pipeline run pushes its own metrics group when --metrics-push is given to the folder.
	var mu sync.Mutex
	pushed := map[string]bool{}
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		pushed[r.Method+" "+r.URL.Path] = true
		mu.Unlock()
	}))
	defer gateway.Close()
	r = jetflow(t, dir, nil, "run", ".", "--run", "2026-11-22", "--select", "+silver", "--metrics-push", gateway.URL)
	if r.code != exitOK || !strings.Contains(r.stdout, "silver    ok") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, name := range []string{"bronze_a", "bronze_b", "silver"} {
		if !pushed["POST /metrics/job/jetflow/pipeline/"+name] {
			t.Errorf("no push of pipeline %s; pushes: %v", name, pushed)
		}
	}
}

func TestRunFolderErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", graphPipeline("a", "depends_on: [b]\n", "out/a"))
	writeFile(t, dir, "b.yaml", graphPipeline("b", "depends_on: [a]\n", "out/b"))
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"validate", "."}, "depends_on: a cycle: a → b → a"},
		{[]string{"run", "."}, "depends_on: a cycle: a → b → a"},
	}
	for _, tt := range tests {
		r := jetflow(t, dir, nil, tt.args...)
		if r.code != exitInvalid || !strings.Contains(r.stderr, "b.yaml:2:") || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr:\n%s", tt.args, r.code, r.stderr)
		}
	}
	writeFile(t, dir, "b.yaml", graphPipeline("b", "", "out/b"))
	r := jetflow(t, dir, nil, "run", ".", "--select", "bb+")
	if r.code != exitInvalid || !strings.Contains(r.stderr, `--select bb+: no pipeline is named "bb"; did you mean "b"?`) {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestFolderRuns(t *testing.T) {
	parse := func(every string) *pipelines.Pipeline {
		p, err := pipelines.Options{}.Parse("p.yaml", []byte(graphPipeline("p", "run_instance: {every: "+every+"}\n", "out")))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	tests := []struct {
		every, label string
		want         string
		err          string
	}{
		{"1d", "2026-11-22", "2026-11-22", ""},
		{"6h", "2026-11-22", "2026-11-22T00 2026-11-22T06 2026-11-22T12 2026-11-22T18", ""},
		{"6h", "2026-11-22T06", "2026-11-22T06", ""},
		{"6h", "yesterday", yesterday + "T00 " + yesterday + "T06 " + yesterday + "T12 " + yesterday + "T18", ""},
		{"1d", "2026-11-22T06", "", `--run: "2026-11-22T06" is not a run instance of pipeline p`},
	}
	for _, tt := range tests {
		runs, err := folderRuns(parse(tt.every), tt.label)
		if got := strings.Join(runLabels(runs), " "); got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.HasPrefix(err.Error(), tt.err)) {
			t.Errorf("every %s, --run %s: %q, %v; want %q, %q", tt.every, tt.label, got, err, tt.want, tt.err)
		}
	}
}
