package iceberg

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

func mergeSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "order_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "status", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "updated_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "deleted_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	}, nil)
}

// mergeRows makes rows from "id:status@hh:mm" (the version: updated_at on 2026-01-01; a "!" after the status makes
// the row a soft delete).
func mergeRows(t testing.TB, mem memory.Allocator, rows ...string) arrow.RecordBatch {
	var b strings.Builder
	b.WriteString("[")
	for i, r := range rows {
		var id, hh, mm int
		var status string
		head, v, _ := strings.Cut(r, "@")
		ids, st, _ := strings.Cut(head, ":")
		fmt.Sscan(ids, &id)
		fmt.Sscanf(v, "%d:%d", &hh, &mm)
		ver := hh*60 + mm
		status = st
		del := "null"
		if s, ok := strings.CutSuffix(status, "!"); ok {
			status, del = s, fmt.Sprintf(`"2026-01-01T%02d:%02d:00Z"`, ver/60, ver%60)
		}
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"order_id": %d, "status": %q, "updated_at": "2026-01-01T%02d:%02d:00Z", "deleted_at": %s}`, id, status, ver/60, ver%60, del)
	}
	b.WriteString("]")
	return testkit.Records(t, mem, mergeSchema(), b.String())
}

// mergeState reads the table with iceberg-go's scanner (which applies the position deletes) and, with duckdb,
// independently with DuckDB over the current snapshot's data files anti-joined with its position delete files; both must agree,
// and the result is the sorted "id:status@version" rows.
func mergeState(t *testing.T, l *Loader, mem memory.Allocator, duckdb bool) []string {
	t.Helper()
	var got []string
	if rec := scan(t, l, mem, nil); rec != nil {
		for i := range int(rec.NumRows()) {
			got = append(got, mergeText(testkit.CellText(rec.Column(0), i), strings.Trim(testkit.CellText(rec.Column(1), i), `"`), testkit.CellText(rec.Column(2), i)))
		}
		rec.Release()
	}
	slices.Sort(got)
	if !duckdb {
		return got
	}
	data, dels := snapshotFiles(t, l)
	var duck []string
	if len(data) > 0 {
		q := "SELECT order_id, status, strftime(updated_at, '%H:%M') AS v FROM read_parquet(" + duckList(data) + ", filename=true, file_row_number=true) d"
		if len(dels) > 0 {
			q += " WHERE NOT EXISTS (SELECT 1 FROM read_parquet(" + duckList(dels) + ") x WHERE x.file_path = 'file://' || d.filename AND x.pos = d.file_row_number)"
		}
		for _, r := range testkit.DuckDBQuery(t, q) {
			duck = append(duck, r["order_id"]+":"+r["status"]+"@"+r["v"])
		}
	}
	slices.Sort(duck)
	if !slices.Equal(got, duck) {
		t.Fatalf("iceberg-go's scanner reads %v, DuckDB applying the delete files itself reads %v", got, duck)
	}
	return got
}

func mergeText(id, status, ts string) string {
	// CellText of a timestamp is RFC 3339; keep hh:mm.
	if i := strings.IndexByte(ts, 'T'); i >= 0 && len(ts) >= i+6 {
		ts = ts[i+1 : i+6]
	}
	return id + ":" + status + "@" + ts
}

// snapshotFiles lists the current snapshot's live data files and position delete files as local paths.
func snapshotFiles(t testing.TB, l *Loader) (data, dels []string) {
	t.Helper()
	return testkit.IcebergSnapshotFiles(t, loadTable(t, l))
}

// TestMergeSemantics drives the semantics table of mode: merge through the loader, partitioned and not; each
// step's table is read by iceberg-go's scanner and by DuckDB applying the delete files itself.
func TestMergeSemantics(t *testing.T) {
	steps := []struct {
		name, partition string
		rows            []string
		want            []string
	}{
		{"insert", "p1", []string{"1:new@10:00", "2:new@10:00", "3:new@10:00", "4:new@10:00"},
			[]string{"1:new@10:00", "2:new@10:00", "3:new@10:00", "4:new@10:00"}},
		{"update, older version, newest of a batch wins", "p2", []string{"2:paid@11:00", "3:stale@09:00", "5:new@11:00", "1:b@11:30", "1:a@12:00", "1:c@11:45"},
			[]string{"1:a@12:00", "2:paid@11:00", "3:new@10:00", "4:new@10:00", "5:new@11:00"}},
		{"equal version replaces", "p3", []string{"2:paid2@11:00"},
			[]string{"1:a@12:00", "2:paid2@11:00", "3:new@10:00", "4:new@10:00", "5:new@11:00"}},
		{"delete, delete of a missing key", "p4", []string{"4:gone!@12:00", "9:gone!@12:00"},
			[]string{"1:a@12:00", "2:paid2@11:00", "3:new@10:00", "5:new@11:00"}},
		{"older delete does nothing", "p5", []string{"1:gone!@09:00"},
			[]string{"1:a@12:00", "2:paid2@11:00", "3:new@10:00", "5:new@11:00"}},
		// Key 2's stored version equals the re-run's: equal replaces, as a re-run of p3 would restore paid2.
		{"re-run of an older partition", "p2", []string{"2:paid@11:00", "3:stale@09:00", "5:new@11:00", "1:b@11:30", "1:a@12:00", "1:c@11:45"},
			[]string{"1:a@12:00", "2:paid@11:00", "3:new@10:00", "5:new@11:00"}},
		{"re-run of the last partition", "p5", []string{"1:gone!@09:00"},
			[]string{"1:a@12:00", "2:paid@11:00", "3:new@10:00", "5:new@11:00"}},
		{"empty partition", "p6", nil,
			[]string{"1:a@12:00", "2:paid@11:00", "3:new@10:00", "5:new@11:00"}},
	}
	for _, tc := range []struct {
		strategy string
		part     []string
	}{{"merge_on_read", nil}, {"merge_on_read", []string{"bucket(4, order_id)"}}, {"copy_on_write", []string{"bucket(4, order_id)"}}} {
		t.Run(fmt.Sprintf("%s partition_by=%v", tc.strategy, tc.part), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			l := newLoader(t, t.TempDir(), func(c *Config) {
				c.Mode, c.Key, c.VersionBy, c.DeleteWhen, c.PartitionBy = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null", tc.part
				c.Merge.Strategy = tc.strategy
			})
			for _, st := range steps {
				var batches []arrow.RecordBatch
				if len(st.rows) > 0 {
					// Two batches, so that the newest version of a key is found across batches.
					half := len(st.rows) / 2
					batches = append(batches, mergeRows(t, mem, st.rows[:half]...), mergeRows(t, mem, st.rows[half:]...))
				}
				testkit.LoadPartition(context.Background(), t, l, mergeSchema(), testkit.PartitionFor(st.partition), batches...)
				testkit.ReleaseAll(batches)
				// DuckDB (a second or two a query) reads the last step's table; the scanner reads every step's.
				if got := mergeState(t, l, mem, st.partition == "p6"); !slices.Equal(got, st.want) {
					t.Fatalf("after %s: table holds\n%v\nwant\n%v", st.name, got, st.want)
				}
				if _, dels := snapshotFiles(t, l); (len(dels) > 0) != (tc.strategy == "merge_on_read" && st.name != "insert") {
					t.Fatalf("after %s: %d position delete files with %s", st.name, len(dels), tc.strategy)
				}
			}
			sc := loadTable(t, l).Schema()
			f, _ := sc.FindFieldByName("order_id")
			if !slices.Equal(sc.IdentifierFieldIDs, []int{f.ID}) || !f.Required {
				t.Errorf("identifier fields %v, order_id (id %d) required %v: want the key as the only, required identifier field", sc.IdentifierFieldIDs, f.ID, f.Required)
			}
		})
	}
}

// TestMergeGuards: what an earlier attempt panicked on — data files without statistics, null keys, empty
// partitions, a table without snapshots — merges or fails with a message, never panics.
func TestMergeGuards(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	l := newLoader(t, t.TempDir(), func(c *Config) {
		c.Mode, c.Key, c.VersionBy = "merge", []string{"order_id"}, "updated_at"
		c.Properties = map[string]string{"write.metadata.metrics.default": "none"} // no bounds in any file
	})
	// An empty partition into a table without snapshots.
	testkit.LoadPartition(ctx, t, l, mergeSchema(), testkit.PartitionFor("empty"))
	if got := scan(t, l, mem, nil); got != nil {
		got.Release()
		t.Fatal("an empty partition made a snapshot")
	}
	load := func(key string, rows ...string) {
		b := mergeRows(t, mem, rows...)
		defer b.Release()
		testkit.LoadPartition(ctx, t, l, mergeSchema(), testkit.PartitionFor(key), b)
	}
	load("a", "1:new@10:00", "2:new@10:00")
	tbl := loadTable(t, l)
	fs, err := tbl.FS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	files, err := liveFiles(ctx, fs, tbl.CurrentSnapshot(), func(iceberg.DataFile) bool { return true })
	if err != nil || len(files) != 1 || len(files[0].LowerBoundValues()) != 0 {
		t.Fatalf("want one data file without bounds: %v %v", err, files)
	}
	load("b", "2:paid@11:00", "3:new@11:00")
	_, dels := snapshotFiles(t, l)
	if got, want := mergeState(t, l, mem, true), []string{"1:new@10:00", "2:paid@11:00", "3:new@11:00"}; !slices.Equal(got, want) || len(dels) != 1 {
		t.Fatalf("files without bounds: table holds %v with %d delete files, want %v with 1", got, len(dels), want)
	}

	// A null key fails the partition, naming the column, and leaves the table as it was.
	b := testkit.Records(t, mem, mergeSchema(), `[{"order_id": null, "status": "x", "updated_at": "2026-01-01T12:00:00Z"}]`)
	defer b.Release()
	w, err := l.Begin(ctx, mergeSchema(), testkit.PartitionFor("null"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	_, err = w.Commit(ctx, testkit.CommitInfoFor(testkit.PartitionFor("null"), 1))
	if err == nil || !strings.Contains(err.Error(), `key column "order_id" is null`) {
		t.Fatalf("commit of a null key: %v", err)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mergeState(t, l, mem, false); len(got) != 3 {
		t.Fatalf("a failed merge changed the table: %v", got)
	}
}

// TestMergeConcurrent: 4 writers, each with its own catalog connection, merge overlapping keys into one table at
// once, with both strategies. Their commits conflict; each conflict reloads the head and merges again, so the
// table ends as a serial run leaves it: every key once, at its newest version, deleted keys gone.
func TestMergeConcurrent(t *testing.T) {
	const writers, keys = 4, 24
	for _, strategy := range []string{"merge_on_read", "copy_on_write"} {
		t.Run(strategy, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			dir := t.TempDir()
			edit := func(c *Config) {
				c.Mode, c.Key, c.VersionBy, c.DeleteWhen, c.PartitionBy = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null", []string{"bucket(2, order_id)"}
				c.Merge.Strategy = strategy
				c.Commit.Retries, c.Commit.MaxWait = 200, stage.Duration(200*time.Millisecond)
			}
			l := newLoader(t, dir, edit)
			var first []string
			for k := 1; k <= keys; k++ {
				first = append(first, fmt.Sprintf("%d:start@09:00", k))
			}
			b := mergeRows(t, mem, first...)
			testkit.LoadPartition(context.Background(), t, l, mergeSchema(), testkit.PartitionFor("start"), b)
			b.Release()

			// Writer i gives key k the version 10:0m with m = (k+i)%4: exactly one writer has each key's newest.
			var want []string
			rows := make([][]string, writers)
			for k := 1; k <= keys; k++ {
				for i := range writers {
					m := (k + i) % writers
					status := fmt.Sprintf("w%d", i)
					if k%6 == 0 && m == writers-1 {
						status += "!" // every sixth key is deleted, by one writer; the others' older rows commit before or after it
					}
					rows[i] = append(rows[i], fmt.Sprintf("%d:%s@10:%02d", k, status, m))
					if m == writers-1 && k%6 != 0 {
						want = append(want, fmt.Sprintf("%d:%s@10:%02d", k, status, m))
					}
				}
			}
			slices.Sort(want)
			errs := make(chan error, writers)
			for i := range writers {
				go func() {
					wl := newLoader(t, dir, edit)
					b := mergeRows(t, mem, rows[i]...)
					defer b.Release()
					p := testkit.PartitionFor(fmt.Sprintf("w%d", i))
					w, err := wl.Begin(context.Background(), mergeSchema(), p)
					if err == nil {
						err = w.Write(context.Background(), b)
					}
					if err == nil {
						_, err = w.Commit(context.Background(), testkit.CommitInfoFor(p, b.NumRows()))
					}
					errs <- err
				}()
			}
			for range writers {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			if got := mergeState(t, l, mem, true); !slices.Equal(got, want) {
				t.Fatalf("after 4 concurrent merges the table holds\n%v\nwant\n%v", got, want)
			}
		})
	}
}

// TestOrdValues: a key or version reads the same from the pipeline's column and from the table's, whatever their
// Arrow types (timestamps of any unit are compared in microseconds, as Iceberg stores them), and null is older
// than any version.
func TestOrdValues(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	col := func(dt arrow.DataType, json string) arrow.Array {
		sc := arrow.NewSchema([]arrow.Field{{Name: "c", Type: dt, Nullable: true}}, nil)
		b := testkit.Records(t, mem, sc, json)
		defer b.Release()
		c := b.Column(0)
		c.Retain()
		return c
	}
	for _, tc := range []struct {
		name       string
		a, b       arrow.DataType
		av, bv     string
		cmp        int
		sameKeyEnc bool
	}{
		{"ms against us", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"},
			`"2026-01-01T10:00:00.001Z"`, `"2026-01-01T10:00:00.001Z"`, 0, true},
		{"ns against us, later", &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"},
			`"2026-01-01T10:00:01Z"`, `"2026-01-01T10:00:00Z"`, 1, false},
		{"int32 against int64", arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64, `7`, `7`, 0, true},
		{"string against large_string", arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString, `"a"`, `"b"`, -1, false},
		{"decimals", &arrow.Decimal128Type{Precision: 12, Scale: 2}, &arrow.Decimal128Type{Precision: 12, Scale: 2}, `"10.50"`, `"9.99"`, 1, false},
		{"null is oldest", arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int64, `null`, `-5`, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := col(tc.a, `[{"c": `+tc.av+`}]`), col(tc.b, `[{"c": `+tc.bv+`}]`)
			defer a.Release()
			defer b.Release()
			x, y := valueAt(a, 0), valueAt(b, 0)
			if got := cmpOrd(x, y); got != tc.cmp || cmpOrd(y, x) != -tc.cmp {
				t.Fatalf("cmp(%v, %v) = %d, want %d", x, y, got, tc.cmp)
			}
			if same := string(appendKey(nil, x)) == string(appendKey(nil, y)); same != tc.sameKeyEnc {
				t.Fatalf("key encodings equal: %v, want %v", same, tc.sameKeyEnc)
			}
		})
	}
}
