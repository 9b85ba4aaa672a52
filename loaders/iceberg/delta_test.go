package iceberg

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// TestDeltaEncoding: with the default delta_encoding, an append table's ascending order_id (not an identifier
// field, so not a merge key's fixed encoding) is written DELTA_BINARY_PACKED; with delta_encoding: false it is not.
// The rows read back the same either way (iceberg-go's scanner, through mergeState).
func TestDeltaEncoding(t *testing.T) {
	for _, delta := range []bool{true, false} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		cfg := Config{Catalog: CatalogConfig{Warehouse: filepath.Join(t.TempDir(), "warehouse")}, Table: "analytics.orders", DeltaEncoding: delta}
		reg, _ := stage.Lookup(stage.KindLoader, "iceberg")
		v, err := reg.BuildPresent(stage.BuildContext{Pipeline: "test", Alloc: memory.NewGoAllocator(), Logger: quietLogger()}, &cfg, stage.Given(&cfg, "delta_encoding"))
		if err != nil {
			t.Fatal(err)
		}
		l := v.(*Loader)
		b := ordersBatch(mem, 1, 5001, 1, "new", 600, false)
		testkit.LoadPartition(context.Background(), t, l, mergeSchema(), testkit.PartitionFor("p"), b)
		b.Release()
		files := dataFiles(t, l)
		if len(files) != 1 {
			t.Fatalf("delta_encoding %v: %d data files, want 1", delta, len(files))
		}
		r, err := file.OpenParquetFile(strings.TrimPrefix(files[0], "file://"), false)
		if err != nil {
			t.Fatal(err)
		}
		cc, err := r.MetaData().RowGroup(0).ColumnChunk(0)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(cc.Encodings(), pq.Encodings.DeltaBinaryPacked); got != delta {
			t.Errorf("delta_encoding %v: order_id encodings %v", delta, cc.Encodings())
		}
		r.Close()
		if rows := mergeState(t, l, mem, false); len(rows) != 5000 {
			t.Errorf("delta_encoding %v: %d rows read back, want 5000", delta, len(rows))
		}
		l.Close()
		mem.AssertSize(t, 0)
	}
}
