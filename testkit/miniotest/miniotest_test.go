package miniotest

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// The server stores what the right keys send, refuses a wrong secret by its signature, and is gone after Stop.
func TestServer(t *testing.T) {
	srv := Start(t, "tester", "tester-secret")
	srv.CreateBucket(t, "bkt")
	ctx := context.Background()
	if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k/one"), Body: strings.NewReader("1")}); err != nil {
		t.Fatal(err)
	}
	if keys := srv.Keys(t, "bkt", "k/"); len(keys) != 1 || keys[0] != "k/one" {
		t.Fatalf("keys %v, want [k/one]", keys)
	}
	bad := *srv
	bad.SecretKey = "wrong-secret"
	_, err := bad.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k/two"), Body: strings.NewReader("2")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "SignatureDoesNotMatch" {
		t.Fatalf("a wrong secret: %v, want SignatureDoesNotMatch", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(srv.Endpoint + "/minio/health/live"); err == nil {
		resp.Body.Close()
		t.Fatal("MinIO still answers after Stop")
	}
}

// CI builds the MinIO the tests look for: .ci/run must name this package's Version.
func TestCIBuildsThisVersion(t *testing.T) {
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ci), "MINIO_VERSION="+Version+"\n") {
		t.Errorf(".ci/run does not build MinIO %s (set its MINIO_VERSION to it)", Version)
	}
}
