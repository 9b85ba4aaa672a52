// Package storage gives loaders one view of local directories and S3-compatible object stores, on top of
// gocloud.dev/blob (the layer iceberg-go uses too, so every loader reaches a destination the same way).
//
// A Store is rooted at a URL: a local path ("/data/out", "./out", "file:///data/out") or "s3://bucket/prefix".
// Keys are slash-separated and relative to that root. Objects written through Create appear only when Close
// succeeds, so a reader never sees a half-written file.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"

	"github.com/jetflow-dev/jetflow/stage"
)

// S3Options reaches an S3-compatible object store. The zero value uses AWS with the default credential chain.
type S3Options struct {
	Endpoint        string // endpoint URL of an S3-compatible server; empty: AWS
	Region          string // region to sign for; empty: from the AWS chain, else us-east-1
	AccessKeyID     stage.Secret
	SecretAccessKey stage.Secret
	PathStyle       bool // endpoint/bucket addressing instead of bucket.endpoint
}

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key  string // relative to the store's root
	Size int64
}

// Store is a bucket (or local directory) plus a key prefix.
type Store struct {
	bucket *blob.Bucket
	url    string // root URL, never with credentials
	prefix string // "" or ends with "/"
	// localDir is the directory of the root for local stores; Rename uses os.Rename there.
	localDir string
	owner    bool   // Close closes the bucket only on the store Open returned
	endpoint string // S3 stores: the server errors name, "AWS S3" when none was given
}

// ErrNotFound is returned (wrapped) when a key does not exist.
var ErrNotFound = errors.New("object not found")

// IsLocal tells whether url names a local path rather than an object store.
func IsLocal(rawURL string) bool {
	scheme, _, ok := strings.Cut(rawURL, "://")
	return !ok || scheme == "file"
}

// SplitURL splits a destination URL into the root a Store is opened at and a key prefix under it: for
// s3://bucket/a/b the root is s3://bucket and the prefix a/b/; a local path is its own root. Callers that write
// to many prefixes of one bucket open the root once and use Sub.
func SplitURL(rawURL string) (root, prefix string, err error) {
	if IsLocal(rawURL) {
		return rawURL, "", nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", fmt.Errorf("invalid storage URL %q: %w", RedactURL(rawURL), err)
	}
	if u.Scheme != "s3" {
		return "", "", fmt.Errorf("unsupported storage URL %q: want a local path, file:// or s3://bucket/prefix", RedactURL(rawURL))
	}
	if u.Host == "" {
		return "", "", fmt.Errorf("storage URL %q names no bucket: want s3://bucket/prefix", RedactURL(rawURL))
	}
	p := strings.Trim(u.Path, "/")
	if p != "" {
		p += "/"
	}
	return "s3://" + u.Host, p, nil
}

// Open opens the store rooted at rawURL: a local directory (created if missing) or s3://bucket/prefix.
// opts is used only for s3:// URLs.
func Open(ctx context.Context, rawURL string, opts S3Options) (*Store, error) {
	if IsLocal(rawURL) {
		return openLocal(rawURL)
	}
	root, prefix, err := SplitURL(rawURL)
	if err != nil {
		return nil, err
	}
	bucketName := strings.TrimPrefix(root, "s3://")
	client, err := s3Client(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	b, err := s3blob.OpenBucket(ctx, client, bucketName, &s3blob.Options{
		// S3-compatible servers (MinIO, R2, older Ceph) reject the newer default checksum headers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	endpoint := RedactURL(opts.Endpoint)
	if endpoint == "" {
		endpoint = "AWS S3"
	}
	return &Store{bucket: b, url: root + "/" + prefix, prefix: prefix, owner: true, endpoint: endpoint}, nil
}

func openLocal(rawURL string) (*Store, error) {
	dir := rawURL
	if strings.HasPrefix(dir, "file://") {
		u, err := url.Parse(dir)
		if err != nil {
			return nil, fmt.Errorf("invalid file URL %q: %w", rawURL, err)
		}
		dir = u.Path
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve local path %q: %w", rawURL, err)
	}
	// fileblob would create it too, but flattens the operating system's error, which tells a fatal fault.
	if err := os.MkdirAll(abs, 0o777); err != nil {
		return nil, Classify(fmt.Errorf("create local directory %s: %w", abs, err))
	}
	b, err := fileblob.OpenBucket(abs, &fileblob.Options{
		CreateDir: true,
		// Temp files next to the target keep the final rename on one file system.
		NoTempDir: true,
		// No .attrs sidecar files: they would sit next to the Parquet files readers glob.
		Metadata: fileblob.MetadataDontWrite,
	})
	if err != nil {
		return nil, Classify(fmt.Errorf("open local directory %s: %w", abs, err))
	}
	return &Store{bucket: b, url: abs + "/", localDir: abs, owner: true}, nil
}

func s3Client(ctx context.Context, o S3Options) (*s3.Client, error) {
	var loadOpts []func(*awsconfig.LoadOptions) error
	if o.Region != "" {
		loadOpts = append(loadOpts, awsconfig.WithRegion(o.Region))
	}
	if o.AccessKeyID != "" || o.SecretAccessKey != "" {
		if o.AccessKeyID == "" || o.SecretAccessKey == "" {
			return nil, errors.New("S3 access_key_id and secret_access_key must be given together (or neither, for the AWS default chain)")
		}
		loadOpts = append(loadOpts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKeyID.Reveal(), o.SecretAccessKey.Reveal(), "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}), nil
}

// Sub returns a store rooted at prefix under s, sharing s's connection. Closing it does nothing.
func (s *Store) Sub(prefix string) *Store {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		c := *s
		c.owner = false
		return &c
	}
	c := *s
	c.owner = false
	c.prefix = s.prefix + prefix + "/"
	c.url = s.url + prefix + "/"
	return &c
}

// URL is the store's root, without credentials; errors name it.
func (s *Store) URL() string { return s.url }

// Bucket exposes the underlying bucket (unprefixed) for code that speaks gocloud.dev/blob directly.
func (s *Store) Bucket() *blob.Bucket { return s.bucket }

// Close releases the connection of a store returned by Open.
func (s *Store) Close() error {
	if !s.owner {
		return nil
	}
	if err := s.bucket.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.url, err)
	}
	return nil
}

// checkKey rejects keys that would escape the root or that backends map to different names.
func (s *Store) checkKey(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return "", fmt.Errorf("invalid key %q under %s: want a relative slash-separated path", key, s.url)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("invalid key %q under %s: empty, . and .. segments are not allowed", key, s.url)
		}
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("invalid key %q under %s: control characters are not allowed", key, s.url)
		}
	}
	return s.prefix + key, nil
}

func (s *Store) wrap(op, key string, err error) error {
	if (gcerrors.Code(err) == gcerrors.NotFound && !noSuchBucket(err)) || errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s %s%s%s: %w", op, s.url, key, s.at(), ErrNotFound)
	}
	return Classify(fmt.Errorf("%s %s%s%s: %w", op, s.url, key, s.at(), err))
}

// Classify marks err as fatal (stage.Fatal) when no retry can fix it: the operating system refused for good (a
// full or read-only disk, a denied permission), the object store refused the credentials or the permissions, or
// the bucket does not exist. Other errors (throttling, 5xx, a reset connection) are returned unchanged.
func Classify(err error) error {
	switch {
	case err == nil || stage.IsFatal(err):
		return err
	case noSuchBucket(err):
		return stage.Fatal("no such bucket", "create the bucket, or fix the bucket's name in the path", err)
	case CredentialsRefused(err):
		return stage.Fatal("access denied", "the server refused the credentials: check the s3 access_key_id and secret_access_key, or the bucket's policy", err)
	}
	return stage.OSFault(err)
}

// noSuchBucket tells whether an S3 server answered that the bucket does not exist.
func noSuchBucket(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "NoSuchBucket"
}

// CredentialsRefused tells whether an object store refused a request for its credentials or permissions (a bad
// secret key, an unknown access key, a bucket policy), as S3 and S3-compatible servers report it.
func CredentialsRefused(err error) bool {
	if err == nil {
		return false
	}
	if gcerrors.Code(err) == gcerrors.PermissionDenied {
		return true
	}
	msg := err.Error()
	for _, refused := range []string{"SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "StatusCode: 403"} {
		if strings.Contains(msg, refused) {
			return true
		}
	}
	return false
}

// at names the S3 server in errors (" at http://minio:9000"); local stores need nothing.
func (s *Store) at() string {
	if s.endpoint == "" {
		return ""
	}
	return " at " + s.endpoint
}

// Create opens key for writing. The object becomes visible only when Close returns nil; cancelling ctx before
// Close discards it.
func (s *Store) Create(ctx context.Context, key string) (io.WriteCloser, error) {
	full, err := s.checkKey(key)
	if err != nil {
		return nil, err
	}
	w, err := s.bucket.NewWriter(ctx, full, &blob.WriterOptions{ContentType: contentType(key)})
	if err != nil {
		return nil, s.wrap("create", key, err)
	}
	return &writer{w: w, s: s, key: key}, nil
}

type writer struct {
	w   *blob.Writer
	s   *Store
	key string
}

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		return n, w.s.wrap("write", w.key, err)
	}
	return n, nil
}

func (w *writer) Close() error {
	if err := w.w.Close(); err != nil {
		return w.s.wrap("finish writing", w.key, err)
	}
	return nil
}

func contentType(key string) string {
	switch path.Ext(strings.TrimSuffix(key, ".tmp")) {
	case ".parquet":
		return "application/vnd.apache.parquet"
	case ".json":
		return "application/json"
	}
	return "application/octet-stream"
}

// WriteAll stores data at key in one piece.
func (s *Store) WriteAll(ctx context.Context, key string, data []byte) error {
	full, err := s.checkKey(key)
	if err != nil {
		return err
	}
	if err := s.bucket.WriteAll(ctx, full, data, &blob.WriterOptions{ContentType: contentType(key)}); err != nil {
		return s.wrap("write", key, err)
	}
	return nil
}

// ReadAll returns the content of key; a missing key gives an error wrapping ErrNotFound.
func (s *Store) ReadAll(ctx context.Context, key string) ([]byte, error) {
	full, err := s.checkKey(key)
	if err != nil {
		return nil, err
	}
	b, err := s.bucket.ReadAll(ctx, full)
	if err != nil {
		return nil, s.wrap("read", key, err)
	}
	return b, nil
}

// Exists tells whether key exists.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	full, err := s.checkKey(key)
	if err != nil {
		return false, err
	}
	ok, err := s.bucket.Exists(ctx, full)
	if err != nil {
		return false, s.wrap("check", key, err)
	}
	return ok, nil
}

// Size returns the size of key in bytes.
func (s *Store) Size(ctx context.Context, key string) (int64, error) {
	full, err := s.checkKey(key)
	if err != nil {
		return 0, err
	}
	a, err := s.bucket.Attributes(ctx, full)
	if err != nil {
		return 0, s.wrap("stat", key, err)
	}
	return a.Size, nil
}

// Delete removes key. Deleting a missing key is not an error: callers delete to reach a state, and a retry or a
// racing cleaner may have got there first.
func (s *Store) Delete(ctx context.Context, key string) error {
	full, err := s.checkKey(key)
	if err != nil {
		return err
	}
	if err := s.bucket.Delete(ctx, full); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return s.wrap("delete", key, err)
	}
	return nil
}

// Rename moves from to to, replacing to. Locally it is os.Rename, atomic; on S3 it is a server-side copy then a
// delete, so to appears whole (never partially) but from and to both exist for a moment.
func (s *Store) Rename(ctx context.Context, from, to string) error {
	fullFrom, err := s.checkKey(from)
	if err != nil {
		return err
	}
	fullTo, err := s.checkKey(to)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rename %s%s: %w", s.url, from, err)
	}
	if s.localDir != "" {
		src := filepath.Join(s.localDir, filepath.FromSlash(fullFrom))
		dst := filepath.Join(s.localDir, filepath.FromSlash(fullTo))
		if err := os.MkdirAll(filepath.Dir(dst), 0o777); err != nil {
			return Classify(fmt.Errorf("rename %s%s to %s: %w", s.url, from, to, err))
		}
		if err := os.Rename(src, dst); err != nil {
			return s.wrap("rename "+from+" to", to, err)
		}
		return nil
	}
	if err := s.bucket.Copy(ctx, fullTo, fullFrom, nil); err != nil {
		return s.wrap("copy "+from+" to", to, err)
	}
	if err := s.bucket.Delete(ctx, fullFrom); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return s.wrap("delete after copy", from, err)
	}
	return nil
}

// List returns every object whose key starts with prefix, recursively, in key order.
func (s *Store) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	return s.list(ctx, prefix, false)
}

// ListAll is List with, in a local store, the temporary files of writes in flight: those a killed process
// left behind, which nothing else removes. Delete removes them too. Only a caller that knows no write under
// prefix is in flight may remove what it returns.
func (s *Store) ListAll(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	return s.list(ctx, prefix, true)
}

func (s *Store) list(ctx context.Context, prefix string, inflight bool) ([]ObjectInfo, error) {
	it := s.bucket.List(&blob.ListOptions{Prefix: s.prefix + prefix})
	var out []ObjectInfo
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, Classify(fmt.Errorf("list %s%s%s: %w", s.url, prefix, s.at(), err))
		}
		if obj.IsDir {
			continue
		}
		key := strings.TrimPrefix(obj.Key, s.prefix)
		if !inflight && s.localDir != "" && strings.HasSuffix(key, ".tmp") && isFileblobTemp(key) {
			// A write in flight (fileblob's own temp file next to the target); not an object yet.
			continue
		}
		out = append(out, ObjectInfo{Key: key, Size: obj.Size})
	}
	return out, nil
}

// isFileblobTemp recognises fileblob's "<name>.<hex nanos>.tmp" in-flight files.
func isFileblobTemp(key string) bool {
	base := strings.TrimSuffix(path.Base(key), ".tmp")
	i := strings.LastIndexByte(base, '.')
	if i < 0 || len(base)-i-1 < 8 {
		return false
	}
	for _, c := range base[i+1:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// PruneDirs removes empty directories under prefix in a local store (object stores have none). It leaves
// anything non-empty alone, so it is safe while other writers work elsewhere under the same root.
func (s *Store) PruneDirs(prefix string) error {
	if s.localDir == "" {
		return nil
	}
	root := filepath.Join(s.localDir, filepath.FromSlash(s.prefix+strings.TrimSuffix(prefix, "/")))
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("prune %s%s: %w", s.url, prefix, err)
	}
	// Deepest first, so a parent empties before it is tried.
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i]) // fails, harmlessly, on a non-empty directory
	}
	return nil
}

// RedactURL drops user info (credentials) from a URL for messages.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// CountingWriter counts the bytes written through it to W; with Discard set it drops them instead, so that a
// file being abandoned can still be closed cleanly (its footer written nowhere) and give its memory back. It is
// no io.Closer on purpose: a Parquet writer closing it leaves the object's fate (publish or discard) to the
// caller.
type CountingWriter struct {
	W       io.Writer
	N       int64
	Discard bool
}

func (c *CountingWriter) Write(p []byte) (int, error) {
	if c.Discard {
		return len(p), nil
	}
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}
