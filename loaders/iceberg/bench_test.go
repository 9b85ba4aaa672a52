package iceberg

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
)

// benchBatches builds n batches of rows rows: id, tenant (8 values), total, at (over 7 days).
func benchBatches(mem memory.Allocator, n, rows int) (*arrow.Schema, []arrow.RecordBatch) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "tenant", Type: arrow.BinaryTypes.String},
		{Name: "total", Type: &arrow.Decimal128Type{Precision: 18, Scale: 4}},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	start := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC).UnixMicro()
	var out []arrow.RecordBatch
	for k := range n {
		for i := range rows {
			id := int64(k*rows + i)
			b.Field(0).(*array.Int64Builder).Append(id)
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("tenant-%d", id*7919%8))
			b.Field(2).(*array.Decimal128Builder).Append(decimal128.FromI64(id * 1234))
			b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(start + id*7919%(7*86400)*1e6))
		}
		out = append(out, b.NewRecordBatch())
	}
	return schema, out
}

// BenchmarkWrite writes one partition of 8 batches of 64Ki rows per iteration (data files and commit).
func BenchmarkWrite(b *testing.B) {
	for _, tc := range []struct {
		name string
		by   []string
	}{
		{"unpartitioned", nil},
		{"day+tenant", []string{"day(at)", "tenant"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			mem := memory.NewGoAllocator()
			schema, batches := benchBatches(mem, 8, 1<<16)
			defer func() {
				for _, r := range batches {
					r.Release()
				}
			}()
			l := newLoader(b, b.TempDir(), func(c *Config) { c.PartitionBy = tc.by })
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				p := stage.Partition{ID: fmt.Sprintf("p%d", i), Key: fmt.Sprint(i)}
				w, err := l.Begin(ctx, schema, p)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range batches {
					if err := w.Write(ctx, r); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := w.Commit(ctx, stage.CommitInfo{PartitionID: p.ID, Key: p.Key}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*8<<16)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkRerun re-runs one of 16 partitions (16Ki rows each, 8 tenants under [tenant]) per iteration: on a
// table of its own small files, and after compaction, where the re-run also rewrites the 8 compacted files that
// hold its rows (each about 1/8 of the table) without them. The table is compacted again, untimed, before each
// iteration, so every re-run meets compacted files.
func BenchmarkRerun(b *testing.B) {
	for _, compacted := range []bool{false, true} {
		name := "own files"
		if compacted {
			name = "after compaction"
		}
		b.Run(name, func(b *testing.B) {
			mem := memory.NewGoAllocator()
			const parts = 16
			schema, batches := benchBatches(mem, parts, 1<<14)
			defer func() {
				for _, r := range batches {
					r.Release()
				}
			}()
			l := newLoader(b, b.TempDir(), func(c *Config) { c.PartitionBy = []string{"tenant"} })
			ctx := context.Background()
			commit := func(i int) {
				p := stage.Partition{ID: fmt.Sprintf("p%d", i), Key: fmt.Sprint(i)}
				w, err := l.Begin(ctx, schema, p)
				if err != nil {
					b.Fatal(err)
				}
				if err := w.Write(ctx, batches[i]); err != nil {
					b.Fatal(err)
				}
				if _, err := w.Commit(ctx, stage.CommitInfo{PartitionID: p.ID, Key: p.Key}); err != nil {
					b.Fatal(err)
				}
			}
			for i := range parts {
				commit(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if compacted {
					b.StopTimer()
					if _, err := l.Compact(ctx, 0, 2); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				commit(i % parts)
			}
			b.ReportMetric(float64(b.N<<14)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkStreamCommit: a stream's commit of a new partition into a table that already has 400 (one file and
// one manifest each), with every snapshot kept (the baseline: no summary names the partition, nothing is listed)
// and after the history was expired, when the commit must look for the partition's files
// (liveFilesCached). Run with -benchtime 20x: each op adds a snapshot.
func BenchmarkStreamCommit(b *testing.B) {
	for _, expired := range []bool{false, true} {
		name := "history kept"
		if expired {
			name = "history expired"
		}
		b.Run(name, func(b *testing.B) {
			mem := memory.NewGoAllocator()
			l := newLoader(b, b.TempDir(), nil)
			rec := orders(b, mem, 0, 10)
			defer rec.Release()
			for i := range 400 {
				load(b, l, fmt.Sprint(i), rec)
			}
			if expired {
				if _, err := l.ExpireSnapshots(context.Background(), ExpireOptions{RetainLast: 10}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				load(b, l, fmt.Sprint(400+i), rec)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/commit")
		})
	}
}
