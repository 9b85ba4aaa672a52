package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/internal/cut"
	"github.com/jetflow-dev/jetflow/stage"
)

// rangeColumn is the column the SELECT bounds: the partition column, or the incremental watermark column.
func (c *Consumer) rangeColumn() string {
	if c.cfg.Incremental.Column != "" {
		return c.cfg.Incremental.Column
	}
	if c.cfg.Partition.By == byCTID {
		return "ctid"
	}
	return c.cfg.Partition.Column
}

// rangeKey is the config key that names rangeColumn, for errors.
func (c *Consumer) rangeKey() string {
	if c.cfg.Incremental.Column != "" {
		return "incremental.column"
	}
	return "partition.column"
}

// WatermarkName implements stage.Watermarked: the incremental column names the watermark.
func (c *Consumer) WatermarkName() (string, bool) {
	return c.cfg.Incremental.Column, c.cfg.Incremental.Column != ""
}

// ResumeWatermark implements stage.Watermarked: Partitions plans from the watermark the engine stored.
func (c *Consumer) ResumeWatermark(value string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watermark = ""
	if ok {
		c.watermark = value
	}
}

// PartitionWatermark implements stage.Watermarked: once the partition [lo, hi) is committed, the next run starts
// at hi (the "next" PartitionsSince computed, written the same way).
func (c *Consumer) PartitionWatermark(p stage.Partition) (string, bool) {
	switch hi := p.Hi.(type) {
	case time.Time:
		return hi.UTC().Format(time.RFC3339Nano), true
	case int64:
		return strconv.FormatInt(hi, 10), true
	}
	return "", false
}

// PartitionsSince plans an incremental read: one partition [watermark, high) of the watermark column, where high
// is max+1 for an integer column and the server's now() minus lag for a time column (in the exported snapshot
// when snapshot: export). watermark is the text a previous call returned as next ("" on the first run: from the
// column's min). next is the watermark to store once the partition is committed; it equals watermark when there
// is nothing new (and then there is no partition). Times are written in RFC 3339 with every microsecond, so a
// stored watermark neither reloads nor skips a row.
func (c *Consumer) PartitionsSince(ctx context.Context, run stage.RunInstance, watermark string) (parts []stage.Partition, next string, err error) {
	col := c.cfg.Incremental.Column
	if col == "" {
		return nil, "", stage.FieldErrorf("incremental.column", "is not set")
	}
	src, err := c.source(ctx)
	if err != nil {
		return nil, "", err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, "", err
	}
	defer closeConn(conn)
	if err := c.begin(ctx, conn); err != nil {
		return nil, "", err
	}
	id := pgx.Identifier{col}.Sanitize()
	table := c.table.Sanitize()
	var lo, hi any
	if isTime(src.part.kind) {
		var minT *time.Time
		var now time.Time
		if err := conn.QueryRow(ctx, "SELECT min("+id+")::timestamptz, now() FROM "+table).Scan(&minT, &now); err != nil {
			return nil, "", c.sourceErr("watermark range of "+col+" in "+table, err)
		}
		h := now.Add(-c.cfg.Incremental.Lag.D()).UTC().Truncate(time.Microsecond)
		if src.part.kind == kDate {
			h = h.Truncate(24 * time.Hour) // whole days: today's rows wait until the day is over
		}
		var l time.Time
		switch {
		case watermark != "":
			if l, err = time.Parse(time.RFC3339Nano, watermark); err != nil {
				return nil, "", fmt.Errorf("postgres: incremental: stored watermark %q of %s is not an RFC 3339 time: %w", watermark, col, err)
			}
		case minT == nil:
			return nil, watermark, nil // an empty table: nothing yet, no watermark
		default:
			l = minT.UTC()
		}
		if !h.After(l) {
			return nil, watermark, nil
		}
		lo, hi, next = l.UTC(), h, h.Format(time.RFC3339Nano)
	} else {
		var minI, maxI *int64
		if err := conn.QueryRow(ctx, "SELECT min("+id+")::int8, max("+id+")::int8 FROM "+table).Scan(&minI, &maxI); err != nil {
			return nil, "", c.sourceErr("watermark range of "+col+" in "+table, err)
		}
		if maxI == nil {
			return nil, watermark, nil
		}
		l := *minI
		if watermark != "" {
			if l, err = strconv.ParseInt(watermark, 10, 64); err != nil {
				return nil, "", fmt.Errorf("postgres: incremental: stored watermark %q of %s is not an integer: %w", watermark, col, err)
			}
		}
		h := *maxI + 1
		if h <= l {
			return nil, watermark, nil
		}
		lo, hi, next = l, h, strconv.FormatInt(h, 10)
	}
	return []stage.Partition{{Key: cut.Key(col, lo, hi), Lo: lo, Hi: hi, Run: run}}, next, nil
}
