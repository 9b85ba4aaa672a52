package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/jetflow-dev/jetflow/internal/failpoint"
	"github.com/jetflow-dev/jetflow/storage"
)

// The jetflow binary writes to an S3-compatible server (gofakes3, in this test process) with its endpoint and
// keys from the environment; it is killed between publishing files and writing the marker, re-run, and what the
// bucket holds is read back with arrow-go's Parquet reader: every id exactly once, the secret in no output.
func TestS3EndToEndWithCrash(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("lake"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()
	const secret = "s3-secret-value-never-printed"
	env := []string{"LAKE_ENDPOINT=" + srv.URL, "LAKE_KEY=test-key", "LAKE_SECRET=" + secret}
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", `name: s3orders
consumer:
  type: generate
  rows: 50000
  batch_rows: 5000
  partition: { count: 5 }
  columns:
    - { name: id, type: int64, sequence: true }
    - { name: tenant, type: int16, min: 1, max: 3 }
    - { name: amount, type: "decimal(12,2)", null_rate: 0.1 }
loaders:
  - type: parquet
    path: s3://lake/orders/date={{ .RunInstance | date "2006-01-02" }}
    partition_by: [tenant]
    s3:
      endpoint: ${LAKE_ENDPOINT}
      path_style: true
      access_key_id: ${LAKE_KEY}
      secret_access_key: ${LAKE_SECRET}
`)
	r := jetflow(t, dir, append(env, failpoint.EnvVar+"=parquet.before-marker=kill"), "run", "p.yaml", "--run", "2026-11-22")
	if !r.killed {
		t.Fatalf("not killed at the failpoint: code %d\n%s", r.code, r.stderr)
	}
	r = jetflow(t, dir, env, "run", "p.yaml", "--run", "2026-11-22").must(t, exitOK)
	r2 := jetflow(t, dir, env, "run", "p.yaml", "--run", "2026-11-22", "--force").must(t, exitOK)
	for _, out := range []string{r.stdout, r.stderr, r2.stdout, r2.stderr} {
		if strings.Contains(out, secret) {
			t.Fatalf("the secret access key appears in jetflow's output:\n%s", out)
		}
	}

	ctx := context.Background()
	st, err := storage.Open(ctx, "s3://lake/orders/date=2026-11-22", storage.S3Options{Endpoint: srv.URL, Region: "us-east-1",
		PathStyle: true, AccessKeyID: "test-key", SecretAccessKey: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	objects, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	seen := map[int64]int{}
	markers, files := 0, 0
	for _, o := range objects {
		switch {
		case strings.HasPrefix(o.Key, "_jetflow/commits/"):
			markers++
		case strings.HasPrefix(o.Key, "_jetflow/"):
			t.Errorf("leftover bookkeeping object after a clean run: %s", o.Key)
		case strings.HasSuffix(o.Key, ".parquet"):
			files++
			if !strings.HasPrefix(o.Key, "tenant=") {
				t.Errorf("object %s is not in a Hive tenant= directory", o.Key)
			}
			data, err := st.ReadAll(ctx, o.Key)
			if err != nil {
				t.Fatal(err)
			}
			pf, err := file.NewParquetReader(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("%s: %v", o.Key, err)
			}
			fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, mem)
			if err != nil {
				t.Fatal(err)
			}
			tbl, err := fr.ReadTable(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, chunk := range tbl.Column(0).Data().Chunks() {
				for _, id := range chunk.(*array.Int64).Int64Values() {
					seen[id]++
				}
			}
			tbl.Release()
			pf.Close()
		}
	}
	if markers != 5 || files == 0 {
		t.Fatalf("%d commit markers and %d data files; want 5 markers", markers, files)
	}
	for id := int64(0); id < 50000; id++ {
		if seen[id] != 1 {
			t.Fatalf("id %d appears %d times in the bucket, want exactly once", id, seen[id])
		}
	}
	if len(seen) != 50000 {
		t.Fatalf("%d distinct ids, want 50000", len(seen))
	}
}
