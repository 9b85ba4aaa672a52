// Package conformance checks that a consumer, a stream consumer, a transformer or a loader keeps the stage contracts the engine relies on, with one
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
// that no Arrow memory leaks. Transformers runs a transformer the way the engine does (stage.PartitionChain) and
// checks an empty batch, nulls in every column, output of exactly the OutputSchema, batch ownership (no leak, no
// use after release, outputs unchanged by later batches), output independent of batch boundaries, partition
// state kept apart and Flush handing back held rows once. Streams checks that a stream consumer resumed after a
// committed checkpoint neither loses nor repeats a record, that partitions roll, and that cancellation stops it
// cleanly.
//
// Each stage runs its suite in a conformance_test.go beside its code.
package conformance
