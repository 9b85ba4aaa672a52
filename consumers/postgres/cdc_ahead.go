package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pglogrepl"

	"github.com/jetflow-dev/jetflow/stage"
)

// readAheadBytes bounds the row data read ahead: decoded while the partition before commits, not yet handed to
// the loaders. With it, a partition ahead holds this much at most, whatever its roll limits.
const readAheadBytes = 64 << 20

// aheadBounds is the read-ahead's bound on row data (readAheadBytes; tests lower it) and the most it held, which
// tests check against its bounds.
type aheadBounds struct {
	maxBytes int64
	bytes    atomic.Int64 // the most row data handed over and not yet taken by the loaders
	parts    atomic.Int64 // the most partitions read whole and not yet committed
	waits    atomic.Int64 // hand-overs that had to wait (a bound reached)
}

// held notes what the read-ahead holds after a hand-over.
func (a *aheadBounds) held(bytes int64, parts int) {
	if bytes > a.bytes.Load() {
		a.bytes.Store(bytes) // one reader at a time writes these
	}
	if int64(parts) > a.parts.Load() {
		a.parts.Store(int64(parts))
	}
}

// aheadItem is what the reader hands over for a partition: a batch, or its end (rec nil), or its failure.
type aheadItem struct {
	rec   arrow.RecordBatch
	bytes int64         // rec's row data, counted against readAheadBytes
	end   pglogrepl.LSN // with rec nil and err nil: the partition's checkpoint
	err   error
}

// readAhead runs while the stream reads one connection: it reads the slot into partitions, each a channel handed
// over on parts, one partition at most ahead of the one committing (parts holds one; the next waits until the
// handler takes it, which is once the one before is committed). It returns when the stream stops between
// partitions (stop), when the handler gives up (abort) or when reading fails, with why in r.ended; it closes
// every channel it made.
func (r *replReader) readAhead(stop, abort context.Context, parts chan<- chan aheadItem) {
	defer close(parts)
	for {
		if err := r.waitBegin(stop, abort); err != nil {
			r.ended = err
			return
		}
		pc := make(chan aheadItem, 64)
		if err := send(r, abort, parts, pc, 0); err != nil {
			close(pc)
			r.ended = err
			return
		}
		end, err := r.readPartition(abort, stop, func(rec arrow.RecordBatch, bytes int64) error {
			rec.Retain()
			it := aheadItem{rec: rec, bytes: bytes}
			r.ahead.Add(it.bytes)
			if err := send(r, abort, pc, it, it.bytes); err != nil {
				r.ahead.Add(-it.bytes)
				rec.Release()
				return err
			}
			return nil
		})
		var then error // the partition commits, then the reader stops with it (a new schema)
		if err != nil && end != 0 {
			then, err = err, nil
		}
		if err == nil {
			r.pending++
			r.s.ahead.held(0, r.pending)
			err = send(r, abort, pc, aheadItem{end: end}, 0)
		} else {
			err = send(r, abort, pc, aheadItem{err: err}, 0)
		}
		close(pc)
		if err == nil {
			err = then
		}
		if err != nil {
			r.ended = err
			return
		}
		if stop.Err() != nil {
			r.ended = stop.Err()
			return
		}
	}
}

// send hands v over on ch, meanwhile confirming committed partitions to the server and keeping the connection
// alive. An item of n bytes (already counted in r.ahead) waits while the row data handed over and not taken
// would pass the bound with it; alone, it goes whatever its size.
func send[T any](r *replReader, abort context.Context, ch chan<- T, v T, n int64) error {
	for waited := false; ; waited = true {
		to := ch
		if held := r.ahead.Load() - n; n > 0 && held > 0 && held+n > r.s.ahead.maxBytes {
			to = nil // wait for the handler to take what is ahead
		}
		if !waited {
			select {
			case to <- v:
				r.s.ahead.held(r.ahead.Load(), 0)
				return nil
			default:
				r.s.ahead.waits.Add(1)
			}
		}
		status := time.NewTimer(time.Until(r.nextStatus))
		select {
		case to <- v:
			status.Stop()
			r.s.ahead.held(r.ahead.Load(), 0)
			return nil
		case <-r.freed:
		case end := <-r.commits:
			if err := r.ack(abort, end); err != nil {
				status.Stop()
				return err
			}
		case <-status.C:
			if err := r.status(abort, false); err != nil {
				return err
			}
		case <-abort.Done():
			status.Stop()
			return abort.Err()
		}
		status.Stop()
	}
}

// ack notes, in the reader, that the partition ending at end is committed: the server may recycle the WAL before
// it.
func (r *replReader) ack(ctx context.Context, end pglogrepl.LSN) error {
	r.acked = end
	r.pending--
	if end > r.confirmed {
		r.confirmed = end
	}
	return r.status(ctx, false)
}

// acks takes the commits the handler reported, without waiting.
func (r *replReader) acks(ctx context.Context) error {
	for {
		select {
		case end := <-r.commits:
			if err := r.ack(ctx, end); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// run reads the connection ahead in a goroutine and loads its partitions one after the other, until the stream
// stops (nil), a partition fails or the reader fails (its error; r.lost says whether the connection was lost).
// loaded is called after each partition's commit.
func (r *replReader) run(ctx, hctx context.Context, handle stage.PartitionHandler, loaded func()) error {
	abort, cancel := context.WithCancel(hctx)
	parts := make(chan chan aheadItem, 1)
	r.commits = make(chan pglogrepl.LSN, 4)
	r.freed = make(chan struct{}, 1)
	r.acked, r.pending, r.ended = r.committed, 0, nil
	r.ahead.Store(0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.readAhead(ctx, abort, parts)
	}()
	// stopReader stops the reader and drops what it read ahead: a restart reads it again after the committed
	// position. The connection is the stream's again once it returns.
	stopReader := func(pc chan aheadItem) {
		cancel()
		for pc != nil {
			it, ok := <-pc
			if !ok {
				break
			}
			if it.rec != nil {
				it.rec.Release()
			}
		}
		for pc := range parts {
			for it := range pc {
				if it.rec != nil {
					it.rec.Release()
				}
			}
		}
		<-done
		if r.committed > r.confirmed {
			r.confirmed = r.committed
		}
	}
	for {
		pc, ok := <-parts
		if !ok {
			stopReader(nil)
			if ctx.Err() != nil {
				_ = r.status(hctx, false) // the last partition's end
				return nil
			}
			return r.ended
		}
		end, readFailed, err := r.load(hctx, pc, handle)
		if err != nil {
			stopReader(pc)
			if !readFailed {
				r.lost = nil // the loaders failed, not the connection: what the reader met meanwhile is not why
			}
			return err
		}
		r.committed = end
		loaded()
		select {
		case r.commits <- end:
		case <-done:
		}
	}
}

// load hands the partition read ahead on pc to handle, which commits it, and returns its end; readFailed says
// that the reader's failure failed it.
func (r *replReader) load(hctx context.Context, pc chan aheadItem, handle stage.PartitionHandler) (end pglogrepl.LSN, readFailed bool, err error) {
	p := stage.Partition{Key: r.s.cfg.Slot + "@" + r.committed.String(), Lane: r.s.cfg.Slot}
	err = handle(hctx, p, func(rctx context.Context, out func(arrow.RecordBatch) error) (string, error) {
		for {
			var it aheadItem
			var ok bool
			select {
			case it, ok = <-pc:
			case <-rctx.Done():
				return "", rctx.Err()
			}
			switch {
			case !ok:
				readFailed = true
				return "", fmt.Errorf("postgres cdc: slot %s: the reader stopped within a partition", r.s.cfg.Slot)
			case it.err != nil:
				readFailed = true
				return "", it.err
			case it.rec == nil:
				end = it.end
				return end.String(), nil
			}
			r.ahead.Add(-it.bytes)
			select {
			case r.freed <- struct{}{}:
			default:
			}
			err := out(it.rec)
			it.rec.Release()
			if err != nil {
				return "", err
			}
		}
	})
	return end, readFailed, err
}
