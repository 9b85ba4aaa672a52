package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/consumers/internal/sqlsource"
	"github.com/jetflow-dev/jetflow/stage"
)

// Partitions cuts the run instance by the partition column (sqlsource.Plan); an integer column's min and max are
// read in the exported snapshot when there is one. Incremental sources plan from the stored watermark.
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
	if c.cfg.Partition.By == byCTID {
		return c.ctidPartitions(ctx, run)
	}
	pc := c.cfg.Partition
	k := src.part.kind
	plan := sqlsource.Plan{Source: "postgres", Column: pc.Column, Kind: sqlsource.Int, Type: "an integer",
		Every: pc.Every.D(), Step: pc.Step, Count: pc.Count, Precision: time.Microsecond,
		MinMax: func(ctx context.Context) (lo, hi int64, ok bool, err error) {
			if c.tmpl != nil {
				return 0, 0, false, stage.FieldErrorf("partition", "an integer column with step or count needs the table's min and max: use table:, or ranges: with query:")
			}
			return c.minMax(ctx)
		}}
	if isTime(k) {
		plan.Kind, plan.Type = sqlsource.Time, "a "+kindText(k)
		if k == kDate {
			plan.Kind = sqlsource.Date
		}
	}
	if pc.Column != "" {
		for i, r := range c.ranges {
			lo, err1 := parseBound(k, r.lo)
			hi, err2 := parseBound(k, r.hi)
			if err1 != nil || err2 != nil {
				return nil, stage.FieldErrorf(fmt.Sprintf("partition.ranges[%d]", i), "[%s, %s] are not bounds of column %q (%s)", r.lo, r.hi, pc.Column, kindText(k))
			}
			plan.Ranges = append(plan.Ranges, [2]any{lo, hi})
		}
	}
	return plan.Partitions(ctx, run)
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
