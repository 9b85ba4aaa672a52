package testkit

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/records"
)

// The comparing, printing and Parquet reading live in internal/records, which `jetflow test` uses at run time
// without linking testing; these are their names here and the assertions on top of them.

// DiffOption adjusts how DiffRecords and AssertRecordsEqual compare.
type DiffOption = records.DiffOption

// SortBy compares the rows of both records in the order of these columns (ascending, nulls first, ties kept in
// input order), for stages whose output order is not defined. Row numbers in the report count in that order.
func SortBy(columns ...string) DiffOption { return records.SortBy(columns...) }

// IgnoreNullability compares schemas without the nullable flag of top-level columns.
func IgnoreNullability() DiffOption { return records.IgnoreNullability() }

// DiffRecords returns "" when want and got hold the same schema and rows, and otherwise a report for a human
// (see records.DiffRecords): schema differences, row counts, then up to 20 differing cells by canonical text.
// A nil record stands for no output.
func DiffRecords(want, got arrow.RecordBatch, opts ...DiffOption) string {
	return records.DiffRecords(want, got, opts...)
}

// AssertRecordsEqual fails the test with DiffRecords' report when want and got differ.
func AssertRecordsEqual(t testing.TB, want, got arrow.RecordBatch, opts ...DiffOption) {
	t.Helper()
	if d := DiffRecords(want, got, opts...); d != "" {
		t.Errorf("records differ (-want +got):\n%s", d)
	}
}

// CellText returns row i of arr in the canonical text DiffRecords compares and reports cells by: 12.50 for a
// decimal(9,2), "text" quoted, 2026-11-22T10:00:00Z for a timestamp, [1, null] for a list, null for a null.
func CellText(arr arrow.Array, i int) string { return records.CellText(arr, i) }

func diffSchemas(want, got *arrow.Schema) string { return records.DiffSchemas(want, got) }

// ReadParquet reads a Parquet file, or every *.parquet file under a directory in sorted path order, into one
// record batch allocated from mem (see ReadParquetFiles for which files). It returns nil when a directory holds
// no Parquet file, and fails the test when the path does not exist, a file cannot be read, or two files have
// different schemas. The caller releases the result.
func ReadParquet(t testing.TB, mem memory.Allocator, pathOrDir string) arrow.RecordBatch {
	t.Helper()
	rec, err := ReadParquetFiles(mem, pathOrDir)
	if err != nil {
		t.Fatalf("testkit.ReadParquet: %v", err)
	}
	return rec
}

// ReadParquetFiles is ReadParquet returning its errors: Hive-style directories are not turned into columns, and
// files and directories whose names start with "." or "_" are skipped, as Hive and Spark readers do.
func ReadParquetFiles(mem memory.Allocator, pathOrDir string) (arrow.RecordBatch, error) {
	return records.ReadParquetFiles(mem, pathOrDir)
}

// ParquetFiles lists the Parquet files ReadParquet reads for pathOrDir, in the order it reads them.
func ParquetFiles(t testing.TB, pathOrDir string) []string {
	t.Helper()
	files, err := records.ParquetFiles(pathOrDir)
	if err != nil {
		t.Fatalf("testkit.ParquetFiles: %v", err)
	}
	return files
}
