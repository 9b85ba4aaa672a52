package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stagetest"
)

func cmdTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("test", "test FILE|DIR... [-run REGEX] [--update] [-v]", `  jetflow test pipelines/
  jetflow test pipelines/orders.yaml -run 'orders/cast'      # cases whose pipeline/case matches
  jetflow test pipelines/ --update                            # rewrite expected rows in *.test.yaml files
`, stderr)
	runFlag := fs.String("run", "", "run only the cases whose \"pipeline/case\" matches this regular expression")
	update := fs.Bool("update", false, "rewrite the expected rows of failing cases in *.test.yaml files with the stages' output")
	verbose := fs.Bool("v", false, "also print passing cases, with their row counts and durations")
	logLevel := fs.String("log-level", "warn", "level of the stages' logs on stderr: debug, info, warn or error")
	paths, err := parsePaths(fs, args)
	if err != nil {
		return err
	}
	opts := stagetest.Options{Update: *update, Alloc: memory.DefaultAllocator}
	if *runFlag != "" {
		re, err := regexp.Compile(*runFlag)
		if err != nil {
			return withCode(exitInvalid, fmt.Errorf("-run %q: not a regular expression: %w", *runFlag, err))
		}
		opts.Run = re
	}
	c := commonFlags{logFormat: "text", logLevel: *logLevel}
	if opts.Logger, err = c.logger(stderr); err != nil {
		return err
	}

	ps, loadErr := pipelines.Options{Redactor: redactorOf(stderr)}.LoadPaths(paths...)
	var invalid pipelines.ErrorList
	if loadErr != nil {
		var list pipelines.ErrorList
		if !errors.As(loadErr, &list) {
			return withCode(exitInvalid, loadErr)
		}
		invalid = append(invalid, list...)
	}
	rep := stagetest.Run(ctx, ps, opts)
	invalid = append(invalid, rep.Invalid...)

	for _, r := range rep.Results {
		switch {
		case r.Status == stagetest.Pass && r.Updated:
			fmt.Fprintf(stdout, "--- PASS %s (expected rows updated)\n", r.ID())
		case r.Status == stagetest.Pass && *verbose:
			fmt.Fprintf(stdout, "--- PASS %s (%d rows, %.2fs)\n", r.ID(), r.Rows, r.Duration.Seconds())
		case r.Status == stagetest.Fail:
			fmt.Fprintf(stdout, "--- FAIL %s (%s)\n%s", r.ID(), r.Where, indent(r.Diff))
		case r.Status == stagetest.Error:
			fmt.Fprintf(stdout, "--- FAIL %s (%s)\n%s", r.ID(), r.Where, indent(r.Err.Error()+"\n"))
		}
	}
	if len(invalid) > 0 {
		invalid.Sort()
		fmt.Fprintln(stderr, invalid.Error())
	}
	passed := rep.Count(stagetest.Pass)
	failed := len(rep.Results) - passed
	summary := fmt.Sprintf("%d passed, %d failed", passed, failed)
	if len(invalid) > 0 {
		summary += fmt.Sprintf(", %d error(s) in test or pipeline files", len(invalid))
	}
	fmt.Fprintln(stdout, summary)
	switch {
	case len(invalid) > 0:
		return withCode(exitInvalid, errQuiet)
	case failed > 0:
		return withCode(exitFailed, errQuiet)
	case len(rep.Results) == 0 && opts.Run != nil:
		fmt.Fprintf(stderr, "no case matches -run %q\n", *runFlag)
	case len(rep.Results) == 0:
		fmt.Fprintf(stderr, "no stage tests under %s: add tests: to a pipeline, or a <name>.test.yaml next to it\n", strings.Join(paths, " "))
	}
	return nil
}

// indent shifts a multi-line report under its --- FAIL line.
func indent(s string) string {
	if s == "" {
		return ""
	}
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l == "" {
			continue
		}
		b.WriteString("    ")
		b.WriteString(l)
	}
	if !strings.HasSuffix(s, "\n") {
		b.WriteByte('\n')
	}
	return b.String()
}
