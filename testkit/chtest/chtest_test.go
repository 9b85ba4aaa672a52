package chtest

import (
	"context"
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
