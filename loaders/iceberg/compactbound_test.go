package iceberg

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/iceberg-go"

	"github.com/jetflow-dev/jetflow/testkit"
)

// ordersBatch is rows of mergeSchema for the ids from, from+step, ... below to: status, version minute (on
// 2026-01-01) and, with gone, a soft delete.
func ordersBatch(mem memory.Allocator, from, to, step int, status string, minute int, gone bool) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, mergeSchema())
	defer b.Release()
	at := arrow.Timestamp(time.Date(2026, 1, 1, 0, minute, 0, 0, time.UTC).UnixMicro())
	for id := from; id < to; id += step {
		b.Field(0).(*array.Int64Builder).Append(int64(id))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("%s-%d", status, id))
		b.Field(2).(*array.TimestampBuilder).Append(at)
		if gone {
			b.Field(3).(*array.TimestampBuilder).Append(at)
		} else {
			b.Field(3).AppendNull()
		}
	}
	return b.NewRecordBatch()
}

// TestCompactMergedWithinBufferSize: a compaction rewrites a partition far larger than buffer_size in row groups
// cut at buffer_size (one file, which the buffer_size rule for many open files does not cut), reading the files in
// batches of a few hundred rows, and the deletes that fall anywhere in those batches are applied: the table
// reads the same before and after.
func TestCompactMergedWithinBufferSize(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	const budget = 32 << 10
	l := newOrdersMergeLoader(t, func(c *Config) {
		c.BufferSize = budget
		c.Merge.CompactEvery = 0 // compacted below, on demand
	})
	if n := compactBatchRows(loadTableSchema(t, l), budget); n != 256 {
		t.Fatalf("a compaction of the orders table at buffer_size %d reads %d rows at a time, want 256", budget, n)
	}
	const rows = 40_000
	for i, b := range []arrow.RecordBatch{
		ordersBatch(mem, 1, rows/2, 1, "new", 600, false),
		ordersBatch(mem, rows/2, rows+1, 1, "new", 600, false),
		ordersBatch(mem, 3, rows+1, 7, "paid", 660, false), // updates all over both files
		ordersBatch(mem, 5, rows+1, 13, "gone", 720, true), // and deletes
	} {
		testkit.LoadPartition(ctx, t, l, mergeSchema(), testkit.PartitionFor(fmt.Sprintf("p%d", i)), b)
		b.Release()
	}
	before := mergeState(t, l, mem, false)
	if want := rows - rows/13; len(before) < want-1 || len(before) > want+1 {
		t.Fatalf("the merges left %d rows, want about %d", len(before), want)
	}
	res, err := l.CompactMerged(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.DataFiles < 4 || res.DeleteFiles == 0 {
		t.Fatalf("the compaction rewrote %d data files and dropped %d delete files, want every file and their deletes", res.DataFiles, res.DeleteFiles)
	}
	if after := mergeState(t, l, mem, true); !slices.Equal(after, before) {
		t.Fatalf("the compaction changed the table: %d rows before, %d after", len(before), len(after))
	}
	data, dels := snapshotFiles(t, l)
	if len(dels) != 0 {
		t.Fatalf("%d delete files after the compaction", len(dels))
	}
	groups := 0
	for _, p := range data {
		r, err := file.OpenParquetFile(strings.TrimPrefix(p, "file://"), false)
		if err != nil {
			t.Fatal(err)
		}
		md := r.MetaData()
		for g := range md.NumRowGroups() {
			rg := md.RowGroup(g)
			var size int64
			for c := range rg.NumColumns() {
				cc, err := rg.ColumnChunk(c)
				if err != nil {
					t.Fatal(err)
				}
				size += cc.TotalCompressedSize()
			}
			// Cut once it holds buffer_size; the last write and the pages still open come on top.
			if size > 3*budget {
				t.Errorf("%s: row group %d holds %d bytes, more than three times buffer_size (%d)", p, g, size, budget)
			}
		}
		groups += md.NumRowGroups()
		r.Close()
	}
	if groups <= len(data) {
		t.Errorf("%d row groups in %d files: the rewrite did not cut its row groups at buffer_size", groups, len(data))
	}
}

// loadTableSchema is the Iceberg schema a merge of mergeSchema's rows into l's table has: the table is made by a
// first (empty-result) load.
func loadTableSchema(t *testing.T, l *Loader) *iceberg.Schema {
	t.Helper()
	tbl, err := l.Table(context.Background(), mergeSchema())
	if err != nil {
		t.Fatal(err)
	}
	return tbl.Schema()
}

// TestCompactBatchRows: a compaction decodes at most takeChunk rows at a time, fewer as buffer_size shrinks or
// rows widen, and never fewer than 256.
func TestCompactBatchRows(t *testing.T) {
	narrow := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true},
		iceberg.NestedField{ID: 2, Name: "name", Type: iceberg.PrimitiveTypes.String})
	var wide []iceberg.NestedField
	for i := range 500 {
		wide = append(wide, iceberg.NestedField{ID: i + 1, Name: fmt.Sprintf("c%d", i), Type: iceberg.PrimitiveTypes.Float64})
	}
	for _, tt := range []struct {
		name   string
		sc     *iceberg.Schema
		buffer int64
		want   int
	}{
		{"narrow, default buffer_size", narrow, 16 << 20, takeChunk},
		{"narrow, 1 MiB", narrow, 1 << 20, (1 << 20) / 16 / 40},
		{"500 doubles, default buffer_size", iceberg.NewSchema(0, wide...), 16 << 20, (16 << 20) / 16 / 4000},
		{"500 doubles, 1 MiB", iceberg.NewSchema(0, wide...), 1 << 20, 256},
	} {
		if got := compactBatchRows(tt.sc, tt.buffer); got != tt.want {
			t.Errorf("%s: %d rows, want %d", tt.name, got, tt.want)
		}
	}
}
