// Package testkit helps test jetflow stages, the built-in ones and your own: it builds Arrow records from JSON
// or YAML text, drives a consumer, transformer or loader through one partition the way the engine does, reads
// back what a loader wrote (Parquet through arrow-go, or through DuckDB as an independent reader), and compares
// records with a readable report of what differs.
//
// Every helper takes a testing.TB and fails the test with a message saying what went wrong, so a test reads as a
// list of steps. Records are built with the allocator you pass; use a checked allocator and assert it is empty
// at the end, so leaked Arrow buffers fail the test:
//
//	func TestUppercase(t *testing.T) {
//		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
//		defer mem.AssertSize(t, 0)
//		schema := arrow.NewSchema([]arrow.Field{
//			{Name: "id", Type: arrow.PrimitiveTypes.Int64},
//			{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
//		}, nil)
//
//		in := testkit.Records(t, mem, schema, `[{"id": 1, "name": "ada"}, {"id": 2, "name": null}]`)
//		defer in.Release()
//		want := testkit.RecordsYAML(t, mem, schema, `
//	- {id: 1, name: ADA}
//	- {id: 2, name: null}
//	`)
//		defer want.Release()
//
//		out := testkit.Transform(t.Context(), t, newUppercase(mem), in)
//		got := testkit.ConcatRecords(mem, out)
//		testkit.ReleaseAll(out)
//		defer got.Release()
//		testkit.AssertRecordsEqual(t, want, got)
//	}
//
// Loaders and consumers get a whole battery of checks (empty and one-row partitions, nulls, every type,
// abort, retry, re-commit, concurrency, cancellation) from the conformance subpackage with one test function.
//
// Stage tests written in YAML next to a pipeline (`tests:` or <name>.test.yaml, run by `jetflow test`) run inside
// a Go test through the pipelinetest subpackage:
//
//	func TestPipelines(t *testing.T) { pipelinetest.Run(t, stagetest.Options{}, "../pipelines") }
package testkit
