package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/state/sqlite"
)

// A folder's pipelines take their state store from the project file: `jetflow run DIR` runs each pipeline in a
// child process that loads it on its own, and `state list FILE` reads the same store; the default store is
// never created. A secret taken from the environment in the project file is never printed.
func TestRunFolderProjectState(t *testing.T) {
	dir := t.TempDir()
	stateDir := t.TempDir()
	project := `# Shared by every pipeline of this folder.
defaults:
  state:
    path: ${STATE_DIR}/shared.db
  tags: [nightly]
  loaders:
    - type: parquet
      path: out/${LAKE_TOKEN}/{{ .RunLabel }}
`
	writeFile(t, dir, "jetflow.yaml", project)
	bronze := "name: bronze\nconsumer:\n  type: generate\n  rows: 50\n  columns: [{name: id, type: int64, sequence: true}]\n"
	writeFile(t, dir, "bronze.yaml", bronze)
	writeFile(t, dir, "silver.yaml", strings.Replace(bronze, "bronze", "silver", 1)+"depends_on: [bronze]\n")
	env := []string{"STATE_DIR=" + stateDir, "LAKE_TOKEN=tok-s3cr3t-value"}

	r := jetflow(t, dir, env, "run", ".", "--run", "2026-11-22", "--select", "tag:nightly", "--workers", "1").must(t, exitOK)
	for _, name := range []string{"bronze", "silver"} {
		if !strings.Contains(r.stdout, name+"  ") {
			t.Errorf("the run's table does not show %s:\n%s", name, r.stdout)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "tok-s3cr3t-value") {
		t.Errorf("the run printed a value of the environment:\n%s\n%s", r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, ".jetflow")); !os.IsNotExist(err) {
		t.Errorf("the default state store was created (%v): the project file's state: was not inherited", err)
	}
	store, err := sqlite.Open(t.Context(), filepath.Join(stateDir, "shared.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, name := range []string{"bronze", "silver"} {
		if ok, _, err := engine.Completed(t.Context(), store, name, "2026-11-22"); err != nil || !ok {
			t.Errorf("%s 2026-11-22 is not complete in the project's state store (%v)", name, err)
		}
	}
	list := jetflow(t, dir, env, "state", "list", "silver.yaml", "--run", "2026-11-22").must(t, exitOK)
	if !strings.Contains(list.stdout, "committed") {
		t.Errorf("state list does not read the project's store:\n%s", list.stdout)
	}

	// A mistake in the project file fails the folder at the project file's position, once.
	writeFile(t, dir, "jetflow.yaml", strings.Replace(project, "  state:\n", "  state:\n    type: mysql\n", 1))
	v := jetflow(t, dir, env, "validate", ".").must(t, exitInvalid)
	if want := "jetflow.yaml:4:11: state.type: \"mysql\" is not one of sqlite, postgres"; strings.Count(v.stderr, want) != 1 {
		t.Errorf("validate:\n%s\nwant once: %s", v.stderr, want)
	}
}

// The project file example of docs/PRODUCTION.md validates, and its pipelines inherit what the page says.
func TestProjectDocExample(t *testing.T) {
	page, err := os.ReadFile(filepath.Join("..", "..", "docs", "PRODUCTION.md"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	blocks := regexp.MustCompile("(?s)<!-- project example: ([a-z_.]+) -->\n```yaml\n(.*?)```").FindAllStringSubmatch(string(page), -1)
	if len(blocks) != 3 {
		t.Fatalf("found %d project example blocks in docs/PRODUCTION.md, want 3", len(blocks))
	}
	for _, b := range blocks {
		writeFile(t, dir, b[1], b[2])
	}
	env := []string{"JETFLOW_STATE_DSN=postgres://jetflow:pw@db:5432/jetflow", "APP_PG_DSN=postgres://app:pw@app:5432/app"}
	r := jetflow(t, dir, env, "validate", ".").must(t, exitOK)
	if strings.Contains(r.stdout+r.stderr, ":pw@") {
		t.Errorf("validate printed a DSN:\n%s%s", r.stdout, r.stderr)
	}
	ps, err := pipelines.Options{LookupEnv: func(k string) (string, bool) {
		for _, e := range env {
			if name, v, _ := strings.Cut(e, "="); name == k {
				return v, true
			}
		}
		return "", false
	}}.LoadPaths(dir)
	if err != nil || len(ps) != 2 {
		t.Fatalf("%d pipelines, %v", len(ps), err)
	}
	got := map[string]string{}
	for _, p := range ps {
		got[p.Name] = fmt.Sprintf("state %s, tz %s, retries %d/%s/%s, tags %v, loaders %d (%s), consumer %s",
			p.State.Type, p.RunInstance.Timezone, p.Retries.Attempts, p.Retries.Backoff, p.Retries.MaxBackoff, p.Tags,
			len(p.Loaders), p.Loaders[0].Type, p.Consumer.Type)
	}
	want := map[string]string{
		"orders":       "state postgres, tz Europe/Paris, retries 5/10s/5m0s, tags [nightly], loaders 1 (parquet), consumer postgres",
		"order_totals": "state postgres, tz Europe/Paris, retries 2/10s/5m0s, tags [nightly gold], loaders 1 (parquet), consumer postgres",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %s\nwant %s", name, got[name], w)
		}
	}

	// The page's validate example: an inherited mistake, reported once, at jetflow.yaml.
	writeFile(t, dir, "jetflow.yaml", strings.Replace(blocks[0][2], "max_backoff: 5m", "max_backoff: 1s", 1))
	v := jetflow(t, dir, env, "validate", ".").must(t, exitInvalid)
	line := "jetflow.yaml:7:54: retries.max_backoff: 1s is shorter than retries.backoff 10s"
	if strings.Count(v.stderr, line) != 1 || !strings.Contains(string(page), "pipelines/"+line) {
		t.Errorf("validate:\n%s\nwant once, and on the page: pipelines/%s", v.stderr, line)
	}
}
