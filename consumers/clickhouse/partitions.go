package clickhouse

import (
	"context"
	"strings"
	"time"

	"github.com/ClickHouse/ch-go"
	"github.com/ClickHouse/ch-go/proto"

	"github.com/jetflow-dev/jetflow/consumers/internal/sqlsource"
	"github.com/jetflow-dev/jetflow/stage"
)

// Partitions cuts the run instance by the partition column (sqlsource.Plan), or lists the table's own partitions
// (partition.parts).
func (c *Consumer) Partitions(ctx context.Context, run stage.RunInstance) ([]stage.Partition, error) {
	src, err := c.source(ctx)
	if err != nil {
		return nil, err
	}
	pc := c.cfg.Partition
	if pc.Parts {
		return c.parts(ctx, run)
	}
	plan := sqlsource.Plan{Source: "clickhouse", Column: pc.Column, Kind: sqlsource.Time, Type: src.ptype,
		Every: pc.Every.D(), Step: pc.Step, Count: pc.Count, Precision: time.Second, MinMax: c.minMax}
	switch src.part {
	case partInt:
		plan.Kind = sqlsource.Int
	case partDate:
		plan.Kind = sqlsource.Date
	}
	return plan.Partitions(ctx, run)
}

// parts lists the table's own partitions (active parts' partition ids), in order.
func (c *Consumer) parts(ctx context.Context, run stage.RunInstance) ([]stage.Partition, error) {
	client, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	var engine proto.ColStr
	q := "SELECT engine FROM system.tables WHERE database = " + quoteString(c.db) + " AND name = " + quoteString(c.name)
	if err := client.Do(ctx, ch.Query{Body: q, Result: proto.Results{{Name: "engine", Data: &engine}}}); err != nil {
		return nil, c.queryErr("engine of "+c.db+"."+c.name, err)
	}
	if engine.Rows() != 1 || !strings.HasSuffix(engine.Row(0), "MergeTree") {
		e := ""
		if engine.Rows() == 1 {
			e = engine.Row(0)
		}
		return nil, stage.FieldErrorf("partition.parts", "%s.%s is a %s table: only the MergeTree family has partitions", c.db, c.name, e)
	}
	var ids proto.ColStr
	q = "SELECT DISTINCT partition_id FROM system.parts WHERE database = " + quoteString(c.db) + " AND table = " +
		quoteString(c.name) + " AND active ORDER BY partition_id"
	var parts []stage.Partition
	err = client.Do(ctx, ch.Query{Body: q, Result: proto.Results{{Name: "partition_id", Data: &ids}},
		OnResult: func(context.Context, proto.Block) error {
			for i := 0; i < ids.Rows(); i++ {
				id := ids.Row(i)
				parts = append(parts, stage.Partition{Key: "_partition_id[" + id + "]", Index: len(parts), Lo: id, Hi: id, Run: run})
			}
			return nil
		}})
	if err != nil {
		return nil, c.queryErr("partitions of "+c.db+"."+c.name, err)
	}
	return parts, nil
}

// minMax reads the integer partition column's range.
func (c *Consumer) minMax(ctx context.Context) (lo, hi int64, ok bool, err error) {
	client, err := c.dial(ctx)
	if err != nil {
		return 0, 0, false, err
	}
	defer client.Close()
	col := quoteIdent(c.cfg.Partition.Column)
	var l, h proto.ColInt64
	var n proto.ColUInt64
	q := "SELECT toInt64(min(" + col + ")) AS lo, toInt64(max(" + col + ")) AS hi, count() AS n FROM " +
		quoteIdent(c.db) + "." + quoteIdent(c.name) + c.settings
	if err := client.Do(ctx, ch.Query{Body: q, Result: proto.Results{{Name: "lo", Data: &l}, {Name: "hi", Data: &h}, {Name: "n", Data: &n}}}); err != nil {
		return 0, 0, false, c.queryErr("range of "+c.cfg.Partition.Column+" in "+c.db+"."+c.name, err)
	}
	if n.Rows() != 1 || n[0] == 0 {
		return 0, 0, false, nil
	}
	return l[0], h[0], true, nil
}
