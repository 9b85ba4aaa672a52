package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runCLI runs the CLI in-process in dir and returns its exit code and output.
func runCLI(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	return runCLICtx(context.Background(), t, dir, args...)
}

// runCLICtx is runCLI with a context, which stops the command as SIGTERM would.
func runCLICtx(ctx context.Context, t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

const validPipeline = `name: ok
consumer:
  type: generate
  rows: 100
  partition: { rows: 40 }
  columns:
    - { name: id, type: int64, sequence: true }
loaders:
  - type: parquet
    path: out/ok
`

func TestCLICommands(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "pipes/ok.yaml", validPipeline)
	writeFile(t, dir, "pipes/bad.yaml", "name: bad\nconsumer:\n  type: generat\nloaders:\n  - type: parquet\n    path: x\n")
	writeFile(t, dir, "pipes/secret.yaml", strings.Replace(validPipeline, "rows: 100", "rows: ${ROWS}", 1))
	t.Setenv("ROWS", "twelve-secret-rows")

	tests := []struct {
		name     string
		args     []string
		code     int
		wantOut  []string // substrings of stdout
		wantErr  []string // substrings of stderr
		notInOut []string // must appear in neither stream
	}{
		{"no args", nil, exitInvalid, []string{"Usage:"}, nil, nil},
		{"help", []string{"--help"}, exitOK, []string{"validate", "test ", "Exit codes"}, nil, nil},
		{"unknown command near test", []string{"tset"}, exitInvalid, nil, []string{`(did you mean "test"?)`}, nil},
		{"unknown command", []string{"rnu"}, exitInvalid, nil, []string{`unknown command "rnu" (did you mean "run"?)`}, nil},
		{"version", []string{"version"}, exitOK, []string{"jetflow dev"}, nil, nil},
		{"validate one", []string{"validate", "pipes/ok.yaml"}, exitOK, []string{"pipes/ok.yaml: ok (2 stages)"}, nil, nil},
		{"validate verbose", []string{"validate", "-v", "pipes/ok.yaml"}, exitOK, []string{"after generate: id: int64 not null"}, nil, nil},
		{"validate dir", []string{"validate", "pipes"}, exitInvalid, []string{"pipes/ok.yaml: ok"},
			[]string{`pipes/bad.yaml:3:9: consumer.type: unknown consumer type "generat"`, `pipes/secret.yaml:4:9:`, "${ROWS}",
				"2 error(s); 1 of 3 pipeline file(s) valid"}, []string{"twelve-secret-rows"}},
		{"validate nothing", []string{"validate"}, exitInvalid, nil, []string{"name at least one pipeline file"}, nil},
		{"plan", []string{"plan", "pipes/ok.yaml", "--run", "2026-11-22"}, exitOK,
			[]string{"pipeline ok, run 2026-11-22", "rows[0,40)", "rows[80,100)", "3 new, 0 committed"}, nil, nil},
		{"plan bad run", []string{"plan", "pipes/ok.yaml", "--run", "2026-11-22T13"}, exitInvalid, nil, []string{"--run:"}, nil},
		{"plan bad shard", []string{"plan", "pipes/ok.yaml", "--shard", "3/3"}, exitInvalid, nil, []string{"--shard \"3/3\""}, nil},
		{"run", []string{"run", "pipes/ok.yaml", "--run", "2026-11-22", "--progress", "none"}, exitOK,
			[]string{"3 committed, 0 skipped, 0 failed", "STAGE", "generate", "parquet"}, nil, nil},
		{"plan after run", []string{"plan", "pipes/ok.yaml", "--run", "2026-11-22"}, exitOK, []string{"0 new, 3 committed"}, nil, nil},
		{"state list", []string{"state", "list", "pipes/ok.yaml"}, exitOK, []string{"2026-11-22", "committed", "rows[40,80)"}, nil, nil},
		{"state reset needs run", []string{"state", "reset", "pipes/ok.yaml"}, exitInvalid, nil, []string{"reset needs --run"}, nil},
		{"state reset", []string{"state", "reset", "pipes/ok.yaml", "--run", "2026-11-22"}, exitOK, []string{"reset 3 partition(s)"}, nil, nil},
		{"plan after reset", []string{"plan", "pipes/ok.yaml", "--run", "2026-11-22"}, exitOK, []string{"3 new, 0 committed"}, nil, nil},
		{"run again replaces", []string{"run", "pipes/ok.yaml", "--run", "2026-11-22", "--progress", "none", "--report", "report.json"}, exitOK,
			[]string{"3 committed"}, nil, nil},
		{"run --stream on bounded", []string{"run", "pipes/ok.yaml", "--stream"}, exitError, nil, []string{"bounded source: run it without --stream"}, nil},
		{"run bad workers", []string{"run", "pipes/ok.yaml", "--workers", "0"}, exitInvalid, nil, []string{"--workers 0"}, nil},
		{"mistyped flag", []string{"run", "pipes/ok.yaml", "--wrokers", "2"}, exitInvalid, nil,
			[]string{"Usage: jetflow run FILE", "  --workers N", "unknown flag --wrokers: did you mean --workers?"},
			[]string{"flag provided but not defined", "\n  -workers"}},
		{"unknown flag", []string{"plan", "pipes/ok.yaml", "--colour"}, exitInvalid, nil,
			[]string{"unknown flag --colour (the flags are listed above)"}, nil},
		{"flag without value", []string{"plan", "pipes/ok.yaml", "--run"}, exitInvalid, nil, []string{"flag --run needs a value"}, nil},
		{"flag help", []string{"run", "--help"}, exitOK, nil, []string{"Usage: jetflow run", "  --force\n", "Examples:"}, nil},
		{"run invalid pipeline", []string{"run", "pipes/bad.yaml"}, exitInvalid, nil, []string{"unknown consumer type"}, nil},
		{"bad log format", []string{"plan", "pipes/ok.yaml", "--log-format", "xml"}, exitInvalid, nil, []string{"--log-format \"xml\""}, nil},
	}
	for _, tt := range tests {
		code, stdout, stderr := runCLI(t, dir, tt.args...)
		if code != tt.code {
			t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.name, code, tt.code, stdout, stderr)
			continue
		}
		for _, w := range tt.wantOut {
			if !strings.Contains(stdout, w) {
				t.Errorf("%s: stdout lacks %q:\n%s", tt.name, w, stdout)
			}
		}
		for _, w := range tt.wantErr {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", tt.name, w, stderr)
			}
		}
		for _, w := range tt.notInOut {
			if strings.Contains(stdout+stderr, w) {
				t.Errorf("%s: output shows %q, which it must not (a value from the environment, or Go's raw flag text)", tt.name, w)
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "report.json")); err != nil || !bytes.Contains(b, []byte(`"committed": 3`)) {
		t.Errorf("run report: %v\n%s", err, b)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "out", "ok", "part-*.parquet"))
	if len(files) != 3 {
		t.Errorf("after reset and re-run: %d data files, want 3 (replaced, not added)", len(files))
	}
}

// Changing the partitioning of a loaded run instance leaves its old partitions' output in place: plan says so.
func TestPlanWarnsAboutOrphanedPartitions(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", validPipeline)
	if code, out, errOut := runCLI(t, dir, "run", "p.yaml", "--run", "2026-11-22", "--progress", "none"); code != exitOK {
		t.Fatalf("run: %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ := runCLI(t, dir, "plan", "p.yaml", "--run", "2026-11-22")
	if code != exitOK || strings.Contains(out, "warning") {
		t.Fatalf("plan before the change warns or fails (%d):\n%s", code, out)
	}
	writeFile(t, dir, "p.yaml", strings.Replace(validPipeline, "partition: { rows: 40 }", "partition: { rows: 50 }", 1))
	code, out, _ = runCLI(t, dir, "plan", "p.yaml", "--run", "2026-11-22")
	if code != exitOK || !strings.Contains(out, "warning: 3 committed partition(s) of run 2026-11-22 are not in this plan") ||
		!strings.Contains(out, "rows[40,80)") || !strings.Contains(out, "2 new, 0 committed") {
		t.Fatalf("plan after repartitioning (%d):\n%s", code, out)
	}
}

// The pipeline the README opens with is valid, as shown.
func TestREADMEPipelineIsValid(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README has no yaml block")
	}
	dir := t.TempDir()
	writeFile(t, dir, "readme.yaml", block)
	if code, out, errOut := runCLI(t, dir, "validate", "readme.yaml"); code != exitOK {
		t.Fatalf("README pipeline: exit %d\n%s%s", code, out, errOut)
	}
}

// Every `jetflow ...` line the README shows names a real command, and every flag on it is one that command has.
func TestREADMECommandsAreReal(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lineRE := regexp.MustCompile(`(?m)^jetflow +([a-z]+(?:-[a-z]+)*)( +[a-z-|]+)?(.*)$`)
	flagRE := regexp.MustCompile(`(?:^|\s|\[)--([a-z][a-z-]*)`)
	var shell strings.Builder // the ```sh blocks, where commands are
	for _, block := range strings.Split(string(readme), "```sh\n")[1:] {
		code, _, _ := strings.Cut(block, "```")
		shell.WriteString(code)
	}
	lines := lineRE.FindAllStringSubmatch(shell.String(), -1)
	if len(lines) < 8 {
		t.Fatalf("found %d jetflow command lines in the README", len(lines))
	}
	for _, m := range lines {
		args := []string{m[1]}
		if sub := strings.TrimSpace(m[2]); sub != "" && (m[1] == "state" || m[1] == "iceberg") {
			args = append(args, strings.Split(sub, "|")[0])
		}
		if (m[1] == "run" || m[1] == "plan") && strings.HasPrefix(m[3], "/ ") { // a folder: its own flags
			args = append(args, t.TempDir())
		}
		var help bytes.Buffer
		code := run(context.Background(), append(args, "--help"), &help, &help)
		if code != exitOK {
			t.Errorf("README line %q: `jetflow %s --help` exits %d:\n%s", m[0], strings.Join(args, " "), code, help.String())
			continue
		}
		rest, _, _ := strings.Cut(m[3], "#") // the comment after the command
		for _, f := range flagRE.FindAllStringSubmatch(rest, -1) {
			if !regexp.MustCompile(`-` + regexp.QuoteMeta(f[1]) + `\b`).MatchString(help.String()) {
				t.Errorf("README line %q uses --%s, which `jetflow %s` does not have", m[0], f[1], strings.Join(args, " "))
			}
		}
	}
}

// --report is written however a run ends, with the exit code and the error, and never a value from the
// environment.
func TestRunReportOnEveryExit(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "pipes/ok.yaml", validPipeline)
	writeFile(t, dir, "pipes/bad.yaml", "name: bad\nconsumer:\n  type: generat\nloaders:\n  - type: parquet\n    path: x\n")
	writeFile(t, dir, "pipes/nostate.yaml", validPipeline+
		"state: { type: postgres, dsn: \"postgres://x:${PGPASS}@127.0.0.1:1/db?connect_timeout=5\" }\n")
	t.Setenv("PGPASS", "hunter2-secret")

	tests := []struct {
		name     string
		args     []string
		code     int
		pipeline string
		want     []string // substrings of the report
		cancel   bool     // run with a cancelled context, as after SIGTERM
	}{
		{"done", []string{"pipes/ok.yaml", "--run", "2026-11-22"}, exitOK, "ok", []string{`"committed": 3`, `"outcome": "done"`}, false},
		{"state store unreachable", []string{"pipes/nostate.yaml", "--run", "2026-11-22"}, exitError, "ok",
			[]string{`"run": "2026-11-22"`, "state store postgres", "127.0.0.1", `"cause": "`, `"partitions": []`}, false},
		{"stream of a bounded source", []string{"pipes/ok.yaml", "--stream"}, exitError, "ok", []string{"bounded source"}, false},
		{"invalid pipeline", []string{"pipes/bad.yaml"}, exitInvalid, "", []string{"unknown consumer type", "invalid command line or pipeline file"}, false},
		{"invalid flag value", []string{"pipes/ok.yaml", "--workers", "0"}, exitInvalid, "ok", []string{"--workers 0"}, false},
		{"interrupted", []string{"pipes/ok.yaml", "--run", "2026-11-23"}, exitInterrupted, "ok", []string{"interrupted", `"cause": "context canceled"`}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".json")
			args := append([]string{"run", "--progress", "none", "--report", path}, tt.args...)
			ctx, cancel := context.WithCancel(context.Background())
			if tt.cancel {
				cancel()
			}
			defer cancel()
			code, stdout, stderr := runCLICtx(ctx, t, dir, args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("no report: %v\nstderr:\n%s", err, stderr)
			}
			var got struct {
				Pipeline string `json:"pipeline"`
				ExitCode int    `json:"exit_code"`
				Error    string `json:"error"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("report: %v\n%s", err, b)
			}
			if got.ExitCode != tt.code || got.Pipeline != tt.pipeline {
				t.Errorf("report says exit %d, pipeline %q; want %d, %q\n%s", got.ExitCode, got.Pipeline, tt.code, tt.pipeline, b)
			}
			if tt.code != exitOK && got.Error == "" {
				t.Errorf("report of exit %d has no error:\n%s", tt.code, b)
			}
			for _, w := range tt.want {
				if !bytes.Contains(b, []byte(w)) {
					t.Errorf("report lacks %q:\n%s", w, b)
				}
			}
			if bytes.Contains(b, []byte("hunter2-secret")) {
				t.Errorf("report shows the password from the environment:\n%s", b)
			}
		})
	}
}

// Every command of the table answers --help, and the usage lists each one: the table is the one list of commands.
func TestEveryCommandHasHelpAndUsage(t *testing.T) {
	for _, c := range commands {
		if c.name == "version" {
			continue
		}
		var out bytes.Buffer
		if code := run(context.Background(), []string{c.name, "--help"}, &out, &out); code != exitOK {
			t.Errorf("jetflow %s --help: exit %d\n%s", c.name, code, out.String())
		}
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(c.name) + ` +` + regexp.QuoteMeta(c.summary) + `$`).MatchString(usage()) {
			t.Errorf("the usage does not list %s with its summary", c.name)
		}
	}
}
