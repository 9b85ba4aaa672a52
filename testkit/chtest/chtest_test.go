package chtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func TestServer(t *testing.T) {
	s := Start(t)
	db := s.CreateDatabase(t)
	s.Exec(t, db, "CREATE TABLE t (x UInt64) ENGINE = MergeTree ORDER BY x", "INSERT INTO t SELECT number FROM system.numbers LIMIT 10")
	got, err := s.Query(context.Background(), db, "SELECT sum(x), version() FROM t")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "45\t18.") {
		t.Fatalf("got %q, want the sum 45 from an 18.x server", got)
	}
	if _, err := s.Query(context.Background(), db, "SELECT * FROM missing"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("a query on a missing table: got %v", err)
	}
}

// The TLS port answers a handshake verified with CAFile.
func TestTLS(t *testing.T) {
	s := Start(t)
	pemBytes, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	conn, err := tls.Dial("tcp", s.TLSAddr(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", s.TLSAddr(), err)
	}
	conn.Close()
}
