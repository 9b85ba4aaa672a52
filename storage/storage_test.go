package storage_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/jetflow-dev/jetflow/storage"
)

// fakeS3 serves an in-memory S3 with one bucket and returns options that reach it.
func fakeS3(t *testing.T, bucket string) storage.S3Options {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return storage.S3Options{
		Endpoint: srv.URL, Region: "us-east-1", PathStyle: true,
		AccessKeyID: "test-key", SecretAccessKey: "test-secret",
	}
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	local := t.TempDir()
	cases := []struct {
		name string
		url  string
		opts storage.S3Options
	}{
		{"local", filepath.Join(local, "out"), storage.S3Options{}},
		{"file-url", "file://" + filepath.Join(local, "out2"), storage.S3Options{}},
		{"s3", "s3://lake/bronze/orders", fakeS3(t, "lake")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root, err := storage.Open(ctx, tc.url, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			s := root.Sub("date=2026-11-22")

			// Create: invisible until Close.
			w, err := s.Create(ctx, "_tmp/a.parquet.tmp")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(w, "hello"); err != nil {
				t.Fatal(err)
			}
			if ok, _ := s.Exists(ctx, "_tmp/a.parquet.tmp"); ok {
				t.Fatal("object visible before Close")
			}
			if objs, _ := s.List(ctx, ""); len(objs) != 0 {
				t.Fatalf("List before Close = %v, want nothing", objs)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			// Rename replaces the target.
			if err := s.WriteAll(ctx, "x=1/a.parquet", []byte("old content")); err != nil {
				t.Fatal(err)
			}
			if err := s.Rename(ctx, "_tmp/a.parquet.tmp", "x=1/a.parquet"); err != nil {
				t.Fatal(err)
			}
			got, err := s.ReadAll(ctx, "x=1/a.parquet")
			if err != nil || string(got) != "hello" {
				t.Fatalf("ReadAll after rename = %q, %v; want hello", got, err)
			}
			if ok, _ := s.Exists(ctx, "_tmp/a.parquet.tmp"); ok {
				t.Fatal("rename left the source")
			}
			if n, err := s.Size(ctx, "x=1/a.parquet"); err != nil || n != 5 {
				t.Fatalf("Size = %d, %v; want 5", n, err)
			}

			// List is recursive, relative to the store, sorted.
			if err := s.WriteAll(ctx, "x=2/b.parquet", []byte("b")); err != nil {
				t.Fatal(err)
			}
			objs, err := s.List(ctx, "x=")
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, o := range objs {
				keys = append(keys, o.Key)
			}
			if strings.Join(keys, ",") != "x=1/a.parquet,x=2/b.parquet" {
				t.Fatalf("List = %v", keys)
			}
			// The parent store sees the same objects under the sub prefix.
			if objs, _ := root.List(ctx, "date=2026-11-22/x=2/"); len(objs) != 1 || objs[0].Key != "date=2026-11-22/x=2/b.parquet" {
				t.Fatalf("root List = %v", objs)
			}

			// Cancelling the context discards a write.
			cctx, cancel := context.WithCancel(ctx)
			w, err = s.Create(cctx, "cancelled.json")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.WriteString(w, "{}")
			cancel()
			if err := w.Close(); err == nil {
				t.Fatal("Close after cancel succeeded")
			}
			if ok, _ := s.Exists(ctx, "cancelled.json"); ok {
				t.Fatal("cancelled write is visible")
			}

			// Delete, twice: the second is not an error.
			for i := 0; i < 2; i++ {
				if err := s.Delete(ctx, "x=2/b.parquet"); err != nil {
					t.Fatalf("Delete #%d: %v", i+1, err)
				}
			}
			if _, err := s.ReadAll(ctx, "x=2/b.parquet"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("ReadAll of deleted key: %v, want ErrNotFound", err)
			}
			if err := s.PruneDirs(""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLocalLeavesNoSidecars(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := storage.Open(ctx, dir, storage.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteAll(ctx, "a/b.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "a/b.json"); err != nil {
		t.Fatal(err)
	}
	if err := s.PruneDirs("a"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("directory holds %v after delete and prune, want nothing", entries)
	}
}

func TestBadURLsAndKeys(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"gs://bucket/x", "s3:///nobucket"} {
		if _, err := storage.Open(ctx, u, storage.S3Options{}); err == nil {
			t.Errorf("Open(%q) succeeded", u)
		}
	}
	if _, err := storage.Open(ctx, "s3://b/p", storage.S3Options{AccessKeyID: "only-id"}); err == nil ||
		strings.Contains(err.Error(), "only-id") {
		t.Errorf("half credentials: err = %v, want an error without the key", err)
	}
	s, err := storage.Open(ctx, t.TempDir(), storage.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"", "/abs", "a/../b", "a//b", "dir/", "a\nb"} {
		if err := s.WriteAll(ctx, k, nil); err == nil {
			t.Errorf("WriteAll(%q) succeeded", k)
		}
	}
}

// A process killed while writing leaves fileblob's in-flight file: List hides it (not an object yet), ListAll
// finds it so that a sweep can remove it, and Delete does.
func TestListAllFindsWritesLeftInFlight(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		url  string
		opts storage.S3Options
	}{
		{"local", t.TempDir(), storage.S3Options{}},
		{"s3", "s3://lake/x", fakeS3(t, "lake")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := storage.Open(ctx, tt.url, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.WriteAll(ctx, "tmp/n1/done.parquet.tmp", []byte("x")); err != nil {
				t.Fatal(err)
			}
			w, err := s.Create(ctx, "tmp/n1/0-0.parquet.tmp")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(w, "half"); err != nil {
				t.Fatal(err)
			}
			// Never closed: the process was killed here.
			listed, err := s.List(ctx, "tmp/")
			if err != nil || len(listed) != 1 {
				t.Fatalf("List = %v %v, want the finished file only", listed, err)
			}
			all, err := s.ListAll(ctx, "tmp/")
			if err != nil {
				t.Fatal(err)
			}
			want := 1
			if tt.name == "local" {
				want = 2 // an object store keeps an unfinished upload out of listings
			}
			if len(all) != want {
				t.Fatalf("ListAll = %v, want %d objects", all, want)
			}
			for _, o := range all {
				if err := s.Delete(ctx, o.Key); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.PruneDirs("tmp"); err != nil {
				t.Fatal(err)
			}
			if left, _ := s.ListAll(ctx, "tmp/"); len(left) != 0 {
				t.Fatalf("left after deleting everything ListAll gave: %v", left)
			}
			if tt.name == "local" {
				if _, err := os.Stat(filepath.Join(tt.url, "tmp")); !os.IsNotExist(err) {
					t.Fatalf("tmp directory still there: %v", err)
				}
			}
		})
	}
}
