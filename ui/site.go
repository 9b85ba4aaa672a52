// Package ui is `jetflow ui`: read-only web pages of a folder's pipelines, their run instances, partitions and
// freshness, made from the pipeline files, their state stores (SQLite or PostgreSQL) and the run reports. The
// pages are rendered on the server with html/template (contextual escaping: a pipeline name, an error or a
// partition key is text, never markup), the charts are SVG drawn by the same templates, and the stylesheet and
// the few lines of script that refresh a page while a run goes on are embedded: the binary serves everything
// and needs no network. The same pages are written as static files by WriteStatic.
package ui

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/internal/humanize"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Site makes the pages of one folder of pipelines.
type Site struct {
	opts    Options
	red     *stage.Redactor
	stores  storeCache
	reports *reportIndex
	tmpl    *template.Template
}

// New returns the site of opts.Dir. Nothing is read until a page is asked for.
func New(opts Options) (*Site, error) {
	if opts.Redactor == nil {
		opts.Redactor = stage.NewRedactor()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	t, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return &Site{opts: opts, red: opts.Redactor, reports: &reportIndex{dir: opts.ReportDir}, tmpl: t}, nil
}

// Close closes the state stores the pages opened.
func (s *Site) Close() error {
	s.stores.close()
	return nil
}

func (s *Site) now() time.Time { return s.opts.Now() }

var funcs = template.FuncMap{
	"count":     count,
	"bytes":     humanize.Bytes,
	"dur":       dur,
	"ts":        ts,
	"rate":      rate,
	"pipeURL":   pipeURL,
	"runURL":    runURL,
	"short":     func(s string) string { return s[:min(len(s), 12)] },
	"firstLine": firstLine,
	"age": func(now, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return dur(now.Sub(t).Round(time.Second)) + " ago"
	},
	"runDur":  func(r *runView, now time.Time) string { return dur(r.Duration(now)) },
	"runRate": func(r *runView, now time.Time) string { return rate(r.RowsPerSec(now)) },
}

// firstLine is the start of an error: what the table shows until the row is opened.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 160 {
		return line[:157] + "..."
	}
	return line
}

// pipeURL and runURL are the pages' links, relative to root (the way back to the site's top from the page that
// links), ending in index.html so that the static copy works from a file:// URL as well.
func pipeURL(root, name string) string {
	return root + "p/" + url.PathEscape(name) + "/index.html"
}

func runURL(root, name, label string) string {
	return root + "p/" + url.PathEscape(name) + "/r/" + url.PathEscape(label) + "/index.html"
}

func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func rate(f float64) string { return count(int64(f + 0.5)) }

func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// clock is the time of day of t, what a table of partitions of one run instance needs.
func clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("15:04:05")
}

// page is what every page has.
type page struct {
	Title  string
	Root   string
	Static bool
	Live   bool // the page refreshes itself while a run is in progress
	Now    time.Time
	Errors []string
	Crumbs []crumb
}

type crumb struct{ Href, Text string }

func (s *Site) newPage(title, root string, static bool) page {
	return page{Title: title, Root: root, Static: static, Now: s.now()}
}

type overviewRow struct {
	P     *pipeInfo
	Last  *runView
	Runs  int
	Fresh freshness
	Spark sparkline
	Err   string
}

type overviewData struct {
	page
	Rows     []overviewRow
	Invalid  []fileError
	Graph    graphView
	GraphErr string
	Running  []*runView
}

func (s *Site) overview(ctx context.Context, f *folder, static bool) *overviewData {
	d := &overviewData{page: s.newPage("jetflow: pipelines", "", static), Invalid: f.invalid, GraphErr: f.graphErr}
	status := map[string]string{}
	for _, pi := range f.pipes {
		row := overviewRow{P: pi}
		runs, err := s.runs(ctx, pi, "")
		if err != nil {
			row.Err = err.Error()
		}
		row.Runs = len(runs)
		if len(runs) > 0 {
			row.Last = runs[len(runs)-1]
			// A run in progress of an older instance is what the page is about while it lasts.
			for _, r := range runs {
				if r.Running > 0 {
					row.Last = r
					d.Running = append(d.Running, r)
				}
			}
			status[pi.Name] = row.Last.Status()
		}
		if row.Fresh, err = s.freshnessOf(ctx, pi, d.Now); err != nil && row.Err == "" {
			row.Err = err.Error()
		}
		row.Spark = sparkOf(pi.Name, runs, d.Now, d.Root)
		d.Rows = append(d.Rows, row)
	}
	d.Graph = graphOf(f.pipes, status, d.Root, f.graph != nil)
	d.Live = !static && len(d.Running) > 0
	return d
}

type pipelineData struct {
	page
	P     *pipeInfo
	Runs  []*runView // newest first
	Chart historyChart
	Pos   position
	Fresh freshness
}

func (s *Site) pipelinePage(ctx context.Context, pi *pipeInfo, static bool) *pipelineData {
	d := &pipelineData{page: s.newPage("jetflow: "+pi.Name, "../../", static), P: pi}
	d.Crumbs = []crumb{{Href: "../../index.html", Text: "pipelines"}}
	runs, err := s.runs(ctx, pi, "")
	if err != nil {
		d.Errors = append(d.Errors, err.Error())
	}
	d.Chart = historyOf(pi.Name, runs, d.Now, d.Root)
	if d.Fresh, err = s.freshnessOf(ctx, pi, d.Now); err != nil {
		d.Errors = append(d.Errors, err.Error())
	}
	if d.Pos, err = s.position(ctx, pi, runs); err != nil {
		d.Errors = append(d.Errors, err.Error())
	}
	d.Runs = slices.Clone(runs)
	slices.Reverse(d.Runs)
	for _, r := range runs {
		if r.Running > 0 {
			d.Live = !static
		}
	}
	return d
}

// partRow is a partition as the run page's table shows it, formatted once: a template calls no function per
// cell of a run instance of 10,000 partitions.
type partRow struct {
	Index, Attempts                         int
	Key, ID, Status, Rows, Bytes, Started   string
	Clock, Duration, Worker, Error, Summary string
	Tries                                   []tryRow // every attempt, when there was more than one or one failed
}

// tryRow is one attempt at a partition, as the run page lists a retried or failed partition's attempts.
type tryRow struct {
	Number                               int
	Status, Worker, Started, Duration    string
	Rows, Class, Cause, Error, ErrorLine string
}

// chunkRows is how many partitions make one group of the run page's table.
const chunkRows = 250

type runData struct {
	page
	P          *pipeInfo
	Run        *runView
	Gantt      gantt
	Chunks     [][]partRow // the partitions, in groups the browser renders only when they are in view
	Report     *report
	ReportHref string
	Stages     []engine.StageStats // the report's, else those the state store recorded
}

func (s *Site) runPage(ctx context.Context, pi *pipeInfo, label string, static bool) (*runData, bool) {
	d := &runData{page: s.newPage("jetflow: "+pi.Name+" "+label, "../../../../", static), P: pi}
	d.Crumbs = []crumb{{Href: "../../../../index.html", Text: "pipelines"}, {Href: "../../index.html", Text: pi.Name}}
	runs, err := s.runs(ctx, pi, label)
	if err != nil {
		d.Errors = append(d.Errors, err.Error())
	}
	if len(runs) == 0 {
		return d, err != nil
	}
	d.Run = runs[0]
	tries, err := s.attempts(ctx, pi, label)
	if err != nil {
		d.Errors = append(d.Errors, err.Error())
	}
	d.Gantt = ganttOf(d.Run.Parts, tries, d.Now)
	rows := make([]partRow, len(d.Run.Parts))
	for i, p := range d.Run.Parts {
		rows[i] = partRow{Index: p.Index, Key: p.Key, ID: p.ID, Status: p.StatusText(),
			Attempts: p.Attempts, Rows: count(p.Rows), Bytes: humanize.Bytes(p.Bytes), Started: ts(p.StartedAt),
			Clock:    clock(p.StartedAt),
			Duration: dur(p.Duration), Worker: p.Owner, Error: p.Error}
		if p.Error != "" {
			rows[i].Summary = firstLine(p.Error)
		}
		rows[i].Worker = workerName(p.Owner, p.Worker)
		if as := tries[p.ID]; len(as) > 1 || p.Error != "" {
			rows[i].Tries = tryRows(as, d.Now)
			rows[i].Summary = attemptSummary(as, p.Error)
		}
	}
	for len(rows) > 0 {
		n := min(len(rows), chunkRows)
		d.Chunks, rows = append(d.Chunks, rows[:n]), rows[n:]
	}
	if rep := s.reports.find(pi.Name, label); rep != nil {
		d.Report = s.redactReport(rep)
		d.ReportHref = "report.json"
		d.Stages = d.Report.Stages
	}
	if len(d.Stages) == 0 {
		if store, err := s.store(ctx, pi); err == nil && store != nil {
			stages, _, err := engine.RecordedStages(ctx, store, pi.Name, label)
			if err != nil {
				d.Errors = append(d.Errors, s.red.Redact(err.Error()))
			}
			for i := range stages {
				stages[i].Stage = s.red.Redact(stages[i].Stage)
			}
			d.Stages = stages
		}
	}
	d.Live = !static && d.Run.Running > 0
	return d, true
}

// workerName names the worker of an attempt: its process (host:pid) and, when recorded, its worker number.
func workerName(owner string, worker int) string {
	if worker > 0 {
		return fmt.Sprintf("%s #%d", owner, worker)
	}
	return owner
}

// attemptSummary is a partition's one-line summary: with an error, the last failure's class and first cause
// (the whole message is shown below it), else the error's first line; without one, how many attempts it took.
// A store older than the attempts table has errors without attempts.
func attemptSummary(as []state.Attempt, errText string) string {
	if n := len(as); n > 0 && as[n-1].Cause != "" && errText != "" {
		return firstLine(as[n-1].Class + ": " + as[n-1].Cause)
	}
	if errText != "" {
		return firstLine(errText)
	}
	return fmt.Sprintf("%d attempts", len(as))
}

func tryRows(as []state.Attempt, now time.Time) []tryRow {
	out := make([]tryRow, len(as))
	for i, a := range as {
		end := a.FinishedAt
		if a.Status == state.StatusRunning || end.Before(a.StartedAt) {
			end = now
		}
		out[i] = tryRow{Number: a.Number, Status: string(a.Status), Worker: workerName(a.Owner, a.Worker),
			Started: ts(a.StartedAt), Duration: dur(end.Sub(a.StartedAt)), Rows: count(a.Rows), Class: a.Class,
			Cause: a.Cause, Error: a.Error, ErrorLine: firstLine(a.Error)}
	}
	return out
}

func (s *Site) redactReport(r *report) *report {
	c := *r
	c.Error, c.Cause, c.Outcome = s.red.Redact(c.Error), s.red.Redact(c.Cause), s.red.Redact(c.Outcome)
	c.Stages = slices.Clone(c.Stages)
	for i := range c.Stages {
		c.Stages[i].Stage = s.red.Redact(c.Stages[i].Stage)
	}
	return &c
}

type liveData struct {
	page
	Runs []*runView
}

func (s *Site) livePage(ctx context.Context, f *folder, static bool) *liveData {
	d := &liveData{page: s.newPage("jetflow: runs in progress", "../", static)}
	d.Crumbs = []crumb{{Href: "../index.html", Text: "pipelines"}}
	for _, pi := range f.pipes {
		runs, err := s.runs(ctx, pi, "")
		if err != nil {
			d.Errors = append(d.Errors, err.Error())
		}
		for _, r := range runs {
			if r.Running > 0 {
				d.Runs = append(d.Runs, r)
			}
		}
	}
	d.Live = !static
	return d
}

// render executes a page's template into a buffer, so that a failure is not half a page.
func (s *Site) render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return nil, err
	}
	// The data is redacted already; this pass catches a secret that reached the page some other way.
	return []byte(s.red.Redact(b.String())), nil
}

// WriteStatic writes every page, the reports they link and the assets under dir, with relative links: the
// folder can be opened from disk, published as a CI artifact or copied to object storage.
func (s *Site) WriteStatic(ctx context.Context, dir string) (pages int, err error) {
	f := s.loadFolder(ctx)
	write := func(rel string, b []byte) error {
		path := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, b, 0o644)
	}
	renderTo := func(rel, tmpl string, data any) error {
		b, err := s.render(tmpl, data)
		if err != nil {
			return fmt.Errorf("render %s: %w", rel, err)
		}
		pages++
		return write(rel, b)
	}
	if err := renderTo("index.html", "overview.html", s.overview(ctx, f, true)); err != nil {
		return pages, err
	}
	if err := renderTo("live/index.html", "live.html", s.livePage(ctx, f, true)); err != nil {
		return pages, err
	}
	for _, pi := range f.pipes {
		base := "p/" + pi.Name + "/"
		pd := s.pipelinePage(ctx, pi, true)
		if err := renderTo(base+"index.html", "pipeline.html", pd); err != nil {
			return pages, err
		}
		for _, r := range pd.Runs {
			if !safeSegment(r.Label) {
				continue
			}
			rd, _ := s.runPage(ctx, pi, r.Label, true)
			if err := renderTo(base+"r/"+r.Label+"/index.html", "run.html", rd); err != nil {
				return pages, err
			}
			if rd.Report != nil {
				b, err := os.ReadFile(rd.Report.Path)
				if err != nil {
					return pages, err
				}
				if err := write(base+"r/"+r.Label+"/report.json", []byte(s.red.Redact(string(b)))); err != nil {
					return pages, err
				}
			}
		}
	}
	err = walkAssets(assetFS, func(name string, b []byte) error { return write("static/"+name, b) })
	return pages, err
}

// safeSegment tells whether a run label can be a file name of the static copy.
func safeSegment(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\\x00")
}

func walkAssets(fsys embed.FS, fn func(name string, b []byte) error) error {
	entries, err := fsys.ReadDir("assets")
	if err != nil {
		return err
	}
	for _, e := range entries {
		b, err := fsys.ReadFile("assets/" + e.Name())
		if err != nil {
			return err
		}
		if err := fn(e.Name(), b); err != nil {
			return err
		}
	}
	return nil
}
