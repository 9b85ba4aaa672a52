package pipelines

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/stage"
)

// Graph is a folder of pipelines ordered by depends_on.
type Graph struct {
	nodes      []*Pipeline // in the order given (sorted by file)
	byName     map[string]*Pipeline
	dependents map[string][]string // name → the pipelines that depend on it
}

// NewGraph checks the pipelines' depends_on (every name known, no pipeline on itself, no cycle) and returns the
// graph. Errors are positioned at the depends_on entry at fault.
func NewGraph(ps []*Pipeline) (*Graph, error) {
	g := &Graph{nodes: ps, byName: make(map[string]*Pipeline, len(ps)), dependents: map[string][]string{}}
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		g.byName[p.Name] = p
		names = append(names, p.Name)
	}
	var errs ErrorList
	for _, p := range ps {
		sink := p.newSink()
		seen := map[string]bool{}
		for i, dep := range p.DependsOn {
			n := p.vals[fmt.Sprintf("depends_on[%d]", i)]
			switch {
			case dep == p.Name:
				sink.at(n, "depends_on: pipeline %s cannot depend on itself", dep)
			case seen[dep]:
				sink.at(n, "depends_on: %s is listed twice", dep)
			case g.byName[dep] == nil:
				sink.at(n, "depends_on: no pipeline is named %q in this folder%s", dep, didYouMean(dep, names, ""))
			default:
				g.dependents[dep] = append(g.dependents[dep], p.Name)
			}
			seen[dep] = true
		}
		errs = append(errs, sink.list...)
	}
	if len(errs) > 0 {
		return nil, errs.Err()
	}
	return g, g.checkCycles().Err()
}

// checkCycles reports each cycle once, at the depends_on entry of each pipeline on it that closes it.
func (g *Graph) checkCycles() ErrorList {
	const (
		unvisited = iota
		onPath
		done
	)
	mark := map[string]int{}
	var errs ErrorList
	var path []string
	var visit func(name string)
	visit = func(name string) {
		mark[name] = onPath
		path = append(path, name)
		p := g.byName[name]
		for i, dep := range p.DependsOn {
			switch mark[dep] {
			case onPath:
				cycle := append(slices.Clone(path[slices.Index(path, dep):]), dep)
				sink := p.newSink()
				sink.at(p.vals[fmt.Sprintf("depends_on[%d]", i)], "depends_on: a cycle: %s; a pipeline cannot wait for its own output",
					strings.Join(cycle, " → "))
				errs = append(errs, sink.list...)
			case unvisited:
				visit(dep)
			}
		}
		path = path[:len(path)-1]
		mark[name] = done
	}
	for _, p := range g.nodes {
		if mark[p.Name] == unvisited {
			visit(p.Name)
		}
	}
	return errs
}

// Pipeline returns the pipeline of a name, or nil.
func (g *Graph) Pipeline(name string) *Pipeline { return g.byName[name] }

// Dependents returns the names of the pipelines that depend on name directly.
func (g *Graph) Dependents(name string) []string { return g.dependents[name] }

// Select returns the pipelines the selectors name, in dependency order (every pipeline after those it depends
// on; otherwise by file). A selector is NAME, NAME+ (with everything downstream), +NAME (with everything it
// reads from), +NAME+, or tag:TAG. No selector selects every pipeline.
func (g *Graph) Select(selectors []string) ([]*Pipeline, error) {
	chosen := map[string]bool{}
	if len(selectors) == 0 {
		for _, p := range g.nodes {
			chosen[p.Name] = true
		}
	}
	var tags []string
	for _, p := range g.nodes {
		for _, t := range p.Tags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	names := make([]string, 0, len(g.nodes))
	for _, p := range g.nodes {
		names = append(names, p.Name)
	}
	for _, sel := range selectors {
		if tag, ok := strings.CutPrefix(sel, "tag:"); ok {
			found := false
			for _, p := range g.nodes {
				if slices.Contains(p.Tags, tag) {
					chosen[p.Name], found = true, true
				}
			}
			if !found {
				return nil, fmt.Errorf("--select %s: no pipeline has the tag %q%s", sel, tag, didYouMean(tag, tags, ""))
			}
			continue
		}
		name, up := strings.CutPrefix(sel, "+")
		name, down := strings.CutSuffix(name, "+")
		if g.byName[name] == nil {
			return nil, fmt.Errorf("--select %s: no pipeline is named %q%s", sel, name, didYouMean(name, names, ""))
		}
		chosen[name] = true
		if up {
			g.walk(name, func(n string) []string { return g.byName[n].DependsOn }, chosen)
		}
		if down {
			g.walk(name, func(n string) []string { return g.dependents[n] }, chosen)
		}
	}
	var out []*Pipeline
	for _, p := range g.Order() {
		if chosen[p.Name] {
			out = append(out, p)
		}
	}
	return out, nil
}

func (g *Graph) walk(name string, next func(string) []string, into map[string]bool) {
	for _, n := range next(name) {
		if !into[n] {
			into[n] = true
			g.walk(n, next, into)
		}
	}
}

// Order lists every pipeline after the pipelines it depends on; among those free to go, by file.
func (g *Graph) Order() []*Pipeline {
	placed := map[string]bool{}
	out := make([]*Pipeline, 0, len(g.nodes))
	for len(out) < len(g.nodes) {
		for _, p := range g.nodes {
			if placed[p.Name] {
				continue
			}
			ready := true
			for _, d := range p.DependsOn {
				ready = ready && placed[d]
			}
			if ready {
				placed[p.Name] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// RunsOverlapping lists the run instances of p that overlap [start, end): the instances of an upstream pipeline
// that a downstream run instance reads, or those of a pipeline that one run of a folder covers. A daily span
// gives an hourly pipeline its 24 hours, and an hourly span a daily pipeline its day.
func (p *Pipeline) RunsOverlapping(start, end time.Time) []stage.RunInstance {
	var out []stage.RunInstance
	for s := p.containing(start); s.Before(end); s = p.step(s, 1) {
		out = append(out, p.instance(s))
	}
	return out
}
