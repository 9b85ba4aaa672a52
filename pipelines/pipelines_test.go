package pipelines

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testEnv is the environment the test pipelines see. The values of sensitiveEnv must never appear in output.
var testEnv = map[string]string{
	"ROWS":         "25",
	"EVERY_BAD":    "5 hours",
	"SECRET_TOKEN": "hunter2-very-secret",
	"SINK_FORMAT":  "parquet-v2",
	"EMPTY":        "",
	"OUT":          "/data/out",
}

var sensitiveEnv = []string{"5 hours", "hunter2-very-secret", "parquet-v2"}

func lookupTestEnv(name string) (string, bool) {
	v, ok := testEnv[name]
	return v, ok
}

// check loads, builds and validates a pipeline file as `jetflow validate` does, returning what it would print.
func check(t *testing.T, path string) string {
	t.Helper()
	p, err := Options{LookupEnv: lookupTestEnv}.Load(path)
	if err != nil {
		return errText(t, err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b, err := p.Build(stage.BuildContext{Alloc: mem, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return errText(t, err)
	}
	_, err = p.Validate(context.Background(), b, false)
	out := ""
	if err != nil {
		out = errText(t, err)
	}
	if len(b.Notes) > 0 {
		out += b.Notes.Error() + "\n"
	}
	return out
}

func errText(t *testing.T, err error) string {
	t.Helper()
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("want an ErrorList, got %T: %v", err, err)
	}
	return list.Error() + "\n"
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestInvalidPipelines(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) < 30 {
		t.Fatalf("want at least 30 invalid pipelines, found %d", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			got := check(t, f)
			if got == "" {
				t.Fatalf("%s loaded, built and validated without error", f)
			}
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				if !strings.HasPrefix(line, f+":") {
					t.Errorf("error line does not start with the file's position: %q", line)
				}
			}
			for _, v := range sensitiveEnv {
				if strings.Contains(got, v) {
					t.Errorf("output shows the environment value %q:\n%s", v, got)
				}
			}
			golden(t, strings.TrimSuffix(f, ".yaml")+".golden", got)
		})
	}
}

// TestLoadPaths walks a directory: files sorted, *.test.yaml skipped, errors of every file collected.
func TestLoadPaths(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ok := "consumer: {type: testsrc, columns: [{name: id}]}\nloaders: [{type: testsink, dir: out}]\n"
	write("b.yaml", "name: b\n"+ok)
	write("sub/a.yml", "name: a\n"+ok)
	write("a.test.yaml", "not: [valid")
	write("notes.txt", "ignored")
	write("c.yaml", "name: c\nconsumer: {type: testsrc}\nloaders: [{type: testsink, dir: out}]\n")
	write("d.yaml", "name: d\nbad: 1\n")
	write("dup.yaml", "name: b\n"+ok)

	ps, err := Options{LookupEnv: lookupTestEnv}.LoadPaths(dir)
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "b,a" {
		t.Errorf("loaded %v, want [b a] (sorted by path: b.yaml, sub/a.yml)", names)
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("want an ErrorList, got %v", err)
	}
	var got []string
	for _, e := range list {
		got = append(got, strings.TrimPrefix(e.Error(), dir+string(filepath.Separator)))
	}
	want := []string{
		`c.yaml:2:11: consumer: missing required key "columns"`,
		`d.yaml:1:1: missing required key "consumer"`,
		`d.yaml:1:1: missing required key "loaders"`,
		`d.yaml:2:1: bad: unknown key; valid keys are: name, description, depends_on, tags, run_instance, retries, state, consumer, transformers, loaders, tests, notify, freshness`,
		`dup.yaml:1:7: name: pipeline "b" is already defined in ` + filepath.Join(dir, "b.yaml") + `; pipeline names must be unique`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestPresenceKeepsWrittenZeros: a key the file writes keeps its value, 0 and false included, through Parse and
// Build (which completes the config again); an absent or null key takes its default.
func TestPresenceKeepsWrittenZeros(t *testing.T) {
	for _, tc := range []struct {
		name, keys string
		rows       int64
		known      bool
		shards     uint8
	}{
		{"written zeros", "rows: 0, known: false, shards: 0", 0, false, 0},
		{"absent", "mode: slow", 10, true, 1},
		{"null", "rows: ~, known: null", 10, true, 1},
		{"written values", "rows: 7, shards: 3", 7, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "name: z\nconsumer: {type: testsrc, columns: [{name: id}], " + tc.keys + "}\nloaders: [{type: testsink, dir: out}]\n"
			p, err := Options{LookupEnv: lookupTestEnv}.Parse("z.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			b, err := p.Build(stage.BuildContext{})
			if err != nil {
				t.Fatal(err)
			}
			for what, cfg := range map[string]*testSrcConfig{"parsed": p.Consumer.Config.(*testSrcConfig), "built": b.Source.(*testSrc).cfg} {
				if cfg.Rows != tc.rows || cfg.Known != tc.known || cfg.Shards != tc.shards || cfg.Columns[0].Type != "int64" {
					t.Errorf("%s: rows %d known %v shards %d columns[0].type %q, want %d %v %d int64",
						what, cfg.Rows, cfg.Known, cfg.Shards, cfg.Columns[0].Type, tc.rows, tc.known, tc.shards)
				}
			}
		})
	}
}
