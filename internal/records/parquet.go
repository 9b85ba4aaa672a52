package records

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// ReadParquetFiles reads a Parquet file, or every *.parquet file under a directory in sorted path order, into one
// record batch allocated from mem, using arrow-go's pqarrow reader. Hive-style directories (date=2026-11-22/) are
// not turned into columns: the result holds what the files hold. Files and directories whose names start with
// "." or "_" are skipped, as Hive and Spark readers do (temporary files, _SUCCESS and commit markers).
//
// It returns nil when a directory holds no Parquet file, and an error when the path does not exist, a file cannot
// be read, or two files have different schemas. The caller releases the result.
func ReadParquetFiles(mem memory.Allocator, pathOrDir string) (arrow.RecordBatch, error) {
	files, err := ParquetFiles(pathOrDir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, nil
	}
	var batches []arrow.RecordBatch
	defer func() { ReleaseAll(batches) }()
	for _, f := range files {
		rec, err := readParquetFile(mem, f)
		if err != nil {
			return nil, err
		}
		batches = append(batches, rec)
		if s0 := batches[0].Schema(); !rec.Schema().Equal(s0) {
			return nil, fmt.Errorf("%s and %s have different schemas:\n%s", files[0], f, DiffSchemas(s0, rec.Schema()))
		}
	}
	rec, err := Concat(mem, batches[0].Schema(), batches)
	if err != nil {
		return nil, fmt.Errorf("joining the files under %s: %w", pathOrDir, err)
	}
	return rec, nil
}

// ParquetFiles lists the Parquet files ReadParquetFiles reads for pathOrDir, in the order it reads them.
func ParquetFiles(pathOrDir string) ([]string, error) {
	st, err := os.Stat(pathOrDir)
	if err != nil {
		return nil, fmt.Errorf("reading Parquet output: %w", err)
	}
	if !st.IsDir() {
		return []string{pathOrDir}, nil
	}
	var files []string
	err = filepath.WalkDir(pathOrDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if p != pathOrDir && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && strings.HasSuffix(name, ".parquet") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing Parquet files under %s: %w", pathOrDir, err)
	}
	slices.Sort(files)
	return files, nil
}

// readParquetFile reads one file into a single record batch.
func readParquetFile(mem memory.Allocator, path string) (arrow.RecordBatch, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening Parquet file: %w", err)
	}
	defer f.Close()
	tbl, err := pqarrow.ReadTable(context.Background(), f, nil, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		return nil, fmt.Errorf("reading Parquet file %s: %w", path, err)
	}
	defer tbl.Release()
	cols := make([]arrow.Array, tbl.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	schema := tbl.Schema()
	for i := range cols {
		chunks := tbl.Column(i).Data().Chunks()
		c, err := concatChunks(mem, schema.Field(i).Type, chunks)
		if err != nil {
			return nil, fmt.Errorf("reading Parquet file %s: column %q: %w", path, schema.Field(i).Name, err)
		}
		cols[i] = c
	}
	// Drop the "PARQUET:..." and arrow schema metadata so records compare by content alone.
	plain := arrow.NewSchema(schema.Fields(), nil)
	return array.NewRecordBatch(plain, cols, tbl.NumRows()), nil
}
