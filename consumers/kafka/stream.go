package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/jetflow-dev/jetflow/stage"
)

// StreamKey is the key of the stream partition of a topic-partition that starts at offset first: "orders/3@1200".
func StreamKey(topic string, partition int32, first int64) string {
	return lane(topic, partition) + "@" + strconv.FormatInt(first, 10)
}

// streamer is one Stream call: a group member whose assigned topic-partitions each run as a lane.
type streamer struct {
	c      *Consumer
	run    stage.RunInstance
	resume stage.ResumeFunc
	handle stage.PartitionHandler
	ctx    context.Context // cancelled when the stream is aborted: lanes abort the partition in flight
	schema *arrow.Schema
	cl     *kgo.Client

	mu       sync.Mutex
	lanes    map[string]*laneState
	resumeAt map[string]int64                     // offsets recovered from checkpoints at assignment, for lanes not started yet
	done     map[string]map[int32]kgo.EpochOffset // next offset after the newest committed partition of each owned lane
	failed   error
	failc    chan struct{} // closed once failed is set
	stopPoll context.CancelFunc
	draining bool // the stream was stopped: lanes finish their partition in flight and end
	// For lag: the high watermark of each owned lane in its last fetch, and the offset its next partition
	// starts at (everything before it is committed).
	highWater, position map[string]int64
}

// laneState is one topic-partition being read: a goroutine that cuts partitions and hands them to the engine.
type laneState struct {
	name      string
	topic     string
	partition int32
	next      int64 // first offset of the next partition
	known     bool  // next came from a checkpoint; otherwise the first record seen sets it
	ch        chan []*kgo.Record
	stop      chan struct{} // closed: finish the partition in flight, then end (revoked)
	stopOnce  sync.Once
	ctx       context.Context
	cancel    context.CancelFunc // abort the partition in flight (partitions lost, stream ending)
	done      chan struct{}
}

// Stream implements stage.StreamConsumer. It joins the consumer group; each assigned topic-partition resumes at
// the checkpoint committed with its newest partition (never at the group's offsets) and runs as a lane that cuts
// partitions by roll. When the group revokes a topic-partition, its lane finishes and commits the partition in
// flight before the revocation completes, so the next owner resumes exactly after it.
func (c *Consumer) Stream(ctx context.Context, run stage.RunInstance, resume stage.ResumeFunc, handle stage.PartitionHandler) error {
	schema, err := c.Schema(ctx)
	if err != nil {
		return err
	}
	if err := c.refusedLogin(ctx); err != nil {
		return err
	}
	// Lanes outlive ctx: when it ends (SIGTERM) they drain, ending and committing their partitions in flight,
	// until drain_timeout; cancel aborts them.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &streamer{c: c, schema: schema, run: run, resume: resume, handle: handle, ctx: sctx,
		lanes: map[string]*laneState{}, resumeAt: map[string]int64{}, done: map[string]map[int32]kgo.EpochOffset{}, failc: make(chan struct{}),
		highWater: map[string]int64{}, position: map[string]int64{}}
	c.streaming.Store(s)
	defer c.streaming.Store(nil)
	pctx, stopPoll := context.WithCancel(sctx) // also stopped when a lane fails
	s.stopPoll = stopPoll
	opts := append(append([]kgo.Opt(nil), c.base...),
		kgo.ConsumerGroup(c.cfg.Group),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.AdjustFetchOffsetsFn(s.adjust),
		kgo.OnPartitionsRevoked(s.revoked),
		kgo.OnPartitionsLost(s.lost),
		kgo.ConsumeResetOffset(c.startOffset()),
		kgo.WithPools(c.pools), // the lanes recycle each record once it is in a batch
	)
	if c.cfg.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(c.cfg.SessionTimeout.D()))
	}
	if c.cfg.MetadataMaxAge > 0 {
		age := c.cfg.MetadataMaxAge.D()
		opts = append(opts, kgo.MetadataMaxAge(age), kgo.MetadataMinAge(min(age, 5*time.Second)))
	}
	if c.cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(c.cfg.InstanceID))
	}
	if c.topicRe != nil {
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(c.topicRe.String()))
	} else {
		opts = append(opts, kgo.ConsumeTopics(c.cfg.Topics...))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		stopPoll()
		cancel()
		return fmt.Errorf("kafka: connect to %s: %w", strings.Join(c.cfg.Brokers, ","), err)
	}
	s.cl = cl
	ended := make(chan struct{})
	go s.drainOnStop(ctx, ended, cancel)
	err = s.poll(pctx)
	stopPoll()
	if ctx.Err() == nil {
		// A lane failed: the others abort their partition in flight (it is read again after a restart).
		cancel()
	}
	// Lanes end (drained or aborted) before the client leaves the group, so no other member can start on a
	// topic-partition this one still loads.
	s.waitLanes()
	close(ended)
	cancel()
	s.mu.Lock()
	s.lanes = map[string]*laneState{} // all ended: the revocation Close triggers has nothing left to hand back
	s.mu.Unlock()
	// A last synchronous commit of the group's offsets, so lag tools see where this member stopped.
	s.mu.Lock()
	final := s.done
	s.done = nil
	s.mu.Unlock()
	if len(final) > 0 {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		cl.CommitOffsetsSync(cctx, final, nil)
		ccancel()
	}
	cl.Close()
	if err == nil {
		s.mu.Lock()
		err = s.failed
		s.mu.Unlock()
	}
	return err
}

// drainOnStop waits for ctx to end (the stream is stopped) and then drains: polling stops, every lane ends its
// partition in flight early and commits it, as on a revocation. Lanes still running after drain_timeout are
// aborted (abort). It returns when the stream has ended.
func (s *streamer) drainOnStop(ctx context.Context, ended <-chan struct{}, abort context.CancelFunc) {
	select {
	case <-ctx.Done():
	case <-ended:
		return
	}
	s.stopPoll()
	s.mu.Lock()
	s.draining = true
	lanes := make([]*laneState, 0, len(s.lanes))
	for _, ln := range s.lanes {
		lanes = append(lanes, ln)
	}
	s.mu.Unlock()
	s.c.log.Info("kafka: stream stopped; committing the partitions in flight", "lanes", len(lanes), "drain_timeout", s.c.cfg.DrainTimeout.D())
	for _, ln := range lanes {
		ln.stopOnce.Do(func() { close(ln.stop) })
	}
	t := time.NewTimer(s.c.cfg.DrainTimeout.D())
	defer t.Stop()
	select {
	case <-t.C:
		s.c.log.Warn("kafka: drain_timeout reached; aborting the partitions still in flight (they are read again after a restart)")
		abort()
	case <-ended:
	}
}

func (c *Consumer) startOffset() kgo.Offset {
	switch {
	case c.startMs == -2:
		return kgo.NewOffset().AtStart()
	case c.startMs == -1:
		return kgo.NewOffset().AtEnd()
	default:
		return kgo.NewOffset().AfterMilli(c.startMs)
	}
}

// poll fetches and hands each topic-partition's records to its lane until ctx ends or a lane fails.
func (s *streamer) poll(ctx context.Context) error {
	for {
		fetches := s.cl.PollRecords(ctx, 4*s.c.cfg.BatchRows)
		if ctx.Err() != nil {
			s.cl.AllowRebalance()
			return nil
		}
		select {
		case <-s.failc:
			s.cl.AllowRebalance()
			return nil
		default:
		}
		if err := fetchError(fetches); err != nil {
			if errors.Is(err, kgo.ErrClientClosed) {
				s.cl.AllowRebalance()
				return nil
			}
			if ferr := s.c.classify(err, err); stage.IsFatal(ferr) { // retrying would only log in again
				s.cl.AllowRebalance()
				return fmt.Errorf("kafka: consume from %s: %w", strings.Join(s.c.cfg.Brokers, ","), ferr)
			}
			s.c.log.Warn("kafka: fetch failed; franz-go retries", "err", err)
		}
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.Err == nil && p.HighWatermark >= 0 {
				s.mu.Lock()
				s.highWater[lane(p.Topic, p.Partition)] = p.HighWatermark
				s.mu.Unlock()
			}
			if len(p.Records) == 0 {
				return
			}
			ln := s.laneFor(p.Topic, p.Partition)
			select {
			case ln.ch <- p.Records:
			case <-ln.done:
			case <-ctx.Done():
			}
		})
		s.cl.AllowRebalance()
	}
}

// laneFor returns the running lane of a topic-partition, starting it on its first records.
func (s *streamer) laneFor(topic string, partition int32) *laneState {
	name := lane(topic, partition)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ln := s.lanes[name]; ln != nil {
		select {
		case <-ln.done:
		default:
			return ln
		}
	}
	lctx, cancel := context.WithCancel(s.ctx)
	ln := &laneState{name: name, topic: topic, partition: partition, ch: make(chan []*kgo.Record, 4),
		stop: make(chan struct{}), ctx: lctx, cancel: cancel, done: make(chan struct{})}
	if s.draining { // records polled just before the stop: loaded as one last partition, then the lane ends
		close(ln.stop)
	}
	if off, ok := s.resumeAt[name]; ok {
		ln.next, ln.known = off, true
		delete(s.resumeAt, name)
	}
	s.lanes[name] = ln
	go s.runLane(ln)
	return ln
}

// adjust is called after the group assigns topic-partitions and before fetching starts: each starts at the
// checkpoint committed with its newest partition, whatever offset the group has committed.
func (s *streamer) adjust(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	for topic, ps := range offsets {
		for p := range ps {
			name := lane(topic, p)
			cp, ok, err := s.resume(ctx, name)
			if err != nil && ctx.Err() != nil {
				return nil, err // the client is closing (the stream stopped during a rebalance): nothing to load
			}
			if err != nil {
				s.fail(fmt.Errorf("kafka: read the checkpoint of lane %s: %w", name, err))
				return nil, err
			}
			if !ok {
				ps[p] = s.c.startOffset()
				continue
			}
			off, err := strconv.ParseInt(cp, 10, 64)
			if err != nil || off < 0 {
				err = fmt.Errorf("kafka: the checkpoint of lane %s is %q, not an offset; was it written by another consumer type?", name, cp)
				s.fail(err)
				return nil, err
			}
			ps[p] = kgo.NewOffset().At(off).WithEpoch(-1)
			s.mu.Lock()
			s.resumeAt[name] = off
			s.mu.Unlock()
		}
	}
	return offsets, nil
}

// revoked finishes the partitions in flight of the revoked topic-partitions (commits them) before the group
// moves them to another member.
func (s *streamer) revoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	s.endLanes(revoked, false)
}

// lost aborts the partitions in flight of topic-partitions the member lost: another member may already own them.
func (s *streamer) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	s.endLanes(lost, true)
}

func (s *streamer) endLanes(tps map[string][]int32, abort bool) {
	var ending []*laneState
	s.mu.Lock()
	for topic, ps := range tps {
		for _, p := range ps {
			name := lane(topic, p)
			delete(s.resumeAt, name)
			delete(s.done[topic], p)
			delete(s.highWater, name)
			delete(s.position, name)
			if ln := s.lanes[name]; ln != nil {
				ending = append(ending, ln)
				delete(s.lanes, name)
			}
		}
	}
	s.mu.Unlock()
	for _, ln := range ending {
		if abort {
			ln.cancel()
		}
		ln.stopOnce.Do(func() { close(ln.stop) })
	}
	for _, ln := range ending {
		<-ln.done
		s.c.log.Info("kafka: lane handed back to the group", "lane", ln.name, "next_offset", ln.next, "aborted", abort)
	}
}

// Lag implements stage.LagReporter while a stream runs: per owned lane that has started, the records its last
// fetch saw past the lane's committed position. Outside a stream it reports nothing.
func (c *Consumer) Lag() map[string]int64 {
	s := c.streaming.Load()
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.position))
	for name, pos := range s.position {
		if hw, ok := s.highWater[name]; ok {
			out[name] = max(hw-pos, 0)
		}
	}
	return out
}

func (s *streamer) waitLanes() {
	s.mu.Lock()
	lanes := make([]*laneState, 0, len(s.lanes))
	for _, ln := range s.lanes {
		lanes = append(lanes, ln)
	}
	s.mu.Unlock()
	for _, ln := range lanes {
		<-ln.done
	}
}

func (s *streamer) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = err
		close(s.failc)
		if s.stopPoll != nil {
			s.stopPoll()
		}
	}
}

// runLane cuts the lane's records into partitions and hands each to the engine, until stopped.
func (s *streamer) runLane(ln *laneState) {
	defer close(ln.done)
	defer ln.cancel()
	var pending []*kgo.Record
	for {
		if len(pending) == 0 {
			select {
			case pending = <-ln.ch:
			case <-ln.stop:
				return
			case <-ln.ctx.Done():
				return
			}
		}
		if !ln.known {
			ln.next, ln.known = pending[0].Offset, true
		}
		s.mu.Lock()
		s.position[ln.name] = ln.next
		s.mu.Unlock()
		first := ln.next
		p := stage.Partition{Key: StreamKey(ln.topic, ln.partition, first), Lane: ln.name, Lo: first, Run: s.run}
		called, end := false, int64(-1)
		read := func(ctx context.Context, out func(arrow.RecordBatch) error) (string, error) {
			if called {
				return "", fmt.Errorf("kafka: stream partition %s read twice; a failed load is read again after a restart", p.Key)
			}
			called = true
			var err error
			end, err = s.readPartition(ctx, ln, p, &pending, out)
			if err != nil {
				return "", err
			}
			return strconv.FormatInt(end, 10), nil
		}
		err := s.handle(ln.ctx, p, read)
		if ln.ctx.Err() != nil {
			if err != nil {
				s.c.log.Debug("kafka: stream partition aborted", "key", p.Key, "err", err)
			}
			return
		}
		if err == nil && end < 0 {
			err = fmt.Errorf("kafka: the handler of stream partition %s returned without reading it", p.Key)
		}
		if err != nil {
			s.fail(err)
			return
		}
		ln.next = end
		s.mu.Lock()
		if s.done != nil {
			if s.done[ln.topic] == nil {
				s.done[ln.topic] = map[int32]kgo.EpochOffset{}
			}
			s.done[ln.topic][ln.partition] = kgo.EpochOffset{Epoch: -1, Offset: end}
		}
		s.mu.Unlock()
		// The group's offsets only serve lag monitoring: jetflow resumes from its own checkpoints.
		s.cl.CommitOffsets(context.WithoutCancel(ln.ctx), map[string]map[int32]kgo.EpochOffset{
			ln.topic: {ln.partition: {Epoch: -1, Offset: end}},
		}, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				s.c.log.Debug("kafka: committing the group offset failed (lag monitoring only)", "lane", ln.name, "err", err)
			}
		})
		select {
		case <-ln.stop:
			return
		default:
		}
	}
}

// readPartition emits records from *pending and the lane's channel until a roll limit is reached, the lane is
// stopped, or ctx ends; it returns the offset after the last record of the partition.
func (s *streamer) readPartition(ctx context.Context, ln *laneState, p stage.Partition, pending *[]*kgo.Record, out func(arrow.RecordBatch) error) (int64, error) {
	roll := s.c.cfg.Roll
	r := s.c.newPartReader(ctx, s.schema, out)
	defer r.b.release()
	var timer <-chan time.Time
	if roll.Interval > 0 {
		t := time.NewTimer(roll.Interval.D())
		defer t.Stop()
		timer = t.C
	}
	next := ln.next
	var rows, bytes int64
	for {
		for len(*pending) > 0 {
			if (roll.Rows > 0 && rows >= roll.Rows) || (roll.Bytes > 0 && bytes >= int64(roll.Bytes)) {
				return s.finish(ctx, r, p, next)
			}
			rec := (*pending)[0]
			*pending = (*pending)[1:]
			if rec.Offset < next {
				rec.Recycle()
				continue
			}
			if rec.Attrs.IsControl() { // a transaction marker: nothing to load, but the checkpoint moves past it
				next = rec.Offset + 1
				rec.Recycle()
				continue
			}
			if rec.Offset > next && rows == 0 && rec.Offset-next > 1 {
				s.c.log.Warn("kafka: offsets skipped at the start of a partition (deleted by retention or compaction, or transaction markers)",
					"lane", ln.name, "expected", next, "got", rec.Offset)
			}
			err := r.record(rec) // copies the record into the batch, or clones it for the dead letter
			off, size := rec.Offset, int64(len(rec.Key)+len(rec.Value))
			rec.Recycle() // zeroes *rec
			if err != nil {
				return 0, err
			}
			next = off + 1
			rows++
			bytes += size
		}
		if (roll.Rows > 0 && rows >= roll.Rows) || (roll.Bytes > 0 && bytes >= int64(roll.Bytes)) {
			return s.finish(ctx, r, p, next)
		}
		// Nothing buffered: hand over what is built before waiting, so a quiet topic does not hold rows back.
		if err := r.flush(); err != nil {
			return 0, err
		}
		select {
		case recs := <-ln.ch:
			*pending = recs
		case <-timer:
			return s.finish(ctx, r, p, next)
		case <-ln.stop:
			return s.finish(ctx, r, p, next)
		case <-ctx.Done():
			return 0, fmt.Errorf("kafka: stream partition %s stopped at offset %d: %w", p.Key, next, context.Cause(ctx))
		}
	}
}

func (s *streamer) finish(ctx context.Context, r *partReader, p stage.Partition, next int64) (int64, error) {
	if err := r.flush(); err != nil {
		return 0, err
	}
	if err := s.c.finishBad(ctx, r, p); err != nil {
		return 0, err
	}
	return next, nil
}
