package postgres

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// What the server refuses for good is fatal, so the engine does not retry it; a server that cannot be reached
// is not, since it may come back.
func TestFatalFaults(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.CreateDatabase(t)
	role := fmt.Sprintf("jetflow_nopriv_%d", time.Now().UnixNano())
	exec(t, dsn, `CREATE TABLE present (id int)`, `INSERT INTO present VALUES (1)`,
		`CREATE ROLE `+role+` LOGIN PASSWORD 'nopriv-pw'`)
	t.Cleanup(func() { exec(t, srv.DSN("postgres"), `DROP ROLE IF EXISTS `+role) })
	u, _ := url.Parse(dsn)
	with := func(f func(u *url.URL)) stage.Secret {
		v := *u
		f(&v)
		return stage.Secret(v.String())
	}
	closed := testkit.ClosedAddr(t)
	tests := []struct {
		name   string
		dsn    stage.Secret
		reason string // "" for transient
	}{
		{"wrong password", with(func(u *url.URL) { u.User = url.UserPassword(srv.User, "not-the-password") }), "authentication failed"},
		{"unknown user", with(func(u *url.URL) { u.User = url.UserPassword("nobody_here", "pw") }), "authentication failed"},
		{"missing database", with(func(u *url.URL) { u.Path = "/no_such_database" }), "no such database"},
		{"no privilege", with(func(u *url.URL) { u.User = url.UserPassword(role, "nopriv-pw") }), "permission denied"},
		{"unreachable", with(func(u *url.URL) { u.Host = closed }), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			c := newConsumer(t, mem, Config{DSN: tc.dsn, Table: "present"})
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			err := testkit.ReadErr(ctx, c)
			testkit.AssertFault(t, err, tc.reason)
		})
	}
}
