package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/pipelines"
)

// folderPlan is what `jetflow plan DIR` prints: the folder's graph, and what `jetflow run DIR` with the same
// flags would do with each selected pipeline's run instances.
type folderPlan struct {
	Folder    string         `json:"folder"`
	Run       string         `json:"run,omitempty"` // as given; "" for each pipeline's last complete instance
	Select    []string       `json:"select,omitempty"`
	Shard     string         `json:"shard,omitempty"`
	Force     bool           `json:"force,omitempty"`
	Pipelines []planPipeline `json:"pipelines"` // every pipeline of the folder, in dependency order
	Edges     []planEdge     `json:"edges"`
}

type planEdge struct {
	From string `json:"from"` // the upstream
	To   string `json:"to"`
}

type planPipeline struct {
	Pipeline  string   `json:"pipeline"`
	File      string   `json:"file"`
	Level     int      `json:"level"` // 0: depends on nothing; else one more than its deepest input
	Tags      []string `json:"tags"`
	DependsOn []string `json:"depends_on"`
	Selected  bool     `json:"selected"`
	// For a selected pipeline: up-to-date (every run instance committed), run, or skipped (with the reason and the
	// upstream run instances it lacks).
	Status  string        `json:"status,omitempty"`
	Reason  string        `json:"reason,omitempty"`
	Missing []upstreamRun `json:"missing,omitempty"`
	Runs    []planRun     `json:"runs,omitempty"`
}

type planRun struct {
	Run   string    `json:"run"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// committed (a run leaves it as it is), load, reload (committed, loaded again with --force), or skipped.
	State string `json:"state"`
}

func cmdPlanFolder(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plan", "plan DIR [--select SEL]... [--run RUN] [--shard I/N] [--force] [--format text|json]",
		`  jetflow plan pipelines/ --run 2026-11-22                   # the graph, and what each pipeline's run would do
  jetflow plan pipelines/ --select tag:nightly --format json | jq '.pipelines[] | select(.status == "skipped")'
`, stderr)
	var ff folderFlags
	ff.register(fs)
	format := fs.String("format", "text", "output format: text or json")
	dir, err := ff.parse(fs, args)
	if err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return withCode(exitInvalid, fmt.Errorf("--format %s: want text or json", *format))
	}
	sel, err := ff.load(dir, stderr)
	if err != nil {
		return err
	}
	// Read-only: a state store that does not exist yet is read as empty, not created.
	ss := &stateStores{readOnly: true}
	defer ss.close()
	plan, err := sel.plan(ctx, ss, ff)
	if err != nil {
		return withCode(exitError, err)
	}
	plan.Folder = dir
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(plan)
	}
	printFolderPlan(stdout, plan)
	return nil
}

// plan works out, from the state stores alone, what a folder run would do: a selected upstream is taken to
// complete its run instances first, one left out must have completed them already.
func (sel *folderSelection) plan(ctx context.Context, ss *stateStores, ff folderFlags) (*folderPlan, error) {
	plan := &folderPlan{Run: ff.run, Select: ff.selectors, Shard: ff.shard, Force: ff.force, Edges: []planEdge{}}
	level := map[string]int{}
	status := map[string]string{} // selected pipelines planned so far → their status
	for _, p := range sel.selected {
		status[p.Name] = ""
	}
	order := sel.graph.Order()
	for _, p := range order {
		for _, d := range p.DependsOn {
			level[p.Name] = max(level[p.Name], level[d]+1)
		}
	}
	// By level, then by file: still every pipeline after its inputs, and the order a reader expects.
	slices.SortStableFunc(order, func(a, b *pipelines.Pipeline) int {
		return cmp.Or(level[a.Name]-level[b.Name], strings.Compare(a.File, b.File))
	})
	for _, p := range order {
		pp := planPipeline{Pipeline: p.Name, File: p.File, Level: level[p.Name], Tags: nonNil(p.Tags), DependsOn: nonNil(p.DependsOn)}
		for _, d := range p.DependsOn {
			plan.Edges = append(plan.Edges, planEdge{From: d, To: p.Name})
		}
		if _, ok := status[p.Name]; ok {
			pp.Selected = true
			if err := sel.planPipeline(ctx, ss, p, &pp, status, ff.force); err != nil {
				return nil, err
			}
			status[p.Name] = pp.Status
		}
		plan.Pipelines = append(plan.Pipelines, pp)
	}
	return plan, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (sel *folderSelection) planPipeline(ctx context.Context, ss *stateStores, p *pipelines.Pipeline, pp *planPipeline,
	status map[string]string, force bool) error {
	for _, d := range p.DependsOn {
		if status[d] == "skipped" {
			pp.Status, pp.Reason = "skipped", "upstream "+d+" skipped"
			break
		}
	}
	if pp.Status == "" {
		missing, err := sel.missingInputs(ctx, p, ss, func(dep string) bool { _, selected := status[dep]; return selected }, false)
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			pp.Status, pp.Missing = "skipped", missing
			pp.Reason = fmt.Sprintf("%d input run instance(s) not complete (run them first, or give --wait)", len(missing))
		}
	}
	store, err := ss.get(ctx, p)
	if err != nil {
		return fmt.Errorf("open the state store of %s: %w", p.Name, err)
	}
	load := false
	for _, r := range sel.runs[p.Name] {
		done := false
		if store != nil {
			if done, _, err = engine.Completed(ctx, store, p.Name, r.Label); err != nil {
				return fmt.Errorf("read the state of %s: %w", p.Name, err)
			}
		}
		state := "load"
		switch {
		case done && !force:
			state = "committed"
		case pp.Status == "skipped":
			state = "skipped"
		case done:
			state = "reload"
		}
		load = load || state == "load" || state == "reload"
		pp.Runs = append(pp.Runs, planRun{Run: r.Label, Start: r.Start, End: r.End, State: state})
	}
	switch {
	case pp.Status != "":
	case load:
		pp.Status = "run"
	default:
		pp.Status = "up-to-date"
	}
	return nil
}

func printFolderPlan(w io.Writer, plan *folderPlan) {
	selected, toRun, upToDate, skipped, instances := 0, 0, 0, 0, 0
	for _, pp := range plan.Pipelines {
		if !pp.Selected {
			continue
		}
		selected++
		switch pp.Status {
		case "run":
			toRun++
		case "up-to-date":
			upToDate++
		case "skipped":
			skipped++
		}
		for _, r := range pp.Runs {
			if r.State == "load" || r.State == "reload" {
				instances++
			}
		}
	}
	fmt.Fprintf(w, "folder %s: %d pipeline(s), %d selected", plan.Folder, len(plan.Pipelines), selected)
	if len(plan.Select) > 0 {
		fmt.Fprintf(w, " by --select %s", strings.Join(plan.Select, " --select "))
	}
	fmt.Fprintf(w, "; run %s", cmp.Or(plan.Run, "(each pipeline's last complete one)"))
	if plan.Shard != "" {
		fmt.Fprintf(w, ", shard %s (each pipeline loads its share of the partitions)", plan.Shard)
	}
	if plan.Force {
		fmt.Fprint(w, ", --force")
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "\ngraph:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for lvl := 0; ; lvl++ {
		var names []string
		for _, pp := range plan.Pipelines {
			if pp.Level == lvl {
				name := pp.Pipeline
				if len(pp.Tags) > 0 {
					name += " [" + strings.Join(pp.Tags, ", ") + "]"
				}
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			break
		}
		slices.Sort(names)
		fmt.Fprintf(tw, "  level %d\t%s\n", lvl, strings.Join(names, ", "))
	}
	edges := make([]string, len(plan.Edges))
	for i, e := range plan.Edges {
		edges[i] = e.From + " → " + e.To
	}
	fmt.Fprintf(tw, "  edges\t%s\n", cmp.Or(strings.Join(edges, ", "), "(none)"))
	tw.Flush()

	fmt.Fprintln(w, "\nwhat a run would do:")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  LEVEL\tPIPELINE\tSTATUS\tRUN INSTANCES")
	var reasons []string
	for _, pp := range plan.Pipelines {
		if !pp.Selected {
			continue
		}
		var byState []string
		for _, st := range []string{"committed", "load", "reload", "skipped"} {
			var labels []string
			for _, r := range pp.Runs {
				if r.State == st {
					labels = append(labels, r.Run)
				}
			}
			if len(labels) > 0 {
				byState = append(byState, st+" "+labelList(labels))
			}
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", pp.Level, pp.Pipeline, pp.Status, strings.Join(byState, "; "))
		if pp.Status == "skipped" {
			reason := "  " + pp.Pipeline + ": " + pp.Reason
			if len(pp.Missing) > 0 {
				missing := make([]string, len(pp.Missing))
				for i, m := range pp.Missing {
					missing[i] = m.String()
				}
				reason += "; missing: " + strings.Join(missing, ", ")
			}
			reasons = append(reasons, reason)
		}
	}
	tw.Flush()
	if len(reasons) > 0 {
		fmt.Fprintf(w, "\nskipped:\n%s\n", strings.Join(reasons, "\n"))
	}
	fmt.Fprintf(w, "\na run would load %d run instance(s) of %d pipeline(s); %d up to date, %d skipped\n",
		instances, toRun, upToDate, skipped)
}

// labelList shows run instance labels: all of them when few, else the first two, the last and how many.
func labelList(labels []string) string {
	if len(labels) <= 4 {
		return strings.Join(labels, ", ")
	}
	return fmt.Sprintf("%s, %s, …, %s (%d)", labels[0], labels[1], labels[len(labels)-1], len(labels))
}
