package iceberg

import (
	"context"
	"sync"
	"time"
)

// grouper commits several partitions in one snapshot (commit.max_partitions), so that a run of many small
// partitions does not make thousands of snapshots. Each PartitionWriter.Commit still returns only once its
// partition is committed: it waits in the pending group, which is committed when it holds max_partitions, when
// no other partition of this process is still being written (nobody else can join soon), or when the oldest
// member has waited max_interval. One group commit runs at a time; partitions arriving meanwhile form the next.
type grouper struct {
	l        *Loader
	max      int
	interval time.Duration

	mu      sync.Mutex
	writing int // partitions begun and not yet committing or aborted
	pending []*groupReq
	opened  time.Time // when the oldest pending member arrived
	timer   *time.Timer
	running bool
}

type groupReq struct {
	m    member
	done chan groupResult
}

type groupResult struct {
	token string
	err   error
}

func (g *grouper) join() {
	g.mu.Lock()
	g.writing++
	g.mu.Unlock()
}

// leave is for a writer that will not commit (aborted, or failed before committing).
func (g *grouper) leave() {
	g.mu.Lock()
	g.writing--
	g.kick()
	g.mu.Unlock()
}

// commit adds m to the pending group and waits for that group's commit. It does not give up when ctx ends: once
// queued, the partition's outcome must be known before Commit returns.
func (g *grouper) commit(_ context.Context, m member) (string, error) {
	r := &groupReq{m: m, done: make(chan groupResult, 1)}
	g.mu.Lock()
	g.writing--
	if len(g.pending) == 0 {
		g.opened = time.Now()
	}
	g.pending = append(g.pending, r)
	g.kick()
	g.mu.Unlock()
	res := <-r.done
	return res.token, res.err
}

// kick starts a group commit when one is due; g.mu is held.
func (g *grouper) kick() {
	if g.running || len(g.pending) == 0 {
		return
	}
	waited := time.Since(g.opened)
	if len(g.pending) < g.max && g.writing > 0 && waited < g.interval {
		if g.timer == nil {
			g.timer = time.AfterFunc(g.interval-waited, func() {
				g.mu.Lock()
				g.timer = nil
				g.kick()
				g.mu.Unlock()
			})
		}
		return
	}
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	// Two attempts at one partition (a racing retry) never share a snapshot: the later goes in the next group,
	// whose commit replaces the earlier's files as any re-commit does.
	var batch, rest []*groupReq
	ids := map[string]bool{}
	for _, r := range g.pending {
		if len(batch) < g.max && !ids[r.m.info.PartitionID] {
			ids[r.m.info.PartitionID] = true
			batch = append(batch, r)
		} else {
			rest = append(rest, r)
		}
	}
	g.pending = rest
	if len(g.pending) > 0 {
		g.opened = time.Now()
	}
	g.running = true
	go g.run(batch)
}

func (g *grouper) run(batch []*groupReq) {
	ms := make([]member, len(batch))
	for i, r := range batch {
		ms[i] = r.m
	}
	// Not the members' contexts: a commit under way is finished whoever stops waiting, so its outcome is known.
	token, err := g.l.commitFiles(context.Background(), ms)
	for _, r := range batch {
		r.done <- groupResult{token, err}
	}
	g.mu.Lock()
	g.running = false
	g.kick()
	g.mu.Unlock()
}
