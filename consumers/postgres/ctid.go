package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/internal/cut"
	"github.com/jetflow-dev/jetflow/stage"
)

// byCTID is partition.by's value that cuts a table into ranges of its pages.
const byCTID = "ctid"

// maxPage is PostgreSQL's InvalidBlockNumber: every page of a table is below it, so the last range, ending there,
// also holds the pages added after planning.
const maxPage = 1<<32 - 1

// checkCTID checks partition: {by: ctid, count: N}.
func (c *Consumer) checkCTID() []error {
	p := c.cfg.Partition
	var errs []error
	if p.Column != "" || p.Every > 0 || p.Step != 0 || len(p.Ranges) > 0 {
		errs = append(errs, stage.FieldErrorf("partition.by", "ctid cuts the table's pages into count ranges: remove column, every, step and ranges"))
	}
	if p.Count < 1 {
		errs = append(errs, stage.FieldErrorf("partition.count", "set the number of page ranges to read (at least 1) with by: ctid"))
	}
	if c.cfg.Table == "" {
		errs = append(errs, stage.FieldErrorf("partition.by", "ctid needs table: (a query's rows have no page)"))
	}
	if p.Count > 1 && c.cfg.Snapshot != "export" && c.cfg.CDC == nil {
		// Without one snapshot an UPDATE during the run moves a row to another page, which another range may
		// already have read (the row is lost) or not read yet (it is read twice).
		errs = append(errs, stage.FieldErrorf("snapshot", "is %q, but partition: {by: ctid, count: %d} reads %d page ranges on their own connections: set snapshot: export so they all read one snapshot, in which every row is in exactly one page",
			c.cfg.Snapshot, p.Count, p.Count))
	}
	return errs
}

// checkCTIDTable checks that the table has pages: a view or a foreign table has no ctid.
func (c *Consumer) checkCTIDTable(ctx context.Context, conn *pgx.Conn, relid uint32) error {
	var relkind string
	if err := conn.QueryRow(ctx, `SELECT relkind::text FROM pg_catalog.pg_class WHERE oid = $1`, relid).Scan(&relkind); err != nil {
		return c.sourceErr("kind of "+c.table.Sanitize(), err)
	}
	switch relkind {
	case "r", "p", "m": // table, partitioned table (each leaf's pages are cut the same way), materialized view
		return nil
	}
	return stage.FieldErrorf("partition.by", "ctid needs a table, but %s on %s is not one (relkind %q): cut a view by a column instead", c.table.Sanitize(), c.where, relkind)
}

// ctidPartitions cuts the table's pages [0, pages) into count ranges of nearly equal size; the last one ends at
// maxPage. pages is the table's size now (for a partitioned table, its largest leaf's): pg_class.relpages is only
// an estimate that VACUUM and ANALYZE update, 0 for a table never analyzed. A new plan of the same run
// instance would cut elsewhere as the table grows, so the engine keeps the first (PinPlan).
func (c *Consumer) ctidPartitions(ctx context.Context, run stage.RunInstance) ([]stage.Partition, error) {
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer closeConn(conn)
	var pages int64
	q := `SELECT coalesce((SELECT max(pg_relation_size(relid)) FROM pg_partition_tree($1::regclass) WHERE isleaf),
		pg_relation_size($1::regclass)) / current_setting('block_size')::int8`
	if err := conn.QueryRow(ctx, q, c.table.Sanitize()).Scan(&pages); err != nil {
		return nil, c.sourceErr("size in pages of "+c.table.Sanitize(), err)
	}
	bounds := [][2]any{{int64(0), int64(maxPage)}}
	if pages > 1 {
		if bounds, err = cut.IntRanges(0, pages-1, 0, c.cfg.Partition.Count); err != nil {
			return nil, err
		}
		bounds[len(bounds)-1][1] = int64(maxPage)
	}
	parts := make([]stage.Partition, len(bounds))
	for i, b := range bounds {
		parts[i] = stage.Partition{Key: cut.Key("ctid", b[0], b[1]), Index: i, Lo: b[0], Hi: b[1], Run: run}
	}
	c.log.Debug("postgres: cut by ctid", "where", c.where, "table", c.table.Sanitize(), "pages", pages, "partitions", len(parts))
	return parts, nil
}

// PinPlan implements stage.PlanPinner: page ranges depend on the table's size when they were cut.
func (c *Consumer) PinPlan() bool { return c.cfg.Partition.By == byCTID }
