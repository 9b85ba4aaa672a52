package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/state/stores"
)

// folderArg says whether a run names a folder of pipelines rather than one file.
func folderArg(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			continue
		}
		if info, err := os.Stat(a); err == nil && info.IsDir() {
			return true
		}
	}
	return false
}

// folderFlags choose what a folder run covers: `run DIR` and `plan DIR` take them alike.
type folderFlags struct {
	selectors stringList
	run       string
	shard     string
	force     bool
}

func (f *folderFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.selectors, "select", "pipelines to run: NAME, NAME+ (and downstream), +NAME (and its inputs), tag:TAG; repeatable (default: all)")
	fs.StringVar(&f.run, "run", "", "run instance label, such as 2026-11-22; a pipeline with shorter run instances runs all of those within it\n(default: each pipeline's last complete one)")
	fs.BoolVar(&f.force, "force", false, "load committed partitions again, replacing their output")
	fs.StringVar(&f.shard, "shard", "", "load only this worker's share of each pipeline's partitions, INDEX/COUNT")
}

// parse parses the command line of a folder command, which names one folder.
func (f *folderFlags) parse(fs *flag.FlagSet, args []string) (string, error) {
	return oneFolder(fs, args)
}

// oneFolder parses a command's flags and its one argument, a folder of pipelines.
func oneFolder(fs *flag.FlagSet, args []string) (string, error) {
	dirs, err := parseArgs(fs, args)
	if err != nil {
		return "", err
	}
	if len(dirs) != 1 {
		fs.Usage()
		return "", withCode(exitInvalid, errors.New("name exactly one folder of pipelines"))
	}
	return dirs[0], nil
}

// folderSelection is a folder's graph, the pipelines a run of it covers and their run instances.
type folderSelection struct {
	graph    *pipelines.Graph
	selected []*pipelines.Pipeline
	runs     map[string][]stage.RunInstance // pipeline → the run instances this run loads
}

// load loads the folder dir as a graph and picks what the flags select.
func (f *folderFlags) load(dir string, stderr io.Writer) (*folderSelection, error) {
	if _, _, err := parseShard(f.shard); err != nil {
		return nil, err
	}
	ps, err := pipelines.Options{Redactor: redactorOf(stderr)}.LoadPaths(dir)
	if err != nil {
		return nil, withCode(exitInvalid, err)
	}
	g, err := pipelines.NewGraph(ps)
	if err != nil {
		return nil, withCode(exitInvalid, err)
	}
	selected, err := g.Select(f.selectors)
	if err != nil {
		return nil, withCode(exitInvalid, err)
	}
	sel := &folderSelection{graph: g, selected: selected, runs: map[string][]stage.RunInstance{}}
	for _, p := range selected {
		runs, err := folderRuns(p, f.run)
		if err != nil {
			return nil, withCode(exitInvalid, err)
		}
		sel.runs[p.Name] = runs
	}
	return sel, nil
}

// folderRun is `jetflow run DIR`: the folder's pipelines as one graph.
type folderRun struct {
	*folderSelection
	stores     *stateStores
	childArgs  []string // flags every pipeline's run gets
	reportDir  string
	metricsDir string
	maxPar     int
	wait       time.Duration
	pollEvery  time.Duration
	stderr     io.Writer
	stderrMu   sync.Mutex
	executable string
	logFlags   commonFlags // how the runner logs what it does for a pipeline (alertDied), as its children do
}

// pipelineOutcome is how one pipeline of a folder run ended.
type pipelineOutcome struct {
	Pipeline string        `json:"pipeline"`
	Status   string        `json:"status"` // ok, failed, skipped
	ExitCode int           `json:"exit_code"`
	Runs     []string      `json:"runs"`
	Rows     int64         `json:"rows"`
	Duration time.Duration `json:"duration_ns"`
	Reason   string        `json:"reason,omitempty"`
}

func cmdRunFolder(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	fs := newFlagSet("run", "run DIR [--select SEL]... [--run RUN] [--max-parallel N] [--wait DURATION] [--workers N] [--force] [--shard I/N]",
		`  jetflow run pipelines/ --run 2026-11-22                    # every pipeline, in dependency order
  jetflow run pipelines/ --select orders+ --max-parallel 2     # orders and everything downstream of it
  jetflow run pipelines/ --select +gold --wait 2h              # gold and its inputs; wait for inputs run elsewhere
  jetflow run pipelines/ --select tag:nightly --report-dir reports/ --summary-markdown "$GITHUB_STEP_SUMMARY"
`, stderr)
	c.register(fs)
	var ff folderFlags
	ff.register(fs)
	maxPar := fs.Int("max-parallel", 4, "pipelines run at once")
	wait := fs.Duration("wait", 0, "how long a pipeline waits for its inputs' run instances to complete when they are not complete yet\n(run by another job); 0 skips it at once")
	workers := fs.Int("workers", defaultWorkers(), "partitions each pipeline loads at once")
	reportDir := fs.String("report-dir", "", "write each pipeline run's report to DIR/PIPELINE-RUN.json, and the folder's to DIR/summary.json")
	metricsPush := fs.String("metrics-push", "", "each pipeline run pushes its metrics to the Prometheus Pushgateway at `URL` when it ends, grouped by pipeline (and shard)")
	metricsDir := fs.String("metrics-dir", "", "each pipeline writes its metrics to DIR/PIPELINE.prom when its run ends, for node_exporter's textfile collector")
	summaryMD := fs.String("summary-markdown", "", "append a Markdown summary of the run to this file (GitHub Actions: $GITHUB_STEP_SUMMARY)")
	dir, err := ff.parse(fs, args)
	if err != nil {
		return err
	}
	if *maxPar < 1 || *workers < 1 {
		return withCode(exitInvalid, fmt.Errorf("--max-parallel %d, --workers %d: want at least 1", *maxPar, *workers))
	}
	sel, err := ff.load(dir, stderr)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return withCode(exitError, fmt.Errorf("find the jetflow binary to run each pipeline with: %w", err))
	}
	fr := &folderRun{folderSelection: sel, stores: &stateStores{}, reportDir: *reportDir,
		maxPar: *maxPar, wait: *wait, pollEvery: min(max(*wait/100, 200*time.Millisecond), 5*time.Second), stderr: stderr, executable: exe}
	defer fr.stores.close()
	if _, err := c.logger(io.Discard); err != nil {
		return err
	}
	fr.logFlags = c
	fr.childArgs = []string{"--progress", "none", "--workers", strconv.Itoa(*workers), "--log-format", c.logFormat, "--log-level", c.logLevel}
	if ff.force {
		fr.childArgs = append(fr.childArgs, "--force")
	}
	if ff.shard != "" {
		fr.childArgs = append(fr.childArgs, "--shard", ff.shard)
	}
	if *metricsPush != "" {
		fr.childArgs = append(fr.childArgs, "--metrics-push", *metricsPush)
	}
	fr.metricsDir = *metricsDir
	if fr.metricsDir != "" {
		if err := os.MkdirAll(fr.metricsDir, 0o755); err != nil {
			return withCode(exitError, fmt.Errorf("--metrics-dir: %w", err))
		}
	}
	if fr.reportDir == "" {
		if fr.reportDir, err = os.MkdirTemp("", "jetflow-reports-"); err != nil {
			return withCode(exitError, err)
		}
		defer os.RemoveAll(fr.reportDir)
	} else if err := os.MkdirAll(fr.reportDir, 0o755); err != nil {
		return withCode(exitError, fmt.Errorf("--report-dir: %w", err))
	}

	outcomes := fr.run(ctx)
	printOutcomes(stdout, outcomes)
	if *reportDir != "" {
		if err := writeJSON(filepath.Join(*reportDir, "summary.json"), outcomes, redactorOf(stderr)); err != nil {
			fmt.Fprintf(stderr, "jetflow run: could not write the summary: %v\n", err)
		}
	}
	if *summaryMD != "" {
		if err := appendMarkdownSummary(*summaryMD, dir, outcomes, redactorOf(stderr)); err != nil {
			fmt.Fprintf(stderr, "jetflow run: could not write --summary-markdown: %v\n", err)
		}
	}
	if ctx.Err() != nil {
		return withCode(exitInterrupted, errors.New("interrupted: pipelines in flight were stopped; run the same command again to finish"))
	}
	return folderError(outcomes)
}

// folderRuns are the run instances of p that one folder run loads: the instance --run names, or, for a pipeline
// with shorter instances, every one of them within it; without --run, p's last complete instance.
func folderRuns(p *pipelines.Pipeline, label string) ([]stage.RunInstance, error) {
	if label == "" {
		return []stage.RunInstance{p.PreviousRun(time.Now())}, nil
	}
	r, err := p.ParseRun(label)
	if err == nil {
		return []stage.RunInstance{r}, nil
	}
	now := time.Now().In(p.Location)
	switch label { // the days a daily pipeline knows by name, for pipelines with shorter run instances
	case "today":
		label = now.Format(time.DateOnly)
	case "yesterday":
		label = now.AddDate(0, 0, -1).Format(time.DateOnly)
	}
	if day, derr := time.ParseInLocation(time.DateOnly, label, p.Location); derr == nil && p.RunInstance.Every.D() < 24*time.Hour {
		return p.RunsOverlapping(day, day.AddDate(0, 0, 1)), nil
	}
	return nil, fmt.Errorf("--run: %w", err)
}

// run starts every selected pipeline once its upstreams ended, at most maxPar at once, and returns how each ended.
func (fr *folderRun) run(ctx context.Context) []pipelineOutcome {
	done := map[string]chan struct{}{}
	for _, p := range fr.selected {
		done[p.Name] = make(chan struct{})
	}
	outcomes := make([]pipelineOutcome, len(fr.selected))
	index := map[string]int{}
	for i, p := range fr.selected {
		index[p.Name] = i
	}
	slots := make(chan struct{}, fr.maxPar)
	var wg sync.WaitGroup
	for i, p := range fr.selected {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[p.Name])
			out := pipelineOutcome{Pipeline: p.Name, Runs: runLabels(fr.runs[p.Name])}
			for _, dep := range p.DependsOn {
				ch, inRun := done[dep]
				if !inRun {
					continue
				}
				<-ch
				if up := outcomes[index[dep]]; up.Status != "ok" && out.Reason == "" {
					out.Status, out.Reason = "skipped", fmt.Sprintf("upstream %s %s", dep, up.Status)
				}
			}
			if out.Status == "" {
				if reason := fr.waitForInputs(ctx, p); reason != "" {
					out.Status, out.ExitCode, out.Reason = "skipped", exitFailed, reason
				}
			}
			if out.Status == "" {
				select {
				case slots <- struct{}{}:
					fr.runPipeline(ctx, p, &out)
					<-slots
				case <-ctx.Done():
					out.Status, out.ExitCode, out.Reason = "skipped", exitInterrupted, "interrupted before it started"
				}
			}
			outcomes[i] = out
		}()
	}
	wg.Wait()
	return outcomes
}

func runLabels(runs []stage.RunInstance) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.Label
	}
	return out
}

// waitForInputs waits, up to --wait, until every run instance of p's upstreams that overlaps one of p's run
// instances is complete; it returns why p cannot run, or "".
func (fr *folderRun) waitForInputs(ctx context.Context, p *pipelines.Pipeline) string {
	deadline := time.Now().Add(fr.wait)
	for {
		missing, err := fr.missingInputs(ctx, p, fr.stores, nil, true)
		if err != nil {
			return err.Error()
		}
		if len(missing) == 0 {
			return ""
		}
		if !time.Now().Before(deadline) {
			if fr.wait > 0 {
				return fmt.Sprintf("input %s not complete after waiting %s", missing[0], fr.wait)
			}
			return fmt.Sprintf("input %s not complete (run it first, or give --wait)", missing[0])
		}
		select {
		case <-time.After(fr.pollEvery):
		case <-ctx.Done():
			return "interrupted while waiting for input " + missing[0].String()
		}
	}
}

// upstreamRun is a run instance of an upstream pipeline.
type upstreamRun struct {
	Pipeline string `json:"pipeline"`
	Run      string `json:"run"`
}

func (u upstreamRun) String() string { return u.Pipeline + " " + u.Run }

// missingInputs lists the upstream run instances p needs that are not complete; with first, it stops at the first
// one. Upstreams for which skip says so are not looked at (plan: those that will run first).
func (sel *folderSelection) missingInputs(ctx context.Context, p *pipelines.Pipeline, ss *stateStores, skip func(string) bool, first bool) ([]upstreamRun, error) {
	var missing []upstreamRun
	for _, dep := range p.DependsOn {
		if skip != nil && skip(dep) {
			continue
		}
		up := sel.graph.Pipeline(dep)
		store, err := ss.get(ctx, up)
		if err != nil {
			return nil, fmt.Errorf("open the state store of upstream %s: %w", dep, err)
		}
		for _, r := range sel.runs[p.Name] {
			for _, ur := range up.RunsOverlapping(r.Start, r.End) {
				ok := false
				if store != nil {
					if ok, _, err = engine.Completed(ctx, store, up.Name, ur.Label); err != nil {
						return nil, fmt.Errorf("read the state of upstream %s: %w", dep, err)
					}
				}
				if u := (upstreamRun{dep, ur.Label}); !ok && !slices.Contains(missing, u) {
					if missing = append(missing, u); first {
						return missing, nil
					}
				}
			}
		}
	}
	return missing, nil
}

// stateStores opens each state store that a folder's pipelines name once, for the graph runner's reads. With
// readOnly, a SQLite file that does not exist is not created: get returns nil, a store with nothing in it.
type stateStores struct {
	readOnly bool
	mu       sync.Mutex
	open     map[stores.Config]state.Store
}

func (ss *stateStores) get(ctx context.Context, p *pipelines.Pipeline) (state.Store, error) {
	cfg := stores.Config{Type: p.State.Type, Path: p.State.Path, DSN: p.State.DSN.Reveal(), Schema: p.State.Schema}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s, ok := ss.open[cfg]; ok {
		return s, nil
	}
	if ss.readOnly && cfg.Type == "sqlite" {
		if _, err := os.Stat(cfg.Path); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	s, err := stores.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if ss.open == nil {
		ss.open = map[stores.Config]state.Store{}
	}
	ss.open[cfg] = s
	return s, nil
}

func (ss *stateStores) close() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, s := range ss.open {
		s.Close()
	}
	ss.open = nil
}

// runPipeline runs each of p's run instances in a child process of this binary: a pipeline that runs out of
// memory or crashes takes no other pipeline with it, and each keeps the exit codes and reports of `jetflow run
// FILE`. Its log lines reach stderr prefixed with its name.
func (fr *folderRun) runPipeline(ctx context.Context, p *pipelines.Pipeline, out *pipelineOutcome) {
	start := time.Now()
	defer func() { out.Duration = time.Since(start) }()
	for _, r := range fr.runs[p.Name] {
		report := filepath.Join(fr.reportDir, p.Name+"-"+r.Label+".json")
		args := append([]string{"run", p.File, "--run", r.Label, "--report", report}, fr.childArgs...)
		if fr.metricsDir != "" {
			args = append(args, "--metrics-file", filepath.Join(fr.metricsDir, p.Name+".prom"))
		}
		if deps := fr.downstream(p.Name); len(deps) > 0 { // named in its failure notification
			args = append(args, "--dependents", strings.Join(deps, ","))
		}
		cmd := exec.CommandContext(ctx, fr.executable, args...)
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) } // let it abort cleanly
		cmd.WaitDelay = time.Minute
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		prefix := &linePrefixer{w: fr.stderr, mu: &fr.stderrMu, prefix: p.Name + " | "}
		cmd.Stderr = prefix
		err := cmd.Run()
		prefix.flush()
		code := 0
		if err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				out.Status, out.ExitCode, out.Reason = "failed", exitError, fmt.Sprintf("could not start jetflow: %v", err)
				return
			}
			code = ee.ExitCode()
			if code < 0 { // killed by a signal
				code = exitError
				if ctx.Err() == nil { // not by this run's own interrupt
					fr.alertDied(ctx, p, r.Label, ee.ProcessState)
				}
			}
		}
		var rep struct {
			Rows  int64  `json:"rows"`
			Error string `json:"error"`
		}
		if b, rerr := os.ReadFile(report); rerr == nil {
			_ = json.Unmarshal(b, &rep)
		}
		out.Rows += rep.Rows
		if code != exitOK {
			out.Status, out.ExitCode = "failed", code
			out.Reason = fmt.Sprintf("run %s: exit %d: %s", r.Label, code, cmp.Or(firstLine(rep.Error), exitMeanings[code]))
			return
		}
	}
	out.Status = "ok"
}

// alertDied stands in for a pipeline run whose process was killed (the kernel's OOM killer, a SIGKILL) before it
// could record its outcome and send its own failure notification: the runner records and sends them instead, so
// a crash alerts as a failure does.
func (fr *folderRun) alertDied(ctx context.Context, p *pipelines.Pipeline, label string, ps *os.ProcessState) {
	log, err := fr.logFlags.logger(&linePrefixer{w: fr.stderr, mu: &fr.stderrMu, prefix: p.Name + " | "})
	if err != nil { // checked when the run started
		log = slog.New(slog.DiscardHandler)
	}
	store, err := fr.stores.get(ctx, p)
	if err != nil {
		log.Warn("run outcome not recorded: recovery notifications and check-freshness will not see this run", "err", err)
		store = nil
	}
	runErr := fmt.Errorf("the process of jetflow run %s --run %s ended by %s before it could report: look for the kernel's OOM killer (raise the memory limit or lower --workers) or whoever sent the signal",
		filepath.Base(p.File), label, ps)
	alertRun(ctx, &loaded{p: p}, store, label, nil, runErr, exitError, fr.downstream(p.Name), log, nil)
}

// downstream names the selected pipelines that depend on name, directly or not: those this run skips when name
// fails, in run order.
func (fr *folderRun) downstream(name string) []string {
	below := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		for _, d := range fr.graph.Dependents(n) {
			if !below[d] {
				below[d] = true
				walk(d)
			}
		}
	}
	walk(name)
	var out []string
	for _, p := range fr.selected {
		if below[p.Name] {
			out = append(out, p.Name)
		}
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}

// linePrefixer writes whole lines to w under mu, each with prefix: the logs of pipelines running side by side
// stay readable.
type linePrefixer struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
	buf    []byte
}

func (l *linePrefixer) Write(b []byte) (int, error) {
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		l.emit(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
}

func (l *linePrefixer) flush() {
	if len(l.buf) > 0 {
		l.emit(append(l.buf, '\n'))
		l.buf = nil
	}
}

func (l *linePrefixer) emit(line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s%s", l.prefix, line)
}

// folderError is the folder run's exit: the gravest of its pipelines' codes (invalid, then unreachable, then
// failed partitions), so a scheduler sees the worst thing that happened, after every runnable pipeline ran.
func folderError(outcomes []pipelineOutcome) error {
	rank := map[int]int{exitOK: 0, exitInterrupted: 1, exitFailed: 2, exitError: 3, exitInvalid: 4}
	worst, failed, skipped := exitOK, 0, 0
	for _, o := range outcomes {
		if rank[o.ExitCode] > rank[worst] {
			worst = o.ExitCode
		}
		switch o.Status {
		case "failed":
			failed++
		case "skipped":
			skipped++
		}
	}
	if worst == exitOK {
		return nil
	}
	return withCode(worst, fmt.Errorf("%d of %d pipeline(s) failed and %d were skipped; see the table above", failed, len(outcomes), skipped))
}

func printOutcomes(w io.Writer, outcomes []pipelineOutcome) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PIPELINE\tSTATUS\tRUNS\tROWS\tTIME\tREASON")
	for _, o := range outcomes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", o.Pipeline, o.Status, runsText(o.Runs), o.Rows, o.Duration.Round(time.Millisecond), o.Reason)
	}
	tw.Flush()
}

// runsText shows a pipeline's run instances: one label, or the first and last and how many.
func runsText(runs []string) string {
	switch len(runs) {
	case 0:
		return "-"
	case 1:
		return runs[0]
	}
	return fmt.Sprintf("%s … %s (%d)", runs[0], runs[len(runs)-1], len(runs))
}

// appendMarkdownSummary appends the run's table in Markdown: what GitHub Actions shows on the run's page.
func appendMarkdownSummary(path, dir string, outcomes []pipelineOutcome, red *stage.Redactor) error {
	var b strings.Builder
	ok := 0
	for _, o := range outcomes {
		if o.Status == "ok" {
			ok++
		}
	}
	fmt.Fprintf(&b, "### jetflow run %s: %d of %d pipeline(s) ok\n\n", dir, ok, len(outcomes))
	b.WriteString("| pipeline | status | runs | rows | time | reason |\n|---|---|---|---:|---:|---|\n")
	icon := map[string]string{"ok": "✅ ok", "failed": "❌ failed", "skipped": "⏭️ skipped"}
	for _, o := range outcomes {
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s |\n", o.Pipeline, icon[o.Status], runsText(o.Runs), o.Rows,
			o.Duration.Round(time.Millisecond), strings.ReplaceAll(o.Reason, "|", `\|`))
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(red.Redact(b.String()) + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
