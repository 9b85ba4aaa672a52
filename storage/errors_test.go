package storage_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jetflow-dev/jetflow/storage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/diskfault"
	"github.com/jetflow-dev/jetflow/testkit/miniotest"
)

func TestCredentialsRefused(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("api error SignatureDoesNotMatch: The request signature we calculated does not match"), true},
		{fmt.Errorf("list: %w", errors.New("api error InvalidAccessKeyId: unknown key")), true},
		{errors.New("https response error StatusCode: 403, AccessDenied"), true},
		{errors.New("dial tcp 127.0.0.1:9: connection refused"), false},
	}
	for _, tc := range tests {
		if got := storage.CredentialsRefused(tc.err); got != tc.want {
			t.Errorf("CredentialsRefused(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// An S3 error names the endpoint it went to, without the credentials a URL may carry.
func TestS3ErrorsNameTheEndpointWithoutCredentials(t *testing.T) {
	s, err := storage.Open(context.Background(), "s3://bucket/prefix", storage.S3Options{
		Endpoint: "http://user:endpoint-secret@127.0.0.1:9", Region: "us-east-1", PathStyle: true,
		AccessKeyID: "key", SecretAccessKey: "secret-key"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.List(context.Background(), "x/")
	if err == nil {
		t.Fatal("listing a bucket on a closed port succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "s3://bucket/prefix/x/ at http://127.0.0.1:9") {
		t.Errorf("error does not name the store and its endpoint: %s", msg)
	}
	if strings.Contains(msg, "endpoint-secret") || strings.Contains(msg, "secret-key") {
		t.Errorf("error shows a secret: %s", msg)
	}
}

// Faults no retry can fix are marked fatal, with their reason, against real stores: a directory root may not
// write to, a path below a file, a missing bucket (gofakes3), a wrong secret key (MinIO checks signatures).
// A store that cannot be reached stays transient.
func TestFatalFaults(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		url    func(t *testing.T) (string, storage.S3Options)
		reason string // "" for transient
	}{
		{"denied directory", func(t *testing.T) (string, storage.S3Options) {
			return diskfault.Denied(t) + "/out", storage.S3Options{}
		}, "permission denied"},
		{"below a file", func(t *testing.T) (string, storage.S3Options) {
			return diskfault.BelowFile(t), storage.S3Options{}
		}, "not a directory"},
		{"missing bucket", func(t *testing.T) (string, storage.S3Options) {
			return "s3://missing/prefix", fakeS3(t, "lake")
		}, "no such bucket"},
		{"wrong secret key", func(t *testing.T) (string, storage.S3Options) {
			srv := miniotest.Start(t, "jetflow", "jetflow-secret")
			srv.CreateBucket(t, "lake")
			return "s3://lake/prefix", storage.S3Options{Endpoint: srv.Endpoint, Region: "us-east-1", PathStyle: true,
				AccessKeyID: "jetflow", SecretAccessKey: "not-the-secret"}
		}, "access denied"},
		{"unreachable", func(t *testing.T) (string, storage.S3Options) {
			return "s3://lake/prefix", storage.S3Options{Endpoint: "http://127.0.0.1:9", Region: "us-east-1",
				PathStyle: true, AccessKeyID: "k", SecretAccessKey: "s"}
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, opts := tc.url(t)
			err := func() error {
				s, err := storage.Open(ctx, url, opts)
				if err != nil {
					return err
				}
				defer s.Close()
				return s.WriteAll(ctx, "date=2026-11-22/part-0.parquet", []byte("PAR1"))
			}()
			testkit.AssertFault(t, err, tc.reason)
		})
	}
}

// A store's error is never taken for a missing key because of the ids S3 stamps on it. gocloud.dev before v0.47
// read any error whose text held "301" (a request or host id, at random) as a missing bucket, so a throttled read
// of a commit marker could look like "never committed". A proxy in front of gofakes3 gives every response ids with
// "301" in them, and answers reads of one key with S3's 503 SlowDown.
func TestErrorIdsDoNotMakeAKeyMissing(t *testing.T) {
	ctx := context.Background()
	opts := fakeS3(t, "lake")
	target, err := url.Parse(opts.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	upstream := httputil.NewSingleHostReverseProxy(target)
	var throttled atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-amz-request-id", "4A3016C0F2B301E9")
		w.Header().Set("x-amz-id-2", "s3013Ab301cdEf301")
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/slow.json") {
			throttled.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>`+
				`<Message>Please reduce your request rate.</Message><RequestId>4A3016C0F2B301E9</RequestId>`+
				`<HostId>s3013Ab301cdEf301</HostId></Error>`)
			return
		}
		upstream.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	opts.Endpoint = proxy.URL

	s, err := storage.Open(ctx, "s3://lake/markers", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.WriteAll(ctx, "slow.json", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	_, err = s.ReadAll(ctx, "slow.json")
	if err == nil || throttled.Load() == 0 {
		t.Fatalf("read through the throttling proxy: err %v after %d throttled requests", err, throttled.Load())
	}
	if errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a throttled read was taken for a missing key: %v", err)
	}
	testkit.AssertFault(t, err, "") // throttling is transient
	if _, err := s.ReadAll(ctx, "gone.json"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a missing key through the proxy: %v, want storage.ErrNotFound", err)
	}
}
