package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/jetflow-dev/jetflow/internal/failpoint"
	"github.com/jetflow-dev/jetflow/internal/records"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
)

// PlanState says what a run would do with a partition.
type PlanState string

const (
	PlanNew       PlanState = "new"       // never committed: will be loaded
	PlanCommitted PlanState = "committed" // committed with the current spec: skipped (unless --force)
	PlanStale     PlanState = "stale"     // committed with another spec: loaded again, replacing its output
	PlanFailed    PlanState = "failed"    // last attempt failed or was aborted: loaded again
	PlanRunning   PlanState = "running"   // another worker holds a live lease
	PlanReload    PlanState = "reload"    // committed, loaded again because of --force
)

// PlanEntry is one partition of a plan with what is known of it.
type PlanEntry struct {
	Partition stage.Partition
	State     PlanState
	Record    *state.Partition // nil when never claimed
}

// Engine runs jobs against a state store.
type Engine struct {
	job    *Job
	store  state.Store
	opts   Options
	meters map[string]*stageMeter
	order  []string
	chain  *stage.Chain
}

// New prepares an engine; it checks the job and fills option defaults.
func New(job *Job, store state.Store, opts Options) (*Engine, error) {
	if err := job.check(); err != nil {
		return nil, err
	}
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if opts.Owner == "" {
		opts.Owner = defaultOwner()
	}
	opts.Logger, store = job.redactLogger(opts.Logger), job.redactStore(store)
	e := &Engine{job: job, store: store, opts: opts, meters: map[string]*stageMeter{}}
	e.meter(job.SourceName, string(stage.KindConsumer))
	// Indexed by the transformer's place in the chain, so the chain reports without a map lookup per batch.
	tmeters := make([]*stageMeter, len(job.Transformers))
	for i, t := range job.Transformers {
		tmeters[i] = e.meter(t.Name, string(stage.KindTransformer))
	}
	e.chain = stage.NewChain(job.Transformers, func(i int, in, out int64, d time.Duration, failed bool) {
		tmeters[i].add(in, out, 0, d, failed)
	})
	for _, l := range job.Loaders {
		e.meter(l.Name, string(stage.KindLoader))
	}
	return e, nil
}

func (e *Engine) meter(name, kind string) *stageMeter {
	if m, ok := e.meters[name]; ok {
		return m
	}
	m := &stageMeter{s: StageStats{Stage: name, Kind: kind}}
	e.meters[name] = m
	e.order = append(e.order, name)
	return m
}

// Plan lists the partitions of a run instance (this worker's shard of them) and what a run would do with each.
func (e *Engine) Plan(ctx context.Context, run stage.RunInstance) ([]PlanEntry, error) {
	p, err := e.plan(ctx, run, false)
	return p.entries, err
}

// planSource says where a plan's partitions came from.
type planSource int

const (
	planFresh    planSource = iota // cut by the consumer now
	planPinned                     // an incremental run of this instance pinned them and has not finished
	planArchived                   // this instance was planned before (incremental, or a PlanPinner's): that plan again
	planLegacy                     // this incremental instance committed before windows were archived
)

// planned is a run instance's plan: this worker's entries, and every shard's partitions.
type planned struct {
	entries []PlanEntry
	all     []stage.Partition
	source  planSource
}

// plan cuts the run instance into partitions. For an incremental source the plan depends on the source's state
// at planning time (its newest row), so Run pins it (pin true) until every partition commits: a retry then loads
// exactly the same partitions, and a partition committed before a crash is replaced, never loaded twice. The
// pinned plan is kept as the instance's window: a later run of the same instance plans that window again.
func (e *Engine) plan(ctx context.Context, run stage.RunInstance, pin bool) (planned, error) {
	c, ok := e.job.Source.(stage.Consumer)
	if !ok {
		return planned{}, fmt.Errorf("pipeline %q reads an unbounded source: run it with --stream", e.job.Pipeline)
	}
	wmName, err := e.resumeWatermark(ctx)
	if err != nil {
		return planned{}, err
	}
	var parts []stage.Partition
	source := planFresh
	pp, keep := c.(stage.PlanPinner)
	keep = keep && wmName == "" && pp.PinPlan()
	switch {
	case wmName != "":
		if parts, source, err = e.incrementalPlan(ctx, run); err != nil {
			return planned{}, err
		}
	case keep:
		var ok bool
		if parts, ok, err = e.loadArchivedPlan(ctx, run); err != nil {
			return planned{}, err
		} else if ok {
			source = planArchived
		}
	}
	if source == planFresh {
		if parts, err = c.Partitions(ctx, run); err != nil {
			return planned{}, fmt.Errorf("plan partitions of run %s: %w", run.Label, err)
		}
		switch {
		case wmName != "" && pin:
			if parts, err = e.pinPlan(ctx, run, parts); err != nil {
				return planned{}, err
			}
			source = planPinned
		case keep && pin:
			if parts, err = e.archivePlan(ctx, run, parts); err != nil {
				return planned{}, err
			}
			source = planArchived
		}
	}
	out := planned{source: source, all: make([]stage.Partition, 0, len(parts))}
	seen := make(map[string]int, len(parts))
	for i, p := range parts {
		if j, dup := seen[p.Key]; dup {
			return planned{}, fmt.Errorf("plan of run %s: partitions %d and %d share the key %q; a consumer must cut disjoint partitions", run.Label, j, i, p.Key)
		}
		seen[p.Key] = i
		p.Index, p.Run = i, run
		p.ID = stage.PartitionID(e.job.Pipeline, run.Label, p.Key)
		out.all = append(out.all, p)
		if e.opts.Shards > 1 && i%e.opts.Shards != e.opts.Shard {
			continue
		}
		entry := PlanEntry{Partition: p, State: PlanNew}
		rec, ok, err := e.store.Get(ctx, e.job.Pipeline, p.ID)
		if err != nil {
			return planned{}, err
		}
		if ok {
			entry.Record = &rec
			entry.State = e.planState(rec)
		}
		if source == planLegacy {
			// Its window is unknown (no bounds): a partition committed under another spec is kept, not reloaded.
			entry.State = PlanCommitted
		}
		out.entries = append(out.entries, entry)
	}
	return out, nil
}

// incrementalPlan finds the partitions an incremental run instance was given before: pinned by a run that has not
// finished, or archived when it was planned. An instance committed by a jetflow that kept no window gives its
// committed partitions, to be skipped; --force cannot reload those, as their window is unknown. planFresh means
// the instance is new.
func (e *Engine) incrementalPlan(ctx context.Context, run stage.RunInstance) ([]stage.Partition, planSource, error) {
	if parts, ok, err := e.loadPinnedPlan(ctx, run); err != nil || ok {
		return parts, planPinned, err
	}
	if parts, ok, err := e.loadArchivedPlan(ctx, run); err != nil || ok {
		return parts, planArchived, err
	}
	recs, err := e.store.List(ctx, e.job.Pipeline, run.Label)
	if err != nil {
		return nil, planFresh, err
	}
	var parts []stage.Partition
	for _, r := range recs {
		if r.Status == state.StatusCommitted && r.Lane == "" {
			parts = append(parts, stage.Partition{Key: r.Key, Run: run})
		}
	}
	if len(parts) == 0 {
		return nil, planFresh, nil
	}
	if e.opts.Force {
		return nil, planLegacy, fmt.Errorf("run %s of incremental pipeline %s was loaded by a jetflow that did not keep its window, "+
			"so --force cannot reload it; to load the whole source again, reset the pipeline's state (`jetflow state reset FILE`) "+
			"and remove its output", run.Label, e.job.Pipeline)
	}
	return parts, planLegacy, nil
}

// Orphans lists the partitions of run committed earlier that the plan no longer has: the consumer's partitioning
// changed since. Their output stays where it was, beside the new partitions' output, until someone removes it.
// An incremental pipeline has none: each of its run instances keeps the window it was planned with.
func (e *Engine) Orphans(ctx context.Context, run stage.RunInstance, plan []PlanEntry) ([]state.Partition, error) {
	if e.opts.Shards > 1 || e.watermarkName() != "" {
		return nil, nil // a shard's plan is a part of the whole: anything else looks orphaned
	}
	recs, err := e.store.List(ctx, e.job.Pipeline, run.Label)
	if err != nil {
		return nil, err
	}
	inPlan := make(map[string]bool, len(plan))
	for _, en := range plan {
		inPlan[en.Partition.ID] = true
	}
	var out []state.Partition
	for _, r := range recs {
		if r.Status == state.StatusCommitted && !inPlan[r.ID] && r.Lane == "" {
			out = append(out, r)
		}
	}
	return out, nil
}

func (e *Engine) planState(rec state.Partition) PlanState {
	switch rec.Status {
	case state.StatusCommitted:
		if e.opts.Force {
			return PlanReload
		}
		if rec.Fingerprint != e.job.Fingerprint {
			return PlanStale
		}
		return PlanCommitted
	case state.StatusRunning:
		if time.Now().Before(rec.LeaseUntil) {
			return PlanRunning
		}
		return PlanFailed
	default:
		return PlanFailed
	}
}

// runInstance loads one run instance. It returns a report of every partition; err is set when the run could not
// be planned, was interrupted or was stopped by a fatal fault (stage.Fatal). A run whose report is not OK left
// failed partitions for the next run to retry.
func (e *Engine) runInstance(ctx context.Context, run stage.RunInstance) (*Report, error) {
	start := time.Now()
	tr := e.opts.Tracker
	tr.Started = start
	pl, err := e.plan(ctx, run, true)
	if err != nil {
		return nil, err
	}
	plan := pl.entries
	e.sweepAtStart(ctx, run)
	wmName := e.watermarkName()
	if orphans, err := e.Orphans(ctx, run, plan); err == nil && len(orphans) > 0 {
		e.opts.Logger.Warn("committed partitions of this run instance are not in the plan: the partitioning changed, "+
			"and their output stays beside the new partitions' output; remove it, then `jetflow state reset --partition ID`",
			"run", run.Label, "count", len(orphans), "first", orphans[0].Key, "first_id", orphans[0].ID)
	}
	c := e.job.Source.(stage.Consumer)
	schema, err := e.outputSchema(ctx)
	if err != nil {
		return nil, err
	}
	tr.Total.Store(int64(len(plan)))
	rep := &Report{Pipeline: e.job.Pipeline, Run: run.Label}
	// The first fatal fault stops the run: partitions in flight are aborted, the others are not started, since
	// every one of them would meet the same refusal.
	rctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var mu sync.Mutex
	record := func(r PartitionResult) {
		if e.opts.OnPartition != nil {
			e.opts.OnPartition(r)
		}
		mu.Lock()
		defer mu.Unlock()
		rep.Partitions = append(rep.Partitions, r)
		if r.Outcome == "failed" && stage.IsFatal(r.err) {
			stop(fmt.Errorf("partition %s: %w", r.Key, r.err))
		}
	}

	queue := make(chan stage.Partition)
	var deferred []stage.Partition // leased by another worker when we got to them
	var wg sync.WaitGroup
	for w := range min(e.opts.Workers, max(len(plan), 1)) {
		wg.Add(1)
		wctx := withWorker(rctx, w+1)
		go func() {
			defer wg.Done()
			for p := range queue {
				res, leased := e.loadWithRetries(wctx, p, schema, c)
				if leased {
					mu.Lock()
					deferred = append(deferred, p)
					mu.Unlock()
					continue
				}
				record(res)
			}
		}()
	}
feed:
	for _, entry := range plan {
		if entry.State == PlanCommitted && !e.opts.Force {
			tr.Skipped.Add(1)
			record(PartitionResult{ID: entry.Partition.ID, Key: entry.Partition.Key, Outcome: "skipped",
				Rows: entry.Record.Rows, Bytes: entry.Record.Bytes})
			continue
		}
		select {
		case queue <- entry.Partition:
		case <-rctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	e.waitForOthers(rctx, deferred, schema, c, record)

	sort.Slice(rep.Partitions, func(i, j int) bool { return rep.Partitions[i].Key < rep.Partitions[j].Key })
	rep.tally()
	// Partitions never started because the run was interrupted count as aborted.
	if missing := len(plan) - len(rep.Partitions); missing > 0 {
		rep.Aborted += missing
	}
	rep.Stages = e.Stages()
	rep.Duration = time.Since(start)
	e.recordStages(ctx, run, rep.Stages)
	if ctx.Err() != nil {
		return rep, fmt.Errorf("run %s interrupted: %w", run.Label, context.Cause(ctx))
	}
	if cause := context.Cause(rctx); cause != nil {
		return rep, fmt.Errorf("run %s stopped without retrying: %w", run.Label, cause)
	}
	if !rep.OK() {
		return rep, nil
	}
	done, waiting, err := e.allCommitted(ctx, run, pl.all)
	if err != nil {
		return rep, err
	}
	if !done {
		e.opts.Logger.Info("this shard is done; the run instance completes when every shard has committed", "waiting_for", waiting)
		return rep, nil
	}
	if wmName != "" && pl.source == planPinned {
		if err := e.finishIncremental(ctx, wmName, pl.all); err != nil {
			return rep, err
		}
	}
	return rep, e.markCompleted(ctx, run)
}

// watermarkName is the name of the source's watermark, or "" when it does not load incrementally.
func (e *Engine) watermarkName() string {
	w, ok := e.job.Source.(stage.Watermarked)
	if !ok {
		return ""
	}
	name, _ := w.WatermarkName()
	return name
}

// resumeWatermark gives an incremental consumer its stored watermark; it returns the watermark's name, or "".
func (e *Engine) resumeWatermark(ctx context.Context) (string, error) {
	name := e.watermarkName()
	if name == "" {
		return "", nil
	}
	w := e.job.Source.(stage.Watermarked)
	v, found, err := e.store.Watermark(ctx, e.job.Pipeline, name)
	if err != nil {
		return "", fmt.Errorf("read watermark %s: %w", name, err)
	}
	w.ResumeWatermark(v, found)
	return name, nil
}

// allCommitted says whether every partition of the run instance, every shard's, is committed; if not, waiting is
// the key of one that is not.
func (e *Engine) allCommitted(ctx context.Context, run stage.RunInstance, all []stage.Partition) (done bool, waiting string, err error) {
	recs, err := e.store.List(context.WithoutCancel(ctx), e.job.Pipeline, run.Label) // one query, not one a partition
	if err != nil {
		return false, "", err
	}
	committed := make(map[string]bool, len(recs))
	for _, r := range recs {
		committed[r.ID] = r.Status == state.StatusCommitted
	}
	for _, p := range all {
		if !committed[p.ID] {
			return false, p.Key, nil
		}
	}
	return true, "", nil
}

// finishIncremental ends an incremental run instance once every shard's partitions committed: it advances the
// watermark to the end of the plan and unpins the plan, so the next instance starts where this one ended. Shards
// that finish together store the same value.
func (e *Engine) finishIncremental(ctx context.Context, name string, all []stage.Partition) error {
	ctx = context.WithoutCancel(ctx)
	w := e.job.Source.(stage.Watermarked)
	for i := len(all) - 1; i >= 0; i-- {
		if v, ok := w.PartitionWatermark(all[i]); ok {
			if err := e.store.SetWatermark(ctx, e.job.Pipeline, name, v); err != nil {
				return fmt.Errorf("store watermark %s: %w", name, err)
			}
			e.opts.Logger.Info("watermark advanced", "name", name, "value", v)
			break
		}
	}
	// The watermark moved past the pinned plan: the next run instance plans afresh.
	return e.store.SetWatermark(ctx, e.job.Pipeline, pinnedPlanName, "")
}

// waitForOthers handles partitions another worker was loading: it waits until that worker commits them, or
// takes them over once its lease runs out (the worker died).
func (e *Engine) waitForOthers(ctx context.Context, parts []stage.Partition, schema *arrow.Schema, c stage.Consumer, record func(PartitionResult)) {
	for len(parts) > 0 {
		var still []stage.Partition
		for _, p := range parts {
			res, leased := e.loadWithRetries(ctx, p, schema, c)
			if leased {
				still = append(still, p)
				continue
			}
			record(res)
		}
		parts = still
		if len(parts) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.opts.PollInterval):
		}
	}
}

// outputSchema carries the source schema through the transformers: the schema loaders are begun with.
func (e *Engine) outputSchema(ctx context.Context) (*arrow.Schema, error) {
	schema, err := e.job.Source.Schema(ctx)
	if err != nil {
		return nil, fmt.Errorf("schema of the source: %w", err)
	}
	return e.chain.OutputSchema(schema)
}

// loadWithRetries claims p and loads it, trying again with backoff. leased is true when another worker holds it.
func (e *Engine) loadWithRetries(ctx context.Context, p stage.Partition, schema *arrow.Schema, c stage.Consumer) (res PartitionResult, leased bool) {
	res = PartitionResult{ID: p.ID, Key: p.Key}
	t0 := time.Now()
	defer func() {
		if res.Outcome != "skipped" {
			res.Duration = time.Since(t0)
		}
	}()
	read := func(ctx context.Context, out func(arrow.RecordBatch) error) (string, error) {
		return "", c.Read(ctx, p, out)
	}
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil { // stopped (a fatal fault elsewhere, a signal) before this partition began
			res.Outcome, res.Error = "aborted", context.Cause(ctx).Error()
			return res, false
		}
		n, err := e.claim(ctx, p)
		if errors.Is(err, state.ErrLeased) {
			return res, true
		}
		if errors.Is(err, state.ErrCommitted) { // another worker committed it since the plan was made
			e.opts.Tracker.Skipped.Add(1)
			rec, _, _ := e.store.Get(ctx, e.job.Pipeline, p.ID)
			res.Outcome, res.Rows, res.Bytes, res.Attempts = "skipped", rec.Rows, rec.Bytes, 0
			return res, false
		}
		res.Attempts = n
		if err == nil {
			var rows, bytes int64
			rows, bytes, err = e.load(ctx, p, schema, n, read)
			if err == nil {
				res.Outcome, res.Rows, res.Bytes, res.Error = "committed", rows, bytes, ""
				return res, false
			}
		}
		res.Error, res.err = err.Error(), err
		if ctx.Err() != nil {
			res.Outcome = "aborted"
			return res, false
		}
		if attempt >= e.job.Retry.Attempts || stage.IsPermanent(err) || stage.IsFatal(err) {
			res.Outcome = "failed"
			e.opts.Tracker.Failed.Add(1)
			e.opts.Logger.Error("partition failed", "partition", p.Key, "id", p.ID, "attempts", attempt, "err", err)
			return res, false
		}
		wait := backoff(e.job.Retry, attempt)
		e.opts.Logger.Warn("partition attempt failed; retrying", "partition", p.Key, "id", p.ID, "attempt", attempt,
			"retry_in", wait.Round(time.Millisecond), "err", err)
		select {
		case <-ctx.Done():
			res.Outcome = "aborted"
			return res, false
		case <-time.After(wait):
		}
	}
}

// claim takes the partition's lease. A lease held by a process of this machine that no longer exists (killed)
// is taken over at once instead of waiting for it to expire, so a re-run right after a crash does not stall.
func (e *Engine) claim(ctx context.Context, p stage.Partition) (int, error) {
	c := state.Claim{Pipeline: e.job.Pipeline, RunLabel: p.Run.Label, ID: p.ID, Key: p.Key, Index: p.Index, Lane: p.Lane,
		Owner: e.opts.Owner, Worker: workerOf(ctx), Lease: e.opts.Lease, Fingerprint: e.job.Fingerprint, Force: e.opts.Force}
	n, err := e.store.Claim(ctx, c)
	if !errors.Is(err, state.ErrLeased) {
		return n, err
	}
	rec, ok, gerr := e.store.Get(ctx, e.job.Pipeline, p.ID)
	if gerr != nil || !ok || !ownerGone(rec.Owner) {
		return n, err
	}
	e.opts.Logger.Warn("taking over a partition whose worker process is gone", "partition", p.Key, "id", p.ID, "owner", rec.Owner)
	c.TakeOverFrom = rec.Owner
	return e.store.Claim(ctx, c)
}

// backoff is exponential with full jitter: a random wait in [base*2^(n-1)/2, base*2^(n-1)], capped.
func backoff(p RetryPolicy, attempt int) time.Duration {
	d := p.Backoff
	if d <= 0 {
		d = time.Second
	}
	for i := 1; i < attempt && d < p.MaxBackoff; i++ {
		d *= 2
	}
	if p.MaxBackoff > 0 && d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

type streamRead = func(ctx context.Context, out func(arrow.RecordBatch) error) (checkpoint string, err error)

// load runs one attempt of one partition, claimed by this worker: read → transform → write to every loader,
// then commit every loader and record the commit. On any failure every writer is aborted, so nothing of the
// attempt stays visible, and the failure is recorded.
func (e *Engine) load(ctx context.Context, p stage.Partition, schema *arrow.Schema, attempt int, read streamRead) (rows, bytes int64, err error) {
	started := time.Now()
	tr := e.opts.Tracker
	tr.InFlight.Add(1)
	defer tr.InFlight.Add(-1)
	log := e.opts.Logger.With("partition", p.Key, "id", p.ID, "attempt", attempt)

	// The lease is renewed while the partition loads; losing it means another worker took over, so stop.
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	progress := new(atomic.Int64) // rows read so far, recorded with each renewal
	go e.renew(lctx, p, cancel, progress)

	defer func() {
		if err != nil {
			status := state.StatusFailed
			if ctx.Err() != nil {
				status = state.StatusAborted
			}
			f := state.Failure{Error: err.Error(), Cause: stage.Innermost(err).Error(), Class: stage.ErrorClass(err)}
			if status == state.StatusAborted {
				f.Class = "aborted"
			}
			if ferr := e.store.Fail(context.WithoutCancel(ctx), e.job.Pipeline, p.ID, e.opts.Owner, status, f); ferr != nil {
				log.Error("could not record partition failure", "err", ferr)
			}
		}
	}()

	chain, err := e.chain.ForPartition(p)
	if err != nil {
		return 0, 0, err
	}
	writers := make([]stage.PartitionWriter, 0, len(e.job.Loaders))
	abort := func() {
		actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer acancel()
		clean := true
		for i, w := range writers {
			if aerr := w.Abort(actx); aerr != nil {
				clean = false
				log.Error("abort failed; temporary files may remain until the next run removes them",
					"loader", e.job.Loaders[i].Name, "err", aerr)
			}
		}
		if clean && len(writers) == len(e.job.Loaders) {
			e.clearIntents(ctx, p) // every writer removed its files
		}
	}
	for _, l := range e.job.Loaders {
		w, berr := l.Begin(stage.WithIntentRecorder(lctx, e.intentRecorder(p, attempt, l.Name)), schema, p)
		if berr != nil {
			abort()
			return 0, 0, fmt.Errorf("loader %s: begin partition %s: %w", l.Name, p.Key, berr)
		}
		writers = append(writers, w)
	}
	if err := e.scanKeys(lctx, p, writers); err != nil {
		abort()
		return 0, 0, err
	}

	checkpoint, rows, err := e.pump(lctx, p, read, chain, writers, progress)
	if err == nil && lctx.Err() != nil {
		err = context.Cause(lctx)
	}
	if err != nil {
		abort()
		return 0, 0, err
	}

	info := stage.CommitInfo{Pipeline: e.job.Pipeline, RunInstance: p.Run.Label, PartitionID: p.ID, Key: p.Key,
		Lane: p.Lane, Checkpoint: checkpoint, Rows: rows}
	tokens := make(map[string]string, len(writers))
	for i, w := range writers {
		l := e.job.Loaders[i]
		t0 := time.Now()
		res, cerr := w.Commit(lctx, info)
		e.meters[l.Name].add(0, 0, res.Bytes, time.Since(t0), cerr != nil)
		if cerr != nil {
			// Loaders committed before this one are replaced by the retry's commit of the same partition id.
			writers = writers[i:]
			abort()
			return 0, 0, fmt.Errorf("loader %s: commit partition %s: %w", l.Name, p.Key, cerr)
		}
		tokens[l.Name] = res.Token
		bytes += res.Bytes
	}
	if err := failpoint.Inject("engine.before-state-commit"); err != nil {
		return 0, 0, err
	}
	tokenJSON, _ := json.Marshal(tokens)
	err = e.store.Commit(context.WithoutCancel(ctx), state.Partition{Pipeline: e.job.Pipeline, RunLabel: p.Run.Label,
		ID: p.ID, Key: p.Key, Index: p.Index, Lane: p.Lane, Attempts: attempt, Rows: rows, Bytes: bytes,
		Fingerprint: e.job.Fingerprint, Tokens: string(tokenJSON), Checkpoint: checkpoint, Owner: e.opts.Owner,
		StartedAt: started})
	if err != nil {
		// The data is committed; the next run loads the partition again and its commit replaces this one.
		return 0, 0, fmt.Errorf("record commit of partition %s: %w", p.Key, err)
	}
	e.clearIntents(ctx, p) // what the attempt wrote is committed output now, or was removed by the commit
	tr.Committed.Add(1)
	tr.RowsLoaded.Add(rows)
	tr.Written.Add(bytes)
	log.Info("partition committed", "rows", rows, "bytes", bytes, "duration", time.Since(started).Round(time.Millisecond))
	return rows, bytes, nil
}

// DefaultLease is how long a claim holds without renewal when Options.Lease is not set.
const DefaultLease = 60 * time.Second

// progressEvery is the longest time between two renewals of a lease, which record the attempt's progress: the
// pages of a run in progress (jetflow ui) refresh as often, so the rows/s they show moves at each refresh. Each
// renewal is one store write: docs/SCALING.md counts them.
const progressEvery = 2 * time.Second

// RenewInterval is how often a worker renews the lease of a partition it loads (and records its progress):
// a third of the lease, at most progressEvery.
func RenewInterval(lease time.Duration) time.Duration { return min(lease/3, progressEvery) }

func (e *Engine) renew(ctx context.Context, p stage.Partition, cancel context.CancelCauseFunc, progress *atomic.Int64) {
	t := time.NewTicker(RenewInterval(e.opts.Lease))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := e.store.Renew(ctx, e.job.Pipeline, p.ID, e.opts.Owner, e.opts.Lease, progress.Load()); err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("partition %s: %w", p.Key, err))
				return
			}
		}
	}
}

// pump reads the partition on one goroutine and transforms and writes on another, with a bounded queue between
// them: a slow loader holds the reader back instead of letting batches pile up in memory.
func (e *Engine) pump(ctx context.Context, p stage.Partition, read streamRead, chain *stage.PartitionChain, ws []stage.PartitionWriter, progress *atomic.Int64) (checkpoint string, rows int64, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	queue := make(chan arrow.RecordBatch, e.opts.Queue)
	consumer := e.meters[e.job.SourceName]
	var readErr error
	go func() {
		defer close(queue)
		t0 := time.Now()
		var n, b int64
		checkpoint, readErr = read(ctx, func(batch arrow.RecordBatch) error {
			n += batch.NumRows()
			size := records.Bytes(batch)
			b += size
			e.opts.Tracker.Rows.Add(batch.NumRows())
			progress.Add(batch.NumRows())
			e.opts.Tracker.Bytes.Add(size)
			batch.Retain()
			select {
			case queue <- batch:
				return nil
			case <-ctx.Done():
				batch.Release()
				return context.Cause(ctx)
			}
		})
		consumer.add(0, n, b, time.Since(t0), readErr != nil)
		if readErr != nil {
			cancel(readErr)
		}
	}()

	write := func(batch arrow.RecordBatch) error {
		if err := e.write(ctx, batch, ws); err != nil {
			return err
		}
		rows += batch.NumRows()
		return nil
	}
	var writeErr error
	for batch := range queue {
		if writeErr == nil {
			writeErr = chain.Process(ctx, batch, write)
			if writeErr != nil {
				cancel(writeErr)
			}
		}
		batch.Release() // after a failure the queue is drained so every batch is released
	}
	switch {
	case writeErr != nil:
		return "", 0, writeErr
	case readErr != nil:
		return "", 0, fmt.Errorf("consumer: read partition %s: %w", p.Key, readErr)
	}
	if err := chain.Flush(ctx, write); err != nil {
		return "", 0, err
	}
	return checkpoint, rows, nil
}

// write hands one batch out of the transformers to every writer.
func (e *Engine) write(ctx context.Context, batch arrow.RecordBatch, ws []stage.PartitionWriter) error {
	for i, w := range ws {
		l := e.job.Loaders[i]
		t0 := time.Now()
		err := w.Write(ctx, batch)
		e.meters[l.Name].add(batch.NumRows(), batch.NumRows(), 0, time.Since(t0), err != nil)
		if err != nil {
			return fmt.Errorf("loader %s: write: %w", l.Name, err)
		}
	}
	return nil
}

// Stages returns the stats of every stage so far, in pipeline order.
func (e *Engine) Stages() []StageStats {
	out := make([]StageStats, 0, len(e.order))
	for _, name := range e.order {
		st := e.meters[name].snapshot()
		if name == e.job.SourceName {
			if bc, ok := e.job.Source.(stage.BadRecordCounter); ok {
				st.BadRecords = bc.BadRecords()
			}
		}
		out = append(out, st)
	}
	return out
}

// PartitionFailedError is the error that stops a stream when one of its partitions fails to load, as opposed to
// one that stops it before a partition (the state store, the source): the partition is read again by the next
// run, like a failed partition of a batch run, which is why the CLI ends both with the same exit code.
type PartitionFailedError struct {
	Key, ID string
	Err     error
}

func (e *PartitionFailedError) Error() string {
	return fmt.Sprintf("partition %s failed: %v", e.Key, e.Err)
}

func (e *PartitionFailedError) Unwrap() error { return e.Err }

// stream loads an unbounded source until ctx is cancelled: each partition the consumer cuts is loaded and
// committed together with its checkpoint, and a restart resumes after the last committed checkpoint of each lane.
// A fatal fault (stage.Fatal) stops it.
func (e *Engine) stream(ctx context.Context, run stage.RunInstance) (*Report, error) {
	sc, ok := e.job.Source.(stage.StreamConsumer)
	if !ok {
		return nil, fmt.Errorf("pipeline %q reads a bounded source: run it without --stream", e.job.Pipeline)
	}
	start := time.Now()
	e.opts.Tracker.Started = start
	schema, err := e.outputSchema(ctx)
	if err != nil {
		return nil, err
	}
	e.sweepAtStart(ctx, run)
	rep := &Report{Pipeline: e.job.Pipeline, Run: run.Label}
	var mu sync.Mutex
	var index int
	recovered := e.destinationCheckpoints(sc, run)
	resume := func(ctx context.Context, lane string) (string, bool, error) {
		cp, ok, err := e.store.Checkpoint(ctx, e.job.Pipeline, lane)
		if err != nil || ok {
			return cp, ok, err
		}
		return recovered(ctx, lane)
	}
	handle := func(ctx context.Context, p stage.Partition, read stage.StreamRead) error {
		mu.Lock()
		p.Index = index
		index++
		mu.Unlock()
		p.Run = run
		p.ID = stage.PartitionID(e.job.Pipeline, run.Label, p.Key)
		e.opts.Tracker.Total.Add(1)
		res := PartitionResult{ID: p.ID, Key: p.Key}
		t0 := time.Now()
		n, err := e.claim(ctx, p)
		if errors.Is(err, state.ErrCommitted) {
			err = nil // a crash between the commit and the checkpoint read: the stream consumer resumes after it
		}
		if err != nil {
			return fmt.Errorf("claim stream partition %s: %w", p.Key, err)
		}
		res.Attempts = n
		res.Rows, res.Bytes, err = e.load(ctx, p, schema, n, read)
		res.Outcome = "committed"
		if err != nil {
			res.Outcome, res.Error = "failed", err.Error()
			if ctx.Err() != nil {
				res.Outcome = "aborted"
			}
		}
		res.Duration = time.Since(t0)
		if e.opts.OnPartition != nil {
			e.opts.OnPartition(res)
		}
		mu.Lock()
		rep.Partitions = append(rep.Partitions, res)
		mu.Unlock()
		if err != nil && res.Outcome == "failed" {
			e.opts.Tracker.Failed.Add(1)
			e.opts.Logger.Error("partition failed", "partition", p.Key, "id", p.ID, "attempts", n, "err", err)
			if stage.IsFatal(err) { // not the partition's fault: the stream cannot go on, whatever it reads
				return fmt.Errorf("partition %s: %w", p.Key, err)
			}
			return &PartitionFailedError{Key: p.Key, ID: p.ID, Err: err}
		}
		return err
	}
	err = sc.Stream(ctx, run, resume, handle)
	rep.tally()
	rep.Stages = e.Stages()
	rep.Duration = time.Since(start)
	if err != nil {
		return rep, fmt.Errorf("stream: %w", err)
	}
	return rep, nil
}
