package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testCmdPipeline = `name: people
consumer:
  type: generate
  rows: 4
  columns:
    - { name: id, type: int64, sequence: true }
    - { name: name, type: string, min: 3, max: 3 }
transformers:
  - { name: upper, type: derive, columns: { name: upper(name) } }
loaders:
  - { type: parquet, path: out/people }
tests:
  - name: upper
    stages: upper
    input: { rows: [{ id: 1, name: ann }] }
    expect: { rows: [{ id: 1, name: ANN }] }
`

// callTest runs cmdTest as main's "test" case would and returns the exit code run() would give.
func callTest(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := cmdTest(context.Background(), args, &stdout, &stderr)
	code := exitOK
	var ce *codedError
	switch {
	case errors.As(err, &ce):
		code = ce.code
	case err != nil:
		code = exitError
	}
	if err != nil && !errors.Is(err, errQuiet) {
		stderr.WriteString(err.Error())
	}
	return code, stdout.String(), stderr.String()
}

func TestCmdTest(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "good/people.yaml", testCmdPipeline)
	writeFile(t, dir, "failing/people.yaml", testCmdPipeline)
	writeFile(t, dir, "failing/people.test.yaml", `
- name: wrong
  stages: upper
  input: { rows: [{ id: 1, name: ann }, { id: 2, name: bob }] }
  expect: { rows: [{ id: 1, name: ANN }, { id: 2, name: BOX }] }
`)
	writeFile(t, dir, "none/people.yaml", testCmdPipeline[:strings.Index(testCmdPipeline, "tests:")])
	writeFile(t, dir, "bad/people.yaml", testCmdPipeline)
	writeFile(t, dir, "bad/people.test.yaml", "- name: x\n  stages: upper\n  expect: { rows: [], eror: y }\n")
	p := func(s string) string { return filepath.Join(dir, s) }

	tests := []struct {
		name    string
		args    []string
		code    int
		wantOut []string
		wantErr []string
		notOut  []string
	}{
		{"all pass", []string{p("good")}, exitOK, []string{"1 passed, 0 failed"}, nil, []string{"--- PASS"}},
		{"verbose prints passes", []string{"-v", p("good/people.yaml")}, exitOK, []string{"--- PASS people/upper (1 rows,", "1 passed, 0 failed"}, nil, nil},
		{"a failure is shown with its diff", []string{p("failing")}, exitFailed,
			[]string{"--- FAIL people/wrong (" + p("failing/people.test.yaml") + ":2:3)", `    cells:`,
				`      row 1, column "name": want "BOX", got "BOB"`, "1 passed, 1 failed"}, nil, nil},
		{"-run filters", []string{p("failing"), "-run", "people/upper$"}, exitOK, []string{"1 passed, 0 failed"}, nil, []string{"wrong"}},
		{"-run matching nothing", []string{p("good"), "-run", "nothing"}, exitOK, []string{"0 passed, 0 failed"}, []string{`no case matches -run "nothing"`}, nil},
		{"no tests", []string{p("none")}, exitOK, []string{"0 passed, 0 failed"}, []string{"no stage tests under " + p("none")}, nil},
		{"bad test file", []string{p("bad")}, exitInvalid, []string{"error(s) in test or pipeline files"},
			[]string{p("bad/people.test.yaml") + `:3:23: test file[0].expect: unknown key "eror"`}, nil},
		{"bad regexp", []string{p("good"), "-run", "("}, exitInvalid, nil, []string{`-run "(": not a regular expression`}, nil},
		{"no arguments", nil, exitInvalid, nil, []string{"Usage: jetflow test", "name at least one pipeline file or directory"}, nil},
		{"missing path", []string{p("nope")}, exitInvalid, nil, []string{p("nope") + ": cannot read"}, nil},
		{"help", []string{"--help"}, exitOK, nil, []string{"jetflow test pipelines/ --update"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := callTest(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			for _, w := range tc.notOut {
				if strings.Contains(out, w) {
					t.Errorf("stdout has %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestCmdTestUpdate(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "people.yaml", testCmdPipeline)
	file := writeFile(t, dir, "people.test.yaml", `- name: stale
  stages: upper
  input: { rows: [{ id: 1, name: ann }] }
  expect:
    rows:
      - { id: 1, name: OLD }
`)
	if code, out, _ := callTest(t, dir); code != exitFailed || !strings.Contains(out, `want "OLD", got "ANN"`) {
		t.Fatalf("before --update: exit %d, want %d:\n%s", code, exitFailed, out)
	}
	code, out, errOut := callTest(t, dir, "--update")
	if code != exitOK || !strings.Contains(out, "--- PASS people/stale (expected rows updated)") {
		t.Fatalf("--update: exit %d:\n%s\n%s", code, out, errOut)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "      - {id: 1, name: ANN}\n") {
		t.Errorf("the test file was not rewritten:\n%s", data)
	}
	if code, out, _ := callTest(t, dir); code != exitOK || !strings.Contains(out, "2 passed, 0 failed") {
		t.Errorf("after --update: exit %d:\n%s", code, out)
	}
}

// TestCmdTestExamples runs the shipped examples' stage tests through the command.
func TestCmdTestExamples(t *testing.T) {
	code, out, errOut := callTest(t, "../../examples")
	if code != exitOK {
		t.Errorf("jetflow test examples/: exit %d\n%s\n%s", code, out, errOut)
	}
}
