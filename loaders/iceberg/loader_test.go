package iceberg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

func ordersSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "tenant_id", Type: arrow.BinaryTypes.String},
		{Name: "sku", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "total", Type: &arrow.Decimal128Type{Precision: 18, Scale: 4}, Nullable: true},
		{Name: "updated_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
	}, nil)
}

// orders makes n rows from id first, spread over 3 tenants and 3 days (deterministic, so sums are known).
func orders(t testing.TB, mem memory.Allocator, first, n int) arrow.RecordBatch {
	var b strings.Builder
	b.WriteString("[")
	for i := first; i < first+n; i++ {
		if i > first {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id": %d, "tenant_id": "t%d", "sku": "SKU-%05d", "total": "%d.%04d", "updated_at": "2026-11-%02dT%02d:%02d:00.123456Z", "ts": "2026-%02d-01T%02d:00:00"}`,
			i, i%3, i%50, i, i%10000, 20+i%3, i%24, i%60, 1+i%12, i%24)
	}
	b.WriteString("]")
	return testkit.Records(t, mem, ordersSchema(), b.String())
}

func load(t testing.TB, l *Loader, key string, batches ...arrow.RecordBatch) stage.CommitResult {
	t.Helper()
	return testkit.LoadPartition(context.Background(), t, l, ordersSchema(), testkit.PartitionFor(key), batches...)
}

// TestPartitionedTable creates a table with every transform, writes three partitions, and reads them back with
// iceberg-go's scanner (full and filtered) and with DuckDB on the data files and the metadata JSON.
func TestPartitionedTable(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	l := newLoader(t, dir, func(c *Config) {
		// Iceberg allows one time transform per column: hour and year are checked in TestCheckSchema.
		c.PartitionBy = []string{"identity(tenant_id)", "day(updated_at)", "bucket(16, id)", "truncate(4, sku)", "month(ts)"}
		c.Compression = "snappy"
		c.Properties = map[string]string{"owner": "jetflow-tests"}
	})
	var want []arrow.RecordBatch
	for i := range 3 {
		rec := orders(t, mem, i*100, 100)
		want = append(want, rec)
		res := load(t, l, fmt.Sprintf("id[%d,%d)", i*100, i*100+100), rec)
		if res.Token == "" || res.Files == 0 || res.Bytes == 0 {
			t.Errorf("commit result %+v: want a snapshot id, files and bytes", res)
		}
	}
	defer testkit.ReleaseAll(want)
	all := testkit.ConcatRecords(mem, want)
	defer all.Release()

	got := scan(t, l, mem, nil)
	defer got.Release()
	testkit.AssertRecordsEqual(t, all, got, testkit.SortBy("id"))

	// A filtered scan prunes by the partition spec and filters rows.
	filtered := scan(t, l, mem, iceberg.EqualTo(iceberg.Reference("tenant_id"), "t1"))
	defer filtered.Release()
	if filtered.NumRows() != 100 {
		t.Errorf("scan tenant_id = t1: %d rows, want 100", filtered.NumRows())
	}
	ids := filtered.Column(0).(*array.Int64)
	for i := range ids.Len() {
		if ids.Value(i)%3 != 1 {
			t.Fatalf("scan tenant_id = t1 returned id %d", ids.Value(i))
		}
	}

	tbl := loadTable(t, l)
	if spec := tbl.Spec(); spec.NumFields() != 5 {
		t.Errorf("spec has %d fields, want 5: %s", spec.NumFields(), spec.String())
	}
	if len(tbl.Metadata().Snapshots()) != 3 {
		t.Errorf("%d snapshots, want one per partition (3)", len(tbl.Metadata().Snapshots()))
	}
	for _, s := range tbl.Metadata().Snapshots() {
		if s.Summary.Properties[PropPartitionIDs] == "" || s.Summary.Properties[PropRunInstance] != "2026-01-01" {
			t.Errorf("snapshot %d summary %v: want jetflow.partition-ids and jetflow.run-instance", s.SnapshotID, s.Summary.Properties)
		}
	}

	files := dataFiles(t, l)
	rows := testkit.DuckDBQuery(t, "SELECT count(*) AS n, sum(total) AS s, min(updated_at) AS lo, count(DISTINCT tenant_id) AS tenants FROM read_parquet("+duckList(files)+")")
	wantRow := map[string]string{"n": "300", "s": "44854.4850", "lo": "2026-11-20 00:00:00.123456+00", "tenants": "3"}
	if fmt.Sprint(rows) != fmt.Sprint([]map[string]string{wantRow}) {
		t.Errorf("DuckDB over the data files: %v, want %v", rows, wantRow)
	}
	// Every data file holds one tenant and one day, as the spec says.
	rows = testkit.DuckDBQuery(t, "SELECT max(c) AS m FROM (SELECT filename, count(DISTINCT (tenant_id, updated_at::date)) AS c FROM read_parquet("+duckList(files)+", filename=true) GROUP BY filename)")
	if rows[0]["m"] != "1" {
		t.Errorf("a data file spans %s tenant-days, want 1", rows[0]["m"])
	}
	meta := strings.TrimPrefix(tbl.MetadataLocation(), "file://")
	rows = testkit.DuckDBQuery(t, `SELECT json->>'format-version' AS v, json_array_length(json->'partition-specs'->0->'fields') AS nf,
		json->'properties'->>'write.parquet.compression-codec' AS codec, json->'properties'->>'owner' AS owner,
		json->'schemas'->0->'fields'->4->>'type' AS ts_type, json->'schemas'->0->'fields'->0->>'required' AS id_required,
		json->'schemas'->0->'fields'->2->>'required' AS sku_required
		FROM read_json_objects('`+meta+`')`)
	wantMeta := map[string]string{"v": "2", "nf": "5", "codec": "snappy", "owner": "jetflow-tests", "ts_type": "timestamptz", "id_required": "true", "sku_required": "false"}
	if fmt.Sprint(rows) != fmt.Sprint([]map[string]string{wantMeta}) {
		t.Errorf("metadata.json via DuckDB: %v, want %v", rows, wantMeta)
	}
}

// TestReplace: re-committing a partition replaces its files in one snapshot, also after the snapshots that
// added them were expired; overwrite_partition mode also replaces what other partitions put in the same days.
func TestReplace(t *testing.T) {
	t.Run("recommit after expiry", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		l := newLoader(t, t.TempDir(), func(c *Config) { c.PartitionBy = []string{"day(updated_at)"} })
		a, b := orders(t, mem, 0, 50), orders(t, mem, 50, 50)
		defer a.Release()
		defer b.Release()
		load(t, l, "a", a)
		load(t, l, "b", b)
		// Expire every snapshot but the newest: the summaries naming partition a are gone.
		if _, err := l.ExpireSnapshots(context.Background(), ExpireOptions{RetainLast: 1}); err != nil {
			t.Fatal(err)
		}
		if n := len(loadTable(t, l).Metadata().Snapshots()); n != 1 {
			t.Fatalf("%d snapshots after expiry, want 1", n)
		}
		load(t, l, "a", a)
		got := scan(t, l, mem, nil)
		defer got.Release()
		if got.NumRows() != 100 {
			t.Errorf("%d rows after re-committing a, want 100", got.NumRows())
		}
		snap := loadTable(t, l).CurrentSnapshot()
		if op := snap.Summary.Operation; op != "overwrite" {
			t.Errorf("re-commit made a %q snapshot, want overwrite (files replaced in one snapshot)", op)
		}
	})
	// Once the history is expired every commit looks for its partitions' files; a stream's commits read only the
	// manifests added since the last one, not the whole table at each roll.
	t.Run("commits after expiry read only new manifests", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		l := newLoader(t, t.TempDir(), nil)
		rec := orders(t, mem, 0, 10)
		defer rec.Release()
		for i := range 8 {
			load(t, l, fmt.Sprint(i), rec)
		}
		if _, err := l.ExpireSnapshots(context.Background(), ExpireOptions{RetainLast: 1}); err != nil {
			t.Fatal(err)
		}
		load(t, l, "8", rec)
		if l.plans.reads < 8 {
			t.Fatalf("the first commit after expiry read %d manifests through the cache, want the table's 8", l.plans.reads)
		}
		before := l.plans.reads
		load(t, l, "9", rec)
		if n := l.plans.reads - before; n > 2 {
			t.Errorf("the next commit read %d manifests, want only those the commit before added", n)
		}
		load(t, l, "3", rec) // a re-run of an expired partition still replaces its rows
		got := scan(t, l, mem, nil)
		defer got.Release()
		if got.NumRows() != 100 {
			t.Errorf("%d rows after re-committing 3, want 100", got.NumRows())
		}
	})
	t.Run("overwrite_partition", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		l := newLoader(t, t.TempDir(), func(c *Config) {
			c.PartitionBy = []string{"day(updated_at)"}
			c.Mode = "overwrite_partition"
		})
		a := orders(t, mem, 0, 60) // days 20, 21, 22
		defer a.Release()
		load(t, l, "a", a)
		// Partition b holds rows of day 21 only: that day's earlier rows go, days 20 and 22 stay.
		b := testkit.Records(t, mem, ordersSchema(), `[{"id": 1000, "tenant_id": "t9", "total": "1.0000", "updated_at": "2026-11-21T05:00:00Z"}]`)
		defer b.Release()
		load(t, l, "b", b)
		got := scan(t, l, mem, nil)
		defer got.Release()
		if got.NumRows() != 41 {
			t.Errorf("%d rows, want 40 of days 20 and 22 plus the new one", got.NumRows())
		}
	})
}

// TestSmallIntegers: Iceberg has no 8- and 16-bit integers; they are stored as int and read back as int32.
func TestSmallIntegers(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	l := newLoader(t, t.TempDir(), nil)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
		{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
		{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
	}, nil)
	rec := testkit.Records(t, mem, schema, `[{"i8": -128, "i16": -32768, "u8": 255, "u16": 65535}, {}]`)
	defer rec.Release()
	testkit.LoadPartition(context.Background(), t, l, schema, testkit.PartitionFor("small"), rec)
	got := scan(t, l, mem, nil)
	defer got.Release()
	wantSchema := arrow.NewSchema([]arrow.Field{
		{Name: "i8", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "i16", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "u8", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "u16", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
	want := testkit.Records(t, mem, wantSchema, `[{"i8": -128, "i16": -32768, "u8": 255, "u16": 65535}, {}]`)
	defer want.Release()
	testkit.AssertRecordsEqual(t, want, got)
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string // the FieldError path and message part
	}{
		{"no namespace", func(c *Config) { c.Table = "orders" }, "table: \"orders\" has no namespace"},
		{"unknown transform", func(c *Config) { c.PartitionBy = []string{"week(ts)"} }, "partition_by[0]: unknown transform \"week\""},
		{"bucket without n", func(c *Config) { c.PartitionBy = []string{"bucket(id)"} }, "partition_by[0]: bucket takes a number and a column"},
		{"bad truncate width", func(c *Config) { c.PartitionBy = []string{"truncate(x, sku)"} }, "partition_by[0]: truncate(x, ...)"},
		// Redundant specs are refused by plain validate, before any table or schema is at hand.
		{"year and month of one column", func(c *Config) { c.PartitionBy = []string{"year(created_at)", "id", "month(created_at)"} },
			`partition_by[2]: "month(created_at)" conflicts with "year(created_at)" at partition_by[0]`},
		{"day and hour of one column", func(c *Config) { c.PartitionBy = []string{"hour(at)", "day(at)"} },
			`partition_by[1]: "day(at)" conflicts with "hour(at)" at partition_by[0]`},
		{"one transform twice", func(c *Config) { c.PartitionBy = []string{"day(at)", "day(at)"} }, `partition_by[1]: "day(at)" repeats "day(at)" at partition_by[0]`},
		{"identity twice", func(c *Config) { c.PartitionBy = []string{"tenant", "identity(tenant)"} }, `partition_by[1]: "identity(tenant)" repeats "tenant" at partition_by[0]`},
		{"bucket twice after a split", func(c *Config) { c.PartitionBy = []string{"bucket(16", "id)", "bucket(16, id)"} },
			`partition_by[2]: "bucket(16, id)" repeats "bucket(16, id)" at partition_by[0]`},
		{"sql without warehouse", func(c *Config) { c.Catalog.Warehouse = "" }, "catalog.warehouse: the sql catalog needs a warehouse"},
		{"s3 warehouse without uri", func(c *Config) { c.Catalog.Warehouse = "s3://lake/wh" }, "catalog.uri: an s3 warehouse needs"},
		{"rest without uri", func(c *Config) { c.Catalog.Type = "rest" }, "catalog.uri: the rest catalog needs its base URL"},
		{"token and credential", func(c *Config) {
			c.Catalog = CatalogConfig{Type: "rest", URI: "http://x", Token: "a", Credential: "b:c"}
		}, "catalog.credential: give either token or credential"},
		{"bad compression", func(c *Config) { c.Compression = "brotli" }, `compression: "brotli" is not one of zstd`},
		{"negative buffer", func(c *Config) { c.BufferSize = -1 }, "buffer_size: want at least 1, got -1"},
		{"too many commit retries", func(c *Config) { c.Commit.Retries = 1001 }, "commit.retries: 1001 is out of range 0-1000"},
		{"row groups above the file size", func(c *Config) { c.TargetFileSize, c.RowGroupSize = 1<<20, 2<<20 }, "row_group_size: 2MiB is above target_file_size 1MiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Catalog: CatalogConfig{Warehouse: t.TempDir()}, Table: "a.b"}
			tc.edit(&cfg)
			_, err := New(stage.BuildContext{Pipeline: "p"}, &cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if fields, _ := stage.FieldErrors(err); len(fields) == 0 {
				t.Errorf("error %v names no config key", err)
			}
		})
	}
}

func TestCheckSchema(t *testing.T) {
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	cases := []struct {
		name   string
		by     []string
		fields []arrow.Field
		want   string // "" = accepted
	}{
		{"every transform", []string{"tenant", "day(at)", "bucket(16, id)", "truncate(4, tenant)", "month(m)", "hour(h)", "year(d)", "void(v)"},
			[]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "tenant", Type: arrow.BinaryTypes.String}, {Name: "at", Type: ts},
				{Name: "m", Type: ts}, {Name: "h", Type: ts}, {Name: "d", Type: arrow.FixedWidthTypes.Date32}, {Name: "v", Type: arrow.PrimitiveTypes.Int32}}, ""},
		{"time transforms of two columns", []string{"year(at)", "month(m)", "bucket(4, id)"},
			[]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "at", Type: ts}, {Name: "m", Type: ts}}, ""},
		{"missing column", []string{"day(at)"}, []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, "partition_by[0]: no column \"at\""},
		{"day of a string", []string{"day(s)"}, []arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, "partition_by[0]: day cannot apply to column \"s\""},
		{"uint32", nil, []arrow.Field{{Name: "u", Type: arrow.PrimitiveTypes.Uint32}}, "column \"u\" is uint32"},
		{"zoned timestamp", nil, []arrow.Field{{Name: "t", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "Europe/Paris"}}}, "cast it to timestamp[us, UTC]"},
		{"date64", nil, []arrow.Field{{Name: "d", Type: arrow.FixedWidthTypes.Date64}}, "cast it to date32"},
		{"time32", nil, []arrow.Field{{Name: "t", Type: arrow.FixedWidthTypes.Time32ms}}, "cast it to time64[us]"},
		{"time in ns", nil, []arrow.Field{{Name: "t", Type: arrow.FixedWidthTypes.Time64ns}}, "cast it to time64[us]"},
		{"list of duration", nil, []arrow.Field{{Name: "l", Type: arrow.ListOf(arrow.FixedWidthTypes.Duration_us)}}, "column \"l.item\" is duration[us]"},
		{"nested uint64", nil, []arrow.Field{{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "u", Type: arrow.PrimitiveTypes.Uint64})}}, "column \"s.u\" is uint64"},
		{"split by a YAML flow sequence", []string{"bucket(16", "id)", "truncate(4", " s)"},
			[]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "s", Type: arrow.BinaryTypes.String}}, ""},
		{"error after a split", []string{"bucket(16", "id)", "day(s)"},
			[]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "s", Type: arrow.BinaryTypes.String}}, "partition_by[2]: day cannot apply"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLoader(t, t.TempDir(), func(c *Config) { c.PartitionBy = tc.by })
			err := l.CheckSchema(arrow.NewSchema(tc.fields, nil))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CheckSchema: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("CheckSchema: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestAbortRemovesFiles: an aborted partition leaves no data file behind.
func TestAbortRemovesFiles(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	l := newLoader(t, dir, nil)
	ctx := context.Background()
	w, err := l.Begin(ctx, ordersSchema(), testkit.PartitionFor("x"))
	if err != nil {
		t.Fatal(err)
	}
	rec := orders(t, mem, 0, 10)
	defer rec.Release()
	if err := w.Write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	var parquet []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if strings.HasSuffix(p, ".parquet") {
			parquet = append(parquet, p)
		}
		return nil
	})
	if len(parquet) != 0 {
		t.Errorf("files left after Abort: %v", parquet)
	}
}

// TestSpecKept: an existing table keeps its spec when partition_by changes, and the loader says so.
func TestSpecKept(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	rec := orders(t, mem, 0, 10)
	defer rec.Release()
	load(t, newLoader(t, dir, func(c *Config) { c.PartitionBy = []string{"day(updated_at)"} }), "a", rec)
	var logs strings.Builder
	l := newLoaderLog(t, dir, slog.New(slog.NewTextHandler(&logs, nil)), func(c *Config) { c.PartitionBy = []string{"tenant_id"} })
	load(t, l, "b", rec)
	if spec := loadTable(t, l).Spec(); spec.String() != "[\n\t1000: updated_at_day: day(5)\n]" {
		t.Errorf("spec %q, want the table's own day(updated_at)", spec.String())
	}
	if !strings.Contains(logs.String(), "partition_by applies to new tables only") || !strings.Contains(logs.String(), "identity(tenant_id)") {
		t.Errorf("no warning about the kept spec:\n%s", logs.String())
	}
}

// TestWriterAllocator: the data file writers allocate from the BuildContext allocator and give back all of it,
// for a committed partition, a partitioned one, and an aborted one.
func TestWriterAllocator(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cfg := Config{Catalog: CatalogConfig{Warehouse: t.TempDir()}, Table: "a.b", PartitionBy: []string{"tenant_id", "day(updated_at)"}}
	counting := &countingAlloc{Allocator: mem}
	l, err := New(stage.BuildContext{Pipeline: "p", Alloc: counting, Logger: quietLogger()}, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rec := orders(t, mem, 0, 500)
	defer rec.Release()
	before := mem.CurrentAlloc()
	load(t, l, "a", rec, rec)
	ctx := context.Background()
	w, err := l.Begin(ctx, ordersSchema(), testkit.PartitionFor("b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if after := mem.CurrentAlloc(); after != before {
		t.Errorf("%d bytes still allocated after the partitions ended (%d before)", after, before)
	}
	if counting.n.Load() == 0 {
		t.Error("the writers allocated nothing from the BuildContext allocator")
	}
}

type countingAlloc struct {
	memory.Allocator
	n atomic.Int64
}

func (c *countingAlloc) Allocate(size int) []byte {
	c.n.Add(1)
	return c.Allocator.Allocate(size)
}

// TestRetryable: the commit errors that mean "nothing was committed, another writer moved the table" are retried;
// an error in an unknown state is not (the commit may have landed).
func TestRetryable(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("commit: %w: table ns.t metadata-location moved underneath us", table.ErrCommitFailed), true},
		{errors.New(`requirement failed: branch "main" has changed: expected id 1, found 2`), true},
		{errors.New(`requirement failed: branch "main" was created concurrently`), true},
		{errors.New("error updating table information: database is locked (5) (SQLITE_BUSY)"), true},
		{errors.New("unexpected EOF"), false},
		{context.DeadlineExceeded, false},
		{errors.New("ServiceUnavailableException: catalog down"), false},
	}
	for _, tc := range cases {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
