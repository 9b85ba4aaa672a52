//go:build chserver

package clickhouse

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/chtest"
)

// A refused login and a missing database are fatal, so the engine does not log in again for every partition;
// a server that is down, or a missing table, is not.
func TestFatalFaults(t *testing.T) {
	srv := chtest.Start(t)
	db := srv.CreateDatabase(t)
	srv.Exec(t, db, "CREATE TABLE t (id UInt64) ENGINE = MergeTree ORDER BY id", "INSERT INTO t VALUES (1)")
	downAddr := testkit.ClosedAddr(t)
	tests := []struct {
		name   string
		cfg    Config
		reason string // "" when not fatal
	}{
		{"wrong password", Config{Addr: srv.Addr(), Database: db, User: srv.User, Password: "not-the-password", Table: "t"}, "authentication failed"},
		{"unknown user", Config{Addr: srv.Addr(), Database: db, User: "nobody", Table: "t"}, "authentication failed"},
		{"unknown database", Config{Addr: srv.Addr(), Database: "no_such_db", Table: "t"}, "no such database"},
		{"server down", Config{Addr: downAddr, Database: db, Table: "t"}, ""},
		{"unknown table", Config{Addr: srv.Addr(), Database: db, Table: "missing"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			err := readErr(t, newConsumer(t, mem, tc.cfg))
			testkit.AssertFault(t, err, tc.reason)
		})
	}
}
