package stagetest

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// writeGolden replaces an expected-output fixture with rec, in the fixture's own format, for --update.
func writeGolden(path string, rec arrow.RecordBatch) error {
	var buf bytes.Buffer
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".parquet":
		// The stored Arrow schema keeps what Parquet alone would lose (a timestamp's zone, dictionary types).
		w, err := pqarrow.NewFileWriter(rec.Schema(), &buf, parquet.NewWriterProperties(),
			pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
		if err != nil {
			return err
		}
		if err := w.Write(rec); err != nil {
			w.Close()
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	case ".csv":
		w := csv.NewWriter(&buf, rec.Schema(), csv.WithHeader(true), csv.WithNullWriter(""))
		if err := w.Write(rec); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	case ".json", ".jsonl", ".ndjson":
		var lines bytes.Buffer
		if err := array.RecordToJSON(rec, &lines); err != nil {
			return err
		}
		if ext != ".json" {
			buf = lines
			break
		}
		// .json holds an array of objects, one a line.
		rows := strings.Split(strings.TrimSuffix(lines.String(), "\n"), "\n")
		if lines.Len() == 0 {
			rows = nil
		}
		buf.WriteString("[\n")
		for i, r := range rows {
			buf.WriteString("  " + r)
			if i < len(rows)-1 {
				buf.WriteByte(',')
			}
			buf.WriteByte('\n')
		}
		buf.WriteString("]\n")
	default:
		return fmt.Errorf("cannot write %s: use .parquet, .csv, .json or .jsonl", path)
	}
	return writeFileAtomic(path, buf.Bytes())
}
