package iceberg

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// iceberg-go keeps a data file's string partition values (identity, truncate) until the manifest is written at
// commit. The engine releases each batch once Write returns, and jetflow run's allocator unmaps released buffers:
// on the guarded allocator a reference kept into a released batch faults, so this test fails loudly unless the
// loader hands iceberg-go copies on the Go heap.
func TestStringPartitionValuesOutliveReleasedBatches(t *testing.T) {
	tests := []struct {
		name        string
		partitionBy []string
		wantCopy    []string
		direct      bool // jetflow's own data file writer, which copies partition values itself
	}{
		// bucket of a decimal is a transform the splitter has no key for: iceberg-go writes the files.
		{"iceberg-go's writer, identity and truncate of strings", []string{"identity(tenant_id)", "truncate(4, sku)", "bucket(2, total)"}, []string{"tenant_id", "sku"}, false},
		{"iceberg-go's writer, numbers only", []string{"bucket(2, total)"}, nil, false},
		{"jetflow's writer, identity and truncate of strings", []string{"identity(tenant_id)", "truncate(4, sku)", "day(updated_at)"}, nil, true},
		{"jetflow's writer, numbers and times only", []string{"day(updated_at)", "bucket(4, id)"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			// The loader allocates from the guarded allocator too: what iceberg-go cuts from the batches (the
			// sub-batches of each Iceberg partition) is checked as well.
			cfg := Config{Catalog: CatalogConfig{Warehouse: filepath.Join(t.TempDir(), "warehouse")}, Table: "analytics.orders", PartitionBy: tc.partitionBy}
			l, err := New(stage.BuildContext{Pipeline: "test", Alloc: mem, Logger: quietLogger()}, &cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			batches := []arrow.RecordBatch{orders(t, mem, 0, 150), orders(t, mem, 150, 150)}
			want := testkit.ConcatRecords(mem, batches)
			defer want.Release()

			ctx := context.Background()
			p := testkit.PartitionFor("released")
			w, err := l.Begin(ctx, ordersSchema(), p)
			if err != nil {
				testkit.ReleaseAll(batches)
				t.Fatal(err)
			}
			if got := w.(*partitionWriter).goHeap; !slices.Equal(got, tc.wantCopy) {
				t.Errorf("copies to the Go heap: %v, want %v", got, tc.wantCopy)
			}
			if got := w.(*partitionWriter).direct; got != tc.direct {
				t.Errorf("jetflow's own writer: %v, want %v", got, tc.direct)
			}
			for _, b := range batches {
				err := w.Write(ctx, b)
				b.Release() // as the engine does: the loader keeps what it needs
				if err != nil {
					t.Fatal(err)
				}
			}
			if _, err := w.Commit(ctx, testkit.CommitInfoFor(p, want.NumRows())); err != nil {
				t.Fatal(err)
			}
			got := scan(t, l, mem, nil)
			defer got.Release()
			testkit.AssertRecordsEqual(t, want, got, testkit.SortBy("id"))
		})
	}
}
