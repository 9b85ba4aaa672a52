package ui

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/state"
)

// The charts are drawn by the server as SVG, through the same html/template as the pages: no JavaScript
// library, nothing to vendor, the pages work offline and in a static copy, and every name or error placed in a
// chart is escaped like the rest of the page. These are only the geometries the templates draw.

// bar is a rectangle of a chart, with its tooltip and, optionally, the page it links to.
type bar struct {
	X, Y, W, H float64
	Class      string
	Title      string
	Href       string
}

// sparkline is the overview's small chart of a pipeline's last run instances: rows as bars, duration as a line.
type sparkline struct {
	W, H  float64
	Bars  []bar
	Line  string // polyline points of the durations
	Empty bool
}

const sparkRuns = 20

func sparkOf(pipe string, runs []*runView, now time.Time, root string) sparkline {
	sp := sparkline{W: 160, H: 28}
	runs = runs[max(len(runs)-sparkRuns, 0):]
	maxRows, maxDur := extent(runs, now)
	if sp.Empty = len(runs) == 0; sp.Empty {
		return sp
	}
	step := sp.W / float64(sparkRuns)
	var pts []string
	for i, r := range runs {
		h := max(1, float64(r.Rows)/float64(maxRows)*(sp.H-2))
		x := float64(i) * step
		sp.Bars = append(sp.Bars, bar{X: x, Y: sp.H - h, W: step - 1, H: h, Class: "st-" + r.Status(),
			Title: fmt.Sprintf("%s: %s, %s rows in %s", r.Label, r.Status(), count(r.Rows), dur(r.Duration(now))),
			Href:  runURL(root, pipe, r.Label)})
		y := sp.H - 1 - float64(r.Duration(now))/float64(maxDur)*(sp.H-2)
		pts = append(pts, num(x+step/2)+","+num(y))
	}
	sp.Line = strings.Join(pts, " ")
	return sp
}

// extent is the most rows and the longest duration of runs (at least 1 each: the charts divide by them).
func extent(runs []*runView, now time.Time) (int64, time.Duration) {
	maxRows, maxDur := int64(1), time.Duration(1)
	for _, r := range runs {
		maxRows = max(maxRows, r.Rows)
		maxDur = max(maxDur, r.Duration(now))
	}
	return maxRows, maxDur
}

// historyChart is the pipeline page's chart of run instances over time: rows, duration and failures.
type historyChart struct {
	W, H, Top, Bottom float64
	Bars              []bar // rows per instance
	Fails             []bar // a mark under each instance with failed partitions
	Line              string
	Points            []bar // duration points, with tooltips
	MaxRows           string
	MaxDur            string
	First, Last       string
	LastX             float64
	Empty             bool
}

const historyRuns = 90

func historyOf(pipe string, runs []*runView, now time.Time, root string) historyChart {
	c := historyChart{W: 900, H: 200, Top: 16, Bottom: 36}
	runs = runs[max(len(runs)-historyRuns, 0):]
	maxRows, maxDur := extent(runs, now)
	if c.Empty = len(runs) == 0; c.Empty {
		return c
	}
	c.MaxRows, c.MaxDur = count(maxRows), dur(maxDur)
	c.First, c.Last = runs[0].Label, runs[len(runs)-1].Label
	plot := c.H - c.Top - c.Bottom
	step := c.W / float64(max(len(runs), 10))
	var pts []string
	for i, r := range runs {
		x := float64(i) * step
		h := max(1, float64(r.Rows)/float64(maxRows)*plot)
		title := fmt.Sprintf("%s: %s; %s rows, %s; %d partition(s), %d failed, %d retried",
			r.Label, r.Status(), count(r.Rows), dur(r.Duration(now)), len(r.Parts), r.Failed, r.Retried)
		href := runURL(root, pipe, r.Label)
		c.Bars = append(c.Bars, bar{X: x + 1, Y: c.Top + plot - h, W: max(step-2, 1), H: h, Class: "st-" + r.Status(), Title: title, Href: href})
		if r.Failed > 0 {
			c.Fails = append(c.Fails, bar{X: x + 1, Y: c.Top + plot + 4, W: max(step-2, 1), H: 6, Class: "fail",
				Title: fmt.Sprintf("%s: %d partition(s) failed", r.Label, r.Failed), Href: href})
		}
		y := c.Top + plot - float64(r.Duration(now))/float64(maxDur)*plot
		pts = append(pts, num(x+step/2)+","+num(y))
		c.Points = append(c.Points, bar{X: x + step/2, Y: y, Title: title, Href: href})
	}
	c.Line = strings.Join(pts, " ")
	c.LastX = float64(len(runs)) * step
	return c
}

// gantt is the run instance's timeline: one row per worker slot, one bar per attempt at a partition from its
// claim to its outcome, on the row of the worker that made it.
type gantt struct {
	W, H, Left float64
	Lanes      []ganttLane
	Bars       []bar
	Paths      []ganttPath // instead of Bars above ganttPathsAbove attempts
	Ticks      []tick
	Span       string
	Drawn      int // partitions on the timeline
	Earlier    int // attempts before a partition's last, on the timeline too
	Missing    int // partitions without a start time (recorded by an older jetflow)
}

// ganttPath draws every bar of one class as one SVG path: a browser lays out one element instead of thousands.
type ganttPath struct {
	Class, D string
	N        int // bars drawn
}

// ganttPathsAbove is how many bars a timeline draws one by one, each with its tooltip; above, the bars of a
// class become one path and lose their tooltips (the table below has every partition).
const ganttPathsAbove = 1000

type ganttLane struct {
	Y, H  float64
	Label string
	Odd   bool
}

type tick struct {
	X     float64
	Label string
}

const (
	ganttLaneH = 14.0
	ganttMaxH  = 6000.0
)

// ganttOf lays the partitions out by worker: the state store records which process (owner: host:pid) and which
// of its workers claimed a partition's last attempt, and each worker gets a row. A store written by an older
// jetflow has no worker numbers: there, partitions whose times overlap ran on different workers, so each goes to
// the first free row of its process, as many rows as the process ran partitions at once.
func ganttOf(parts []partView, tries map[string][]state.Attempt, now time.Time) gantt {
	g := gantt{W: 1100, Left: 180}
	type item struct {
		i          int
		start, end time.Time
		try        *state.Attempt // an attempt before the partition's last; nil for the last
	}
	// A row group is a worker of a process when the store recorded it, else the whole process (packed below).
	type group struct {
		owner  string
		worker int
	}
	byOwner := map[group][]item{}
	var t0, t1 time.Time
	for i, p := range parts {
		if p.StartedAt.IsZero() {
			g.Missing++
			continue
		}
		end := p.StartedAt.Add(p.Duration)
		k := group{p.Owner, p.Worker}
		byOwner[k] = append(byOwner[k], item{i, p.StartedAt, end, nil})
		if t0.IsZero() || p.StartedAt.Before(t0) {
			t0 = p.StartedAt
		}
		t1 = maxTime(t1, end)
		// The attempts before the last, on the rows of the workers that made them.
		for _, a := range tries[p.ID] {
			if a.Number >= p.Attempts || a.StartedAt.IsZero() {
				continue
			}
			end := a.FinishedAt
			if end.Before(a.StartedAt) {
				end = a.StartedAt
			}
			k := group{a.Owner, a.Worker}
			byOwner[k] = append(byOwner[k], item{i, a.StartedAt, end, &a})
			if a.StartedAt.Before(t0) {
				t0 = a.StartedAt
			}
			t1 = maxTime(t1, end)
		}
	}
	if len(byOwner) == 0 {
		return g
	}
	span := max(t1.Sub(t0), time.Millisecond)
	g.Span = dur(span)
	scale := (g.W - g.Left - 40) / float64(span)
	owners := slices.SortedFunc(maps.Keys(byOwner), func(a, b group) int {
		return cmp.Or(strings.Compare(a.owner, b.owner), a.worker-b.worker)
	})
	lane := 0
	type bar0 struct {
		item
		lane int
	}
	var placed []bar0
	for _, o := range owners {
		items := byOwner[o]
		slices.SortFunc(items, func(a, b item) int { return cmp.Or(a.start.Compare(b.start), a.i-b.i) })
		var ends []time.Time
		for _, it := range items {
			slot := -1
			for k, e := range ends {
				if !e.After(it.start) {
					slot = k
					break
				}
			}
			if slot < 0 {
				slot = len(ends)
				ends = append(ends, it.end)
			}
			ends[slot] = it.end
			placed = append(placed, bar0{it, lane + slot})
		}
		for k := range ends {
			label := ""
			switch {
			case k == 0 && o.worker > 0:
				label = fmt.Sprintf("%s #%d", o.owner, o.worker)
			case k == 0:
				label = cmp.Or(o.owner, "(no worker)")
			}
			g.Lanes = append(g.Lanes, ganttLane{Y: float64(lane+k) * ganttLaneH, H: ganttLaneH, Label: label, Odd: (lane+k)%2 == 1})
		}
		lane += len(ends)
	}
	laneH := ganttLaneH
	if float64(lane)*laneH > ganttMaxH {
		laneH = ganttMaxH / float64(lane)
		for k := range g.Lanes {
			g.Lanes[k].Y, g.Lanes[k].H = float64(k)*laneH, laneH
		}
	}
	for _, pl := range placed {
		p := parts[pl.i]
		x := g.Left + float64(pl.start.Sub(t0))*scale
		w := max(float64(pl.end.Sub(pl.start))*scale, 1.5)
		var class, title string
		if a := pl.try; a != nil {
			// An earlier attempt: "try" rather than "part", so that the partitions on the timeline count once.
			class = "try st-" + string(a.Status)
			title = fmt.Sprintf("#%d %s: attempt %d %s, %s", p.Index, p.Key, a.Number, a.Status, dur(pl.end.Sub(pl.start)))
			if a.Cause != "" {
				title += ": " + a.Class + ": " + firstLine(a.Cause)
			}
			g.Earlier++
		} else {
			class = "part st-" + p.StatusText()
			if p.Attempts > 1 {
				class += " retried"
			}
			title = fmt.Sprintf("#%d %s: %s, attempt %d, %s rows, %s", p.Index, p.Key, p.StatusText(), p.Attempts, count(p.Rows), dur(p.Duration))
			parts[pl.i].Row = pl.lane
			g.Drawn++
		}
		g.Bars = append(g.Bars, bar{X: x, Y: float64(pl.lane)*laneH + 1, W: w, H: max(laneH-2, 1), Class: class, Title: title})
	}
	if len(g.Bars) > ganttPathsAbove {
		g.Paths = pathsOf(g.Bars)
		g.Bars = nil
	}
	g.H = float64(lane)*laneH + 20
	for k := 0; k <= 5; k++ {
		g.Ticks = append(g.Ticks, tick{X: g.Left + float64(k)/5*(g.W-g.Left-40), Label: "+" + dur(span*time.Duration(k)/5)})
	}
	return g
}

// graphView is the folder's dependency graph: pipelines in columns by depth, edges from input to dependent.
type graphView struct {
	W, H  float64
	Nodes []graphNode
	Edges []string // path data
}

type graphNode struct {
	X, Y, W, H float64
	Name       string
	Href       string
	Class      string
	Title      string
}

func graphOf(pipes []*pipeInfo, status map[string]string, root string, connected bool) graphView {
	const colW, rowH, nodeW, nodeH = 220.0, 44.0, 180.0, 28.0
	depth := map[string]int{}
	byName := map[string]*pipeInfo{}
	for _, p := range pipes {
		byName[p.Name] = p
	}
	var depthOf func(string, int) int
	depthOf = func(n string, guard int) int {
		if d, ok := depth[n]; ok {
			return d
		}
		d := 0
		if p := byName[n]; p != nil && connected && guard < len(pipes) {
			for _, up := range p.DependsOn {
				if byName[up] != nil {
					d = max(d, depthOf(up, guard+1)+1)
				}
			}
		}
		depth[n] = d
		return d
	}
	rows := map[int]int{}
	pos := map[string]graphNode{}
	g := graphView{}
	for _, p := range pipes {
		d := depthOf(p.Name, 0)
		r := rows[d]
		rows[d]++
		st := cmp.Or(status[p.Name], "never")
		n := graphNode{X: 10 + float64(d)*colW, Y: 10 + float64(r)*rowH, W: nodeW, H: nodeH, Name: p.Name,
			Href: pipeURL(root, p.Name), Class: "node st-" + st, Title: p.Name + ": " + st}
		pos[p.Name] = n
		g.Nodes = append(g.Nodes, n)
		g.W = max(g.W, n.X+nodeW+10)
		g.H = max(g.H, n.Y+nodeH+10)
	}
	if connected {
		for _, p := range pipes {
			to := pos[p.Name]
			for _, up := range p.DependsOn {
				from, ok := pos[up]
				if !ok {
					continue
				}
				x1, y1 := from.X+from.W, from.Y+from.H/2
				x2, y2 := to.X-6, to.Y+to.H/2
				mid := (x1 + x2) / 2
				g.Edges = append(g.Edges, fmt.Sprintf("M%s %s C%s %s %s %s %s %s", num(x1), num(y1), num(mid), num(y1), num(mid), num(y2), num(x2), num(y2)))
			}
		}
	}
	return g
}

func pathsOf(bars []bar) []ganttPath {
	byClass := map[string]*strings.Builder{}
	n := map[string]int{}
	for _, b := range bars {
		d := byClass[b.Class]
		if d == nil {
			d = &strings.Builder{}
			byClass[b.Class] = d
		}
		fmt.Fprintf(d, "M%s %sh%sv%sh-%sz", num(b.X), num(b.Y), num(b.W), num(b.H), num(b.W))
		n[b.Class]++
	}
	var out []ganttPath
	for _, c := range slices.Sorted(maps.Keys(byClass)) {
		out = append(out, ganttPath{Class: c, D: byClass[c].String(), N: n[c]})
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
