package pipelines

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
)

// TestProjectInheritance: a pipeline inherits the defaults of the jetflow.yaml beside it; mappings merge key by
// key, the pipeline's own value wins, and lists and single values are replaced whole.
func TestProjectInheritance(t *testing.T) {
	const src = "consumer: {type: testsrc, columns: [{name: id}]}\nloaders: [{type: testsink, dir: out}]\n"
	for _, tc := range []struct {
		name     string
		project  string // "" for no project file
		pipeline string
		check    func(t *testing.T, p *Pipeline)
	}{
		{"no project file", "", "name: p\n" + src, func(t *testing.T, p *Pipeline) {
			want(t, "state.path", p.State.Path, ".jetflow/state.db")
			want(t, "project", p.Project, "")
		}},
		{"empty project file", "# nothing yet\n", "name: p\n" + src, func(t *testing.T, p *Pipeline) {
			want(t, "state.path", p.State.Path, ".jetflow/state.db")
		}},
		{"a section the pipeline lacks", "defaults:\n  state: {path: shared.db}\n", "name: p\n" + src, func(t *testing.T, p *Pipeline) {
			want(t, "state.path", p.State.Path, "shared.db")
			want(t, "state.type", p.State.Type, "sqlite")
			want(t, "project", filepath.Base(p.Project), ProjectFile)
		}},
		{"mappings merge key by key", "defaults:\n  retries: {attempts: 5, backoff: 2s}\n",
			"name: p\nretries: {attempts: 1}\n" + src, func(t *testing.T, p *Pipeline) {
				want(t, "retries.attempts", p.Retries.Attempts, 1)
				want(t, "retries.backoff", p.Retries.Backoff.D(), 2*time.Second)
				want(t, "retries.max_backoff", p.Retries.MaxBackoff.D(), time.Minute)
			}},
		{"the pipeline's scalar wins", "defaults:\n  run_instance: {every: 1h, timezone: Europe/Paris}\n",
			"name: p\nrun_instance: {every: 1d}\n" + src, func(t *testing.T, p *Pipeline) {
				want(t, "run_instance.every", p.RunInstance.Every.D(), 24*time.Hour)
				want(t, "run_instance.timezone", p.RunInstance.Timezone, "Europe/Paris")
			}},
		{"a list is replaced whole", "defaults:\n  tags: [nightly, bronze]\n", "name: p\ntags: [gold]\n" + src,
			func(t *testing.T, p *Pipeline) { want(t, "tags", strings.Join(p.Tags, ","), "gold") }},
		{"a list is inherited whole", "defaults:\n  tags: [nightly, bronze]\n", "name: p\n" + src,
			func(t *testing.T, p *Pipeline) { want(t, "tags", strings.Join(p.Tags, ","), "nightly,bronze") }},
		{"a null in the pipeline drops the inherited value", "defaults:\n  state: {path: shared.db}\n",
			"name: p\nstate: {path: ~}\n" + src, func(t *testing.T, p *Pipeline) {
				want(t, "state.path", p.State.Path, ".jetflow/state.db")
			}},
		{"a stage's keys merge into the pipeline's stage", "defaults:\n  consumer: {rows: 3, mode: slow}\n",
			"name: p\nconsumer: {type: testsrc, columns: [{name: id}], mode: careful}\nloaders: [{type: testsink, dir: out}]\n",
			func(t *testing.T, p *Pipeline) {
				cfg := p.Consumer.Config.(*testSrcConfig)
				want(t, "consumer.rows", cfg.Rows, int64(3))
				want(t, "consumer.mode", cfg.Mode, "careful")
			}},
		{"a whole stage list", "defaults:\n  loaders: [{type: testsink, dir: shared, format: json}]\n",
			"name: p\nconsumer: {type: testsrc, columns: [{name: id}]}\n", func(t *testing.T, p *Pipeline) {
				want(t, "loaders[0].dir", p.Loaders[0].Config.(*testSinkConfig).Dir, "shared")
			}},
		{"anchors in the project file", "x: &s {path: anchored.db}\ndefaults:\n  state: *s\n", "name: p\n" + src, nil},
		{"anchors in the project file's defaults", "defaults:\n  description: &d shared text\n  state: {path: *d}\n", "name: p\n" + src,
			func(t *testing.T, p *Pipeline) { want(t, "state.path", p.State.Path, "shared text") }},
		{"${VAR} and secrets", "defaults:\n  state: {path: '${OUT}/state.db'}\n  consumer: {token: '${SECRET_TOKEN}'}\n",
			"name: p\n" + src, func(t *testing.T, p *Pipeline) {
				want(t, "state.path", p.State.Path, "/data/out/state.db")
				want(t, "redacted", p.Redactor.Redact("token hunter2-very-secret"), "token [REDACTED]")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.project != "" {
				writeFile(t, filepath.Join(dir, ProjectFile), tc.project)
			}
			writeFile(t, filepath.Join(dir, "p.yaml"), tc.pipeline)
			p, err := Options{LookupEnv: lookupTestEnv}.Load(filepath.Join(dir, "p.yaml"))
			if tc.check == nil { // a project file whose top level holds more than defaults:
				if err == nil || !strings.Contains(err.Error(), "x: unknown key") {
					t.Fatalf("want an unknown key x, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
			// Every command loads through Load, and a folder through LoadPaths: both inherit alike.
			ps, err := Options{LookupEnv: lookupTestEnv}.LoadPaths(dir)
			if err != nil || len(ps) != 1 {
				t.Fatalf("LoadPaths: %d pipelines, %v; want the one pipeline (never the project file)", len(ps), err)
			}
			tc.check(t, ps[0])
		})
	}
}

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestProjectErrors: a broken project file, and inherited values that are invalid, report at the project file's
// line and column, once however many pipelines inherit them; a pipeline's own mistakes at the pipeline's.
func TestProjectErrors(t *testing.T) {
	var dirs []string
	entries, _ := os.ReadDir("testdata/project")
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join("testdata/project", e.Name()))
		}
	}
	if len(dirs) < 3 {
		t.Fatalf("want the project fixtures, found %v", dirs)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := checkFolder(t, dir)
			if got == "" {
				t.Fatalf("%s loaded, built and validated without error", dir)
			}
			for _, v := range sensitiveEnv {
				if strings.Contains(got, v) {
					t.Errorf("output shows the environment value %q:\n%s", v, got)
				}
			}
			golden(t, filepath.Clean(dir)+".golden", got)
		})
	}
}

// checkFolder loads, builds and validates a folder as `jetflow validate DIR` does, returning its errors.
func checkFolder(t *testing.T, dir string) string {
	t.Helper()
	ps, err := Options{LookupEnv: lookupTestEnv}.LoadPaths(dir)
	var all ErrorList
	var list ErrorList
	if errors.As(err, &list) {
		all = append(all, list...)
	} else if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		b, err := p.Build(stage.BuildContext{Alloc: mem, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil {
			_, err = p.Validate(t.Context(), b, false)
		}
		if errors.As(err, &list) {
			all = append(all, list...)
		} else if err != nil {
			t.Fatal(err)
		}
		mem.AssertSize(t, 0)
	}
	if len(all) == 0 {
		return ""
	}
	return all.Unique().Error() + "\n"
}

// TestProjectFileIsNoPipeline: naming the project file where a pipeline is expected says what it is.
func TestProjectFileIsNoPipeline(t *testing.T) {
	_, err := Load("testdata/project/broken/jetflow.yaml")
	if err == nil || !strings.Contains(err.Error(), "this is the project file of its folder") {
		t.Fatalf("got %v, want the project file refused as a pipeline", err)
	}
	if IsPipelineFile(ProjectFile) {
		t.Errorf("IsPipelineFile: the project file must be skipped")
	}
}

// TestProjectWarningsOnce: a secret written inline in the project file is warned about once, at the project
// file, however many pipelines inherit it.
func TestProjectWarningsOnce(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ProjectFile), "defaults:\n  consumer:\n    token: tok_written_here\n")
	for _, name := range []string{"a", "b"} {
		writeFile(t, filepath.Join(dir, name+".yaml"), "name: "+name+"\nconsumer: {type: testsrc, columns: [{name: id}]}\nloaders: [{type: testsink, dir: out}]\n")
	}
	ps, err := Options{LookupEnv: lookupTestEnv}.LoadPaths(dir)
	if err != nil {
		t.Fatal(err)
	}
	var warnings ErrorList
	for _, p := range ps {
		warnings = append(warnings, p.Warnings...)
	}
	got := strings.ReplaceAll(warnings.Error(), dir+string(filepath.Separator), "")
	if wantText := "jetflow.yaml:3:12: warning: consumer.token: a secret is written in the file"; !strings.HasPrefix(got, wantText) || len(warnings) != 1 {
		t.Errorf("warnings:\n%s\nwant one, starting %q", got, wantText)
	}
}
