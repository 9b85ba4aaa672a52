package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sync/errgroup"

	"github.com/jetflow-dev/jetflow/stage"
)

// ReloadCheckpoint is the checkpoint jetflow cdc drop records for a slot whose stream had one: the next start
// loads the table again from a new slot instead of resuming.
const ReloadCheckpoint = "reload"

// slotReleaseWait is how long a starting stream waits for its slot to be released by the walsender of a
// process that just died (the server notices the lost connection within moments, or at its next write).
const slotReleaseWait = 15 * time.Second

// waitSlotFree reads the slot, waiting up to slotReleaseWait while another process holds it.
func (s *CDC) waitSlotFree(ctx context.Context) (SlotInfo, error) {
	deadline := time.Now().Add(slotReleaseWait)
	for {
		si, err := s.Slot(ctx)
		if err != nil || !si.Active {
			return si, err
		}
		if time.Now().After(deadline) {
			return si, slotInUse(fmt.Errorf("postgres cdc: slot %s on %s is in use by pid %d after %s", s.cfg.Slot, s.base.where, si.ActivePID, slotReleaseWait))
		}
		select {
		case <-ctx.Done():
			return si, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func slotInUse(err error) error {
	return stage.Fatal("replication slot in use",
		"another process reads the slot: stop it (jetflow cdc status shows its pid), one stream per slot", err)
}

// slotDropped says that the slot of a stream with a checkpoint is gone, and how to load the table again.
func (s *CDC) slotDropped(after pglogrepl.LSN, err error) error {
	return stage.Fatal("replication slot dropped",
		fmt.Sprintf("the changes after %s are lost (the slot was dropped, or invalidated by max_slot_wal_keep_size), so the initial load must be redone: run `jetflow cdc drop` on pipeline %s's file, then run it again with --stream: it creates a new slot and loads the table again (the merge makes the reload idempotent; rows deleted meanwhile stay in the lake)", after, s.pipe),
		err)
}

// initialLoad loads the table and returns the slot's consistent point, where the changes start.
//
// Without a slot, it creates one with an exported snapshot and loads the table in it, in parallel partitions;
// the replication connection keeps the snapshot alive (it runs nothing else) until every partition is loaded.
//
// A slot without a checkpoint is an initial load that was interrupted (killed) before its last partition
// committed; its snapshot died with it. The load runs again in a new snapshot, its rows still carrying the
// slot's consistent point as their version, and the stream starts at that point: every row changed since the
// point was read in its newer state, and its changes follow with newer versions, so the last one wins; a row
// deleted since was read by the first attempt perhaps, and its delete follows too. Nothing is missed and
// nothing is doubled.
func (s *CDC) initialLoad(ctx context.Context, rc *pgconn.PgConn, si SlotInfo, run stage.RunInstance, handle stage.PartitionHandler) (pglogrepl.LSN, error) {
	if err := s.ensurePublication(ctx); err != nil {
		return 0, err
	}
	var consistent pglogrepl.LSN
	if si.Exists {
		var err error
		if consistent, err = pglogrepl.ParseLSN(si.Confirmed); err != nil {
			return 0, fmt.Errorf("postgres cdc: slot %s: confirmed position %q: %w", s.cfg.Slot, si.Confirmed, err)
		}
		s.base.log.Warn("postgres cdc: the slot has no committed checkpoint (an interrupted initial load): loading the table again in a new snapshot, then streaming from the slot's consistent point",
			"slot", s.cfg.Slot, "consistent_point", si.Confirmed)
		defer s.base.Close() // the load's own exported snapshot must not outlive it
	} else {
		res, err := pglogrepl.CreateReplicationSlot(ctx, rc, s.cfg.Slot, "pgoutput",
			pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "EXPORT_SNAPSHOT"})
		if err != nil {
			return 0, s.base.sourceErr("create replication slot "+s.cfg.Slot, err)
		}
		if consistent, err = pglogrepl.ParseLSN(res.ConsistentPoint); err != nil {
			return 0, fmt.Errorf("postgres cdc: slot %s: consistent point %q: %w", s.cfg.Slot, res.ConsistentPoint, err)
		}
		s.base.log.Info("postgres cdc: created slot; loading the table in its snapshot", "slot", s.cfg.Slot,
			"consistent_point", res.ConsistentPoint, "snapshot", res.SnapshotName)
		s.base.mu.Lock()
		s.base.snapID = res.SnapshotName
		s.base.mu.Unlock()
		defer func() {
			s.base.mu.Lock()
			s.base.snapID = ""
			s.base.mu.Unlock()
		}()
	}
	parts, err := s.base.Partitions(ctx, run)
	if err != nil {
		return 0, err
	}
	cp := consistent.String()
	version := int64(consistent)
	load := func(p stage.Partition, last bool) error {
		sp := stage.Partition{Key: s.cfg.Slot + "/snapshot@" + cp + "/" + p.Key, Lo: p.Lo, Hi: p.Hi}
		if last {
			sp.Lane = s.cfg.Slot // its commit carries the checkpoint: the stream starts at the consistent point
		}
		return handle(ctx, sp, func(ctx context.Context, out func(arrow.RecordBatch) error) (string, error) {
			err := s.base.Read(ctx, p, func(rec arrow.RecordBatch) error {
				full := changeCols(s.base.alloc, s.schema, rec, "r", version)
				defer full.Release()
				return out(full)
			})
			if err != nil || !last {
				return "", err
			}
			return cp, nil
		})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.SnapshotWorkers)
	for _, p := range parts[:len(parts)-1] {
		g.Go(func() error { return load(p, false) })
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	if err := gctx.Err(); err != nil && ctx.Err() != nil {
		return 0, nil
	}
	if err := load(parts[len(parts)-1], true); err != nil {
		return 0, err
	}
	return consistent, nil
}
