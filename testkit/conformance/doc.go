// Package conformance checks that a consumer or a loader keeps the stage contracts the engine relies on, with one
// test function per stage type (the idea of Redpanda Connect's public/service/integration suite):
//
//	func TestParquetConformance(t *testing.T) {
//		var dir string
//		conformance.Loaders(t, conformance.ConformanceLoader{
//			New: func(t *testing.T) stage.Loader {
//				dir = t.TempDir()
//				return newParquetLoader(t, dir)
//			},
//			ReadBack: func(t *testing.T, mem memory.Allocator) arrow.RecordBatch {
//				return testkit.ReadParquet(t, mem, dir)
//			},
//		})
//	}
//
// Loaders checks empty and one-row partitions, nulls in every column, every supported type round-tripped, abort,
// a retry after a failed or abandoned attempt, re-commit of a committed partition, concurrent commits and
// cancellation. Consumers checks that partitions are deterministic and disjoint, that reads repeat exactly, that
// batches have the declared schema, that cancellation and errors from the receiver stop a read promptly, and
// that no Arrow memory leaks.
package conformance
