package miniotest

import (
	"context"
	"errors"
	"net/http"
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

// CI builds the MinIO the tests look for.
func TestCIBuildsThisVersion(t *testing.T) { Bin.CIBuilds(t, "../../.ci/run") }
