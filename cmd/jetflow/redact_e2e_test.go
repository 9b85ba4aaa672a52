package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
	"github.com/jetflow-dev/jetflow/testkit/restcatalog"
)

// outputs are every place a run writes text to: stdout, stderr, the --report JSON and the state database.
type outputs map[string]string

// runOutputs runs `jetflow run` on dir/p.yaml with --report and returns what it wrote, everywhere.
func runOutputs(t *testing.T, dir string, env []string, want int) outputs {
	t.Helper()
	r := jetflow(t, dir, env, "run", "p.yaml", "--run", "2026-11-22", "--report", "report.json").must(t, want)
	out := outputs{"stdout": r.stdout, "stderr": r.stderr}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatalf("no report: %v\nstderr:\n%s", err, r.stderr)
	}
	out["report"] = string(b)
	// The raw bytes of the SQLite file and its journals: whatever the store keeps, in any table.
	files, _ := filepath.Glob(filepath.Join(dir, ".jetflow", "state.db*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out["state"] += string(b)
	}
	return out
}

// assertRedacted checks that no output holds a secret, and that those named in echoed show [REDACTED]: the
// secret did reach them, so the check could fail.
func (o outputs) assertRedacted(t *testing.T, secrets []string, echoed ...string) {
	t.Helper()
	for where, text := range o {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the secret %q:\n%s", where, s, text)
			}
		}
	}
	for _, where := range echoed {
		if !strings.Contains(o[where], "[REDACTED]") {
			t.Errorf("%s shows no [REDACTED]: the secret did not reach it, so this test checks nothing there:\n%s", where, o[where])
		}
	}
}

// TestRedactHTTPAPIEcho runs an API pipeline against a server that answers 500 with the whole request — headers,
// query and body — in its error page: no output shows the secrets the pipeline sent, even the header value that
// the consumer's own redact list cannot catch once the server echoes it in a body.
func TestRedactHTTPAPIEcho(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "failed: X-Custom-Key=%s body=%s url=%s", r.Header.Get("X-Custom-Key"), body, r.URL.RequestURI())
	}))
	defer srv.Close()
	secrets := []string{"hdr-s3cret-value", "query-s3cret-value", "body-s3cret-value"}
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", `name: echo
retries: { attempts: 1 }
consumer:
  type: httpapi
  url: ${API}/items
  method: POST
  headers: { X-Custom-Key: "${HDR_SECRET}" }
  params: { sig: "${Q_SECRET}" }
  body: '{"password": "${BODY_SECRET}"}'
  redact: [X-Custom-Key]
  retries: 0
  schema: [{ name: id, type: int64 }]
loaders:
  - type: parquet
    path: out
`)
	env := []string{"API=" + srv.URL, "HDR_SECRET=" + secrets[0], "Q_SECRET=" + secrets[1], "BODY_SECRET=" + secrets[2]}
	runOutputs(t, dir, env, exitFailed).assertRedacted(t, secrets, "stdout", "stderr", "report", "state")
}

// TestRedactStageSecrets makes each stage fail with its secrets in play — a PostgreSQL password refused, S3 keys
// sent to a server that echoes the request's Authorization header in its error — and checks every output.
func TestRedactStageSecrets(t *testing.T) {
	pg := pgtest.Start(t)
	s3echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>denied: %s</Message></Error>`,
			html.EscapeString(r.Header.Get("Authorization")))
	}))
	defer s3echo.Close()
	// A REST catalog that exchanges the credential for its token, then answers every other request with a 500
	// echoing the Authorization header: the token iceberg-go obtained internally, never written in the pipeline.
	const issued = "issued-oauth-token-never-configured"
	rc := restcatalog.Start(t, t.TempDir(), restcatalog.Options{Token: issued, ClientID: "jetflow", ClientSecret: "rest-client-s3cret"})
	rcURL, _ := url.Parse(rc.URL)
	proxy := httputil.NewSingleHostReverseProxy(rcURL)
	restEcho := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/oauth/tokens") || strings.HasSuffix(r.URL.Path, "/config") {
			proxy.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": 500, "type": "ServerError",
			"message": "echo: Authorization=" + r.Header.Get("Authorization")}})
	}))
	defer restEcho.Close()
	kc := kafkatest.Start(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "jetflow", "right-kafka-password"))
	for _, tc := range []struct {
		name     string
		pipeline string
		env      []string
		secrets  []string
		code     int
		echoed   []string // outputs the secret reaches (then shown as [REDACTED])
	}{{
		name: "postgres password",
		pipeline: `name: pgpw
consumer:
  type: postgres
  dsn: ${PG_DSN}
  table: public.t
loaders: [{ type: parquet, path: out }]
`,
		env:     []string{"PG_DSN=postgres://postgres:wrong-pg-password@" + net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)) + "/postgres?sslmode=disable"},
		secrets: []string{"wrong-pg-password"},
		code:    exitError,
	}, {
		name: "s3 keys",
		pipeline: `name: s3keys
retries: { attempts: 1 }
consumer:
  type: generate
  rows: 10
  columns: [{ name: id, type: int64, sequence: true }]
loaders:
  - type: parquet
    path: s3://lake/keys
    s3:
      endpoint: ${S3_ENDPOINT}
      path_style: true
      access_key_id: ${S3_KEY}
      secret_access_key: ${S3_SECRET}
`,
		env:     []string{"S3_ENDPOINT=" + s3echo.URL, "S3_KEY=AKIDECHOEDBACK", "S3_SECRET=s3-secret-never-sent"},
		secrets: []string{"AKIDECHOEDBACK", "s3-secret-never-sent"},
		code:    exitError, // AccessDenied is fatal: the run stops at once
		echoed:  []string{"stdout", "stderr", "report", "state"},
	}, {
		name: "iceberg rest token",
		pipeline: `name: icerest
retries: { attempts: 1 }
consumer:
  type: generate
  rows: 10
  columns: [{ name: id, type: int64, sequence: true }]
loaders:
  - type: iceberg
    catalog: { type: rest, uri: "${REST_URI}", credential: "${REST_CRED}", warehouse: wh }
    table: lake.t
`,
		env:     []string{"REST_URI=" + restEcho.URL, "REST_CRED=jetflow:rest-client-s3cret"},
		secrets: []string{issued, "rest-client-s3cret"},
		code:    exitFailed,
		echoed:  []string{"stdout", "stderr", "report", "state"},
	}, {
		name: "kafka sasl password",
		pipeline: `name: kafkasasl
retries: { attempts: 1 }
consumer:
  type: kafka
  brokers: ["${BROKERS}"]
  topics: [events]
  sasl: { mechanism: plain, user: jetflow, password: "${KAFKA_PASSWORD}" }
  schema: [{ name: id, type: int64 }]
loaders: [{ type: parquet, path: out }]
`,
		env:     []string{"BROKERS=" + kc.Brokers(), "KAFKA_PASSWORD=wrong-kafka-password"},
		secrets: []string{"wrong-kafka-password"},
		code:    exitError,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "p.yaml", tc.pipeline)
			runOutputs(t, dir, tc.env, tc.code).assertRedacted(t, tc.secrets, tc.echoed...)
		})
	}
}

// TestValidateWarnsAboutInlineSecrets: a password in a DSN literal is valid, but validate says where it is and
// what to write instead, and the run's outputs still never show it.
func TestValidateWarnsAboutInlineSecrets(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", `name: inline
consumer:
  type: postgres
  dsn: postgres://app:inline-pg-password@127.0.0.1:1/db
  table: t
loaders: [{ type: parquet, path: out }]
`)
	code, stdout, stderr := runCLI(t, dir, "validate", "p.yaml")
	want := "p.yaml:4:8: warning: consumer.dsn: the password of this URL is written in the file: write ${VAR}"
	if code != exitOK || !strings.Contains(stderr, want) || !strings.Contains(stdout, "p.yaml: ok") {
		t.Errorf("exit %d, want 0 and the warning %q\nstdout:\n%s\nstderr:\n%s", code, want, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "inline-pg-password") {
		t.Errorf("validate shows the password:\n%s%s", stdout, stderr)
	}
}
