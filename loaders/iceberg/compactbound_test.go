package iceberg

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"

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

// TestCompactMergedWithinBufferSize: a compaction rewrites a partition far larger than a read batch and than
// buffer_size as a copy_on_write rewrite reads and writes a file: its files a row group and a bounded slice of
// rows at a time (readBounded), its output's row groups cut at an eighth of buffer_size (one file, which the
// buffer_size rule for many open files does not cut). The Arrow memory it holds at its peak stays below a file
// of the partition decoded (the checked allocator's highest use), and the deletes that fall
// anywhere in its batches are applied: the table reads the same before and after.
func TestCompactMergedWithinBufferSize(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	const budget = 2 << 20
	loaderMem := &peakAlloc{CheckedAllocator: memory.NewCheckedAllocator(memory.NewGoAllocator())}
	defer loaderMem.AssertSize(t, 0)
	l := newLoaderAlloc(t, t.TempDir(), loaderMem, func(c *Config) {
		c.Mode, c.Key, c.VersionBy, c.DeleteWhen = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null"
		c.PartitionBy = []string{"bucket(2, order_id)"}
		c.BufferSize = budget
		c.Merge.CompactEvery = 0 // compacted below, on demand
	})
	const rows = 400_000
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
	base := loaderMem.reset()
	res, err := l.CompactMerged(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A file of a bucket holds about rows/4 rows, of about 40 bytes each decoded; a batch about
	// rewriteBatchBytes of them. Besides a batch the peak holds the pages being decoded, the copy of a batch's
	// live rows and the output's pages.
	if peak, file := loaderMem.peak.Load()-base, int64(rows/4*40); peak > file*3/4 {
		t.Errorf("the compaction held %d bytes of Arrow memory at its peak, more than three quarters of a file of the partition decoded (%d)", peak, file)
	} else {
		t.Logf("the compaction held %d bytes of Arrow memory at its peak; a file decoded is about %d", peak, file)
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
			// Cut once it holds an eighth of buffer_size; the last write and the pages still open come on top.
			if limit := int64(3 * budget / rewriteRowGroupShare); size > limit {
				t.Errorf("%s: row group %d holds %d bytes, more than three times an eighth of buffer_size (%d)", p, g, size, limit)
			}
		}
		groups += md.NumRowGroups()
		r.Close()
	}
	if groups <= len(data) {
		t.Errorf("%d row groups in %d files: the rewrite did not cut its row groups at buffer_size", groups, len(data))
	}
}

// peakAlloc is a checked allocator that notes the most it held at once since reset.
type peakAlloc struct {
	*memory.CheckedAllocator
	peak atomic.Int64
}

func (a *peakAlloc) Allocate(size int) []byte {
	b := a.CheckedAllocator.Allocate(size)
	a.note()
	return b
}

func (a *peakAlloc) Reallocate(size int, b []byte) []byte {
	b = a.CheckedAllocator.Reallocate(size, b)
	a.note()
	return b
}

func (a *peakAlloc) note() {
	for n := int64(a.CurrentAlloc()); ; {
		if p := a.peak.Load(); n <= p || a.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// reset starts the peak over from what the allocator holds now, which it returns.
func (a *peakAlloc) reset() int64 {
	n := int64(a.CurrentAlloc())
	a.peak.Store(n)
	return n
}

// TestRewriteDictionaryWithinRowGroup: a compaction's output keeps each column's dictionary, and so the hash
// table arrow-go's encoder holds for it on the Go heap (which the row group's byte counts do not see), within
// half the rewrite's row group. A change stream's version column (a value per transaction of a few rows) passes
// the dictionary's cost check on its first page; its dictionary then grew to a fifth of the rows, far below the
// table format's 2 MB, with a table of megabytes.
func TestRewriteDictionaryWithinRowGroup(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	l := newLoader(t, t.TempDir(), func(c *Config) {
		c.Mode, c.Key, c.VersionBy, c.DeleteWhen = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null"
		c.Merge.CompactEvery = 0 // compacted below
	})
	const rows, txn = 60_000, 5
	b := array.NewRecordBuilder(mem, mergeSchema())
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for id := range rows {
		b.Field(0).(*array.Int64Builder).Append(int64(id))
		b.Field(1).(*array.StringBuilder).Append("new")
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(start.Add(time.Duration(id/txn) * time.Second).UnixMicro()))
		b.Field(3).AppendNull()
	}
	batch := b.NewRecordBatch()
	b.Release()
	testkit.LoadPartition(ctx, t, l, mergeSchema(), testkit.PartitionFor("init"), batch)
	batch.Release()
	batch = ordersBatch(mem, 1, rows, 97, "paid", 24*60, false)
	testkit.LoadPartition(ctx, t, l, mergeSchema(), testkit.PartitionFor("update"), batch)
	batch.Release()
	if res, err := l.CompactMerged(ctx); err != nil || res.DataFiles == 0 {
		t.Fatalf("compaction: %+v, %v; want the files rewritten", res, err)
	}
	data, _ := snapshotFiles(t, l)
	dicts := 0
	for _, p := range data {
		r, err := file.OpenParquetFile(strings.TrimPrefix(p, "file://"), false)
		if err != nil {
			t.Fatal(err)
		}
		md := r.MetaData()
		rowGroup := int64(l.cfg.BufferSize) / rewriteRowGroupShare
		for g := range md.NumRowGroups() {
			for c := range md.Schema.NumColumns() {
				pages, err := r.RowGroup(g).GetColumnPageReader(c)
				if err != nil {
					t.Fatal(err)
				}
				if !pages.Next() {
					t.Fatalf("%s: column %d of row group %d has no page: %v", p, c, g, pages.Err())
				}
				dict, ok := pages.Page().(*file.DictionaryPage)
				if !ok {
					continue
				}
				dicts++
				col := md.Schema.Column(c)
				if held := dictionaryTable(int64(dict.NumValues()), col.PhysicalType().ByteSize()); held > rowGroup/2 {
					t.Errorf("%s: the dictionary of %s (%d values) took a hash table of %d bytes, more than half the rewrite's row group (%d)", p, col.Name(), dict.NumValues(), held, rowGroup)
				}
			}
		}
		r.Close()
	}
	if dicts == 0 {
		t.Fatal("no column of the compacted files has a dictionary: the test no longer writes one")
	}
}

// dictionaryTable is the Go heap arrow-go's dictionary encoder of a column whose physical type takes width bytes
// holds once it has n values: its hash table, 64 slots to begin with, quadrupled when half used, each a hash, an
// index and the value: 24 bytes for 8-byte values, 16 for 4-byte ones and for the tables of byte arrays (the
// index in place of the value, which is kept apart).
func dictionaryTable(n int64, width int) int64 {
	slot := int64(16)
	if width == 8 {
		slot = 24
	}
	slots := int64(64)
	for n*2 >= slots {
		slots *= 4
	}
	return slots * slot
}
