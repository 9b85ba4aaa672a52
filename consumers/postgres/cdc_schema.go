package postgres

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pglogrepl"

	"github.com/jetflow-dev/jetflow/stage"
)

// schemaChanged is the hint of a schema change that stops the stream.
const schemaChanged = "restart the stream: it reads the table's new schema, and the loader's schema_evolution decides what the lake does (add_columns adds a column, widen widens a type, fail stops)"

// relation notes the table's relation message: which of its columns go where in the schema. A column the
// relation lacks (dropped, or renamed away) is written as null from then on, when the schema lets it be null;
// a column the schema lacks (added, or renamed) or whose type changed stops the stream (exit 4): the lake's
// schema changes only on a restart, through the loader's schema_evolution policy. A column the relation sends
// in a type the schema's widens (int to bigint, real to double precision, numeric to more digits) is read in it
// and widened: the relation is older than the schema, a transaction that changed rows before it widened the
// column, read again after the restart that the widening stopped.
func (r *replReader) relation(m *pglogrepl.RelationMessage) error {
	name := r.s.base.table
	if m.RelationName != name[len(name)-1] || (len(name) == 2 && m.Namespace != name[0]) {
		return nil // another table of the publication
	}
	src, _ := r.s.base.source(context.Background()) // resolved by Schema before the stream started
	cols := make([]int, len(m.Columns))
	absent := make([]bool, len(src.names))
	var widen []*pgType
	for i := range absent {
		absent[i] = true
	}
	for j, c := range m.Columns {
		cols[j] = -1
		for i, n := range src.names {
			if n != c.Name {
				continue
			}
			if c.DataType != src.attOIDs[i] {
				t, err := r.narrower(c, i)
				if err != nil {
					return err
				}
				if t == nil {
					return stage.Fatal("table schema changed", schemaChanged,
						fmt.Errorf("postgres cdc: column %q of %s changed type (oid %d, was %d)", c.Name, name.Sanitize(), c.DataType, src.attOIDs[i]))
				}
				if widen == nil {
					widen = make([]*pgType, len(src.names))
				}
				widen[i] = t
			}
			cols[j], absent[i] = i, false
		}
		if cols[j] < 0 {
			return stage.Fatal("table schema changed", schemaChanged,
				fmt.Errorf("postgres cdc: column %q was added to %s (or renamed)", c.Name, name.Sanitize()))
		}
	}
	for i, gone := range absent {
		if !gone {
			continue
		}
		if !r.s.schema.Field(i).Nullable {
			return stage.Fatal("table schema changed", schemaChanged,
				fmt.Errorf("postgres cdc: NOT NULL column %q of %s was dropped (or renamed); the lake cannot hold null in it", src.names[i], name.Sanitize()))
		}
		r.s.base.log.Warn("postgres cdc: a column was dropped from the table: its changes carry null in it from now on",
			"table", name.Sanitize(), "column", src.names[i])
	}
	if r.relID != 0 && r.relID != m.RelationID {
		r.s.base.log.Warn("postgres cdc: the table's relation id changed", "table", name.Sanitize(), "was", r.relID, "now", m.RelationID)
	}
	r.relID, r.cols, r.absent, r.widen = m.RelationID, cols, absent, widen
	return nil
}

// narrower resolves column c of a relation message, whose type is not the one of schema column i: a type that
// column's widens, or nil.
func (r *replReader) narrower(c *pglogrepl.RelationMessageColumn, i int) (*pgType, error) {
	ctx := context.Background()
	conn, err := r.s.base.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer closeConn(conn)
	t, err := (&resolver{conn: conn}).resolve(ctx, c.Name, c.DataType, c.TypeModifier, 0)
	if err != nil {
		return nil, fmt.Errorf("postgres cdc: %s: %w", r.s.base.table.Sanitize(), err)
	}
	if !widens(t.dt, r.s.schema.Field(i).Type) {
		return nil, nil
	}
	return t, nil
}

// widens says whether every value of from is a value of to: the widenings the loaders' schema_evolution: widen
// makes of a column.
func widens(from, to arrow.DataType) bool {
	switch f := from.(type) {
	case *arrow.Int16Type:
		return to.ID() == arrow.INT32 || to.ID() == arrow.INT64
	case *arrow.Int32Type:
		return to.ID() == arrow.INT64
	case *arrow.Float32Type:
		return to.ID() == arrow.FLOAT64
	case *arrow.Decimal128Type:
		t, ok := to.(*arrow.Decimal128Type)
		return ok && t.Scale == f.Scale && t.Precision-t.Scale >= f.Precision-f.Scale
	}
	return false
}
