package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/internal/humanize"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
)

func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate", "validate [--connect] [--format text|github] FILE|DIR...", `  jetflow validate pipelines/
  jetflow validate --connect pipelines/orders.yaml   # also ask sources for their schema
  jetflow validate --format github pipelines/        # in a pull request's workflow: errors annotate the diff
`, stderr)
	connect := fs.Bool("connect", false, "ask sources whose schema is only known at the source (databases) for it")
	format := fs.String("format", "text", "error format: text (file:line:col: message), or github (workflow commands that GitHub Actions\nshows on the pull request's diff)")
	verbose := fs.Bool("v", false, "print the schema after every stage")
	paths, err := parsePaths(fs, args)
	if err != nil {
		return err
	}
	if *format != "text" && *format != "github" {
		return withCode(exitInvalid, fmt.Errorf("--format %s: want text or github", *format))
	}
	ps, loadErr := pipelines.Options{Redactor: redactorOf(stderr)}.LoadPaths(paths...)
	var all pipelines.ErrorList
	if loadErr != nil {
		var list pipelines.ErrorList
		if !errors.As(loadErr, &list) {
			return withCode(exitInvalid, loadErr)
		}
		all = append(all, list...)
	}
	if anyDir(paths) {
		// A folder is a graph: its depends_on must name pipelines of the folder and form no cycle.
		if _, gerr := pipelines.NewGraph(ps); gerr != nil {
			var list pipelines.ErrorList
			if errors.As(gerr, &list) {
				all = append(all, list...)
			}
		}
	}
	valid := 0
	for _, p := range ps {
		for _, w := range p.Warnings {
			fmt.Fprintln(stderr, w)
		}
		built, err := p.Build(stage.BuildContext{Pipeline: p.Name, Dir: dirOf(p.File), Alloc: memory.DefaultAllocator})
		if err == nil {
			var schemas []*arrowSchema
			ss, verr := p.Validate(ctx, built, *connect)
			err = verr
			for _, s := range ss {
				schemas = append(schemas, (*arrowSchema)(s))
			}
			for _, n := range built.Notes {
				fmt.Fprintf(stdout, "%s (note)\n", n)
			}
			if err == nil {
				valid++
				fmt.Fprintf(stdout, "%s: ok (%d stages)\n", p.File, len(p.Stages()))
				if *verbose {
					names := append([]string{built.SourceName}, built.TransformerNames...)
					for i, s := range schemas {
						fmt.Fprintf(stdout, "  after %s: %s\n", names[i], s)
					}
				}
			}
		}
		if err != nil {
			var list pipelines.ErrorList
			if errors.As(err, &list) {
				all = append(all, list...)
			} else {
				all = append(all, &pipelines.Error{File: p.File, Msg: err.Error()})
			}
		}
	}
	if len(all) > 0 {
		all = all.Unique() // pipelines inheriting one mistake from the project file each report it
		if *format == "github" {
			writeGitHubAnnotations(stdout, all)
		} else {
			fmt.Fprintln(stderr, all.Error())
		}
		fmt.Fprintf(stderr, "%d error(s); %d of %d pipeline file(s) valid\n", len(all), valid, countFiles(ps, all))
		return withCode(exitInvalid, errQuiet)
	}
	return nil
}

// anyDir says whether a path names a directory (a folder of pipelines).
func anyDir(paths []string) bool {
	for _, p := range paths {
		if info, err := os.Stat(p); err == nil && info.IsDir() {
			return true
		}
	}
	return false
}

func countFiles(ps []*pipelines.Pipeline, errs pipelines.ErrorList) int {
	files := map[string]bool{}
	for _, p := range ps {
		files[p.File] = true
	}
	for _, e := range errs {
		if filepath.Base(e.File) != pipelines.ProjectFile {
			files[e.File] = true
			continue
		}
		// A broken project file fails every pipeline beside it, each of which its errors stand for.
		entries, _ := os.ReadDir(filepath.Dir(e.File))
		for _, de := range entries {
			if !de.IsDir() && pipelines.IsPipelineFile(de.Name()) {
				files[filepath.Join(filepath.Dir(e.File), de.Name())] = true
			}
		}
	}
	return len(files)
}

// arrowSchema prints a schema as "name: type, ..." in the project's type syntax.
type arrowSchema arrow.Schema

func (s *arrowSchema) String() string {
	out := ""
	for i, f := range (*arrow.Schema)(s).Fields() {
		if i > 0 {
			out += ", "
		}
		out += f.Name + ": " + arrowtype.Format(f.Type)
		if !f.Nullable {
			out += " not null"
		}
	}
	return out
}

func cmdPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if folderArg(args) {
		return cmdPlanFolder(ctx, args, stdout, stderr)
	}
	var c commonFlags
	fs := newFlagSet("plan", "plan FILE [--run RUN] [--shard I/N] [--force] (plan DIR --help: a folder)", `  jetflow plan pipelines/orders.yaml --run 2026-11-22
  jetflow plan pipelines/orders.yaml --run 2026-11-22 --force
  jetflow plan pipelines/orders.yaml --json | jq '.[] | select(.state != "committed")'
`, stderr)
	c.register(fs)
	runFlag := fs.String("run", "", "run instance label, such as 2026-11-22 (default: the last complete one)")
	shardFlag := fs.String("shard", "", "only this worker's share of the partitions, INDEX/COUNT")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	force := fs.Bool("force", false, "show what `run --force` would do: committed partitions are loaded again")
	l, _, err := c.parseAndLoad(ctx, fs, args, stderr)
	if err != nil {
		return err
	}
	run, err := l.parseRun(*runFlag)
	if err != nil {
		return err
	}
	shard, shards, err := parseShard(*shardFlag)
	if err != nil {
		return err
	}
	store, err := l.openState(ctx, c.statePath)
	if err != nil {
		return err
	}
	defer store.Close()
	e, err := engine.New(l.job(), store, engine.Options{Shard: shard, Shards: shards, Force: *force})
	if err != nil {
		return withCode(exitInvalid, err)
	}
	plan, err := e.Plan(ctx, run)
	if err != nil {
		return withCode(exitError, err)
	}
	type row struct {
		Index    int    `json:"index"`
		Key      string `json:"key"`
		ID       string `json:"id"`
		State    string `json:"state"`
		Attempts int    `json:"attempts"`
		Rows     int64  `json:"rows"`
		Bytes    int64  `json:"bytes"`
		Error    string `json:"error,omitempty"`
	}
	rows := make([]row, 0, len(plan))
	counts := map[engine.PlanState]int{}
	for _, en := range plan {
		r := row{Index: en.Partition.Index, Key: en.Partition.Key, ID: en.Partition.ID, State: string(en.State)}
		if en.Record != nil {
			r.Attempts, r.Rows, r.Bytes, r.Error = en.Record.Attempts, en.Record.Rows, en.Record.Bytes, en.Record.Error
		}
		counts[en.State]++
		rows = append(rows, r)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	fmt.Fprintf(stdout, "pipeline %s, run %s [%s, %s): %d partitions\n", l.p.Name, run.Label,
		run.Start.Format(time.RFC3339), run.End.Format(time.RFC3339), len(plan))
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tKEY\tID\tSTATE\tATTEMPTS\tROWS\tBYTES")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%s\n", r.Index, r.Key, r.ID, r.State, r.Attempts, r.Rows, humanBytes(r.Bytes))
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d new, %d committed, %d stale (spec changed), %d failed, %d running elsewhere, %d to reload (--force)\n",
		counts[engine.PlanNew], counts[engine.PlanCommitted], counts[engine.PlanStale], counts[engine.PlanFailed], counts[engine.PlanRunning], counts[engine.PlanReload])
	load := counts[engine.PlanNew] + counts[engine.PlanStale] + counts[engine.PlanFailed] + counts[engine.PlanReload]
	fmt.Fprintf(stdout, "a run would load %d partition(s)\n", load)
	orphans, err := e.Orphans(ctx, run, plan)
	if err != nil {
		return withCode(exitError, err)
	}
	if len(orphans) > 0 {
		fmt.Fprintf(stdout, "warning: %d committed partition(s) of run %s are not in this plan: the partitioning changed since they were loaded.\n"+
			"Their output stays beside the new partitions' output (duplicates for a glob reader). Remove their files (see each\n"+
			"loader's commit marker), then forget them with `jetflow state reset %s --run %s --partition ID`:\n",
			len(orphans), run.Label, l.p.File, run.Label)
		for _, o := range orphans {
			fmt.Fprintf(stdout, "  %s  %s  %d rows\n", o.ID, o.Key, o.Rows)
		}
	}
	return nil
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	var c commonFlags
	fs := newFlagSet("run", "run FILE [--run RUN] [--workers N] [--force] [--shard I/N] [--stream]", `  jetflow run pipelines/orders.yaml --run 2026-11-22 --workers 8
  jetflow run pipelines/orders.yaml --shard $JOB_COMPLETION_INDEX/8   # one pod of a Kubernetes Indexed Job
  jetflow run pipelines/events.yaml --stream                          # until SIGTERM
  jetflow run pipelines/orders.yaml --metrics-push http://pushgateway:9091
`, stderr)
	c.register(fs)
	var mf metricsFlags
	runFlag := fs.String("run", "", "run instance label, such as 2026-11-22 (default: the last complete one)")
	workers := fs.Int("workers", defaultWorkers(), "partitions loaded at once")
	force := fs.Bool("force", false, "load committed partitions again, replacing their output")
	shardFlag := fs.String("shard", "", "load only this worker's share of the partitions, INDEX/COUNT")
	stream := fs.Bool("stream", false, "read an unbounded source until SIGTERM")
	reportPath := fs.String("report", "", "write the run report as JSON to this file, with the exit code and error, however the run ends")
	progress := fs.String("progress", "auto", "progress display: auto (live on a terminal, log lines otherwise), live, log or none")
	cpuProfile := fs.String("cpu-profile", "", "write a CPU profile of the run to this file (for go tool pprof)")
	memProfile := fs.String("mem-profile", "", "write the heap profile taken at the run's highest heap to this file (for go tool pprof); Arrow buffers are then kept on the Go heap so that it shows them")
	mf.register(fs)
	dependents := fs.String("dependents", "", "pipelines that a folder run skips when this run fails, comma-separated, named in its failure notification\n(jetflow run DIR sets it)")
	// The report is written however the run ends, once --report is parsed: a scheduler reading it learns why a
	// run that loaded nothing stopped, not only that a file is missing.
	var (
		l     *loaded
		run   stage.RunInstance
		rep   *engine.Report
		store state.Store
	)
	defer func() {
		if *reportPath == "" || (errors.Is(err, errQuiet) && exitCode(ctx, err) == exitOK) { // --help
			return
		}
		if werr := writeReport(*reportPath, exitCode(ctx, err), l, run, rep, err, redactorOf(stderr)); werr != nil {
			fmt.Fprintf(stderr, "jetflow run: could not write the run report %s: %v\n", *reportPath, werr)
		}
	}()
	l, log, err := c.parseAndLoad(ctx, fs, args, stderr)
	if err != nil {
		return err
	}
	defer l.close(log)
	if *cpuProfile != "" || *memProfile != "" {
		prof, err := startProfiler(*cpuProfile, *memProfile)
		if err != nil {
			return withCode(exitInvalid, err)
		}
		defer func() {
			if err := prof.finish(); err != nil {
				log.Error("profile not written", "err", err)
			}
		}()
	}
	// Package initialisation leaves garbage behind: hand it back to the OS now, so a run's peak RSS is its own
	// data, not the start-up's.
	debug.FreeOSMemory()
	if *workers < 1 {
		return withCode(exitInvalid, fmt.Errorf("--workers %d: want at least 1", *workers))
	}
	shard, shards, err := parseShard(*shardFlag)
	if err != nil {
		return err
	}
	if *stream {
		if *runFlag != "" {
			return withCode(exitInvalid, errors.New("--run and --stream exclude each other: a stream has no run instance"))
		}
		run = pipelines.StreamRun()
	} else if run, err = l.parseRun(*runFlag); err != nil {
		return err
	}
	m, err := startMetrics(mf, l.p.Name, *stream, shard, shards, log)
	if err != nil {
		return err
	}
	defer func() { m.finish(ctx, rep, exitCode(ctx, err)) }()
	// Before the metrics are sent, so they count the notifications; the store is closed after it.
	defer func() {
		alertRun(ctx, l, store, run.Label, rep, err, exitCode(ctx, err), dependentsFlag(*dependents), log, m)
		if store != nil {
			store.Close()
		}
	}()
	if store, err = l.openState(ctx, c.statePath); err != nil {
		return err
	}
	tracker := &engine.Tracker{}
	e, err := engine.New(l.job(), store, m.options(engine.Options{Workers: *workers, Force: *force, Shard: shard, Shards: shards,
		Logger: log, Tracker: tracker}))
	if err != nil {
		return withCode(exitInvalid, err)
	}
	m.watch(e, l)
	log.Info("run starting", "pipeline", l.p.Name, "run", run.Label, "workers", *workers, "force", *force, "shard", *shardFlag)
	stopProgress := startProgress(*progress, stderr, tracker, log)
	if *stream {
		rep, err = e.Stream(ctx, run)
	} else {
		rep, err = e.Run(ctx, run)
	}
	stopProgress()
	m.watermark(ctx, l.built.Source, store, l.p.Name)
	if rep != nil {
		printReport(stdout, rep)
	}
	switch {
	case *stream && ctx.Err() != nil && err == nil:
		return nil // SIGTERM is how a stream is stopped: the partition in flight was committed or aborted
	case ctx.Err() != nil:
		return withCode(exitInterrupted, fmt.Errorf("interrupted: in-flight partitions were aborted; run the same command again to finish"))
	case errors.As(err, new(*engine.PartitionFailedError)):
		// A stream stops at its first failed partition; the same failure in batch mode ends with exitFailed.
		return withCode(exitFailed, fmt.Errorf("%w; a restart reads the partition again", err))
	case err != nil:
		return withCode(exitError, err)
	case !rep.OK():
		return withCode(exitFailed, fmt.Errorf("%d partition(s) failed after %d attempt(s); they are retried by the next run", rep.Failed, l.p.Retries.Attempts))
	}
	return nil
}

// exitMeanings are the README's exit code table, for the report.
var exitMeanings = map[int]string{
	exitOK:          "done",
	exitFailed:      "some partitions failed after every retry; the next run retries only those",
	exitInvalid:     "invalid command line or pipeline file (nothing ran)",
	exitInterrupted: "interrupted: partitions in flight were aborted; run again",
	exitError:       "the run could not proceed: state store, source or destination unreachable, or a fault no retry can fix",
}

// runReport is what --report writes: the engine's report (what was done, possibly nothing) and how the run ended.
type runReport struct {
	*engine.Report
	ExitCode int    `json:"exit_code"`
	Outcome  string `json:"outcome"`
	Error    string `json:"error,omitempty"` // as printed on stderr: what failed, then why
	Cause    string `json:"cause,omitempty"` // the innermost error of Error's chain: the first cause
}

// writeReport writes the report of a run that ended with code and err; l, run and rep are nil or zero for what
// was not reached. Error texts are the ones printed on stderr; red redacts the whole report, whatever field a
// secret reached.
func writeReport(path string, code int, l *loaded, run stage.RunInstance, rep *engine.Report, err error, red *stage.Redactor) error {
	if rep == nil {
		rep = &engine.Report{Run: run.Label, Partitions: []engine.PartitionResult{}, Stages: []engine.StageStats{}}
		if l != nil {
			rep.Pipeline = l.p.Name
		}
	}
	out := runReport{Report: rep, ExitCode: code, Outcome: exitMeanings[code]}
	if err != nil && !errors.Is(err, errQuiet) {
		out.Error = err.Error()
		out.Cause = stage.Innermost(err).Error()
	}
	return writeJSON(path, out, red)
}

// writeJSON writes v as indented JSON, redacted by red (Redactor.Add registers secrets in their JSON form too).
func writeJSON(path string, v any, red *stage.Redactor) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(red.Redact(string(b))+"\n"), 0o644)
}

func printReport(w io.Writer, rep *engine.Report) {
	secs := rep.Duration.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(rep.Rows) / secs
	}
	fmt.Fprintf(w, "pipeline %s, run %s: %d committed, %d skipped, %d failed, %d aborted; %d rows, %s written in %s (%s rows/s)\n",
		rep.Pipeline, rep.Run, rep.Committed, rep.Skipped, rep.Failed, rep.Aborted, rep.Rows, humanBytes(rep.Bytes),
		rep.Duration.Round(time.Millisecond), humanCount(rate))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tKIND\tROWS IN\tROWS OUT\tBYTES\tERRORS\tBAD RECORDS\tTIME")
	for _, s := range rep.Stages {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\t%d\t%s\n", s.Stage, s.Kind, s.RowsIn, s.RowsOut, humanBytes(s.Bytes), s.Errors, s.BadRecords,
			s.Duration.Round(time.Millisecond))
	}
	tw.Flush()
	for _, p := range rep.Partitions {
		if p.Outcome == "failed" {
			fmt.Fprintf(w, "failed: %s (%s) after %d attempt(s): %s\n", p.Key, p.ID, p.Attempts, p.Error)
		}
	}
}

func humanBytes(n int64) string { return humanize.Bytes(n) }

func humanCount(f float64) string {
	switch {
	case f >= 1e6:
		return fmt.Sprintf("%.2fM", f/1e6)
	case f >= 1e3:
		return fmt.Sprintf("%.1fk", f/1e3)
	}
	return fmt.Sprintf("%.0f", f)
}
