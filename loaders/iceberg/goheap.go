package iceberg

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// keepsValueReferences tells whether iceberg-go keeps references into the batches it writes for tbl: a data
// file's partition values of a string or binary source column (identity, truncate) are strings or slices into
// the batch's buffers, held until the manifest is written at commit, long after the engine released the batch.
// With jetflow's off-heap allocator a released buffer is unmapped, so those batches (and the sub-batches
// iceberg-go cuts per Iceberg partition) must live on the Go heap, where the garbage collector keeps what is
// still referenced. A table partitioned only by numbers and times needs no copy.
func keepsValueReferences(tbl *table.Table) bool {
	spec, sc := tbl.Spec(), tbl.Schema()
	for _, f := range spec.Fields() {
		for _, id := range f.SourceIDs {
			field, ok := sc.FindFieldByID(id)
			if !ok {
				continue
			}
			switch field.Type.(type) {
			case iceberg.StringType, iceberg.BinaryType, iceberg.FixedType:
				return true
			}
		}
	}
	return false
}

// goHeapCopy copies batch into buffers of the Go heap; the caller owns the copy and still owns batch.
func goHeapCopy(batch arrow.RecordBatch) (arrow.RecordBatch, error) {
	mem := memory.DefaultAllocator
	cols := make([]arrow.Array, batch.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, c := range batch.Columns() {
		cp, err := array.Concatenate([]arrow.Array{c}, mem)
		if err != nil {
			return nil, fmt.Errorf("copy column %s: %w", batch.ColumnName(i), err)
		}
		cols[i] = cp
	}
	return array.NewRecordBatch(batch.Schema(), cols, batch.NumRows()), nil
}
