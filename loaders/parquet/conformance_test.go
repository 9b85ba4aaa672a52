package parquet_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/conformance"
)

func TestParquetConformance(t *testing.T) {
	var dir string
	conformance.Loaders(t, conformance.ConformanceLoader{
		New: func(t *testing.T) stage.Loader {
			dir = t.TempDir()
			l, err := parquet.New(stage.BuildContext{Pipeline: "conformance", Alloc: memory.NewGoAllocator()}, &parquet.Config{
				Path:           dir,
				Compression:    "zstd",
				RowGroupSize:   128 << 20,
				TargetFileSize: 512 << 20,
				Writers:        1,
				Dictionary:     true,
			})
			if err != nil {
				t.Fatalf("building the parquet loader: %v", err)
			}
			return l
		},
		ReadBack: func(t *testing.T, mem memory.Allocator) arrow.RecordBatch {
			return testkit.ReadParquet(t, mem, dir)
		},
		Merge: conformance.ConformanceMerge{Refuse: func(t *testing.T) error {
			_, err := parquet.New(stage.BuildContext{Pipeline: "conformance", Alloc: memory.NewGoAllocator()}, &parquet.Config{Path: t.TempDir(), Mode: "merge"})
			return err
		}},
	})
}
