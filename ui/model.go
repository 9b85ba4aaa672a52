package ui

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/state/stores"
)

// Options say what the pages show.
type Options struct {
	Dir       string          // the folder of pipelines
	ReportDir string          // where run reports (jetflow run --report-dir) are read; "" shows none
	StatePath string          // overrides every SQLite pipeline's state.path, as --state does for the other commands
	Redactor  *stage.Redactor // holds every pipeline's secrets; nothing shown escapes it. nil: a new one
	Now       func() time.Time
}

// folder is what one page is made from: the folder's pipelines, read afresh for each page, so that an edit to a
// file or a new run shows on the next load.
type folder struct {
	pipes    []*pipeInfo
	byName   map[string]*pipeInfo
	invalid  []fileError
	graph    *pipelines.Graph
	graphErr string
}

// fileError is a file of the folder that did not load: it has no page, its errors are on the overview.
type fileError struct {
	File string
	Msg  string
}

// pipeInfo is one pipeline as the pages show it.
type pipeInfo struct {
	p          *pipelines.Pipeline
	Name       string
	File       string
	Spec       string   // the file's text, secrets redacted
	Problems   []string // validation errors; none when valid
	Notes      []string
	StoreDesc  string // the state store, with no password
	Watermark  string // the incremental watermark's name, "" when the source has none
	WarnAfter  time.Duration
	DependsOn  []string
	Dependents []string
}

// loadFolder reads the folder's pipelines and validates each (without connecting to anything).
func (s *Site) loadFolder(ctx context.Context) *folder {
	f := &folder{byName: map[string]*pipeInfo{}}
	ps, err := pipelines.Options{Redactor: s.red}.LoadPaths(s.opts.Dir)
	var list pipelines.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			f.invalid = append(f.invalid, fileError{File: e.File, Msg: s.red.Redact(e.Error())})
		}
	} else if err != nil {
		f.invalid = append(f.invalid, fileError{File: s.opts.Dir, Msg: s.red.Redact(err.Error())})
	}
	for _, p := range ps {
		pi := s.pipeInfo(ctx, p)
		f.pipes = append(f.pipes, pi)
		f.byName[pi.Name] = pi
	}
	g, err := pipelines.NewGraph(ps)
	if err != nil {
		f.graphErr = s.red.Redact(err.Error())
	} else {
		f.graph = g
		for _, pi := range f.pipes {
			pi.Dependents = slices.Clone(g.Dependents(pi.Name))
			slices.Sort(pi.Dependents)
		}
	}
	return f
}

func (s *Site) pipeInfo(ctx context.Context, p *pipelines.Pipeline) *pipeInfo {
	pi := &pipeInfo{p: p, Name: p.Name, File: p.File, DependsOn: p.DependsOn, WarnAfter: p.Freshness.WarnAfter.D()}
	if b, err := os.ReadFile(p.File); err == nil {
		pi.Spec = s.red.Redact(string(b))
	}
	pi.StoreDesc = s.red.Redact(describeStore(p.State, s.opts.StatePath))
	for _, w := range p.Warnings {
		pi.Notes = append(pi.Notes, s.red.Redact(w.Error()))
	}
	built, err := p.Build(stage.BuildContext{Pipeline: p.Name, Dir: filepath.Dir(p.File), Alloc: memory.DefaultAllocator,
		Logger: slog.New(slog.DiscardHandler), Redactor: s.red})
	if err != nil {
		pi.Problems = append(pi.Problems, s.red.Redact(err.Error()))
		return pi
	}
	defer built.Close()
	if _, err := p.Validate(ctx, built, false); err != nil {
		pi.Problems = append(pi.Problems, s.red.Redact(err.Error()))
	}
	for _, n := range built.Notes {
		pi.Notes = append(pi.Notes, s.red.Redact(n.Error()))
	}
	if w, ok := built.Source.(stage.Watermarked); ok {
		pi.Watermark, _ = w.WatermarkName()
	}
	return pi
}

// describeStore names a pipeline's state store for people: the SQLite file, or the PostgreSQL DSN with its
// password masked.
func describeStore(st pipelines.StateSpec, override string) string {
	if st.Type == "postgres" {
		return "postgres " + MaskDSN(st.DSN.Reveal()) + " (schema " + st.Schema + ")"
	}
	return "sqlite " + cmp.Or(override, st.Path)
}

// MaskDSN returns a connection string with its password replaced by xxxxx: a postgres:// URL or libpq's
// key=value pairs.
func MaskDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.Host != "" {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	fields := strings.Fields(dsn)
	for i, f := range fields {
		if k, _, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "password") {
			fields[i] = k + "=xxxxx"
		}
	}
	return strings.Join(fields, " ")
}

// stores opens each distinct state store once and keeps it for the life of the site.
type storeCache struct {
	mu     sync.Mutex
	open   map[string]state.Store
	failed map[string]error
}

func (c *storeCache) get(ctx context.Context, cfg stores.Config) (state.Store, error) {
	key := fmt.Sprintf("%s\x00%s\x00%s\x00%s", cfg.Type, cfg.Path, cfg.DSN, cfg.Schema)
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.open[key]; ok {
		return s, nil
	}
	if c.open == nil {
		c.open = map[string]state.Store{}
	}
	if cfg.Type != "postgres" {
		// A page never creates a store: a pipeline that never ran has no file yet, and nothing to show.
		if _, err := os.Stat(cfg.Path); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	s, err := stores.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c.open[key] = s
	return s, nil
}

func (c *storeCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, s := range c.open {
		s.Close()
		delete(c.open, k)
	}
}

// store is the pipeline's state store, nil when it holds nothing yet.
func (s *Site) store(ctx context.Context, pi *pipeInfo) (state.Store, error) {
	st := pi.p.State
	cfg := stores.Config{Type: st.Type, Path: cmp.Or(s.opts.StatePath, st.Path), DSN: st.DSN.Reveal(), Schema: st.Schema}
	store, err := s.stores.get(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open the state store of %s (%s): %s", pi.Name, pi.StoreDesc, s.red.Redact(err.Error()))
	}
	return store, nil
}

// partView is one partition as the pages show it.
type partView struct {
	state.Partition
	Live     bool // running under a live lease
	Stale    bool // running, but its lease expired: its worker is gone
	Duration time.Duration
	Row      int // its row on the timeline
}

// StatusText is the partition's status as shown.
func (p partView) StatusText() string {
	if p.Stale {
		return "abandoned"
	}
	return string(p.Status)
}

// runView is one run instance of a pipeline.
type runView struct {
	Pipeline                                       string
	Label                                          string
	Start, End                                     time.Time // the business time it covers; zero when the label does not parse
	Parts                                          []partView
	Committed, Failed, Running, Aborted, Abandoned int
	Rows, Bytes                                    int64
	InFlight                                       int64 // rows read so far by the partitions loading now
	Attempts                                       int
	Retried                                        int
	StartedAt, FinishedAt                          time.Time
	Complete                                       bool
	CompletedAt                                    time.Time
}

// Status is the run instance's status: running while a partition is loading, else failed, aborted or
// abandoned if a partition is, else committed.
func (r *runView) Status() string {
	switch {
	case r.Running > 0:
		return "running"
	case r.Failed > 0:
		return "failed"
	case r.Aborted > 0:
		return "aborted"
	case r.Abandoned > 0:
		return "abandoned"
	}
	return "committed"
}

// Duration is from the first claim to the last outcome (or now, while running).
func (r *runView) Duration(now time.Time) time.Duration {
	if r.StartedAt.IsZero() {
		return 0
	}
	end := r.FinishedAt
	if r.Running > 0 || end.Before(r.StartedAt) {
		end = now
	}
	return end.Sub(r.StartedAt)
}

// RowsPerSec is the rate of rows over the duration: committed, and while the run goes on, read so far by the
// partitions in flight (as their last lease renewal recorded).
func (r *runView) RowsPerSec(now time.Time) float64 {
	d := r.Duration(now).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(r.Rows+r.InFlight) / d
}

// runs reads a pipeline's run instances (every one when label is ""), oldest first.
func (s *Site) runs(ctx context.Context, pi *pipeInfo, label string) ([]*runView, error) {
	store, err := s.store(ctx, pi)
	if err != nil || store == nil {
		return nil, err
	}
	recs, err := store.List(ctx, pi.Name, label)
	if err != nil {
		return nil, fmt.Errorf("list the partitions of %s: %s", pi.Name, s.red.Redact(err.Error()))
	}
	now := s.now()
	byLabel := map[string]*runView{}
	var out []*runView
	for _, rec := range recs {
		r := byLabel[rec.RunLabel]
		if r == nil {
			r = &runView{Pipeline: pi.Name, Label: rec.RunLabel}
			if run, err := pi.p.ParseRun(rec.RunLabel); err == nil {
				r.Start, r.End = run.Start, run.End
			}
			byLabel[rec.RunLabel] = r
			out = append(out, r)
		}
		rec.Error = s.red.Redact(rec.Error)
		rec.Key = s.red.Redact(rec.Key)
		pv := partView{Partition: rec}
		if rec.Status == state.StatusRunning {
			if rec.LeaseUntil.After(now) {
				pv.Live = true
				r.Running++
				r.InFlight += rec.Rows
			} else {
				pv.Stale = true
				r.Abandoned++
			}
		}
		switch rec.Status {
		case state.StatusCommitted:
			r.Committed++
			r.Rows += rec.Rows
			r.Bytes += rec.Bytes
		case state.StatusFailed:
			r.Failed++
		case state.StatusAborted:
			r.Aborted++
		}
		if !rec.StartedAt.IsZero() {
			end := rec.FinishedAt
			if pv.Live || end.Before(rec.StartedAt) {
				end = now
			}
			pv.Duration = end.Sub(rec.StartedAt)
			if r.StartedAt.IsZero() || rec.StartedAt.Before(r.StartedAt) {
				r.StartedAt = rec.StartedAt
			}
		}
		if rec.FinishedAt.After(r.FinishedAt) {
			r.FinishedAt = rec.FinishedAt
		}
		r.Attempts += rec.Attempts
		if rec.Attempts > 1 {
			r.Retried++
		}
		r.Parts = append(r.Parts, pv)
	}
	for _, r := range out {
		ok, at, err := engine.Completed(ctx, store, pi.Name, r.Label)
		if err == nil {
			r.Complete, r.CompletedAt = ok, at
		}
	}
	slices.SortStableFunc(out, func(a, b *runView) int {
		return cmp.Or(a.Start.Compare(b.Start), strings.Compare(a.Label, b.Label))
	})
	return out, nil
}

// attempts reads the attempts of a run instance's partitions, by partition id, redacted.
func (s *Site) attempts(ctx context.Context, pi *pipeInfo, label string) (map[string][]state.Attempt, error) {
	store, err := s.store(ctx, pi)
	if err != nil || store == nil {
		return nil, err
	}
	as, err := store.Attempts(ctx, pi.Name, label)
	if err != nil {
		return nil, fmt.Errorf("list the attempts of %s: %s", pi.Name, s.red.Redact(err.Error()))
	}
	out := map[string][]state.Attempt{}
	for _, a := range as {
		a.Error, a.Cause = s.red.Redact(a.Error), s.red.Redact(a.Cause)
		out[a.PartitionID] = append(out[a.PartitionID], a)
	}
	return out, nil
}

// position is the pipeline's incremental watermark and its streams' checkpoints.
type position struct {
	Name, Value string
	Lanes       []lanePos
}

type lanePos struct{ Lane, Checkpoint string }

func (s *Site) position(ctx context.Context, pi *pipeInfo, runs []*runView) (position, error) {
	pos := position{Name: pi.Watermark}
	store, err := s.store(ctx, pi)
	if err != nil || store == nil {
		return pos, err
	}
	if pi.Watermark != "" {
		v, _, err := store.Watermark(ctx, pi.Name, pi.Watermark)
		if err != nil {
			return pos, errors.New(s.red.Redact(err.Error()))
		}
		pos.Value = s.red.Redact(v)
	}
	lanes := map[string]bool{}
	for _, r := range runs {
		for _, p := range r.Parts {
			if p.Partition.Lane != "" {
				lanes[p.Partition.Lane] = true
			}
		}
	}
	for _, l := range slices.Sorted(maps.Keys(lanes)) {
		cp, ok, err := store.Checkpoint(ctx, pi.Name, l)
		if err != nil {
			return pos, errors.New(s.red.Redact(err.Error()))
		}
		if ok {
			pos.Lanes = append(pos.Lanes, lanePos{Lane: s.red.Redact(l), Checkpoint: s.red.Redact(cp)})
		}
	}
	return pos, nil
}

// freshness is how late a pipeline is against its freshness.warn_after, by the rule jetflow check-freshness
// alerts on (engine.FreshnessOf): the age of its last success, as its state store records it.
type freshness struct {
	engine.Freshness
	Declared bool
}

func (s *Site) freshnessOf(ctx context.Context, pi *pipeInfo, now time.Time) (freshness, error) {
	f := freshness{Freshness: engine.Freshness{WarnAfter: pi.WarnAfter}, Declared: pi.WarnAfter > 0}
	if !f.Declared {
		return f, nil
	}
	store, err := s.store(ctx, pi)
	if err != nil {
		return f, err
	}
	var out engine.Outcome
	found := false
	if store != nil {
		if out, found, err = engine.LastOutcome(ctx, store, pi.Name); err != nil {
			return f, fmt.Errorf("read the last outcome of %s: %s", pi.Name, s.red.Redact(err.Error()))
		}
	}
	f.Freshness = engine.FreshnessOf(out, found, pi.WarnAfter, now)
	return f, nil
}
