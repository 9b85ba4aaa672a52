package iceberg

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/miniotest"
)

// TestMinIOWarehouse writes the table's files into MinIO, which checks every request's signature (gofakes3 does
// not), with the catalog in a local SQLite file: commits, a replacing re-run, compaction and a re-run after it,
// read back through S3 with iceberg-go's scanner. A wrong secret key fails with the endpoint and the bucket
// named and the secret nowhere.
func TestMinIOWarehouse(t *testing.T) {
	const secret = "jetflow-secret-key"
	srv := miniotest.Start(t, "jetflow", secret)
	srv.CreateBucket(t, "lake")
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	s3 := S3Config{Endpoint: srv.Endpoint, Region: "us-east-1", PathStyle: true, AccessKeyID: stage.Secret(srv.AccessKey), SecretAccessKey: secret}
	l := newLoader(t, dir, func(c *Config) {
		c.Catalog = CatalogConfig{Warehouse: "s3://lake/warehouse", URI: stage.Secret(filepath.Join(dir, "catalog.db"))}
		c.PartitionBy = []string{"tenant_id"}
		c.S3 = s3
	})
	var parts []arrow.RecordBatch
	for i := range 4 {
		parts = append(parts, orders(t, mem, i*30, 30))
		load(t, l, fmt.Sprint(i), parts[i])
	}
	defer testkit.ReleaseAll(parts)
	load(t, l, "0", parts[0]) // replaces 0
	assertScan(t, l, mem, parts...)
	if !strings.HasPrefix(loadTable(t, l).Location(), "s3://lake/warehouse/") {
		t.Errorf("table location %s, want under s3://lake/warehouse/", loadTable(t, l).Location())
	}

	res, err := l.Compact(context.Background(), 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Groups != 3 {
		t.Fatalf("compaction %+v, want 3 groups", res)
	}
	again := orders(t, mem, 60, 12)
	defer again.Release()
	load(t, l, "2", again)
	assertScan(t, l, mem, parts[0], parts[1], again, parts[3])
	// Every live data file is in the bucket, under the warehouse.
	keys := map[string]bool{}
	for _, k := range srv.Keys(t, "lake", "warehouse/") {
		keys["s3://lake/"+k] = true
	}
	for _, f := range dataFiles(t, l) {
		if !keys[f] {
			t.Errorf("live data file %s is not in the bucket", f)
		}
	}

	// A wrong secret key, for a new table and for the existing one.
	for name, cat := range map[string]CatalogConfig{
		"new table":      {Warehouse: "s3://lake/other", URI: stage.Secret(filepath.Join(t.TempDir(), "catalog.db"))},
		"existing table": {Warehouse: "s3://lake/warehouse", URI: stage.Secret(filepath.Join(dir, "catalog.db"))},
	} {
		t.Run("wrong secret, "+name, func(t *testing.T) {
			bad := s3
			bad.SecretAccessKey = "not-the-secret-key"
			l := newLoader(t, t.TempDir(), func(c *Config) {
				c.Catalog = cat
				c.PartitionBy = []string{"tenant_id"}
				c.S3 = bad
			})
			p := testkit.PartitionFor("x")
			w, err := l.Begin(context.Background(), ordersSchema(), p)
			if err == nil {
				err = w.Write(context.Background(), parts[0])
				if err == nil {
					_, err = w.Commit(context.Background(), testkit.CommitInfoFor(p, 30))
				}
				w.Abort(context.Background())
			}
			if err == nil {
				t.Fatal("a wrong secret key was accepted")
			}
			msg := err.Error()
			for _, want := range []string{srv.Endpoint, `bucket "lake"`, "SignatureDoesNotMatch", "s3.secret_access_key"} {
				if !strings.Contains(msg, want) {
					t.Errorf("the error does not name %q:\n%s", want, msg)
				}
			}
			if strings.Contains(msg, "not-the-secret-key") || strings.Contains(msg, secret) {
				t.Errorf("the error shows a secret key:\n%s", msg)
			}
		})
	}
	// The table is as it was.
	assertScan(t, l, mem, parts[0], parts[1], again, parts[3])
}

// assertScan reads the table through its catalog with iceberg-go's scanner and compares it with want.
func assertScan(t *testing.T, l *Loader, mem memory.Allocator, want ...arrow.RecordBatch) {
	t.Helper()
	exp := testkit.ConcatRecords(mem, want)
	defer exp.Release()
	got := scan(t, l, mem, nil)
	if got == nil {
		t.Fatal("the table has no snapshot")
	}
	defer got.Release()
	testkit.AssertRecordsEqual(t, exp, got, testkit.SortBy("id"))
}
