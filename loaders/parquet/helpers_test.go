package parquet_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/storage"
)

var testRun = stage.RunInstance{
	Start: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
	End:   time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC),
	Label: "2026-11-22",
}

func testPartition(id string) stage.Partition {
	return stage.Partition{ID: id, Key: "id[" + id + "]", Run: testRun}
}

func newLoader(t testing.TB, mem memory.Allocator, cfg parquet.Config) *parquet.Loader {
	t.Helper()
	// These tests size row groups for plain encoding: a zero Dictionary means false here, not the default.
	reg, _ := stage.Lookup(stage.KindLoader, "parquet")
	v, err := reg.BuildPresent(stage.BuildContext{Pipeline: "orders", Alloc: mem}, &cfg, stage.Given(&cfg, "dictionary"))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	l := v.(*parquet.Loader)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// load writes batches as partition pid and commits it.
func load(t testing.TB, l *parquet.Loader, schema *arrow.Schema, pid string, batches ...arrow.RecordBatch) stage.CommitResult {
	t.Helper()
	ctx := context.Background()
	w, err := l.Begin(ctx, schema, testPartition(pid))
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	var rows int64
	for _, b := range batches {
		if err := w.Write(ctx, b); err != nil {
			t.Fatalf("Write: %v", err)
		}
		rows += b.NumRows()
	}
	res, err := w.Commit(ctx, stage.CommitInfo{Pipeline: "orders", RunInstance: testRun.Label, PartitionID: pid, Key: "id[" + pid + "]", Rows: rows})
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return res
}

func recordFromJSON(t testing.TB, mem memory.Allocator, schema *arrow.Schema, js string) arrow.RecordBatch {
	t.Helper()
	rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(js))
	if err != nil {
		t.Fatalf("RecordFromJSON: %v", err)
	}
	return rec
}

// dataFiles lists the Parquet files a glob such as **/*.parquet would find: nothing under _jetflow/.
func dataFiles(t testing.TB, s *storage.Store) []string {
	t.Helper()
	objs, err := s.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		if strings.HasSuffix(o.Key, ".parquet") && !strings.HasPrefix(o.Key, "_") && !strings.Contains(o.Key, "/_") {
			out = append(out, o.Key)
		}
	}
	sort.Strings(out)
	return out
}

// allKeys lists every object, bookkeeping included.
func allKeys(t testing.TB, s *storage.Store) []string {
	t.Helper()
	objs, err := s.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Key
	}
	return out
}

// readFile reads a Parquet file with arrow-go's reader; the caller releases the table.
func readFile(t testing.TB, s *storage.Store, mem memory.Allocator, key string) arrow.Table {
	t.Helper()
	b, err := s.ReadAll(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := pqarrow.ReadTable(context.Background(), bytes.NewReader(b), pq.NewReaderProperties(mem),
		pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return tbl
}

// fileMeta opens a Parquet file's footer.
func fileMeta(t testing.TB, s *storage.Store, key string) *file.Reader {
	t.Helper()
	b, err := s.ReadAll(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	r, err := file.NewParquetReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	return r
}

func totalRows(t testing.TB, s *storage.Store, mem memory.Allocator, keys []string) int64 {
	var n int64
	for _, k := range keys {
		tbl := readFile(t, s, mem, k)
		n += tbl.NumRows()
		tbl.Release()
	}
	return n
}

// fakeS3 serves an in-memory S3 (gofakes3, path-style) with bucket and returns the options to reach it.
func fakeS3(t testing.TB, bucket string) parquet.S3Config {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return parquet.S3Config{Endpoint: srv.URL, Region: "us-east-1", PathStyle: true, AccessKeyID: "k", SecretAccessKey: "s"}
}

// int64Batch makes a batch of n rows: id (sequence from start) and a string column.
func int64Batch(mem memory.Allocator, start, n int) arrow.RecordBatch {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	ids := b.Field(0).(*array.Int64Builder)
	notes := b.Field(1).(*array.StringBuilder)
	for i := start; i < start+n; i++ {
		ids.Append(int64(i))
		notes.Append("note number " + strings.Repeat("x", i%17))
	}
	return b.NewRecordBatch()
}
