package iceberg

import (
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// referencedColumns names the columns iceberg-go keeps references into after it consumed a batch for tbl: a
// data file's partition values of a string or binary source column (identity, truncate) are strings or slices
// into the batch's buffers, held until the manifest is written at commit, long after the engine released the
// batch. With jetflow's off-heap allocator a released buffer is unmapped, so those columns must reach iceberg-go
// as copies on the Go heap, where the garbage collector keeps what is still referenced. Everything else (the
// sub-batches iceberg-go cuts per Iceberg partition, number and time partition values) is copied or converted by
// iceberg-go itself; TestStringPartitionValuesOutliveReleasedBatches runs it on the guarded allocator.
func referencedColumns(tbl *table.Table) []string {
	spec, sc := tbl.Spec(), tbl.Schema()
	var names []string
	for _, f := range spec.Fields() {
		for _, id := range f.SourceIDs {
			field, ok := sc.FindFieldByID(id)
			if !ok {
				continue
			}
			switch field.Type.(type) {
			case iceberg.StringType, iceberg.BinaryType, iceberg.FixedType:
				if !slices.Contains(names, field.Name) {
					names = append(names, field.Name)
				}
			}
		}
	}
	return names
}

// withGoHeapColumns returns a batch whose named columns are copies on the Go heap and whose other columns are
// batch's own (retained); the caller owns the result and still owns batch.
func withGoHeapColumns(batch arrow.RecordBatch, names []string) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, batch.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, c := range batch.Columns() {
		if !slices.Contains(names, batch.ColumnName(i)) {
			c.Retain()
			cols[i] = c
			continue
		}
		cp, err := array.Concatenate([]arrow.Array{c}, memory.DefaultAllocator)
		if err != nil {
			return nil, fmt.Errorf("copy column %s: %w", batch.ColumnName(i), err)
		}
		cols[i] = cp
	}
	return array.NewRecordBatch(batch.Schema(), cols, batch.NumRows()), nil
}
