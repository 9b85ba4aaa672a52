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

// ScanKeys implements stage.KeyScanner: SELECT of the key columns alone over the whole table (a hard-deleted row
// is in no range of updated_at), read in binary into batches of those columns, in the exported snapshot when
// snapshot: export. Memory is one batch of key columns at a time.
func (c *Consumer) ScanKeys(ctx context.Context, p stage.Partition, columns []string, out func(arrow.RecordBatch) error) error {
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
	if err := c.readExtended(ctx, conn, sub, nil, p, bt); err != nil {
		if err, ok := sqlsource.Stopped(ctx, "postgres", p.Key, bt.rows(), err); ok {
			return err
		}
		return c.sourceErr("key scan of partition "+p.Key, err)
	}
	return bt.flush()
}
