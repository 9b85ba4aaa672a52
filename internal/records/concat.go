package records

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Concat joins batches of schema into one record; with no batches it returns an empty record of schema, and
// one batch comes back retained. The caller releases the result.
func Concat(mem memory.Allocator, schema *arrow.Schema, batches []arrow.RecordBatch) (arrow.RecordBatch, error) {
	if len(batches) == 1 && batches[0].Schema().Equal(schema) {
		batches[0].Retain()
		return batches[0], nil
	}
	var rows int64
	for i, b := range batches {
		if !b.Schema().Equal(schema) {
			return nil, fmt.Errorf("batch %d has schema %s, want %s", i, b.Schema(), schema)
		}
		rows += b.NumRows()
	}
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	parts := make([]arrow.Array, len(batches))
	for j := range cols {
		if len(batches) == 0 {
			b := array.NewBuilder(mem, schema.Field(j).Type)
			cols[j] = b.NewArray()
			b.Release()
			continue
		}
		for i, b := range batches {
			parts[i] = b.Column(j)
		}
		c, err := array.Concatenate(parts, mem)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", schema.Field(j).Name, err)
		}
		cols[j] = c
	}
	return array.NewRecordBatch(schema, cols, rows), nil
}

// ReleaseAll releases every batch, for the slices ReadPartition and Transform return.
func ReleaseAll(batches []arrow.RecordBatch) {
	for _, b := range batches {
		if b != nil {
			b.Release()
		}
	}
}

// concatChunks joins the chunks of one column; an empty column gets an empty array of dt.
func concatChunks(mem memory.Allocator, dt arrow.DataType, chunks []arrow.Array) (arrow.Array, error) {
	switch len(chunks) {
	case 0:
		b := array.NewBuilder(mem, dt)
		defer b.Release()
		return b.NewArray(), nil
	case 1:
		chunks[0].Retain()
		return chunks[0], nil
	}
	return array.Concatenate(chunks, mem)
}
