package iceberg

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/jetflow-dev/jetflow/stage"
)

// schemaChange is one difference between the pipeline's schema and the table's that the policy allows.
type schemaChange struct {
	column string
	add    bool // a new optional column; else a type widening
	typ    iceberg.Type
}

// planEvolution compares the pipeline's schema src with the table's and returns the changes policy allows, or
// an error naming every difference it does not allow, with both schemas.
func planEvolution(tableSchema, src *iceberg.Schema, policy string) ([]schemaChange, error) {
	var (
		changes  []schemaChange
		problems []string
	)
	for _, f := range src.Fields() {
		tf, ok := tableSchema.FindFieldByName(f.Name)
		if !ok {
			if policy == "fail" {
				problems = append(problems, fmt.Sprintf("column %q (%s) is not in the table (schema_evolution: add_columns adds it)", f.Name, f.Type))
				continue
			}
			changes = append(changes, schemaChange{column: f.Name, add: true, typ: f.Type})
			continue
		}
		if tf.Type.Equals(f.Type) {
			if tf.Required && !f.Required {
				problems = append(problems, fmt.Sprintf("column %q is required in the table but nullable in the pipeline", f.Name))
			}
			continue
		}
		if _, err := iceberg.PromoteType(f.Type, tf.Type); err == nil {
			continue // the table's type holds the narrower source values: written as is
		}
		if _, err := iceberg.PromoteType(tf.Type, f.Type); err == nil && isWidening(tf.Type, f.Type) {
			if policy != "widen" {
				problems = append(problems, fmt.Sprintf("column %q is %s in the table but %s in the pipeline (schema_evolution: widen promotes it)", f.Name, tf.Type, f.Type))
				continue
			}
			changes = append(changes, schemaChange{column: f.Name, typ: f.Type})
			continue
		}
		problems = append(problems, fmt.Sprintf("column %q is %s in the table but %s in the pipeline, and Iceberg cannot change one into the other", f.Name, tf.Type, f.Type))
	}
	for _, tf := range tableSchema.Fields() {
		if _, ok := src.FindFieldByName(tf.Name); !ok && tf.Required {
			problems = append(problems, fmt.Sprintf("required column %q of the table is missing from the pipeline", tf.Name))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("the pipeline's schema does not fit the table (schema_evolution: %s):\n  %s\ntable:    %s\npipeline: %s",
			policy, strings.Join(problems, "\n  "), schemaLine(tableSchema), schemaLine(src))
	}
	return changes, nil
}

// isWidening: int→long, float→double, decimal precision up (string↔binary is a promotion iceberg-go reads but
// not a schema update Iceberg allows).
func isWidening(from, to iceberg.Type) bool {
	switch from.(type) {
	case iceberg.Int32Type, iceberg.Float32Type, iceberg.DecimalType:
		return true
	}
	return false
}

func schemaLine(sc *iceberg.Schema) string {
	parts := make([]string, 0, sc.NumFields())
	for _, f := range sc.Fields() {
		s := f.Name + " " + f.Type.String()
		if f.Required {
			s += " not null"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// evolve applies the schema changes the policy allows, retrying when another writer moved the table.
func (l *Loader) evolve(ctx context.Context, cat catalog.Catalog, tbl *table.Table, schema *arrow.Schema) (*table.Table, error) {
	if n := tbl.Properties().GetUInt64(table.CommitNumRetriesKey, 0); n > 0 {
		return nil, fmt.Errorf("iceberg loader: table %s has %s=%d: iceberg-go would replay a conflicting commit on a newer snapshot without jetflow's check for the partition's earlier files; set it to 0 (jetflow retries commits itself, see commit.retries)",
			l.cfg.Table, table.CommitNumRetriesKey, n)
	}
	src, err := icebergSchema(schema)
	if err != nil {
		return nil, err
	}
	src = l.keysRequired(src)
	for attempt := 0; ; attempt++ {
		changes, err := planEvolution(tbl.Schema(), src, l.cfg.SchemaEvolution)
		if err != nil {
			// Reading the partition again cannot change either schema: fail it at once.
			return nil, stage.Permanent(fmt.Errorf("iceberg loader: table %s: %w", l.cfg.Table, err))
		}
		if len(changes) == 0 {
			return tbl, nil
		}
		txn := tbl.NewTransaction()
		us := txn.UpdateSchema(true, false)
		for _, c := range changes {
			if c.add {
				us.AddColumn([]string{c.column}, c.typ, "", false, nil)
			} else {
				us.UpdateColumn([]string{c.column}, table.ColumnUpdate{FieldType: iceberg.Optional[iceberg.Type]{Valid: true, Val: c.typ}})
			}
		}
		if err := us.Commit(); err != nil {
			return nil, fmt.Errorf("iceberg loader: table %s: evolve schema: %w", l.cfg.Table, err)
		}
		next, err := txn.Commit(ctx)
		if err == nil {
			l.log.Info("iceberg: evolved table schema", "table", l.cfg.Table, "schema", schemaLine(next.Schema()))
			return next, nil
		}
		if !retryable(err) || attempt >= l.cfg.Commit.Retries {
			return nil, fmt.Errorf("iceberg loader: table %s: commit schema change: %w", l.cfg.Table, err)
		}
		if err := sleepBackoff(ctx, attempt, l.cfg.Commit.MaxWait.D()); err != nil {
			return nil, err
		}
		if tbl, err = cat.LoadTable(ctx, l.ident); err != nil {
			return nil, fmt.Errorf("iceberg loader: reload table %s: %w", l.cfg.Table, err)
		}
	}
}
