package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
)

// stringList collects a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func cmdState(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const synopsis = "state list|reset|gc FILE [--run RUN] [--partition ID]... [--dry-run]"
	examples := `  jetflow state list pipelines/orders.yaml                 # every run instance
  jetflow state list pipelines/orders.yaml --run 2026-11-22
  jetflow state reset pipelines/orders.yaml --run 2026-11-22 --partition 3f9a...   # load it again next run
  jetflow state gc pipelines/orders.yaml --dry-run         # what killed attempts left behind
`
	if len(args) == 0 || (args[0] != "list" && args[0] != "reset" && args[0] != "gc") {
		fs := newFlagSet("state", synopsis, examples, stderr)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fs.Usage()
			return withCode(exitOK, errQuiet)
		}
		fs.Usage()
		return withCode(exitInvalid, errors.New("want a subcommand: list, reset or gc"))
	}
	sub := args[0]
	var c commonFlags
	fs := newFlagSet("state "+sub, synopsis, examples, stderr)
	c.register(fs)
	runFlag := fs.String("run", "", "run instance label; list and gc: all when empty; reset: required")
	dryRun := fs.Bool("dry-run", false, "gc: print what would be removed, remove nothing")
	var ids stringList
	fs.Var(&ids, "partition", "reset only this partition id (repeatable)")
	asJSON := fs.Bool("json", false, "list as JSON")
	l, _, err := c.parseAndLoad(ctx, fs, args[1:], stderr)
	if err != nil {
		return err
	}
	runLabel := ""
	if *runFlag != "" {
		r, err := l.parseRun(*runFlag)
		if err != nil {
			return err
		}
		runLabel = r.Label
	}
	store, err := l.openState(ctx, c.statePath)
	if err != nil {
		return err
	}
	defer store.Close()
	switch sub {
	case "gc":
		return stateGC(ctx, l, store, runLabel, *dryRun, stdout)
	case "list":
		recs, err := store.List(ctx, l.p.Name, runLabel)
		if err != nil {
			return withCode(exitError, err)
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(recs)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tINDEX\tKEY\tID\tSTATUS\tATTEMPTS\tROWS\tBYTES\tFINISHED\tERROR")
		for _, r := range recs {
			finished := ""
			if !r.FinishedAt.IsZero() {
				finished = r.FinishedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", r.RunLabel, r.Index, r.Key, r.ID, r.Status, r.Attempts,
				r.Rows, humanBytes(r.Bytes), finished, r.Error)
		}
		return tw.Flush()
	default: // reset
		if runLabel == "" {
			return withCode(exitInvalid, errors.New("reset needs --run: the run instance whose partitions to forget"))
		}
		n, err := store.Reset(ctx, l.p.Name, runLabel, ids)
		if err != nil {
			return withCode(exitError, err)
		}
		// The instance is no longer complete: pipelines that depend on it wait for the reload.
		if err := store.SetWatermark(ctx, l.p.Name, engine.CompletedMarker(runLabel), ""); err != nil {
			return withCode(exitError, err)
		}
		fmt.Fprintf(stdout, "reset %d partition(s) of run %s; the next run loads them again, replacing their output\n", n, runLabel)
		return nil
	}
}

// stateGC removes what killed attempts left behind (see engine.Sweep) and prints each file.
func stateGC(ctx context.Context, l *loaded, store state.Store, runLabel string, dryRun bool, stdout io.Writer) error {
	e, err := engine.New(l.job(), store, engine.Options{})
	if err != nil {
		return withCode(exitInvalid, err)
	}
	// Temporary files are looked for in the destinations of the run instances the store knows.
	recs, err := store.List(ctx, l.p.Name, runLabel)
	if err != nil {
		return withCode(exitError, err)
	}
	var runs []stage.RunInstance
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r.RunLabel] {
			continue
		}
		seen[r.RunLabel] = true
		if run, err := l.p.ParseRun(r.RunLabel); err == nil {
			runs = append(runs, run)
		}
	}
	swept, sweepErr := e.Sweep(ctx, runs, dryRun)
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	files, attempts := 0, 0
	for _, s := range swept {
		if s.Intent != "" {
			attempts++
		}
		for _, f := range s.Removed {
			files++
			what := "temporary file no attempt owns"
			if s.Intent != "" {
				what = "partition " + s.PartitionID + ", dead attempt of " + s.Owner
			}
			fmt.Fprintf(stdout, "%s %s  (loader %s, %s)\n", verb, f, s.Loader, what)
		}
	}
	switch {
	case dryRun:
		fmt.Fprintf(stdout, "would remove %d file(s) that killed attempts left (%d attempt(s) recorded); run without --dry-run to remove them\n", files, attempts)
	default:
		fmt.Fprintf(stdout, "removed %d file(s) that killed attempts left (%d attempt(s) recorded)\n", files, attempts)
	}
	if sweepErr != nil {
		return withCode(exitError, sweepErr)
	}
	return nil
}
