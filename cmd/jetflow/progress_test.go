package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jetflow-dev/jetflow/engine"
)

func TestProgressLineAndLogMode(t *testing.T) {
	// 10 s for 4 committed partitions: 2.5 s each, 5 left → 12.5 s, shown rounded.
	tr := &engine.Tracker{Started: time.Now().Add(-10 * time.Second)}
	tr.Total.Store(10)
	tr.Committed.Store(4)
	tr.Skipped.Store(1)
	tr.InFlight.Store(2)
	tr.Rows.Store(2_500_000)
	tr.Bytes.Store(3 << 20)
	line := progressLine(tr)
	if !regexp.MustCompile(`ETA 1[34]s`).MatchString(line) { // 13s, or 14s on a machine slow to get here
		t.Errorf("progress line %q: ETA should be about 12.5s", line)
	}
	for _, want := range []string{"partitions 5/10 (2 in flight)", "rows 2.50M", "3.0 MiB", "rows/s"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q lacks %q", line, want)
		}
	}
	var logs bytes.Buffer
	stop := startProgress("live", &logs, tr, slog.New(slog.DiscardHandler))
	time.Sleep(300 * time.Millisecond)
	stop()
	if !strings.Contains(logs.String(), "\rpartitions 5/10") || !strings.HasSuffix(logs.String(), "\n") {
		t.Errorf("live display output %q", logs.String())
	}
	if stop := startProgress("none", &logs, tr, nil); stop == nil {
		t.Fatal("no stop function")
	}
}

// The deploy/ manifests are YAML, and every flag they give jetflow exists.
func TestDeployManifestsUseRealFlags(t *testing.T) {
	files, _ := filepath.Glob("../../deploy/*/*.yaml")
	if len(files) < 3 {
		t.Fatalf("found %v", files)
	}
	var help bytes.Buffer
	run(context.Background(), []string{"run", "--help"}, &help, &help)
	run(context.Background(), []string{"run", t.TempDir(), "--help"}, &help, &help) // a folder's run
	flagRE := regexp.MustCompile(`--([a-z][a-z-]+)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, "jetflow run") && !strings.Contains(line, `["run"`) {
				continue
			}
			for _, m := range flagRE.FindAllStringSubmatch(line, -1) {
				if !strings.Contains(help.String(), "-"+m[1]+" ") && !strings.Contains(help.String(), "-"+m[1]+"\n") {
					t.Errorf("%s uses --%s, which `jetflow run` does not have", f, m[1])
				}
			}
		}
	}
}
