package parquet_test

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/miniotest"
)

// TestMinIOWriteReadBack writes partitions into MinIO, which checks every request's signature (gofakes3 does
// not), replaces one, and reads the files back exactly; a wrong secret key fails, naming the bucket and the
// store's refusal, and the secret nowhere.
func TestMinIOWriteReadBack(t *testing.T) {
	const secret = "jetflow-secret-key"
	srv := miniotest.Start(t, "jetflow", secret)
	srv.CreateBucket(t, "lake")
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	s3cfg := parquet.S3Config{Endpoint: srv.Endpoint, Region: "us-east-1", PathStyle: true,
		AccessKeyID: stage.Secret(srv.AccessKey), SecretAccessKey: secret}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	}, nil)
	a := recordFromJSON(t, mem, schema, `[{"id": 1, "s": "a", "at": "2026-11-22T01:00:00Z"}, {"id": 2, "s": null, "at": "2026-11-22T02:00:00Z"}]`)
	defer a.Release()
	a2 := recordFromJSON(t, mem, schema, `[{"id": 1, "s": "A", "at": "2026-11-22T01:00:00Z"}]`)
	defer a2.Release()
	b := recordFromJSON(t, mem, schema, `[{"id": 3, "s": "c", "at": "2026-11-22T03:00:00Z"}]`)
	defer b.Release()

	l := newLoader(t, mem, parquet.Config{Path: "s3://lake/bronze/", S3: s3cfg})
	load(t, l, schema, "a", a)
	load(t, l, schema, "b", b)
	load(t, l, schema, "a", a2) // replaces a
	s, err := l.Destination(ctx, testRun)
	if err != nil {
		t.Fatal(err)
	}
	files := dataFiles(t, s)
	if len(files) != 2 {
		t.Fatalf("data files %v, want one per partition", files)
	}
	for _, f := range files {
		want := b
		if strings.Contains(f, "-a-") {
			want = a2
		}
		tbl := readFile(t, s, mem, f)
		assertColumnsEqual(t, mem, want, tbl)
		tbl.Release()
	}
	// The same objects, listed by MinIO itself.
	keys := srv.Keys(t, "lake", "bronze/")
	for _, f := range files {
		if !hasKey(keys, "bronze/"+f) {
			t.Errorf("%s is not in the bucket: %v", f, keys)
		}
	}

	t.Run("wrong secret", func(t *testing.T) {
		bad := s3cfg
		bad.SecretAccessKey = "not-the-secret-key"
		l, err := parquet.New(stage.BuildContext{Pipeline: "orders", Alloc: mem}, &parquet.Config{Path: "s3://lake/bad/", S3: bad, Compression: "zstd"})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		p := testkit.PartitionFor("x")
		w, err := l.Begin(ctx, schema, p)
		if err == nil {
			err = w.Write(ctx, a)
			if err == nil {
				_, err = w.Commit(ctx, testkit.CommitInfoFor(p, a.NumRows()))
			}
			w.Abort(ctx)
		}
		if err == nil {
			t.Fatal("a wrong secret key was accepted")
		}
		msg := err.Error()
		// The storage layer names the bucket and key (s3://lake/bad/...), not yet the endpoint.
		for _, want := range []string{"s3://lake/bad/", "SignatureDoesNotMatch", " at " + srv.Endpoint, "check the s3 access_key_id"} {
			if !strings.Contains(msg, want) {
				t.Errorf("the error does not name %q:\n%s", want, msg)
			}
		}
		if strings.Contains(msg, "not-the-secret-key") || strings.Contains(msg, secret) {
			t.Errorf("the error shows a secret key:\n%s", msg)
		}
	})
}

func hasKey(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
