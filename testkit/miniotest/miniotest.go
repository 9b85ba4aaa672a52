// Package miniotest runs a real MinIO server for tests: an S3-compatible store that, unlike gofakes3, checks
// request signatures, so a wrong secret key fails as it would against AWS. Each Start gets a server of its own
// on a free port, with its data in t.TempDir and the root credentials the test gives, stopped when the test ends.
//
//	func TestSomething(t *testing.T) {
//		srv := miniotest.Start(t, "jetflow", "jetflow-secret")  // skips when the binary is not installed
//		srv.CreateBucket(t, "lake")
//		... s3: { endpoint: srv.Endpoint, path_style: true, access_key_id: ..., secret_access_key: ... } ...
//	}
//
// MinIO builds from the Go module proxy in about 5 minutes on 2 cores, too long for a package's tests, so Start
// does not build it: it uses $JETFLOW_MINIO or the binary .ci/run puts in the cache directory
// ($HOME/.cache/jetflow/bin/minio-<commit>), and skips the test, naming the command that builds it, when there is
// none (shared.GoBinary).
package miniotest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/jetflow-dev/jetflow/testkit/shared"
)

// Module and Version are the MinIO build the tests use (MinIO has no semantic version tags; this is the newest
// commit the module proxy serves).
const (
	Module  = "github.com/minio/minio"
	Version = "v0.0.0-20260212201848-7aac2a2c5b7c"
)

// EnvBinary names a MinIO binary to use instead of the cached one.
const EnvBinary = "JETFLOW_MINIO"

// Server is a running MinIO.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	proc      *shared.Proc
	log       *shared.SyncBuffer
}

// Bin is the MinIO binary the tests run, built by .ci/run.
var Bin = shared.GoBinary{Name: "minio", What: "MinIO", Module: Module, Version: Version,
	Tag: Version[strings.LastIndexByte(Version, '-')+1:], Env: EnvBinary}

// Start starts MinIO with root credentials accessKey and secretKey (at least 8 characters), stopped when t ends.
// It skips t when there is no binary and fails it when the server does not start.
func Start(t testing.TB, accessKey, secretKey string) *Server {
	t.Helper()
	bin := Bin.Require(t, "the tests against a real S3 server (signatures checked)")
	return shared.StartOnFreePort(t, func() (*Server, error) { return start(t.TempDir(), bin, accessKey, secretKey) },
		(*Server).Stop, func(s *Server) string { return s.log.Tail(4000) })
}

func start(dir, bin, accessKey, secretKey string) (*Server, error) {
	port, err := shared.FreePort()
	if err != nil {
		return nil, fmt.Errorf("miniotest: find a free port: %w", err)
	}
	console, err := shared.FreePort()
	if err != nil {
		return nil, fmt.Errorf("miniotest: find a free port: %w", err)
	}
	data := filepath.Join(dir, "data")
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), AccessKey: accessKey, SecretKey: secretKey, log: &shared.SyncBuffer{}}
	cmd := exec.Command(bin, "server", "--quiet", "--address", fmt.Sprintf("127.0.0.1:%d", port),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", console), data)
	// MINIO_* variables of the caller would change the server; only ours go in.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "MINIO_ROOT_USER="+accessKey, "MINIO_ROOT_PASSWORD="+secretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "HOME="+dir)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if s.proc, err = shared.StartProc(cmd, syscall.SIGKILL); err != nil {
		return nil, fmt.Errorf("miniotest: start %s: %w", bin, err)
	}
	if err := s.ready(30 * time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// ready waits until MinIO's liveness endpoint answers.
func (s *Server) ready(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		select {
		case <-s.proc.Exited():
			return fmt.Errorf("miniotest: MinIO exited at start (%s):\n%s", s.proc.State(), s.log.Tail(4000))
		default:
		}
		resp, err := http.Get(s.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /minio/health/ready: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("miniotest: MinIO at %s is not ready after %s: %v\n%s", s.Endpoint, within, err, s.log.Tail(4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Client is an S3 client of the server with its root credentials.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       "us-east-1",
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// CreateBucket creates a bucket.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("miniotest: create bucket %s: %v", name, err)
	}
}

// Keys lists the keys of a bucket under prefix.
func (s *Server) Keys(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("miniotest: list %s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// Stop ends the server (SIGTERM, then SIGKILL after 5s) and waits for it.
func (s *Server) Stop() error {
	return s.proc.Stop(syscall.SIGTERM, 5*time.Second, "MinIO at "+s.Endpoint)
}
