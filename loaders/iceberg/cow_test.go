package iceberg

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/jetflow-dev/jetflow/testkit"
)

// TestMergeCopyOnWriteInPlace: copy_on_write writes a changed row into the rewrite of the data file that held
// its key, so a merge that changes keys of N files replaces them by N files; only a key new to the table (or a
// merge that holds no stored key) adds a file. The table reads as the merge says with iceberg-go's scanner and
// with DuckDB over the data files alone, and the snapshot's file counts are the summary's.
func TestMergeCopyOnWriteInPlace(t *testing.T) {
	table := []string{"1:new@10:00", "2:new@10:00", "3:new@10:00", "11:new@10:00", "12:new@10:00", "13:new@10:00"}
	for _, tc := range []struct {
		name           string
		change         []string
		want           []string
		added, removed int // data files
	}{
		{"updates in both files", []string{"2:paid@11:00", "12:paid@11:00", "13:sent@11:00"},
			[]string{"1:new@10:00", "11:new@10:00", "12:paid@11:00", "13:sent@11:00", "2:paid@11:00", "3:new@10:00"}, 2, 2},
		{"an update and a delete in one file", []string{"1:paid@11:00", "3:gone!@11:00"},
			[]string{"1:paid@11:00", "11:new@10:00", "12:new@10:00", "13:new@10:00", "2:new@10:00"}, 1, 1},
		{"updates and an insert", []string{"2:paid@11:00", "11:paid@11:00", "20:new@11:00"},
			[]string{"1:new@10:00", "11:paid@11:00", "12:new@10:00", "13:new@10:00", "2:paid@11:00", "20:new@11:00", "3:new@10:00"}, 3, 2},
		{"an older version changes nothing", []string{"2:old@09:00"}, table, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			l := newLoader(t, t.TempDir(), func(c *Config) {
				c.Mode, c.Key, c.VersionBy, c.DeleteWhen = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null"
				c.Merge.Strategy = "copy_on_write"
			})
			// Two commits, two data files: keys 1-3 and 11-13.
			for i, rows := range [][]string{table[:3], table[3:]} {
				b := mergeRows(t, mem, rows...)
				testkit.LoadPartition(context.Background(), t, l, mergeSchema(), testkit.PartitionFor(fmt.Sprint("load", i)), b)
				b.Release()
			}
			b := mergeRows(t, mem, tc.change...)
			testkit.LoadPartition(context.Background(), t, l, mergeSchema(), testkit.PartitionFor("change"), b)
			b.Release()

			if got, want := mergeState(t, l, mem, true), slices.Sorted(slices.Values(tc.want)); !slices.Equal(got, want) {
				t.Fatalf("after the merge the table holds\n%v\nwant\n%v", got, want)
			}
			tbl, err := l.LoadTable(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			data, dels := snapshotFiles(t, l)
			if tc.added == 0 {
				if len(data) != 2 {
					t.Fatalf("a merge that changes nothing left %d data files, want the 2 loaded", len(data))
				}
				return
			}
			p := tbl.CurrentSnapshot().Summary.Properties
			if got := fmt.Sprint(p["added-data-files"], "/", p["deleted-data-files"]); got != fmt.Sprint(tc.added, "/", tc.removed) {
				t.Fatalf("the merge added/removed %s data files, want %d/%d: changed rows belong in the rewrites", got, tc.added, tc.removed)
			}
			if len(data) != 2+tc.added-tc.removed || len(dels) != 0 {
				t.Fatalf("the table has %d data files and %d delete files, want %d and none", len(data), len(dels), 2+tc.added-tc.removed)
			}
		})
	}
}

// TestMergeCopyOnWriteStreamsRowGroups: a copy_on_write rewrite reads the data file it rewrites a row group at a
// time, in bounded batches, and writes the same rows a whole read would: a file of ten row groups, with
// updates, deletes and an insert spread over them, reads back as the merge says with iceberg-go's scanner and
// with DuckDB. readBounded itself yields the file's rows in order, no batch spanning two row groups.
func TestMergeCopyOnWriteStreamsRowGroups(t *testing.T) {
	ctx := context.Background()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	// The loader allocates on Go's allocator, as the package's other tests' loaders do.
	l := newLoader(t, t.TempDir(), func(c *Config) {
		c.Mode, c.Key, c.VersionBy, c.DeleteWhen = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null"
		c.Merge.Strategy = "copy_on_write"
		c.Properties = map[string]string{table.ParquetRowGroupLimitKey: "100"}
	})

	const n = 1000
	var rows []string
	for id := 1; id <= n; id++ {
		rows = append(rows, fmt.Sprintf("%d:new@10:00", id))
	}
	b := mergeRows(t, mem, rows...)
	testkit.LoadPartition(ctx, t, l, mergeSchema(), testkit.PartitionFor("load"), b)
	b.Release()

	tbl := loadTable(t, l)
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var files []iceberg.DataFile
	for _, task := range tasks {
		files = append(files, task.File)
	}
	if len(files) != 1 {
		t.Fatalf("the load wrote %d data files, want 1", len(files))
	}
	fsys, err := tbl.FS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := table.SchemaToArrowSchemaWithOptions(tbl.Schema(), table.ArrowSchemaOptions{IncludeFieldIDs: true, TableProperties: tbl.Metadata().Properties()})
	if err != nil {
		t.Fatal(err)
	}
	w := &mergeWriter{l: l}
	recs, done, ok, err := w.readBounded(ctx, fsys, files[0], want)
	if err != nil || !ok {
		t.Fatalf("readBounded of a file the loader wrote: ok %t, %v; want it streamed", ok, err)
	}
	var batches, next int64
	for rec, err := range recs {
		if err != nil {
			t.Fatal(err)
		}
		batches++
		ids := rec.Column(0).(*array.Int64)
		for i := range ids.Len() {
			if next++; ids.Value(i) != next {
				t.Fatalf("row %d holds order_id %d, want %d", next-1, ids.Value(i), next)
			}
		}
		if rec.NumRows() > 100 {
			t.Errorf("a batch of %d rows: more than a row group holds", rec.NumRows())
		}
		rec.Release()
	}
	done()
	if next != n || batches < 10 {
		t.Fatalf("readBounded read %d rows in %d batches, want %d rows in at least 10 (one per row group)", next, batches, n)
	}

	// Changes in every row group: updates, deletes, an older version and a new key.
	change := []string{"1:paid@11:00", "150:paid@11:00", "555:sent@11:00", "1000:paid@11:00",
		"300:gone!@11:00", "301:gone!@11:00", "700:old@09:00", "2000:new@11:00"}
	b = mergeRows(t, mem, change...)
	testkit.LoadPartition(ctx, t, l, mergeSchema(), testkit.PartitionFor("change"), b)
	b.Release()

	expect := map[int]string{1: "paid@11:00", 150: "paid@11:00", 555: "sent@11:00", 1000: "paid@11:00", 2000: "new@11:00"}
	var wantRows []string
	for id := 1; id <= n; id++ {
		if id == 300 || id == 301 {
			continue
		}
		s, ok := expect[id]
		if !ok {
			s = "new@10:00"
		}
		wantRows = append(wantRows, fmt.Sprintf("%d:%s", id, s))
	}
	wantRows = append(wantRows, "2000:"+expect[2000])
	slices.Sort(wantRows)
	if got := mergeState(t, l, mem, true); !slices.Equal(got, wantRows) {
		t.Fatalf("after the merge the table holds %d rows, want %d; first difference: %s", len(got), len(wantRows), firstDiff(got, wantRows))
	}
	data, dels := snapshotFiles(t, l)
	if len(data) != 2 || len(dels) != 0 {
		t.Fatalf("the table has %d data files and %d delete files, want the rewrite and the new key's file", len(data), len(dels))
	}
}

// TestMergeCopyOnWriteOlderSchema: a data file written before a column was added is rewritten through
// iceberg-go's scanner (readBounded declines it), which fills the new column with nulls.
func TestMergeCopyOnWriteOlderSchema(t *testing.T) {
	ctx := context.Background()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	l := newLoader(t, t.TempDir(), func(c *Config) {
		c.Mode, c.Key, c.VersionBy, c.DeleteWhen = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null"
		c.Merge.Strategy = "copy_on_write"
		c.SchemaEvolution = "add_columns"
	})
	b := mergeRows(t, mem, "1:new@10:00", "2:new@10:00", "3:new@10:00")
	testkit.LoadPartition(ctx, t, l, mergeSchema(), testkit.PartitionFor("load"), b)
	b.Release()

	wider := arrow.NewSchema(append(slices.Clone(mergeSchema().Fields()), arrow.Field{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true}), nil)
	rec := testkit.Records(t, mem, wider, `[{"order_id": 2, "status": "paid", "updated_at": "2026-01-01T11:00:00Z", "deleted_at": null, "note": "x"}]`)
	testkit.LoadPartition(ctx, t, l, wider, testkit.PartitionFor("change"), rec)
	rec.Release()

	got := scan(t, l, mem, nil)
	defer got.Release()
	var rows []string
	for i := range int(got.NumRows()) {
		rows = append(rows, testkit.CellText(got.Column(0), i)+":"+strings.Trim(testkit.CellText(got.Column(1), i), `"`)+":"+testkit.CellText(got.Column(4), i))
	}
	slices.Sort(rows)
	if want := []string{"1:new:null", "2:paid:\"x\"", "3:new:null"}; !slices.Equal(rows, want) {
		t.Fatalf("after the merge the table holds %v, want %v", rows, want)
	}
	if data, _ := snapshotFiles(t, l); len(data) != 1 {
		t.Fatalf("the table has %d data files, want the one rewrite", len(data))
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d: %s, want %s", i, got[i], want[i])
		}
	}
	return "one is a prefix of the other"
}

// TestRewriteBatchRowsDecoded: a rewrite's batch is about rewriteBatchBytes decoded, also for a file whose key is
// delta-encoded (a byte or less a row encoded, eight decoded) and whose other columns are dictionaries: counted
// by the encoded size alone, its batches would be of rewriteMaxRows rows, several times that decoded.
func TestRewriteBatchRowsDecoded(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "at", Type: arrow.PrimitiveTypes.Int64},
		{Name: "n", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	b := array.NewRecordBuilder(mem, sc)
	const rows = 200_000
	for i := range rows {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.Int64Builder).Append(int64(1_700_000_000_000 + i/1000*1000))
		b.Field(2).(*array.Int32Builder).Append(int32(i % 10))
	}
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()
	p := t.TempDir() + "/delta.parquet"
	writeTestParquet(t, mem, p, rec, rows)
	r, err := file.OpenParquetFile(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	md := r.MetaData()
	if enc := md.RowGroup(0).TotalByteSize() / rows; enc > 4 {
		t.Fatalf("the file holds %d bytes a row encoded: the columns are not delta- and dictionary-encoded", enc)
	}
	const decoded = 8 + 8 + 4
	if n := rewriteBatchRows(md); n*decoded > rewriteBatchBytes || n*decoded < rewriteBatchBytes/2 {
		t.Errorf("batches of %d rows, %d bytes decoded; want about %d", n, n*decoded, rewriteBatchBytes)
	}
}
