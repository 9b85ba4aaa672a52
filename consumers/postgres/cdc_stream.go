package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/jetflow-dev/jetflow/consumers/internal/sqlsource"
	"github.com/jetflow-dev/jetflow/stage"
)

// statusEvery is how often the stream tells the server where it is, at least (the server's
// wal_sender_timeout is 60s by default).
const statusEvery = 10 * time.Second

// drainFor is how long a stopped stream waits for the transaction in flight to end, so that the partition in
// flight can commit; past it, the partition is aborted and read again after a restart.
const drainFor = 20 * time.Second

// Stream implements stage.StreamConsumer. The stream is one lane, named after the slot. Without a checkpoint
// for it, the slot is created with an exported snapshot, the table is loaded in that snapshot (its last
// partition carries the slot's consistent point as the checkpoint), and the changes stream from there. A
// partition ends at a transaction's commit only; the slot's confirmed position moves to a partition's end once
// the partition is committed, and a restart drops every transaction that commits before the checkpoint.
func (s *CDC) Stream(ctx context.Context, run stage.RunInstance, resume stage.ResumeFunc, handle stage.PartitionHandler) error {
	if _, err := s.Schema(ctx); err != nil {
		return err
	}
	lane := s.cfg.Slot
	cp, ok, err := resume(ctx, lane)
	if err != nil {
		return fmt.Errorf("postgres cdc: read the checkpoint of slot %s: %w", lane, err)
	}
	if ok && cp == ReloadCheckpoint {
		ok = false // jetflow cdc drop asked for a new initial load
	}
	si, err := s.waitSlotFree(ctx)
	if err != nil {
		return err
	}
	var start pglogrepl.LSN
	if ok {
		if start, err = pglogrepl.ParseLSN(cp); err != nil {
			return fmt.Errorf("postgres cdc: the checkpoint of slot %s is %q, not a log position; was it written by another consumer type?", lane, cp)
		}
		if !si.Exists {
			return s.slotDropped(start, fmt.Errorf("postgres cdc: slot %s does not exist on %s", lane, s.base.where))
		}
		s.base.log.Info("postgres cdc: resuming", "slot", lane, "after", cp)
	}
	rc, err := s.replConnect(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = rc.Close(context.WithoutCancel(ctx)) }() // closing twice (stream closes it too) is harmless
	if !ok {
		if start, err = s.initialLoad(ctx, rc, si, run, handle); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return s.stream(ctx, rc, start, handle)
}

// stream reads the slot from start and hands the changes to handle, one partition at a time.
func (s *CDC) stream(ctx context.Context, rc *pgconn.PgConn, start pglogrepl.LSN, handle stage.PartitionHandler) error {
	r := &replReader{s: s, conn: rc, committed: start, confirmed: start}
	defer func() { _ = r.conn.Close(context.WithoutCancel(ctx)) }()
	if err := r.start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go s.watchSlot(wctx)
	hctx := context.WithoutCancel(ctx) // a stopped stream commits the partition in flight (drain)
	failures := 0
	for {
		err := r.run(ctx, hctx, handle, func() { failures = 0 })
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if r.lost == nil || stage.IsFatal(err) {
			return err
		}
		// The connection was lost (cut, server restarted): start again after the committed position.
		if failures++; failures > reconnects {
			return fmt.Errorf("postgres cdc: slot %s: gave up after %d reconnects: %w", s.cfg.Slot, reconnects, err)
		}
		s.base.log.Warn("postgres cdc: replication connection lost; reconnecting", "slot", s.cfg.Slot,
			"after", r.committed.String(), "attempt", failures, "err", r.lost)
		if err := r.reconnect(ctx, time.Duration(failures)*time.Second); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if r.lost == nil || stage.IsFatal(err) {
				return err
			}
		}
	}
}

// reconnects is how many times in a row a stream reconnects after losing its connection before it gives up.
const reconnects = 10

// start starts replication from the committed position.
func (r *replReader) start(ctx context.Context) error {
	args := []string{"proto_version '1'", "publication_names '" + r.s.pub + "'", "binary 'true'"}
	r.nextStatus = time.Now().Add(statusEvery)
	r.lost, r.readDeadline = nil, time.Time{}
	err := pglogrepl.StartReplication(ctx, r.conn, r.s.cfg.Slot, r.committed, pglogrepl.StartReplicationOptions{
		Mode: pglogrepl.LogicalReplication, PluginArgs: args})
	if err != nil {
		return r.s.slotError(r.committed, err)
	}
	return nil
}

// reconnect waits, opens a new replication connection and starts replication again. A slot still held by the
// lost connection's walsender (until the server notices the loss) counts as a lost connection too.
func (r *replReader) reconnect(ctx context.Context, wait time.Duration) error {
	_ = r.conn.Close(ctx)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(wait):
	}
	rc, err := r.s.replConnect(ctx)
	if err != nil {
		r.lost = err
		return err
	}
	r.conn = rc
	err = r.start(ctx)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "55006" {
		r.lost = err
	}
	return err
}

// slotWatchEvery is how often a stream reads how much WAL its slot holds back.
const slotWatchEvery = 30 * time.Second

// watchSlot warns, once each time it passes max_slot_lag, that the slot holds back more WAL than that.
func (s *CDC) watchSlot(ctx context.Context) {
	t := time.NewTicker(slotWatchEvery)
	defer t.Stop()
	over := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		si, err := s.Slot(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.base.log.Warn("postgres cdc: could not read the slot's retained WAL", "slot", s.cfg.Slot, "err", err)
			}
			continue
		}
		switch {
		case si.Retained > int64(s.cfg.MaxSlotLag) && !over:
			s.base.log.Warn("postgres cdc: the slot holds back more WAL than max_slot_lag; the server keeps it on disk until the stream confirms it",
				"slot", s.cfg.Slot, "retained", stage.ByteSize(si.Retained).String(), "max_slot_lag", s.cfg.MaxSlotLag.String())
			over = true
		case si.Retained <= int64(s.cfg.MaxSlotLag):
			over = false
		}
	}
}

// replReader reads pgoutput messages from a replication connection. While run runs, a goroutine reads ahead
// (readAhead) and owns the connection and the fields below but committed; run's goroutine owns committed.
type replReader struct {
	s          *CDC
	conn       *pgconn.PgConn
	committed  pglogrepl.LSN // the end of the newest committed partition: the lake's checkpoint
	confirmed  pglogrepl.LSN // what the server was told is flushed (≥ committed, when idle keepalives moved it)
	relID      uint32        // the table's relation id in the stream, once a Relation message named it
	cols       []int         // relation column → schema column (-1: not read)
	absent     []bool        // schema columns the relation lacks (dropped): written as null
	widen      []*pgType     // schema columns the relation sends in a narrower type: read in it, then widened
	begin      *pglogrepl.BeginMessage
	idle       bool      // no partition open: a keepalive's position may be confirmed
	lost       error     // the connection failed (not the server's refusal): the stream reconnects
	stopAt     time.Time // when the stopped stream gives up waiting for the transaction in flight
	nextStatus time.Time
	// readDeadline is the socket's read deadline, moved only when it must: next's deadlines are a second
	// ahead.
	readDeadline time.Time

	// The read-ahead's: committed as the reader knows it (from commits), the partitions read and not committed,
	// why the reader ended, and the row data it holds that the handler has not taken (freed says it took some).
	acked   pglogrepl.LSN
	pending int
	ended   error
	commits chan pglogrepl.LSN
	freed   chan struct{}
	ahead   atomic.Int64
}

// next returns the next pgoutput message, or nil when none came before deadline. Keepalives are answered here.
func (r *replReader) next(ctx context.Context, deadline time.Time) (pglogrepl.Message, error) {
	for {
		if err := r.acks(ctx); err != nil {
			return nil, err
		}
		if !time.Now().Before(r.nextStatus) {
			if err := r.status(ctx, false); err != nil {
				return nil, err
			}
		}
		d := deadline
		if r.nextStatus.Before(d) {
			d = r.nextStatus
		}
		// A deadline on the socket rather than a context's: pgconn watches a context with a goroutine per call,
		// which cost more than decoding the message. A timeout leaves the connection usable.
		if d.Before(r.readDeadline) || d.Sub(r.readDeadline) > 100*time.Millisecond {
			if err := r.conn.Conn().SetReadDeadline(d); err != nil {
				r.lost = err
				return nil, r.s.base.sourceErr("read slot "+r.s.cfg.Slot, err)
			}
			r.readDeadline = d
		}
		raw, err := r.conn.ReceiveMessage(context.Background())
		if err != nil {
			if pgconn.Timeout(err) && ctx.Err() == nil {
				if time.Now().Before(deadline) {
					continue
				}
				return nil, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			r.lost = err
			return nil, r.s.base.sourceErr("read slot "+r.s.cfg.Slot, err)
		}
		switch m := raw.(type) {
		case *pgproto3.ErrorResponse:
			pe := pgconn.ErrorResponseToPgError(m)
			if strings.HasPrefix(pe.Code, "57P") { // shut down, restarted or terminated by an administrator
				r.lost = pe
				return nil, r.s.base.sourceErr("read slot "+r.s.cfg.Slot, pe)
			}
			return nil, r.s.slotError(r.acked, pe)
		case *pgproto3.CopyDone, *pgproto3.CommandComplete, *pgproto3.ReadyForQuery:
			// The server ended the stream (a shutdown, or the walsender stopped): start again after the
			// committed position.
			r.lost = fmt.Errorf("the server ended replication (%T)", m)
			return nil, fmt.Errorf("postgres cdc: slot %s on %s: %w", r.s.cfg.Slot, r.s.base.where, r.lost)
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				continue
			}
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					return nil, fmt.Errorf("postgres cdc: slot %s: keepalive: %w", r.s.cfg.Slot, err)
				}
				r.s.lag.Store(max(0, int64(ka.ServerWALEnd)-int64(r.acked)))
				if r.idle && r.pending == 0 && ka.ServerWALEnd > r.confirmed {
					// Idle, with everything received committed: nothing before the server's position concerns the
					// table any more, so the slot need not hold its WAL (the lake's checkpoint stays where it is,
					// and a restart from it starts at this position).
					r.confirmed = ka.ServerWALEnd
				}
				if ka.ReplyRequested {
					if err := r.status(ctx, false); err != nil {
						return nil, err
					}
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					return nil, fmt.Errorf("postgres cdc: slot %s: %w", r.s.cfg.Slot, err)
				}
				if isChange(xld.WALData) {
					return rawChange(xld.WALData), nil
				}
				msg, err := pglogrepl.Parse(xld.WALData)
				if err != nil {
					return nil, fmt.Errorf("postgres cdc: slot %s at %s: %w", r.s.cfg.Slot, xld.WALStart, err)
				}
				return msg, nil
			}
		default:
			return nil, fmt.Errorf("postgres cdc: slot %s: unexpected message %T", r.s.cfg.Slot, raw)
		}
	}
}

// status tells the server the confirmed position: the WAL before it may be recycled.
func (r *replReader) status(ctx context.Context, reply bool) error {
	r.nextStatus = time.Now().Add(statusEvery)
	err := pglogrepl.SendStandbyStatusUpdate(ctx, r.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: r.confirmed, WALFlushPosition: r.confirmed, WALApplyPosition: r.confirmed, ReplyRequested: reply})
	if err != nil {
		r.lost = err
		return r.s.base.sourceErr("confirm position "+r.confirmed.String()+" of slot "+r.s.cfg.Slot, err)
	}
	return nil
}

// waitBegin reads until a transaction to load begins (relations are noted, transactions the lake already
// holds are skipped), answering keepalives meanwhile. It returns ctx's error when the stream stops, and abort's
// when the handler gave up.
func (r *replReader) waitBegin(ctx, abort context.Context) error {
	r.idle = true
	defer func() { r.idle = false }()
	skipping := false // in a transaction the lake already holds
	for {
		if err := ctx.Err(); err != nil && !skipping {
			return err
		}
		if err := abort.Err(); err != nil {
			return err
		}
		wait := time.Second
		if r.pending > 0 {
			wait = 100 * time.Millisecond // a commit is coming: confirm it soon
		}
		msg, err := r.next(ctx, time.Now().Add(wait))
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pglogrepl.RelationMessage:
			if err := r.relation(m); err != nil {
				return err
			}
		case *pglogrepl.BeginMessage:
			if m.FinalLSN < r.acked {
				skipping = true
				continue
			}
			r.begin = m
			return nil
		case *pglogrepl.CommitMessage:
			skipping = false
		}
	}
}

// readPartition reads whole transactions into batches until a roll limit is reached at a commit, or the stream
// stops (stop ends) at a commit. It returns the end of the last transaction read: the partition's checkpoint. out
// gets each batch with its bytes of row data.
//
// A new schema (a column added or retyped) ends the partition before the transaction that carries it, and is
// returned with that end: the partition commits the transactions before it, then the stream stops. Read again
// after a restart, those would come with the old schema, which the new one's decoders cannot read.
func (r *replReader) readPartition(ctx, stop context.Context, out func(arrow.RecordBatch, int64) error) (pglogrepl.LSN, error) {
	cfg := r.s.cfg.Roll
	var bytes, emitted int64
	b := newChangeBatcher(r.s, func(rec arrow.RecordBatch) error {
		n := bytes - emitted
		emitted = bytes
		return out(rec, n)
	})
	defer b.release()
	b.absent = r.absent
	if err := b.widenFrom(r.widen); err != nil {
		return 0, err
	}
	opened := time.Now()
	inTxn, skip := true, r.begin.FinalLSN < r.acked
	b.txn(r.begin)
	var end pglogrepl.LSN
	var before int64 // the partition's rows of whole transactions
	for {
		if !inTxn {
			full := (cfg.Rows > 0 && b.total+int64(b.n) >= cfg.Rows) || (cfg.Bytes > 0 && bytes >= int64(cfg.Bytes)) ||
				(cfg.Interval > 0 && time.Since(opened) >= cfg.Interval.D())
			if full || stop.Err() != nil {
				if err := b.flush(); err != nil {
					return 0, err
				}
				return end, nil
			}
		} else if stop.Err() != nil {
			if r.stopAt.IsZero() {
				r.stopAt = time.Now().Add(drainFor)
			} else if time.Now().After(r.stopAt) {
				return 0, fmt.Errorf("postgres cdc: stream stopped in a transaction that did not end within %s: partition aborted (it is read again after a restart)", drainFor)
			}
		}
		deadline := time.Now().Add(time.Second)
		if !inTxn && cfg.Interval > 0 {
			if at := opened.Add(cfg.Interval.D()); at.Before(deadline) {
				deadline = at
			}
		}
		msg, err := r.next(ctx, deadline)
		if err != nil {
			return 0, err
		}
		switch m := msg.(type) {
		case nil:
		case *pglogrepl.RelationMessage:
			if err := r.relation(m); err != nil {
				return r.endBefore(b, end, before, err)
			}
			b.absent = r.absent
			if err := b.widenFrom(r.widen); err != nil {
				return 0, err
			}
		case *pglogrepl.BeginMessage:
			inTxn, skip = true, m.FinalLSN < r.acked
			b.txn(m)
		case *pglogrepl.CommitMessage:
			inTxn, before = false, b.total+int64(b.n)
			if !skip {
				end = pglogrepl.LSN(m.TransactionEndLSN)
			}
		case rawChange:
			if skip {
				continue
			}
			n, err := b.decodeChange(m, r.relID, r.cols)
			if err != nil {
				return 0, err
			}
			bytes += n
		case *pglogrepl.TruncateMessage:
			if skip {
				continue
			}
			for _, id := range m.RelationIDs {
				if id == r.relID && r.s.cfg.OnTruncate == "clear" {
					if err := b.truncate(); err != nil {
						return 0, err
					}
					break
				}
				if id == r.relID {
					return 0, stage.Fatal("table truncated", "the lake still holds the rows: set cdc.on_truncate: clear and run again (the truncate is read again and empties the lake table), or empty the lake table, run `jetflow cdc drop` on the pipeline's file and run it again with --stream to load the table from a new slot",
						fmt.Errorf("postgres cdc: %s was truncated in the transaction committed at %s (on_truncate: fail)", r.s.base.table.Sanitize(), pglogrepl.LSN(b.lsnV)))
				}
			}
		}
	}
}

// endBefore ends the partition at end, before the transaction in flight, whose rows (those before) are dropped,
// and returns end with err, which stops the stream once the partition is committed. When no transaction ends
// before it, or some of its rows are handed over already (a transaction that changed more than batch_rows rows
// before its schema changed), the partition fails with err instead.
func (r *replReader) endBefore(b *changeBatcher, end pglogrepl.LSN, before int64, err error) (pglogrepl.LSN, error) {
	if end == 0 || b.total > before {
		return 0, err
	}
	if ferr := b.flushFirst(int(before - b.total)); ferr != nil {
		return 0, ferr
	}
	r.s.base.log.Warn("postgres cdc: the table's schema changed: committing the transactions before the change, then stopping",
		"slot", r.s.cfg.Slot, "checkpoint", end.String(), "err", err)
	return end, err
}

// changeBatcher decodes change tuples with the batch consumer's per-type decoders into reused builders.
type changeBatcher struct {
	s      *CDC
	schema *arrow.Schema
	decs   []*decoder
	op     *array.StringBuilder
	lsn    *array.Int64Builder
	ts     *array.TimestampBuilder
	arrs   []arrow.Array
	rows   int
	n      int
	total  int64
	out    func(arrow.RecordBatch) error
	vals   []([]byte) // one row's values, reused
	absent []bool     // schema columns the relation lacks: null
	widen  []*pgType  // the narrower types decs read columns in (nil: the schema's), widened at flush
	set    []bool
	tuples changeTuples // the change message's tuples, reused
	// the transaction's
	lsnV int64
	tsV  arrow.Timestamp
}

func newChangeBatcher(s *CDC, out func(arrow.RecordBatch) error) *changeBatcher {
	src, _ := s.base.source(context.Background())
	mem := s.base.alloc
	b := &changeBatcher{s: s, schema: s.schema, rows: s.base.cfg.BatchRows, out: out,
		arrs: make([]arrow.Array, s.schema.NumFields()), vals: make([][]byte, len(src.types)), set: make([]bool, len(src.types))}
	for i, t := range src.types {
		d := newDecoder(mem, src.names[i], t, s.base.inf)
		d.top = true
		b.decs = append(b.decs, d)
	}
	b.op = array.NewStringBuilder(mem)
	b.lsn = array.NewInt64Builder(mem)
	b.ts = array.NewTimestampBuilder(mem, s.schema.Field(s.schema.NumFields()-1).Type.(*arrow.TimestampType))
	b.reserve()
	return b
}

func (b *changeBatcher) release() {
	for _, d := range b.decs {
		d.b.Release()
	}
	b.op.Release()
	b.lsn.Release()
	b.ts.Release()
}

// widenFrom makes the decoders read each column in widen's type (nil: the schema's), widening it at flush. The
// rows read so far are flushed first when that changes.
func (b *changeBatcher) widenFrom(widen []*pgType) error {
	if slices.Equal(widen, b.widen) || (len(widen) == 0 && len(b.widen) == 0) {
		return nil
	}
	if err := b.flush(); err != nil {
		return err
	}
	src, _ := b.s.base.source(context.Background())
	for i := range b.decs {
		var was, now *pgType
		if i < len(b.widen) {
			was = b.widen[i]
		}
		if i < len(widen) {
			now = widen[i]
		}
		if was == now {
			continue
		}
		t := src.types[i]
		if now != nil {
			t = now
		}
		b.decs[i].b.Release()
		d := newDecoder(b.s.base.alloc, src.names[i], t, b.s.base.inf)
		d.top = true
		d.b.Reserve(b.rows)
		b.decs[i] = d
	}
	b.widen = widen
	return nil
}

// txn stamps the rows that follow with the transaction's commit position and time.
func (b *changeBatcher) txn(m *pglogrepl.BeginMessage) {
	b.lsnV = int64(m.FinalLSN)
	b.tsV = arrow.Timestamp(m.CommitTime.UnixMicro())
}

// endRow stamps the decoded row with its change columns and emits a batch when it is full.
func (b *changeBatcher) endRow(op string) error {
	b.op.Append(op)
	b.lsn.UnsafeAppend(b.lsnV)
	b.ts.UnsafeAppend(b.tsV)
	b.n++
	if b.n >= b.rows {
		return b.flush()
	}
	return nil
}

// flush emits the rows in the builders as one batch, if any.
func (b *changeBatcher) flush() error { return b.flushFirst(b.n) }

// flushFirst emits the first k rows in the builders as one batch, if any, and drops the rest.
func (b *changeBatcher) flushFirst(k int) error {
	if b.n == 0 {
		return nil
	}
	for i, d := range b.decs {
		b.arrs[i] = d.b.NewArray()
	}
	j := len(b.decs)
	b.arrs[j], b.arrs[j+1], b.arrs[j+2] = b.op.NewArray(), b.lsn.NewArray(), b.ts.NewArray()
	for i, t := range b.widen {
		if t == nil {
			continue
		}
		wide, err := compute.CastArray(compute.WithAllocator(context.Background(), b.s.base.alloc), b.arrs[i], compute.SafeCastOptions(b.schema.Field(i).Type))
		b.arrs[i].Release()
		b.arrs[i] = wide
		if err != nil {
			for _, a := range b.arrs {
				if a != nil {
					a.Release()
				}
			}
			clear(b.arrs)
			return fmt.Errorf("postgres cdc: widen column %q from %s: %w", b.decs[i].col, t.name, err)
		}
	}
	rows := b.n
	b.total += int64(k)
	b.n = 0
	out := b.out
	switch {
	case k == 0:
		out = func(arrow.RecordBatch) error { return nil }
	case k < rows:
		out = func(rec arrow.RecordBatch) error {
			head := rec.NewSlice(0, int64(k))
			defer head.Release()
			return b.out(head)
		}
	}
	if err := sqlsource.Emit(b.schema, b.arrs, rows, out); err != nil {
		return err
	}
	b.reserve()
	return nil
}

// reserve makes room for a batch of rows in the builders: fixed-width values skip Append's capacity check.
func (b *changeBatcher) reserve() {
	for _, d := range b.decs {
		d.b.Reserve(b.rows)
	}
	b.op.Reserve(b.rows)
	b.lsn.Reserve(b.rows)
	b.ts.Reserve(b.rows)
}
