package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/storage"
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
