package generate

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/jetflow-dev/jetflow/internal/records"
	"github.com/jetflow-dev/jetflow/stage"
)

// lane is the stream generator's only lane: one sequence of row numbers.
const lane = "0"

// Stream is the unbounded generator. Its partitions are consecutive row ranges of lane "0", keyed
// "rows@<first row>", each cut when roll.rows, roll.bytes or roll.interval is reached; the checkpoint committed
// with a partition is the next row number, in decimal.
type Stream struct {
	*core
	stream StreamConfig
}

var (
	_ stage.StreamConsumer     = (*Stream)(nil)
	_ stage.DeclaredSchema     = (*Stream)(nil)
	_ stage.CheckpointComparer = (*Stream)(nil)
)

// StreamKey is the key of the stream partition that starts at row first.
func StreamKey(first int64) string { return "rows@" + strconv.FormatInt(first, 10) }

// Stream generates partitions one after another until ctx is cancelled. It then returns nil once the handler of
// the partition in flight has returned, whatever that handler returned, since a partition cut short by the
// cancellation is aborted and regenerated after a restart. Any other handler error is returned as is.
//
// The read func given to the handler may be called once: a partition whose load fails is not re-read in place
// but regenerated from the last committed checkpoint when the stream restarts (it then gets the same key and
// first row; how many rows it holds may differ, since bytes and time also cut partitions).
func (s *Stream) Stream(ctx context.Context, run stage.RunInstance, resume stage.ResumeFunc, handle stage.PartitionHandler) error {
	next := int64(0)
	cp, ok, err := resume(ctx, lane)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("generate: reading the checkpoint of lane %s: %w", lane, err)
	}
	if ok {
		next, err = strconv.ParseInt(cp, 10, 64)
		if err != nil || next < 0 {
			return fmt.Errorf("generate: the checkpoint of lane %s is %q, not a row number; was it written by another consumer type?", lane, cp)
		}
	}
	b, err := s.batcher(run)
	if err != nil {
		return err
	}
	lim := newLimiter(s.stream.Rate, s.batchRows)
	for index := 0; ; index++ {
		if ctx.Err() != nil {
			return nil
		}
		first := next
		p := stage.Partition{Key: StreamKey(first), Index: index, Lo: first, Run: run, Lane: lane}
		called, end := false, int64(-1)
		read := func(ctx context.Context, out func(arrow.RecordBatch) error) (string, error) {
			if called {
				return "", errReadTwice
			}
			called = true
			e, err := s.readPartition(ctx, b, lim, first, out)
			if err != nil {
				return "", err
			}
			end = e
			return strconv.FormatInt(e, 10), nil
		}
		err := handle(ctx, p, read)
		if ctx.Err() != nil {
			if err != nil {
				s.log.Debug("generate: stream partition aborted by cancellation", "key", p.Key, "err", err)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if end < 0 {
			return fmt.Errorf("generate: the handler of stream partition %s returned without reading it", p.Key)
		}
		next = end
	}
}

// readPartition emits rows from first until a roll limit is reached and returns the row after the last one.
// A partition always holds at least one batch, so a tiny interval cannot make empty partitions.
func (s *Stream) readPartition(ctx context.Context, b *batcher, lim *limiter, first int64, out func(arrow.RecordBatch) error) (int64, error) {
	roll := s.stream.Roll
	var deadline time.Time
	if roll.Interval > 0 {
		deadline = time.Now().Add(roll.Interval.D())
	}
	r, bytes := first, int64(0)
	for {
		if r > first {
			switch {
			case roll.Rows > 0 && r-first >= roll.Rows,
				roll.Bytes > 0 && bytes >= int64(roll.Bytes),
				!deadline.IsZero() && !time.Now().Before(deadline):
				return r, nil
			}
		}
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("generate: stream partition %s stopped at row %d: %w", StreamKey(first), r, err)
		}
		n := s.batchRows
		if roll.Rows > 0 {
			n = int(min(int64(n), roll.Rows-(r-first)))
		}
		if lim != nil {
			n = min(n, lim.burst)
			var until time.Time
			if r > first {
				until = deadline // a partition with rows ends at its deadline rather than wait past it
			}
			ok, err := lim.wait(ctx, n, until)
			if err != nil {
				return 0, fmt.Errorf("generate: stream partition %s stopped at row %d: %w", StreamKey(first), r, err)
			}
			if !ok {
				return r, nil
			}
		}
		rec := b.batch(r, n)
		bytes += records.Bytes(rec)
		err := out(rec)
		rec.Release()
		if err != nil {
			return 0, err
		}
		r += int64(n)
	}
}

// limiter is a token bucket in rows: it fills at rate rows per second up to burst rows (a tenth of a second's
// worth, at most a batch), and starts empty so the rate holds from the first batch.
type limiter struct {
	rate   float64
	burst  int
	tokens float64
	last   time.Time
}

func newLimiter(rate int64, batchRows int) *limiter {
	if rate <= 0 {
		return nil
	}
	burst := int(min(int64(batchRows), max(rate/10, 1)))
	return &limiter{rate: float64(rate), burst: burst, last: time.Now()}
}

// wait takes n tokens, sleeping until they are there. It returns false without taking them when they would only
// be there after until (a non-zero deadline), and an error when ctx ends first.
func (l *limiter) wait(ctx context.Context, n int, until time.Time) (bool, error) {
	now := time.Now()
	l.tokens = min(float64(l.burst), l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	if short := float64(n) - l.tokens; short > 0 {
		d := time.Duration(short / l.rate * float64(time.Second))
		ready := now.Add(d)
		if !until.IsZero() && ready.After(until) {
			d = until.Sub(now)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
		if !until.IsZero() && ready.After(until) {
			return false, nil
		}
		now = time.Now()
		l.tokens = min(float64(l.burst), l.tokens+now.Sub(l.last).Seconds()*l.rate)
		l.last = now
		l.tokens = max(l.tokens, float64(n)) // the timer fired: the tokens are due even if it fired early
	}
	l.tokens -= float64(n)
	return true, nil
}

// CompareCheckpoints implements stage.CheckpointComparer: checkpoints are row numbers.
func (s *Stream) CompareCheckpoints(a, b string) (int, error) {
	return stage.CompareIntCheckpoints(a, b)
}
