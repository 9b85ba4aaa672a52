// Package sqlsource is what the SQL consumers (postgres, clickhouse) share around their own wire decoding: cutting a
// run instance into partitions by an integer or time column, the query template's {{ .Partition.Lo/Hi }}, handing
// decoded arrays over as batches, and telling a read's failure from its receiver's or a cancellation.
package sqlsource

import (
	"context"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/internal/cut"
	"github.com/jetflow-dev/jetflow/stage"
)

// Kind is what a partition column holds, as far as cutting it goes.
type Kind int

const (
	Int  Kind = iota + 1 // ranges over the table's [min, max], by step or count
	Date                 // windows of the run instance, whole days only
	Time                 // windows of the run instance
)

// Plan says how a consumer cuts a run instance by its partition column.
type Plan struct {
	Source string // the consumer type, which messages start with
	Column string // "" for one partition holding every row
	Kind   Kind
	// Type is how messages name the column's type after "is": "a timestamptz", "DateTime64(3)".
	Type  string
	Every time.Duration
	Step  int64
	Count int
	// Precision is the finest time the source's column holds: count windows are truncated to it.
	Precision time.Duration
	// Ranges, when set, are the partitions' bounds as given ({int64, int64} or {time.Time, time.Time}).
	Ranges [][2]any
	// MinMax reads an Int column's range; ok is false for an empty table, which has no partition.
	MinMax func(ctx context.Context) (lo, hi int64, ok bool, err error)
}

// Partitions cuts run:
//   - no column: one partition, Key "all", holding every row;
//   - ranges: the listed ranges, as written;
//   - every / count on a time column: windows of the run instance [start, end), Key col[lo,hi) in RFC 3339;
//   - step / count on an integer column: ranges over [min, max] of the table; an empty table has none.
//
// The keys are cut.Key's text: they feed the partition ids of committed state, so they never change.
func (pl *Plan) Partitions(ctx context.Context, run stage.RunInstance) ([]stage.Partition, error) {
	if pl.Column == "" {
		return []stage.Partition{{Key: "all", Run: run}}, nil
	}
	bounds := pl.Ranges
	switch {
	case len(bounds) > 0:
	case pl.Kind == Date || pl.Kind == Time:
		if pl.Step > 0 {
			return nil, stage.FieldErrorf("partition.step", "applies to integer columns; %q is %s: use every or count", pl.Column, pl.Type)
		}
		if run.End.IsZero() || !run.End.After(run.Start) {
			return nil, fmt.Errorf("%s: partition.column %q is a time: the run instance %q needs a start and an end (a run_instance with every:)", pl.Source, pl.Column, run.Label)
		}
		step := cut.Step(run.Start, run.End, pl.Every, pl.Count, pl.Precision)
		if pl.Kind == Date && step%(24*time.Hour) != 0 {
			return nil, stage.FieldErrorf("partition", "column %q is %s: windows must be whole days, not %s", pl.Column, pl.Type, step)
		}
		var err error
		if bounds, err = cut.Windows(run.Start, run.End, step, pl.Count); err != nil {
			return nil, stage.FieldErrorf("partition", "%v", err)
		}
	default:
		if pl.Every > 0 {
			return nil, stage.FieldErrorf("partition.every", "applies to time columns; %q is %s: use step or count", pl.Column, pl.Type)
		}
		lo, hi, ok, err := pl.MinMax(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, nil
		}
		if bounds, err = cut.IntRanges(lo, hi, pl.Step, pl.Count); err != nil {
			return nil, stage.FieldErrorf("partition.column", "%q: %v", pl.Column, err)
		}
	}
	parts := make([]stage.Partition, len(bounds))
	for i, b := range bounds {
		parts[i] = stage.Partition{Key: cut.Key(pl.Column, b[0], b[1]), Index: i, Lo: b[0], Hi: b[1], Run: run}
	}
	return parts, nil
}
