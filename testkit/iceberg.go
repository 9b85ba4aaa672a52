package testkit

import (
	"context"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go/table"
)

// IcebergRows reads the current snapshot of tbl with iceberg-go's own scanner (which applies delete files) and
// returns row's text of each row, sorted. col finds a column of the batch by name.
func IcebergRows(t testing.TB, tbl *table.Table, row func(col func(name string) arrow.Array, i int) string) []string {
	t.Helper()
	_, recs, err := tbl.Scan().ToArrowRecords(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for b, err := range recs {
		if err != nil {
			t.Fatal(err)
		}
		col := func(name string) arrow.Array {
			idx := b.Schema().FieldIndices(name)
			if len(idx) == 0 {
				t.Fatalf("testkit.IcebergRows: no column %q in %s", name, b.Schema())
			}
			return b.Column(idx[0])
		}
		for i := range int(b.NumRows()) {
			out = append(out, row(col, i))
		}
		b.Release()
	}
	slices.Sort(out)
	return out
}
