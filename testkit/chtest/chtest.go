// Package chtest starts a real ClickHouse server for tests, from Debian's clickhouse-server package (18.16), in a
// temporary directory, on free ports of 127.0.0.1. One server serves a whole test binary; each test gets a fresh
// database of its own:
//
//	func TestMain(m *testing.M) { chtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		srv := chtest.Start(t)
//		db := srv.CreateDatabase(t)
//		srv.Exec(t, db, "CREATE TABLE t (x UInt64) ENGINE = MergeTree ORDER BY x")
//		...
//	}
//
// LowCardinality columns, experimental in 18.16, are allowed in every session. Two users exist:
// "default" without a password, and User with Password (to test a wrong one). The server is a
// child of the test binary and gets SIGTERM through the parent-death signal if the binary dies before Main's
// cleanup runs.
//
// Stock ch-go v0.74.0 cannot run queries against 18.16 (it sends the client-info block of a query only from
// protocol revision 54420, the server reads it from 54032 on, and the query fails with UNKNOWN_SETTING):
// tests that query the server are built with the tag chserver and run through gotest-patched.sh, which patches
// that one condition in a copy of ch-go. Exec and Query here go through the server's HTTP interface, which
// needs no patch.
package chtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sharedsrv "github.com/jetflow-dev/jetflow/testkit/shared"
)

// Binary is where Debian's clickhouse-server package installs the server.
const Binary = "/usr/sbin/clickhouse-server"

// ErrNotInstalled says the server is missing and how to install it.
var ErrNotInstalled = errors.New("clickhouse-server not found at " + Binary +
	": install it with `apt-get install -y clickhouse-server clickhouse-client` (CI's .ci/run does)")

// Server is a running ClickHouse server owned by the test binary.
type Server struct {
	Host     string // always 127.0.0.1
	TCPPort  int    // native protocol
	TLSPort  int    // native protocol over TLS, with a self-signed certificate for 127.0.0.1
	CAFile   string // PEM of that certificate, which verifies it
	HTTPPort int
	User     string // a user with a password: "jetflow"
	Password string

	dir  string
	proc *sharedsrv.Proc
	seq  atomic.Int64
	stop sync.Once
	errs error
}

// Addr is host:port of the native protocol.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.TCPPort)) }

// TLSAddr is host:port of the native protocol over TLS.
func (s *Server) TLSAddr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.TLSPort)) }

// The server shared by the tests of one binary: started by the first Start, stopped by Main after the tests.
var shared = sharedsrv.New("chtest", "ClickHouse", StartServer, (*Server).Stop)

// Main runs the tests and then stops the server Start shared among them (if any test started it). Call it from
// TestMain.
func Main(m *testing.M) { shared.Main(m) }

// Start returns the server shared by the tests of this binary, starting it on first use. It fails the test when
// ClickHouse is not installed or does not start. The package's TestMain must call Main, which stops the server.
func Start(t testing.TB) *Server {
	t.Helper()
	return shared.Get(t)
}

// CreateDatabase creates an empty database for this test, dropped when the test ends, and returns its name.
func (s *Server) CreateDatabase(t testing.TB) string {
	t.Helper()
	name := sharedsrv.DBName(t.Name(), s.seq.Add(1), 63)
	if _, err := s.Query(context.Background(), "", "CREATE DATABASE "+name); err != nil {
		t.Fatalf("chtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if _, err := s.Query(context.Background(), "", "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("chtest: drop database %s: %v", name, err)
		}
	})
	return name
}

// Exec runs statements in database over HTTP, failing the test on an error.
func (s *Server) Exec(t testing.TB, database string, sqls ...string) {
	t.Helper()
	for _, q := range sqls {
		if _, err := s.Query(context.Background(), database, q); err != nil {
			t.Fatalf("chtest: %v", err)
		}
	}
}

// Query runs one statement in database over HTTP and returns the response body (TabSeparated by default).
func (s *Server) Query(ctx context.Context, database, sql string) (string, error) {
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(s.Host, strconv.Itoa(s.HTTPPort)), Path: "/"}
	q := url.Values{}
	if database != "" {
		q.Set("database", database)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(sql))
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("query %q: %w", short(sql), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("query %q: %w", short(sql), err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("query %q: %s: %s", short(sql), resp.Status, strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

func short(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// Stop shuts the server down and removes its files.
func (s *Server) Stop() error {
	s.stop.Do(func() {
		s.errs = s.shutdown()
		if err := os.RemoveAll(s.dir); err != nil {
			s.errs = errors.Join(s.errs, fmt.Errorf("remove %s: %w", s.dir, err))
		}
	})
	return s.errs
}

func (s *Server) shutdown() error {
	return s.proc.Stop(syscall.SIGTERM, 30*time.Second, "clickhouse-server in "+s.dir)
}

// StartServer starts a server of its own (for a TestMain or a benchmark that manages it); Stop stops it.
func StartServer(ctx context.Context) (*Server, error) {
	if _, err := os.Stat(Binary); err != nil {
		return nil, ErrNotInstalled
	}
	dir, err := os.MkdirTemp("", "jetflow-chtest-")
	if err != nil {
		return nil, fmt.Errorf("chtest: temporary directory: %w", err)
	}
	s := &Server{Host: "127.0.0.1", User: "jetflow", Password: "jetflow-test-password", dir: dir}
	// A free port can be taken between our probe and the server binding it: try a few times.
	for try := 0; ; try++ {
		err = s.run(ctx)
		if err == nil {
			return s, nil
		}
		if try == 2 || !strings.Contains(s.logTail(), "Address already in use") {
			s.Stop()
			return nil, err
		}
	}
}

const configXML = `<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>{{dir}}/server.log</log>
        <errorlog>{{dir}}/server.err.log</errorlog>
        <console>0</console>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>{{tcp}}</tcp_port>
    <tcp_port_secure>{{tls}}</tcp_port_secure>
    <openSSL>
        <server>
            <certificateFile>{{dir}}/cert.pem</certificateFile>
            <privateKeyFile>{{dir}}/key.pem</privateKeyFile>
            <verificationMode>none</verificationMode>
            <loadDefaultCAFile>false</loadDefaultCAFile>
            <cacheSessions>true</cacheSessions>
            <disableProtocols>sslv2,sslv3</disableProtocols>
            <preferServerCiphers>true</preferServerCiphers>
        </server>
    </openSSL>
    <http_port>{{http}}</http_port>
    <interserver_http_port>{{inter}}</interserver_http_port>
    <max_connections>256</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>8589934592</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>{{dir}}/data/</path>
    <tmp_path>{{dir}}/tmp/</tmp_path>
    <user_files_path>{{dir}}/user_files/</user_files_path>
    <format_schema_path>{{dir}}/format_schemas/</format_schema_path>
    <users_config>{{dir}}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
`

const usersXML = `<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
            <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <{{user}}>
            <password>{{password}}</password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </{{user}}>
    </users>
    <quotas>
        <default>
            <interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval>
        </default>
    </quotas>
</yandex>
`

// run starts clickhouse-server as a child of the test binary and waits until GET /ping answers.
func (s *Server) run(ctx context.Context) error {
	var ports [4]int
	for i := range ports {
		p, err := sharedsrv.FreePort()
		if err != nil {
			return fmt.Errorf("chtest: find a free port: %w", err)
		}
		ports[i] = p
	}
	s.TCPPort, s.HTTPPort, s.TLSPort = ports[0], ports[1], ports[3]
	if err := s.writeCert(); err != nil {
		return err
	}
	r := strings.NewReplacer("{{dir}}", s.dir, "{{tcp}}", strconv.Itoa(ports[0]), "{{http}}", strconv.Itoa(ports[1]),
		"{{inter}}", strconv.Itoa(ports[2]), "{{tls}}", strconv.Itoa(ports[3]), "{{user}}", s.User, "{{password}}", s.Password)
	cfg := filepath.Join(s.dir, "config.xml")
	if err := os.WriteFile(cfg, []byte(r.Replace(configXML)), 0o644); err != nil {
		return fmt.Errorf("chtest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "users.xml"), []byte(r.Replace(usersXML)), 0o644); err != nil {
		return fmt.Errorf("chtest: %w", err)
	}
	out, err := os.OpenFile(filepath.Join(s.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("chtest: %w", err)
	}
	defer out.Close()
	cmd := exec.Command(Binary, "--config-file="+cfg)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "TZ=UTC")
	cmd.Stdout, cmd.Stderr = out, out
	proc, err := sharedsrv.StartProc(cmd, syscall.SIGTERM)
	if err != nil {
		return fmt.Errorf("chtest: start %s: %w", Binary, err)
	}
	s.proc = proc

	ping := "http://" + net.JoinHostPort(s.Host, strconv.Itoa(s.HTTPPort)) + "/ping"
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		req, _ := http.NewRequestWithContext(cctx, http.MethodGet, ping, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		cancel()
		if err == nil && resp.StatusCode == http.StatusOK {
			return nil
		}
		select {
		case <-proc.Exited():
			return fmt.Errorf("chtest: clickhouse-server exited at start (%s):\n%s", proc.State(), s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("chtest: clickhouse-server does not answer %s after 60s (%v):\n%s", ping, err, s.logTail())
		}
	}
}

// writeCert makes a self-signed certificate for 127.0.0.1 (its own CA) and its key.
func (s *Server) writeCert() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("chtest: key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "jetflow chtest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("chtest: certificate: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("chtest: key: %w", err)
	}
	s.CAFile = filepath.Join(s.dir, "cert.pem")
	if err := os.WriteFile(s.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("chtest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return fmt.Errorf("chtest: %w", err)
	}
	return nil
}

// logTail is the end of the server's logs, for error messages.
func (s *Server) logTail() string {
	var b strings.Builder
	for _, f := range []string{"server.err.log", "stdout.log"} {
		data, _ := os.ReadFile(filepath.Join(s.dir, f))
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}
		b.Write(data)
	}
	return b.String()
}
