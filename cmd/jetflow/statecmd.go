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
)

// stringList collects a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func cmdState(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const synopsis = "state list|reset FILE [--run RUN] [--partition ID]..."
	examples := `  jetflow state list pipelines/orders.yaml                 # every run instance
  jetflow state list pipelines/orders.yaml --run 2026-11-22
  jetflow state reset pipelines/orders.yaml --run 2026-11-22 --partition 3f9a...   # load it again next run
`
	if len(args) == 0 || (args[0] != "list" && args[0] != "reset") {
		fs := newFlagSet("state", synopsis, examples, stderr)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fs.Usage()
			return withCode(exitOK, errQuiet)
		}
		fs.Usage()
		return withCode(exitInvalid, errors.New("want a subcommand: list or reset"))
	}
	sub := args[0]
	var c commonFlags
	fs := newFlagSet("state "+sub, synopsis, examples, stderr)
	c.register(fs)
	runFlag := fs.String("run", "", "run instance label; list: all when empty; reset: required")
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
