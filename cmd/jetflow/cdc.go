package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/consumers/postgres"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
)

const cdcSynopsis = "cdc status|drop FILE [flags]"

const cdcExamples = `  jetflow cdc status pipelines/orders_cdc.yaml   # the slot, the WAL it holds back, the last commit
  jetflow cdc drop pipelines/orders_cdc.yaml     # drop the slot (and the publication jetflow created)
`

// cmdCDC inspects or drops the replication slot of a change-capture pipeline (postgres with cdc:).
func cmdCDC(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := checkSubcommand(args, "cdc", cdcSynopsis, cdcExamples, []string{"status", "drop"}, stderr); err != nil {
		return err
	}
	sub := args[0]
	var c commonFlags
	fs := newFlagSet("cdc "+sub, cdcSynopsis, cdcExamples, stderr)
	c.register(fs)
	l, log, err := c.parseAndLoad(ctx, fs, args[1:], stderr)
	if err != nil {
		return err
	}
	defer l.close(log)
	src, ok := l.built.Source.(*postgres.CDC)
	if !ok {
		return withCode(exitInvalid, fmt.Errorf("%s does not capture changes: its consumer is not a postgres with cdc:", l.p.File))
	}
	slot := src.SlotName()
	si, err := src.Slot(ctx)
	if err != nil {
		return withCode(exitError, err)
	}
	if sub == "drop" {
		dropped, err := src.Drop(ctx)
		for _, d := range dropped {
			fmt.Fprintf(stdout, "dropped %s\n", d)
		}
		if err != nil {
			return withCode(exitError, err)
		}
		return markReload(ctx, l, c.statePath, slot, stdout)
	}
	if !si.Exists {
		fmt.Fprintf(stdout, "slot %s: does not exist (created by the first jetflow run %s --stream)\n", slot, l.p.File)
	} else {
		act := "inactive (no stream reads it: the server keeps its WAL)"
		if si.Active {
			act = fmt.Sprintf("active (pid %d)", si.ActivePID)
		}
		fmt.Fprintf(stdout, "slot %s: %s\n", slot, act)
		fmt.Fprintf(stdout, "  confirmed  %s\n", si.Confirmed)
		fmt.Fprintf(stdout, "  behind     %s of WAL past the confirmed position\n", stage.ByteSize(si.Behind))
		fmt.Fprintf(stdout, "  retained   %s of WAL held on the server (max_slot_lag %s)\n", stage.ByteSize(si.Retained), src.MaxSlotLag())
	}
	store, err := l.openState(ctx, c.statePath)
	if err != nil {
		return err
	}
	defer store.Close()
	last, ok, err := lastCommit(ctx, store, l.p.Name, slot)
	if err != nil {
		return withCode(exitError, err)
	}
	if !ok {
		fmt.Fprintln(stdout, "last commit: none in the state store")
		return nil
	}
	fmt.Fprintf(stdout, "last commit: %s at %s (%s ago), partition %s\n", last.Checkpoint, last.FinishedAt.UTC().Format(time.RFC3339),
		time.Since(last.FinishedAt).Round(time.Second), last.Key)
	return nil
}

// markReload records, for a slot that was dropped after its stream committed a checkpoint, that the next start
// loads the table again from a new slot rather than resume (and stop, the slot being gone).
func markReload(ctx context.Context, l *loaded, statePath, slot string, stdout io.Writer) error {
	store, err := l.openState(ctx, statePath)
	if err != nil {
		return err
	}
	defer store.Close()
	if _, ok, err := store.Checkpoint(ctx, l.p.Name, slot); err != nil || !ok {
		return withCode(exitError, err) // nil when there is no checkpoint: the next start loads the table anyway
	}
	run := pipelines.StreamRun()
	key := slot + "/reload@" + time.Now().UTC().Format(time.RFC3339Nano)
	id := pipelines.PartitionID(l.p.Name, run.Label, key)
	const owner = "jetflow cdc drop"
	if _, err := store.Claim(ctx, state.Claim{Pipeline: l.p.Name, RunLabel: run.Label, ID: id, Key: key, Lane: slot,
		Owner: owner, Lease: time.Minute}); err != nil {
		return withCode(exitError, err)
	}
	if err := store.Commit(ctx, state.Partition{Pipeline: l.p.Name, RunLabel: run.Label, ID: id, Key: key, Lane: slot,
		Attempts: 1, Checkpoint: postgres.ReloadCheckpoint, Owner: owner}); err != nil {
		return withCode(exitError, err)
	}
	fmt.Fprintf(stdout, "the next jetflow run %s --stream loads the table again from a new slot %s\n", l.p.File, slot)
	return nil
}

// checkSubcommand checks that args start with one of subs, printing the command's usage when they do not
// (and for -h).
func checkSubcommand(args []string, cmd, synopsis, examples string, subs []string, stderr io.Writer) error {
	if len(args) > 0 && slices.Contains(subs, args[0]) {
		return nil
	}
	newFlagSet(cmd, synopsis, examples, stderr).Usage()
	switch {
	case len(args) > 0 && (args[0] == "-h" || args[0] == "--help"):
		return withCode(exitOK, errQuiet)
	case len(args) > 0:
		return withCode(exitInvalid, fmt.Errorf("unknown subcommand %q%s", args[0], didYouMean(args[0], subs)))
	}
	want := strings.Join(subs[:len(subs)-1], ", ") + " or " + subs[len(subs)-1]
	return withCode(exitInvalid, errors.New("want a subcommand: "+want))
}

// lastCommit is the newest committed partition of the stream's lane.
func lastCommit(ctx context.Context, store state.Store, pipeline, lane string) (state.Partition, bool, error) {
	recs, err := store.List(ctx, pipeline, pipelines.StreamRun().Label)
	if err != nil {
		return state.Partition{}, false, err
	}
	var last state.Partition
	found := false
	for _, r := range recs {
		if r.Lane == lane && r.Status == state.StatusCommitted && (!found || r.FinishedAt.After(last.FinishedAt)) {
			last, found = r, true
		}
	}
	return last, found, nil
}
