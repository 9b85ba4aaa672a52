package parquet_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/stage"
)

// With many Hive directories open at once, buffer_size bounds what a writer holds: row groups are written out
// early (more, smaller ones) instead of one row group per directory growing to row_group_size each.
func TestBufferSizeBoundsManyDirectories(t *testing.T) {
	tests := []struct {
		name          string
		bufferSize    int64
		wantSplitRGs  bool // some file holds more than one row group
		dirs, batches int
	}{
		{"within the buffer: one row group per file", 32 << 20, false, 20, 4},
		{"over the buffer: row groups written early", 32 << 10, true, 20, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			dir := t.TempDir()
			schema := arrow.NewSchema([]arrow.Field{
				{Name: "region", Type: arrow.BinaryTypes.String},
				{Name: "id", Type: arrow.PrimitiveTypes.Int64},
				{Name: "note", Type: arrow.BinaryTypes.String},
			}, nil)
			// Row groups of 1 MiB make pages of 32 KiB, so the written pages the buffer counts grow batch by batch.
			l := newLoader(t, mem, parquet.Config{Path: dir, PartitionBy: []string{"region"}, RowGroupSize: 1 << 20, BufferSize: stage.ByteSize(tc.bufferSize)})
			var batches []arrow.RecordBatch
			const perBatch = 20_000
			for b := range tc.batches {
				bld := array.NewRecordBuilder(mem, schema)
				for i := range perBatch {
					id := b*perBatch + i
					bld.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("r%02d", id%tc.dirs))
					bld.Field(1).(*array.Int64Builder).Append(int64(id))
					bld.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("note %d, not very compressible %x", id, id*7919))
				}
				batches = append(batches, bld.NewRecordBatch())
				bld.Release()
			}
			load(t, l, schema, "buf", batches...)
			for _, b := range batches {
				b.Release()
			}

			s, _ := l.Destination(context.Background(), testRun)
			files := dataFiles(t, s)
			if len(files) != tc.dirs {
				t.Fatalf("%d files, want one per directory (%d)", len(files), tc.dirs)
			}
			var rows int64
			split := false
			for _, f := range files {
				r, err := file.OpenParquetFile(filepath.Join(dir, f), false)
				if err != nil {
					t.Fatal(err)
				}
				rows += r.NumRows()
				if r.NumRowGroups() > 1 {
					split = true
				}
				r.Close()
			}
			if rows != int64(tc.batches*perBatch) {
				t.Errorf("%d rows in the files, want %d", rows, tc.batches*perBatch)
			}
			if split != tc.wantSplitRGs {
				t.Errorf("a file has several row groups: %v, want %v (buffer_size %d)", split, tc.wantSplitRGs, tc.bufferSize)
			}
		})
	}
}
