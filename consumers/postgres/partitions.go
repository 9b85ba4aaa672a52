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

// Partitions cuts the run instance by the partition column:
//   - no partition: one partition, Key "all", holding every row;
//   - every / count on a time column: windows of the run instance [start, end), Key col[lo,hi) in RFC 3339;
//   - step / count on an integer column: ranges over [min, max] of the table, read in the exported snapshot
//     when there is one; an empty table has no partition;
//   - ranges: the listed ranges, as written.
func (c *Consumer) Partitions(ctx context.Context, run stage.RunInstance) ([]stage.Partition, error) {
	src, err := c.source(ctx)
	if err != nil {
		return nil, err
	}
	if c.cfg.Incremental.Column != "" {
		c.mu.Lock()
		wm := c.watermark
		c.mu.Unlock()
		parts, _, err := c.PartitionsSince(ctx, run, wm)
		return parts, err
	}
	pc := c.cfg.Partition
	if pc.Column == "" {
		return []stage.Partition{{Key: "all", Run: run}}, nil
	}
	var bounds [][2]any
	switch k := src.part.kind; {
	case len(c.ranges) > 0:
		for i, r := range c.ranges {
			lo, err1 := parseBound(k, r.lo)
			hi, err2 := parseBound(k, r.hi)
			if err1 != nil || err2 != nil {
				return nil, stage.FieldErrorf(fmt.Sprintf("partition.ranges[%d]", i), "[%s, %s] are not bounds of column %q (%s)", r.lo, r.hi, pc.Column, kindText(k))
			}
			bounds = append(bounds, [2]any{lo, hi})
		}
	case isTime(k):
		if pc.Step > 0 {
			return nil, stage.FieldErrorf("partition.step", "applies to integer columns; %q is a %s: use every or count", pc.Column, kindText(k))
		}
		if run.End.IsZero() || !run.End.After(run.Start) {
			return nil, fmt.Errorf("postgres: partition.column %q is a time: the run instance %q needs a start and an end (a run_instance with every:)", pc.Column, run.Label)
		}
		step := cut.Step(run.Start, run.End, pc.Every.D(), pc.Count, time.Microsecond)
		if k == kDate && step%(24*time.Hour) != 0 {
			return nil, stage.FieldErrorf("partition", "column %q is a date: windows must be whole days, not %s", pc.Column, step)
		}
		if bounds, err = cut.Windows(run.Start, run.End, step, pc.Count); err != nil {
			return nil, stage.FieldErrorf("partition", "%v", err)
		}
	default: // integer column
		if pc.Every > 0 {
			return nil, stage.FieldErrorf("partition.every", "applies to time columns; %q is an integer: use step or count", pc.Column)
		}
		if c.tmpl != nil {
			return nil, stage.FieldErrorf("partition", "an integer column with step or count needs the table's min and max: use table:, or ranges: with query:")
		}
		lo, hi, ok, err := c.minMax(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, nil
		}
		if bounds, err = cut.IntRanges(lo, hi, pc.Step, pc.Count); err != nil {
			return nil, stage.FieldErrorf("partition.column", "%q: %v", pc.Column, err)
		}
	}
	parts := make([]stage.Partition, len(bounds))
	for i, b := range bounds {
		parts[i] = stage.Partition{Key: cut.Key(pc.Column, b[0], b[1]), Index: i, Lo: b[0], Hi: b[1], Run: run}
	}
	return parts, nil
}

// minMax reads the partition column's range, in the exported snapshot when there is one.
func (c *Consumer) minMax(ctx context.Context) (lo, hi int64, ok bool, err error) {
	conn, err := c.connect(ctx)
	if err != nil {
		return 0, 0, false, err
	}
	defer closeConn(conn)
	if err := c.begin(ctx, conn); err != nil {
		return 0, 0, false, err
	}
	col := pgx.Identifier{c.cfg.Partition.Column}.Sanitize()
	var l, h *int64
	q := "SELECT min(" + col + ")::int8, max(" + col + ")::int8 FROM " + c.table.Sanitize()
	if err := conn.QueryRow(ctx, q).Scan(&l, &h); err != nil {
		return 0, 0, false, c.sourceErr("range of "+c.cfg.Partition.Column+" in "+c.table.Sanitize(), err)
	}
	if l == nil {
		return 0, 0, false, nil
	}
	return *l, *h, true, nil
}

func isTime(k kind) bool { return k == kDate || k == kTimestamp || k == kTimestampTZ }

func kindText(k kind) string {
	switch k {
	case kDate:
		return "date"
	case kTimestamp:
		return "timestamp"
	case kTimestampTZ:
		return "timestamptz"
	}
	return "integer"
}

// parseBound reads a bound of partition.ranges: an integer, or an RFC 3339 time or a date (UTC).
func parseBound(k kind, s string) (any, error) {
	if !isTime(k) {
		return strconv.ParseInt(s, 10, 64)
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return nil, fmt.Errorf("not a time")
}
