package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/consumers/internal/sqlsource"
	"github.com/jetflow-dev/jetflow/stage"
)

var _ stage.KeyScanner = (*Consumer)(nil)

// KeyScope implements stage.KeyScanner: a partition of partition.column covers its range of that column; one of
// incremental.column covers the whole table (a hard-deleted row is in no window of updated_at), and so does the
// one partition of a table read whole.
func (c *Consumer) KeyScope(p stage.Partition) stage.KeyScope {
	if c.cfg.Incremental.Column != "" || c.cfg.Partition.Column == "" || p.Lo == nil || p.Hi == nil {
		return stage.KeyScope{}
	}
	return stage.KeyScope{Column: c.cfg.Partition.Column, Lo: p.Lo, Hi: p.Hi}
}

// ScanKeys implements stage.KeyScanner: SELECT of the key columns alone of the rows in scope (the partition's
// range, WHERE col >= $1 AND col < $2 as Read does, or the whole table), read in binary into batches of those
// columns, in the exported snapshot when snapshot: export. Memory is one batch of key columns at a time.
func (c *Consumer) ScanKeys(ctx context.Context, p stage.Partition, scope stage.KeyScope, columns []string, out func(arrow.RecordBatch) error) error {
	if c.tmpl != nil {
		return stage.Permanent(fmt.Errorf("postgres: key_scan reads a table's keys, and this consumer runs a query: set table: instead of query:, or detect deletes with delete_when"))
	}
	src, err := c.source(ctx)
	if err != nil {
		return err
	}
	sub := &source{names: columns}
	fields := make([]arrow.Field, len(columns))
	quoted := make([]string, len(columns))
	for i, col := range columns {
		j := src.schema.FieldIndices(col)
		if len(j) != 1 {
			return stage.Permanent(fmt.Errorf("postgres: key_scan: table %s has no column %q (the loader's key names the table's columns)", c.table.Sanitize(), col))
		}
		sub.types = append(sub.types, src.types[j[0]])
		fields[i] = src.schema.Field(j[0])
		quoted[i] = pgx.Identifier{col}.Sanitize()
	}
	sub.schema = arrow.NewSchema(fields, nil)
	sub.sql = "SELECT " + strings.Join(quoted, ", ") + " FROM " + c.table.Sanitize()
	var params [][]byte
	if !scope.Whole() {
		if scope.Column != src.part.name {
			return stage.Permanent(fmt.Errorf("postgres: key scan of partition %s: its scope is a range of %q, and this consumer cuts %s by %q", p.Key, scope.Column, c.table.Sanitize(), src.part.name))
		}
		col := pgx.Identifier{scope.Column}.Sanitize()
		sub.sql += " WHERE " + col + " >= $1 AND " + col + " < $2"
		if params, err = c.params(src, stage.Partition{Key: p.Key, Lo: scope.Lo, Hi: scope.Hi}); err != nil {
			return stage.Permanent(err)
		}
	}

	conn, err := c.connect(ctx)
	if err != nil {
		return fmt.Errorf("%w (key scan of partition %s)", err, p.Key)
	}
	defer func() {
		_ = conn.PgConn().Conn().Close()
		closeConn(conn)
	}()
	if err := c.begin(ctx, conn); err != nil {
		return fmt.Errorf("%w (key scan of partition %s)", err, p.Key)
	}
	bt := newBatcher(c.alloc, sub, c.inf, c.cfg.BatchRows, out)
	defer bt.release()
	if err := c.readExtended(ctx, conn, sub, params, p, bt); err != nil {
		if err, ok := sqlsource.Stopped(ctx, "postgres", p.Key, bt.rows(), err); ok {
			return err
		}
		return c.sourceErr("key scan of partition "+p.Key, err)
	}
	return bt.flush()
}
