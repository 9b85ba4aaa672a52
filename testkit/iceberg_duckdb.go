package testkit

import (
	"context"
	"slices"
	"strings"
	"testing"

	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// IcebergDuckDBRows reads the current snapshot of tbl with DuckDB over its data files, applying the position
// delete files in SQL (an independent reader of what iceberg-go's scanner reads), and returns expr of each live
// row, sorted. The files are read by column name (union_by_name), so a column added or widened by schema
// evolution reads as null or as the wider type in the older files.
func IcebergDuckDBRows(t testing.TB, tbl *table.Table, expr string) []string {
	t.Helper()
	data, dels := icebergFileLists(t, tbl)
	q := `SELECT ` + expr + ` AS r FROM read_parquet(` + data + `, filename=true, file_row_number=true, union_by_name=true) d`
	if dels != "" {
		q += ` WHERE NOT EXISTS (SELECT 1 FROM read_parquet(` + dels + `) x
			WHERE x.file_path = 'file://' || d.filename AND x.pos = d.file_row_number)`
	}
	var out []string
	for _, r := range DuckDBQuery(t, q) {
		out = append(out, r["r"])
	}
	slices.Sort(out)
	return out
}

// icebergFileLists are the current snapshot's data files and position delete files as DuckDB lists ("" when
// there are none).
func icebergFileLists(t testing.TB, tbl *table.Table) (data, dels string) {
	t.Helper()
	snap := tbl.CurrentSnapshot()
	if snap == nil {
		t.Fatal("testkit.IcebergDuckDBRows: the table has no snapshot")
	}
	fs, err := tbl.FS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := snap.Manifests(fs)
	if err != nil {
		t.Fatal(err)
	}
	var d, x []string
	for _, mf := range mfs {
		for e, err := range mf.Entries(fs, true) {
			if err != nil {
				t.Fatal(err)
			}
			p := "'" + strings.TrimPrefix(e.DataFile().FilePath(), "file://") + "'"
			switch e.DataFile().ContentType() {
			case iceberggo.EntryContentData:
				d = append(d, p)
			case iceberggo.EntryContentPosDeletes:
				x = append(x, p)
			default:
				t.Fatalf("testkit.IcebergDuckDBRows: unexpected %s file %s", e.DataFile().ContentType(), p)
			}
		}
	}
	if len(x) > 0 {
		dels = "[" + strings.Join(x, ", ") + "]"
	}
	return "[" + strings.Join(d, ", ") + "]", dels
}
