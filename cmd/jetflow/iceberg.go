package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/loaders/iceberg"
	"github.com/jetflow-dev/jetflow/stage"
)

const icebergSynopsis = "iceberg show|expire-snapshots|compact FILE [--table NAMESPACE.TABLE] [flags]"

const icebergExamples = `  jetflow iceberg show pipelines/orders.yaml                       # schema, spec, snapshots with jetflow partitions
  jetflow iceberg show pipelines/orders.yaml --orphans             # files no snapshot references (killed runs)
  jetflow iceberg show pipelines/orders.yaml --orphans --remove    # ... and delete those older than an hour
  jetflow iceberg expire-snapshots pipelines/orders.yaml --older-than 168h --retain-last 10
  jetflow iceberg compact pipelines/orders.yaml --target-file-size 256MiB
`

// cmdIceberg runs the maintenance commands on the Iceberg table(s) a pipeline loads into.
func cmdIceberg(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := checkSubcommand(args, "iceberg", icebergSynopsis, icebergExamples, []string{"show", "expire-snapshots", "compact"}, stderr); err != nil {
		return err
	}
	sub := args[0]
	var c commonFlags
	fs := newFlagSet("iceberg "+sub, icebergSynopsis, icebergExamples, stderr)
	c.register(fs)
	tableFlag := fs.String("table", "", "the iceberg loader's table, when the pipeline has several")
	var (
		snapshots, retainLast, minInputs int
		orphans, remove, keepFiles       bool
		olderThan                        time.Duration
		target                           stage.ByteSize
	)
	switch sub {
	case "show":
		fs.IntVar(&snapshots, "snapshots", 20, "show the newest N snapshots (0: all)")
		fs.BoolVar(&orphans, "orphans", false, "list files under the table's location that no snapshot references")
		fs.BoolVar(&remove, "remove", false, "with --orphans: delete them")
		fs.DurationVar(&olderThan, "older-than", -1, "with --orphans: only files older than this (default 0 to list, 1h to remove: a younger file may belong to a write in progress)")
	case "expire-snapshots":
		fs.DurationVar(&olderThan, "older-than", 7*24*time.Hour, "expire snapshots older than this")
		fs.IntVar(&retainLast, "retain-last", 1, "always keep this many newest snapshots (and, whatever its age, the newest carrying each stream lane's checkpoint)")
		fs.BoolVar(&keepFiles, "keep-files", false, "leave the files only expired snapshots used on storage (readers may still be on them)")
	case "compact":
		fs.TextVar(&target, "target-file-size", stage.ByteSize(0), "size of the rewritten files (default: the loader's target_file_size)")
		fs.IntVar(&minInputs, "min-input-files", 5, "rewrite an Iceberg partition only when it has at least this many small files")
	}
	// The iceberg commands never read the source: the consumer's settings (its DSN) need not be at hand.
	l, log, err := c.parseAndLoadWith(ctx, fs, args[1:], stderr, loadLoaders)
	if err != nil {
		return err
	}
	if remove && !orphans {
		l.close(log)
		return withCode(exitInvalid, errors.New("--remove goes with --orphans"))
	}
	defer l.close(log)
	var targets []*iceberg.Loader
	var names []string
	for _, ld := range l.built.Loaders {
		if il, ok := ld.(*iceberg.Loader); ok {
			names = append(names, il.TableName())
			if *tableFlag == "" || il.TableName() == *tableFlag {
				targets = append(targets, il)
			}
		}
	}
	switch {
	case len(names) == 0:
		return withCode(exitInvalid, fmt.Errorf("%s has no iceberg loader", l.p.File))
	case len(targets) == 0:
		return withCode(exitInvalid, fmt.Errorf("--table %s: the pipeline's iceberg tables are %s", *tableFlag, strings.Join(names, ", ")))
	case len(targets) > 1:
		return withCode(exitInvalid, fmt.Errorf("the pipeline loads several iceberg tables (%s): pick one with --table", strings.Join(names, ", ")))
	}
	il := targets[0]
	tbl, err := il.LoadTable(ctx)
	if err != nil {
		return withCode(exitError, err)
	}
	switch sub {
	case "show":
		if !orphans {
			return iceberg.Describe(stdout, tbl, snapshots)
		}
		if olderThan < 0 {
			olderThan = 0
			if remove {
				olderThan = time.Hour
			}
		}
		if remove {
			files, err := iceberg.RemoveOrphans(ctx, tbl, olderThan)
			for _, f := range files {
				fmt.Fprintf(stdout, "removed %s\n", f)
			}
			if err != nil {
				return withCode(exitError, err)
			}
			fmt.Fprintf(stdout, "%d orphan file(s) removed\n", len(files))
			return nil
		}
		files, size, err := iceberg.Orphans(ctx, tbl, olderThan)
		if err != nil {
			return withCode(exitError, err)
		}
		for _, f := range files {
			fmt.Fprintln(stdout, f)
		}
		fmt.Fprintf(stdout, "%d orphan file(s), %s; remove them with --orphans --remove\n", len(files), humanBytes(size))
		return nil
	case "expire-snapshots":
		res, err := il.ExpireSnapshots(ctx, iceberg.ExpireOptions{OlderThan: olderThan, RetainLast: retainLast, KeepFiles: keepFiles})
		if err != nil {
			return withCode(exitError, err)
		}
		fmt.Fprintf(stdout, "expired %d snapshot(s) of %s; %d remain%s\n", res.Expired, il.TableName(), res.Remaining, retriedNote(res.Attempts))
		return nil
	default: // compact
		size := int64(target)
		if size == 0 {
			size = il.TargetFileSize()
		}
		dres, err := il.CompactDeletes(ctx)
		if err != nil {
			return withCode(exitError, err)
		}
		if dres.DataFiles > 0 {
			fmt.Fprintf(stdout, "applied %d delete file(s) of %s: %d data files (%s) rewritten without their %d deleted rows (%s)\n", dres.DeleteFiles, il.TableName(),
				dres.DataFiles, humanBytes(dres.BytesBefore), dres.RowsDeleted, humanBytes(dres.BytesAfter))
		}
		res, err := il.Compact(ctx, size, minInputs)
		if err != nil {
			return withCode(exitError, err)
		}
		if res.SkippedDeletes > 0 {
			fmt.Fprintf(stdout, "left %d group(s) of small files as they are: they have delete files (of another engine), so their rows cannot be told apart by jetflow partition\n", res.SkippedDeletes)
		}
		if res.Groups == 0 {
			fmt.Fprintf(stdout, "nothing to compact in %s: no Iceberg partition has %d or more small files\n", il.TableName(), minInputs)
			return nil
		}
		fmt.Fprintf(stdout, "compacted %d partition(s) of %s: %d files (%s) rewritten into %d (%s)%s\n", res.Groups, il.TableName(),
			res.FilesRemoved, humanBytes(res.BytesBefore), res.FilesAdded, humanBytes(res.BytesAfter), retriedNote(res.Attempts))
		return nil
	}
}

// retriedNote tells that a maintenance commit went in only after other writers' commits (a stream beside it).
func retriedNote(attempts int) string {
	if attempts <= 1 {
		return ""
	}
	return fmt.Sprintf(" (committed at attempt %d: other writers committed meanwhile)", attempts)
}
