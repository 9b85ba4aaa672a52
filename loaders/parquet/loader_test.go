package parquet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/compress"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/storage"
)

// assertColumnsEqual compares a read-back table with the record written, column by column.
func assertColumnsEqual(t *testing.T, mem memory.Allocator, want arrow.RecordBatch, got arrow.Table) {
	t.Helper()
	if got.NumRows() != want.NumRows() || got.NumCols() != want.NumCols() {
		t.Fatalf("read %d rows × %d cols, wrote %d × %d", got.NumRows(), got.NumCols(), want.NumRows(), want.NumCols())
	}
	for i := 0; i < int(want.NumCols()); i++ {
		if !arrow.TypeEqual(got.Column(i).DataType(), want.Column(i).DataType()) {
			t.Errorf("column %s: read type %s, wrote %s", want.ColumnName(i), got.Column(i).DataType(), want.Column(i).DataType())
			continue
		}
		col, err := array.Concatenate(got.Column(i).Data().Chunks(), mem)
		if err != nil {
			t.Fatal(err)
		}
		if !array.Equal(col, want.Column(i)) {
			t.Errorf("column %s:\n read %v\nwrote %v", want.ColumnName(i), col, want.Column(i))
		}
		col.Release()
	}
}

var allTypes = arrow.NewSchema([]arrow.Field{
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "i64", Type: arrow.PrimitiveTypes.Int64},
	{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
	{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "d32", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "ts_us", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "ts_ns", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true},
	{Name: "t64", Type: arrow.FixedWidthTypes.Time64us, Nullable: true},
	{Name: "dec", Type: &arrow.Decimal128Type{Precision: 18, Scale: 4}, Nullable: true},
	{Name: "list", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
	{Name: "st", Type: arrow.StructOf(
		arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true}), Nullable: true},
}, nil)

const allTypesJSON = `[
 {"b": true, "i8": -8, "i16": -16, "i32": -32, "i64": -64, "u8": 8, "u16": 16, "u32": 32, "u64": 18446744073709551615,
  "f32": 1.5, "f64": -2.25, "s": "héllo", "ls": "large", "bin": "AQID", "d32": "2026-11-22",
  "ts_us": "2026-11-22T13:14:15.123456Z", "ts_ns": "2026-11-22T13:14:15.123456789", "t64": "13:14:15.5",
  "dec": "12345.6789", "list": [1, null, 3], "st": {"a": 1, "b": "x"}},
 {"b": null, "i8": null, "i16": null, "i32": null, "i64": 0, "u8": null, "u16": null, "u32": null, "u64": null,
  "f32": null, "f64": null, "s": null, "ls": null, "bin": null, "d32": null, "ts_us": null, "ts_ns": null, "t64": null,
  "dec": null, "list": null, "st": null},
 {"b": false, "i8": 127, "i16": 32767, "i32": 2147483647, "i64": 9223372036854775807, "u8": 255, "u16": 65535,
  "u32": 4294967295, "u64": 0, "f32": -0.0, "f64": 1e300, "s": "", "ls": "", "bin": "", "d32": "1970-01-01",
  "ts_us": "1970-01-01T00:00:00Z", "ts_ns": "1969-12-31T23:59:59.999999999", "t64": "00:00:00",
  "dec": "-99999999999999.9999", "list": [], "st": {"a": null, "b": null}}
]`

func TestRoundTripEveryTypeAndCodec(t *testing.T) {
	cases := []struct {
		compression string
		level       int
		codec       compress.Compression
	}{
		{"zstd", 0, compress.Codecs.Zstd},
		{"zstd", 9, compress.Codecs.Zstd},
		{"snappy", 0, compress.Codecs.Snappy},
		{"gzip", 6, compress.Codecs.Gzip},
		{"lz4", 0, compress.Codecs.Lz4Raw},
		{"none", 0, compress.Codecs.Uncompressed},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s-%d", tc.compression, tc.level), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			dir := t.TempDir()
			l := newLoader(t, mem, parquet.Config{Path: dir, Compression: tc.compression, CompressionLevel: tc.level, Dictionary: true})
			rec := recordFromJSON(t, mem, allTypes, allTypesJSON)
			defer rec.Release()
			res := load(t, l, allTypes, "p1", rec)
			if res.Files != 1 {
				t.Fatalf("Files = %d, want 1", res.Files)
			}
			s, err := l.Destination(context.Background(), testRun)
			if err != nil {
				t.Fatal(err)
			}
			files := dataFiles(t, s)
			if len(files) != 1 || files[0] != "part-p1-0-0.parquet" {
				t.Fatalf("data files = %v, want [part-p1-0-0.parquet]", files)
			}
			tbl := readFile(t, s, mem, files[0])
			defer tbl.Release()
			assertColumnsEqual(t, mem, rec, tbl)

			r := fileMeta(t, s, files[0])
			defer r.Close()
			col, err := r.MetaData().RowGroup(0).ColumnChunk(4)
			if err != nil {
				t.Fatal(err)
			}
			if col.Compression() != tc.codec {
				t.Errorf("codec = %v, want %v", col.Compression(), tc.codec)
			}
		})
	}
}

func TestRowGroupsCutByBytesAndFilesRolled(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	l := newLoader(t, mem, parquet.Config{
		Path: dir, Compression: "none", RowGroupSize: 64 << 10, TargetFileSize: 400 << 10,
	})
	var batches []arrow.RecordBatch
	for i := range 40 {
		b := int64Batch(mem, i*5000, 5000)
		defer b.Release()
		batches = append(batches, b)
	}
	schema := batches[0].Schema()
	res := load(t, l, schema, "rg", batches...)
	s, _ := l.Destination(context.Background(), testRun)
	files := dataFiles(t, s)
	if len(files) < 3 || res.Files != len(files) {
		t.Fatalf("files = %v (result %d), want several: 40 batches of ~100KB roll at 400KiB", files, res.Files)
	}
	var total int64
	for _, f := range files {
		r := fileMeta(t, s, f)
		md := r.MetaData()
		if md.NumRowGroups() < 2 {
			t.Errorf("%s has %d row groups, want several (64KiB each)", f, md.NumRowGroups())
		}
		// A row group closes after the batch that reaches the size: at most one batch (~100KB) over.
		for i := 0; i < md.NumRowGroups(); i++ {
			if sz := md.RowGroup(i).TotalByteSize(); sz > 64<<10+200<<10 {
				t.Errorf("%s row group %d holds %d bytes, want about 64KiB", f, i, sz)
			}
		}
		total += md.NumRows
		r.Close()
	}
	if total != 200000 {
		t.Fatalf("rows across files = %d, want 200000", total)
	}
	m, err := parquet.ReadMarker(context.Background(), s, "rg")
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != 200000 || len(m.Files) != len(files) || m.Bytes != res.Bytes {
		t.Fatalf("marker rows=%d files=%d bytes=%d; result %+v", m.Rows, len(m.Files), m.Bytes, res)
	}
}

func TestWritersDealBatchesRoundRobin(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	l := newLoader(t, mem, parquet.Config{Path: t.TempDir(), Writers: 3})
	var batches []arrow.RecordBatch
	for i := range 7 {
		b := int64Batch(mem, i*100, 100)
		defer b.Release()
		batches = append(batches, b)
	}
	load(t, l, batches[0].Schema(), "w3", batches...)
	s, _ := l.Destination(context.Background(), testRun)
	files := dataFiles(t, s)
	want := []string{"part-w3-0-0.parquet", "part-w3-1-0.parquet", "part-w3-2-0.parquet"}
	if strings.Join(files, ",") != strings.Join(want, ",") {
		t.Fatalf("files = %v, want %v", files, want)
	}
	// Batches 0, 3, 6 go to writer 0: ids 0-99, 300-399, 600-699.
	tbl := readFile(t, s, mem, files[0])
	defer tbl.Release()
	ids, err := array.Concatenate(tbl.Column(0).Data().Chunks(), mem)
	if err != nil {
		t.Fatal(err)
	}
	defer ids.Release()
	got := ids.(*array.Int64)
	if got.Len() != 300 || got.Value(0) != 0 || got.Value(100) != 300 || got.Value(299) != 699 {
		t.Fatalf("writer 0 holds %d rows starting %d, want batches 0, 3 and 6", got.Len(), got.Value(0))
	}
	if n := totalRows(t, s, mem, files); n != 700 {
		t.Fatalf("rows = %d, want 700", n)
	}
}

func TestHivePartitioning(t *testing.T) {
	// Guarded: the batch is released once Write returns, as the engine does, and a directory name or other value
	// kept as a reference into it would fault at Commit.
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "year", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "region", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	rec := recordFromJSON(t, mem, schema, `[
		{"year": 2026, "region": "eu/west", "day": "2026-11-22", "ok": true, "amount": 1},
		{"year": 2025, "region": "us:1",    "day": "2026-11-22", "ok": true, "amount": 2},
		{"year": 2026, "region": "eu/west", "day": "2026-11-22", "ok": true, "amount": 3},
		{"year": null, "region": "",        "day": "2026-11-23", "ok": false, "amount": 4},
		{"year": 2026, "region": null,      "day": "2026-11-22", "ok": true, "amount": 5}
	]`)
	l := newLoader(t, mem, parquet.Config{Path: t.TempDir(), PartitionBy: []string{"year", "region", "day", "ok"}})
	w, err := l.Begin(context.Background(), schema, testPartition("hv"))
	if err != nil {
		t.Fatal(err)
	}
	err = w.Write(context.Background(), rec)
	rec.Release()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(context.Background(), stage.CommitInfo{Pipeline: "orders", RunInstance: testRun.Label, PartitionID: "hv", Key: "id[hv]", Rows: 5}); err != nil {
		t.Fatal(err)
	}
	s, _ := l.Destination(context.Background(), testRun)
	files := dataFiles(t, s)
	want := []string{
		"year=2025/region=us%3A1/day=2026-11-22/ok=true/part-hv-0-0.parquet",
		"year=2026/region=__HIVE_DEFAULT_PARTITION__/day=2026-11-22/ok=true/part-hv-0-0.parquet",
		"year=2026/region=eu%2Fwest/day=2026-11-22/ok=true/part-hv-0-0.parquet",
		"year=__HIVE_DEFAULT_PARTITION__/region=__HIVE_DEFAULT_PARTITION__/day=2026-11-23/ok=false/part-hv-0-0.parquet",
	}
	if strings.Join(files, "\n") != strings.Join(want, "\n") {
		t.Fatalf("files:\n%s\nwant:\n%s", strings.Join(files, "\n"), strings.Join(want, "\n"))
	}
	tbl := readFile(t, s, mem, want[2])
	defer tbl.Release()
	if tbl.NumCols() != 1 || tbl.Schema().Field(0).Name != "amount" {
		t.Fatalf("file schema = %s, want only amount (partition columns dropped)", tbl.Schema())
	}
	amounts, _ := array.Concatenate(tbl.Column(0).Data().Chunks(), mem)
	defer amounts.Release()
	if a := amounts.(*array.Float64); a.Len() != 2 || a.Value(0) != 1 || a.Value(1) != 3 {
		t.Fatalf("eu/west amounts = %v, want [1 3]", amounts)
	}
}

func TestCheckSchemaAndConfigErrors(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String)},
	}, nil)
	cases := []struct {
		name    string
		cfg     parquet.Config
		field   string // FieldError path expected, at build or CheckSchema
		message string
	}{
		{"bad template", parquet.Config{Path: "/tmp/{{ .RunInstance | date }"}, "path", "invalid template"},
		{"unknown field", parquet.Config{Path: "/tmp/{{ .Day }}"}, "path", "Day"},
		{"bad scheme", parquet.Config{Path: "gs://bucket/x"}, "path", "unsupported storage URL"},
		{"bad level", parquet.Config{Path: "/tmp/x", Compression: "zstd", CompressionLevel: 40}, "compression_level", "1-22"},
		{"level on snappy", parquet.Config{Path: "/tmp/x", Compression: "snappy", CompressionLevel: 3}, "compression_level", "no levels"},
		{"bad codec", parquet.Config{Path: "/tmp/x", Compression: "brotli"}, "compression", `"brotli" is not one of zstd, snappy`},
		{"negative size", parquet.Config{Path: "/tmp/x", RowGroupSize: -1}, "row_group_size", "want at least 1, got -1"},
		{"no path", parquet.Config{}, "path", "missing required key"},
		{"writers", parquet.Config{Path: "/tmp/x", Writers: 100}, "writers", "1-64"},
		{"missing partition column", parquet.Config{Path: "/tmp/x", PartitionBy: []string{"year"}}, "partition_by[0]", `no column "year"`},
		{"float partition column", parquet.Config{Path: "/tmp/x", PartitionBy: []string{"id", "price"}}, "partition_by[1]", `"price" has type float64`},
		{"list partition column", parquet.Config{Path: "/tmp/x", PartitionBy: []string{"tags"}}, "partition_by[0]", `"tags" has type list`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := parquet.New(stage.BuildContext{Pipeline: "p"}, &tc.cfg)
			if err == nil {
				err = l.CheckSchema(schema)
			}
			if err == nil {
				t.Fatal("no error")
			}
			fields, _ := stage.FieldErrors(err)
			if len(fields) != 1 || fields[0].Path != tc.field || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %q, want one FieldError at %s containing %q", err, tc.field, tc.message)
			}
		})
	}
}

func TestPathTemplate(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	l := newLoader(t, mem, parquet.Config{
		Path: dir + `/{{ .Pipeline }}/date={{ .RunInstance | date "2006-01-02" }}/{{ .RunLabel }}`,
	})
	rec := int64Batch(mem, 0, 10)
	defer rec.Release()
	res := load(t, l, rec.Schema(), "tp", rec)
	want := filepath.Join(dir, "orders/date=2026-11-22/2026-11-22/part-tp-0-0.parquet")
	if _, err := os.Stat(want); err != nil {
		t.Fatalf("rendered file missing: %v", err)
	}
	if wantTok := dir + "/orders/date=2026-11-22/2026-11-22/_jetflow/commits/tp.json"; res.Token != wantTok {
		t.Fatalf("token = %q, want %q", res.Token, wantTok)
	}
}

func TestCommitMarkerAndReplacingRecommit(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	ctx := context.Background()
	// First commit: small files, so the partition spans several.
	small := newLoader(t, mem, parquet.Config{Path: dir, Compression: "none", TargetFileSize: 50 << 10})
	var batches []arrow.RecordBatch
	for i := range 6 {
		b := int64Batch(mem, i*2000, 2000)
		defer b.Release()
		batches = append(batches, b)
	}
	first := load(t, small, batches[0].Schema(), "rc", batches...)
	if first.Files < 3 {
		t.Fatalf("first commit made %d files, want several", first.Files)
	}
	// Another partition in the same place must survive the re-commit of "rc".
	load(t, small, batches[0].Schema(), "other", batches[0])

	// Second commit of the same id with large files: fewer files, the extra ones must go.
	big := newLoader(t, mem, parquet.Config{Path: dir, Compression: "none"})
	second := load(t, big, batches[0].Schema(), "rc", batches...)
	if second.Files != 1 {
		t.Fatalf("second commit made %d files, want 1", second.Files)
	}
	s, _ := big.Destination(ctx, testRun)
	files := dataFiles(t, s)
	want := []string{"part-other-0-0.parquet", "part-rc-0-0.parquet"}
	if strings.Join(files, ",") != strings.Join(want, ",") {
		t.Fatalf("files after re-commit = %v, want %v", files, want)
	}
	if n := totalRows(t, s, mem, []string{"part-rc-0-0.parquet"}); n != 12000 {
		t.Fatalf("rows = %d, want 12000", n)
	}
	// The marker is plain JSON with the commit info and the files.
	raw, err := os.ReadFile(filepath.Join(dir, "_jetflow/commits/rc.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m["pipeline"] != "orders" || m["run_instance"] != "2026-11-22" || m["partition_id"] != "rc" ||
		m["key"] != "id[rc]" || m["rows"] != float64(12000) || m["bytes"] != float64(second.Bytes) {
		t.Fatalf("marker = %s", raw)
	}
	fs := m["files"].([]any)
	if len(fs) != 1 || fs[0].(map[string]any)["path"] != "part-rc-0-0.parquet" {
		t.Fatalf("marker files = %v", fs)
	}
	markers, err := parquet.ListMarkers(ctx, s)
	if err != nil || len(markers) != 2 || markers[0].PartitionID != "other" || markers[1].PartitionID != "rc" {
		t.Fatalf("ListMarkers = %+v, %v", markers, err)
	}
	// Nothing but data and markers is left behind.
	for _, k := range allKeys(t, s) {
		if strings.HasPrefix(k, "_jetflow/") && !strings.HasPrefix(k, "_jetflow/commits/") {
			t.Errorf("left behind: %s", k)
		}
	}
}

func TestAbortLeavesNothingVisible(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	dir := t.TempDir()
	l := newLoader(t, mem, parquet.Config{Path: dir, Compression: "none", TargetFileSize: 30 << 10, Writers: 2})
	b := int64Batch(mem, 0, 3000)
	defer b.Release()
	w, err := l.Begin(ctx, b.Schema(), testPartition("ab"))
	if err != nil {
		t.Fatal(err)
	}
	for range 8 {
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	s, _ := l.Destination(ctx, testRun)
	if keys := allKeys(t, s); len(keys) != 0 {
		t.Fatalf("after Abort the destination holds %v", keys)
	}
	if _, err := parquet.ReadMarker(ctx, s, "ab"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("ReadMarker after Abort: %v, want not found", err)
	}
	if err := w.Write(ctx, b); err == nil {
		t.Fatal("Write after Abort succeeded")
	}
}

func TestBeginRemovesStaleTempFiles(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	dir := t.TempDir()
	l := newLoader(t, mem, parquet.Config{Path: dir})
	s, _ := l.Destination(ctx, testRun)
	// What a killed process leaves: a finished temp file of this partition, and one of another partition.
	for _, k := range []string{"_jetflow/tmp/st/0123abcd/0-0.parquet.tmp", "_jetflow/tmp/keep/0123abcd/0-0.parquet.tmp"} {
		if err := s.WriteAll(ctx, k, []byte("PAR1 half written")); err != nil {
			t.Fatal(err)
		}
	}
	b := int64Batch(mem, 0, 10)
	defer b.Release()
	load(t, l, b.Schema(), "st", b)
	keys := strings.Join(allKeys(t, s), ",")
	want := "_jetflow/commits/st.json,_jetflow/tmp/keep/0123abcd/0-0.parquet.tmp,part-st-0-0.parquet"
	if keys != want {
		t.Fatalf("keys = %s\nwant %s", keys, want)
	}
}

func TestEmptyPartitionCommitReplacesWithNothing(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	l := newLoader(t, mem, parquet.Config{Path: t.TempDir()})
	b := int64Batch(mem, 0, 10)
	defer b.Release()
	load(t, l, b.Schema(), "em", b)
	res := load(t, l, b.Schema(), "em")
	s, _ := l.Destination(ctx, testRun)
	if files := dataFiles(t, s); res.Files != 0 || len(files) != 0 {
		t.Fatalf("after empty re-commit: result %+v, files %v", res, files)
	}
	m, err := parquet.ReadMarker(ctx, s, "em")
	if err != nil || m.Rows != 0 || len(m.Files) != 0 {
		t.Fatalf("marker = %+v, %v", m, err)
	}
}

func TestRacingWritersLeaveOneCopy(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	dir := t.TempDir()
	b := int64Batch(mem, 0, 5000)
	defer b.Release()
	// Two loaders (two workers) write the same partition at once; both Begin before either commits.
	var ws []stage.PartitionWriter
	for range 2 {
		l := newLoader(t, mem, parquet.Config{Path: dir, Compression: "none"})
		w, err := l.Begin(ctx, b.Schema(), testPartition("race"))
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, w := range ws {
		wg.Go(func() {
			for range 4 {
				if err := w.Write(ctx, b); err != nil {
					errs[i] = err
					_ = w.Abort(ctx)
					return
				}
			}
			if _, err := w.Commit(ctx, stage.CommitInfo{PartitionID: "race"}); err != nil {
				errs[i] = err
				_ = w.Abort(ctx)
			}
		})
	}
	wg.Wait()
	if errs[0] != nil && errs[1] != nil {
		t.Fatalf("both writers failed: %v; %v", errs[0], errs[1])
	}
	s, _ := storage.Open(ctx, dir, storage.S3Options{})
	defer s.Close()
	files := dataFiles(t, s)
	if n := totalRows(t, s, mem, files); n != 20000 {
		t.Fatalf("rows visible = %d in %v, want exactly one copy (20000)", n, files)
	}
}

func TestS3WriteCommitReplaceReadBack(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	s3cfg := fakeS3(t, "lake")
	path := `s3://lake/bronze/{{ .Pipeline }}/date={{ .RunInstance | date "2006-01-02" }}/`
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "month", Type: arrow.PrimitiveTypes.Int8},
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	rec := recordFromJSON(t, mem, schema, `[{"month": 11, "id": 1, "s": "a"}, {"month": 12, "id": 2, "s": null}, {"month": 11, "id": 3, "s": "c"}]`)
	defer rec.Release()

	l := newLoader(t, mem, parquet.Config{Path: path, S3: s3cfg, PartitionBy: []string{"month"}, Writers: 2})
	first := load(t, l, schema, "s3p", rec, rec) // two batches: both writers write both months
	if first.Files != 4 {
		t.Fatalf("first commit: %d files, want 4 (2 writers × 2 months)", first.Files)
	}
	if !strings.HasPrefix(first.Token, "s3://lake/bronze/orders/date=2026-11-22/_jetflow/commits/s3p.json") {
		t.Fatalf("token = %q", first.Token)
	}
	l1 := newLoader(t, mem, parquet.Config{Path: path, S3: s3cfg, PartitionBy: []string{"month"}})
	second := load(t, l1, schema, "s3p", rec)
	if second.Files != 2 {
		t.Fatalf("second commit: %d files, want 2", second.Files)
	}
	s, err := l1.Destination(ctx, testRun)
	if err != nil {
		t.Fatal(err)
	}
	files := dataFiles(t, s)
	want := []string{"month=11/part-s3p-0-0.parquet", "month=12/part-s3p-0-0.parquet"}
	if strings.Join(files, ",") != strings.Join(want, ",") {
		t.Fatalf("files after replace = %v, want %v", files, want)
	}
	tbl := readFile(t, s, mem, want[0])
	defer tbl.Release()
	sub := recordFromJSON(t, mem, arrow.NewSchema(schema.Fields()[1:], nil), `[{"id": 1, "s": "a"}, {"id": 3, "s": "c"}]`)
	defer sub.Release()
	assertColumnsEqual(t, mem, sub, tbl)
	for _, k := range allKeys(t, s) {
		if strings.HasPrefix(k, "_jetflow/") && k != "_jetflow/commits/s3p.json" {
			t.Errorf("left behind on S3: %s", k)
		}
	}
	m, err := parquet.ReadMarker(ctx, s, "s3p")
	if err != nil || m.Rows != 3 || len(m.Files) != 2 {
		t.Fatalf("marker = %+v, %v", m, err)
	}
}

func TestRegistered(t *testing.T) {
	r, ok := stage.Lookup(stage.KindLoader, "parquet")
	if !ok {
		t.Fatal("parquet loader not registered")
	}
	cfg := r.NewConfig().(*parquet.Config)
	cfg.Path = t.TempDir()
	if _, err := r.Build(stage.BuildContext{Pipeline: "p"}, cfg); err != nil {
		t.Fatal(err)
	}
}
