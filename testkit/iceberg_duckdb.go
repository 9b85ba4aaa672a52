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
	if tbl.CurrentSnapshot() == nil {
		t.Fatal("testkit.IcebergDuckDBRows: the table has no snapshot")
	}
	d, x := IcebergSnapshotFiles(t, tbl)
	quote := func(ps []string) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = "'" + p + "'"
		}
		return out
	}
	if len(x) > 0 {
		dels = "[" + strings.Join(quote(x), ", ") + "]"
	}
	return "[" + strings.Join(quote(d), ", ") + "]", dels
}

// IcebergSnapshotFiles lists the current snapshot's live data files and position delete files as local paths
// (none without a snapshot); any other kind of file fails the test.
func IcebergSnapshotFiles(t testing.TB, tbl *table.Table) (data, dels []string) {
	t.Helper()
	snap := tbl.CurrentSnapshot()
	if snap == nil {
		return nil, nil
	}
	fs, err := tbl.FS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := snap.Manifests(fs)
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for e, err := range mf.Entries(fs, true) {
			if err != nil {
				t.Fatal(err)
			}
			p := strings.TrimPrefix(e.DataFile().FilePath(), "file://")
			switch e.DataFile().ContentType() {
			case iceberggo.EntryContentData:
				data = append(data, p)
			case iceberggo.EntryContentPosDeletes:
				dels = append(dels, p)
			default:
				t.Fatalf("unexpected %s file %s in the snapshot", e.DataFile().ContentType(), p)
			}
		}
	}
	return data, dels
}
