package iceberg

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// TestS3Warehouse writes the table's files to an S3-compatible server (gofakes3, in process) with the catalog in
// a local SQLite file, re-commits a partition, and reads the table back through S3 with iceberg-go's scanner.
func TestS3Warehouse(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("lake"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	l := newLoader(t, dir, func(c *Config) {
		c.Catalog = CatalogConfig{Warehouse: "s3://lake/warehouse", URI: stage.Secret(filepath.Join(dir, "catalog.db"))}
		c.PartitionBy = []string{"tenant_id"}
		c.S3 = S3Config{Endpoint: srv.URL, Region: "us-east-1", PathStyle: true, AccessKeyID: "key", SecretAccessKey: "secret"}
	})
	a, b := orders(t, mem, 0, 30), orders(t, mem, 30, 30)
	defer a.Release()
	defer b.Release()
	load(t, l, "a", a)
	load(t, l, "b", b)
	load(t, l, "a", a) // replaces a
	got := scan(t, l, mem, nil)
	defer got.Release()
	want := testkit.ConcatRecords(mem, []arrow.RecordBatch{a, b})
	defer want.Release()
	testkit.AssertRecordsEqual(t, want, got, testkit.SortBy("id"))

	tbl := loadTable(t, l)
	if !strings.HasPrefix(tbl.Location(), "s3://lake/warehouse/") {
		t.Errorf("table location %s, want under s3://lake/warehouse/", tbl.Location())
	}
	objs, err := backend.ListBucket("lake", &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	parquet := 0
	for _, o := range objs.Contents {
		if strings.HasSuffix(o.Key, ".parquet") {
			parquet++
		}
	}
	if parquet == 0 {
		t.Error("no data file in the bucket")
	}
	// Orphan listing walks the bucket too.
	orphans, _, err := Orphans(context.Background(), tbl, 0)
	if err != nil {
		t.Fatalf("orphans on S3: %v", err)
	}
	if len(orphans) != 0 {
		t.Errorf("orphans after clean commits: %v", orphans)
	}
}
