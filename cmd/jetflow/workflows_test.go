package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"gopkg.in/yaml.v3"
)

// The workflows under deploy/github pass actionlint (syntax, expressions, action inputs, job graph).
func TestWorkflowsPassActionlint(t *testing.T) {
	files, _ := filepath.Glob("../../deploy/github/*.yaml")
	if len(files) < 2 {
		t.Fatalf("found %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		linter, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		errs, err := linter.Lint(f, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range errs {
			t.Errorf("%s:%d:%d: %s [%s]", f, e.Line, e.Column, e.Message, e.Kind)
		}
	}
}

type workflow struct {
	Jobs map[string]struct {
		Steps []workflowStep `yaml:"steps"`
	} `yaml:"jobs"`
}

type workflowStep struct {
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	With map[string]string `yaml:"with"`
	Run  string            `yaml:"run"`
	If   string            `yaml:"if"`
	Env  map[string]string `yaml:"env"`
}

// installStep is the name of the step that builds jetflow in both workflows.
const installStep = "install jetflow"

// readWorkflow returns the steps of a workflow file's jobs, in the jobs' name order.
func readWorkflow(t *testing.T, file string) []workflowStep {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for name := range wf.Jobs {
		jobs = append(jobs, name)
	}
	sort.Strings(jobs)
	var steps []workflowStep
	for _, j := range jobs {
		steps = append(steps, wf.Jobs[j].Steps...)
	}
	return steps
}

// workflowSteps returns the shell steps of a workflow file, but the one that installs jetflow (this test puts
// the binary under test on PATH instead). A script must take inputs through env, never ${{ }} inside the script,
// where a crafted input would run as shell.
func workflowSteps(t *testing.T, file string) []string {
	t.Helper()
	var out []string
	for _, st := range readWorkflow(t, file) {
		if st.Run == "" || st.Name == installStep {
			continue
		}
		if strings.Contains(st.Run, "${{") {
			t.Errorf("%s: step %q puts an expression into its script; pass it through env", file, st.Name)
		}
		out = append(out, st.Run)
	}
	return out
}

// Both workflows build jetflow from a checkout of its source (`go install ...@version` refuses a module whose
// go.mod replaces dependencies, as jetflow's does with third_party/), with cgo off, onto the job's PATH. The
// install step runs here with a go on PATH that records its command line and hands over the binary under test;
// TestDockerfileBuildsAStaticBinary checks that every package builds with cgo off.
func TestWorkflowsInstallJetflowFromSource(t *testing.T) {
	for _, file := range []string{"../../deploy/github/nightly.yaml", "../../deploy/github/pull-request.yaml"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			var src, goMod, script string
			for _, st := range readWorkflow(t, file) {
				switch {
				case strings.HasPrefix(st.Uses, "actions/checkout@") && st.With["repository"] == "jetflow-dev/jetflow":
					src = st.With["path"]
				case strings.HasPrefix(st.Uses, "actions/setup-go@"):
					goMod = st.With["go-version-file"]
				case st.Name == installStep:
					script = st.Run
				}
			}
			if src == "" || script == "" || goMod != src+"/go.mod" {
				t.Fatalf("want a checkout of jetflow-dev/jetflow into a path, setup-go reading the Go version from its go.mod, and a step %q; found path %q, go-version-file %q, script %q", installStep, src, goMod, script)
			}
			dir, runnerTemp := t.TempDir(), t.TempDir()
			shims, githubPath, record := t.TempDir(), filepath.Join(t.TempDir(), "path"), filepath.Join(t.TempDir(), "go-args")
			writeFile(t, shims, "go", `#!/bin/sh
printf '%s
' "CGO_ENABLED=$CGO_ENABLED" "$@" > "$GO_RECORD"
while [ $# -gt 0 ]; do [ "$1" = -o ] && { mkdir -p "$(dirname "$2")" && cp "$JETFLOW_BIN" "$2"; }; shift; done
`)
			if err := os.Chmod(filepath.Join(shims, "go"), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", "-e", "-c", script)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "PATH="+shims+string(os.PathListSeparator)+os.Getenv("PATH"), "RUNNER_TEMP="+runnerTemp,
				"GITHUB_PATH="+githubPath, "GO_RECORD="+record, "JETFLOW_BIN="+jetflowBin)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", installStep, err, out)
			}
			args, err := os.ReadFile(record)
			if err != nil {
				t.Fatal(err)
			}
			installed := filepath.Join(runnerTemp, "bin", "jetflow")
			want := strings.Join([]string{"CGO_ENABLED=0", "build", "-C", src, "-trimpath", "-o", installed, "./cmd/jetflow"}, "\n") + "\n"
			if string(args) != want {
				t.Errorf("the step runs go as\n%s\nwant\n%s", args, want)
			}
			paths, err := os.ReadFile(githubPath)
			if err != nil || strings.TrimSpace(string(paths)) != filepath.Dir(installed) {
				t.Errorf("GITHUB_PATH holds %q (%v), want %s", paths, err, filepath.Dir(installed))
			}
			if out, err := exec.Command(installed, "version").CombinedOutput(); err != nil {
				t.Errorf("the installed jetflow: %v\n%s", err, out)
			}
		})
	}
}

// The workflows' shell steps, run as GitHub Actions would against a folder of pipelines: the nightly run loads
// the folder as a graph, writes the reports and the step summary, and fails only after every pipeline ran; the
// pull-request check annotates a broken file.
func TestWorkflowShellSteps(t *testing.T) {
	bin := filepath.Dir(jetflowBin)
	fixture := func(t *testing.T, broken bool) string {
		dir := t.TempDir()
		writeFile(t, dir, "pipelines/bronze.yaml", graphPipeline("bronze", "", "out/bronze"))
		writeFile(t, dir, "pipelines/silver.yaml", graphPipeline("silver", "depends_on: [bronze]\n", "out/silver"))
		writeFile(t, dir, "pipelines/silver.test.yaml", `- name: ids are generated in sequence
  stages: generate
  partition: { key: "rows[0,100)", run: 2026-11-22 }
  expect:
    schema:
      id: int64 not null
`)
		if broken {
			writeFile(t, dir, "pipelines/gold.yaml", "name: gold\nconsumer:\n  type: generat\n")
		}
		return dir
	}
	runSteps := func(t *testing.T, file, dir string, env ...string) (code int, out string) {
		for _, script := range workflowSteps(t, file) {
			cmd := exec.Command("bash", "-e", "-c", script)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), append(env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))...)
			var buf bytes.Buffer
			cmd.Stdout, cmd.Stderr = &buf, &buf
			err := cmd.Run()
			out += buf.String()
			if err != nil {
				return cmd.ProcessState.ExitCode(), out
			}
		}
		return 0, out
	}

	t.Run("nightly", func(t *testing.T) {
		dir := fixture(t, false)
		summary := filepath.Join(dir, "step-summary.md")
		code, out := runSteps(t, "../../deploy/github/nightly.yaml", dir, "RUN_LABEL=2026-11-22", "GITHUB_STEP_SUMMARY="+summary)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		md, err := os.ReadFile(summary)
		if err != nil || !strings.Contains(string(md), "2 of 2 pipeline(s) ok") {
			t.Errorf("step summary (%v):\n%s", err, md)
		}
		for _, f := range []string{"reports/summary.json", "reports/bronze-2026-11-22.json", "reports/silver-2026-11-22.json"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("the artifact upload finds no %s: %v", f, err)
			}
		}
	})
	t.Run("pull request", func(t *testing.T) {
		code, out := runSteps(t, "../../deploy/github/pull-request.yaml", fixture(t, false))
		if code != 0 || !strings.Contains(out, "pipelines/silver.yaml: ok") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		code, out = runSteps(t, "../../deploy/github/pull-request.yaml", fixture(t, true))
		want := `::error file=pipelines/gold.yaml,line=3,col=9,title=jetflow validate::consumer.type: unknown consumer type "generat"`
		if code != exitInvalid || !strings.Contains(out, want) {
			t.Fatalf("exit %d; want 2 and the annotation %s\n%s", code, want, out)
		}
	})
}
