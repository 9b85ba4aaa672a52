package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/state/statetest"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// TestMain shares one real PostgreSQL server among the tests (started on first use) and stops it at the end.
func TestMain(m *testing.M) { pgtest.Main(m) }

// TestStore runs the store suite on a fresh database of a real server; the second handle is a second pool, as a
// second machine would have.
func TestStore(t *testing.T) {
	statetest.Run(t, statetest.Backend{
		Name:      "postgres",
		Precision: time.Microsecond,
		Open: func(t *testing.T) (state.Store, func(t *testing.T) state.Store) {
			dsn := pgtest.Start(t).CreateDatabase(t)
			open := func(t *testing.T) state.Store { return openPostgres(t, dsn) }
			return open(t), open
		},
	})
}

func openPostgres(t *testing.T, dsn string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Errors name the database (host, port, database, user) but never the password, whatever went wrong.
func TestPostgresErrorsHideThePassword(t *testing.T) {
	srv := pgtest.Start(t)
	const secret = "s3cr3t-Pa55word"
	good, err := url.Parse(srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	withPassword := func(u url.URL) string { u.User = url.UserPassword(srv.User, secret); return u.String() }
	noDB := *good
	noDB.Path = "/no_such_database"
	tests := []struct {
		name, dsn string
		want      []string // in the message
	}{
		{"wrong password", withPassword(*good), []string{"password authentication failed", srv.User, "127.0.0.1", "postgres"}},
		{"wrong password, key=value DSN", "host=127.0.0.1 port=" + good.Port() + " user=postgres dbname=postgres sslmode=disable password=" + secret,
			[]string{"password authentication failed"}},
		{"quoted key=value password", "host=127.0.0.1 port=" + good.Port() + " user=postgres password='" + secret + "' sslmode=disable",
			[]string{"password authentication failed"}},
		{"unknown database", withPassword(noDB), []string{"no_such_database"}},
		{"unparsable port", "postgres://postgres:" + secret + "@127.0.0.1:notaport/db", []string{"DSN cannot be parsed"}},
		{"unknown sslmode", "postgres://postgres:" + secret + "@127.0.0.1/db?sslmode=sometimes", []string{"DSN cannot be parsed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.dsn)
			if err == nil {
				s.Close()
				t.Fatal("open succeeded")
			}
			msg := err.Error()
			if strings.Contains(msg, secret) {
				t.Fatalf("the error shows the password: %s", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
}

func TestPostgresSchemas(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.Start(t).CreateDatabase(t)
	tests := []struct {
		name   string
		opts   []Option
		schema string
	}{
		{"default", nil, DefaultSchema},
		{"named", []Option{Schema("etl_state")}, "etl_state"},
		{"needs quoting", []Option{Schema(`Odd "schema"; DROP TABLE x`)}, `Odd "schema"; DROP TABLE x`},
	}
	for _, tt := range tests {
		s := openPostgres(t, dsn, tt.opts...)
		// Each schema is its own store: a watermark set in one is absent from the others.
		if _, ok, err := s.Watermark(ctx, "p", "w"); ok || err != nil {
			t.Fatalf("%s: a fresh schema holds a watermark (%v, %v)", tt.name, ok, err)
		}
		if err := s.SetWatermark(ctx, "p", "w", tt.name); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Claim(ctx, state.Claim{Pipeline: "p", RunLabel: "r", ID: "x", Key: "k", Owner: "a", Lease: time.Minute}); err != nil {
			t.Fatalf("%s: claim: %v", tt.name, err)
		}
		var n int
		if err := pgScan(ctx, dsn, `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, &n, tt.schema); err != nil || n != len(pgTables) {
			t.Fatalf("%s: %d tables in schema %q (%v), want %v", tt.name, n, tt.schema, err, pgTables)
		}
	}
	if _, err := Open(ctx, dsn, Schema("")); err == nil || !strings.Contains(err.Error(), "schema name is empty") {
		t.Fatalf("empty schema name: %v", err)
	}
}

// The pods of an Indexed Job start at once: all of them must open the store, though only one creates its tables.
func TestPostgresConcurrentOpen(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(t.Context(), dsn)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// Where a DBA created the tables and granted only reads and writes, the store opens and works without CREATE.
func TestPostgresWithoutCreatePrivilege(t *testing.T) {
	ctx := t.Context()
	srv := pgtest.Start(t)
	dsn := srv.CreateDatabase(t)
	openPostgres(t, dsn).Close() // the DBA's one-time setup
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	role := strings.TrimPrefix(u.Path, "/") + "_worker"
	r, db := pgx.Identifier{role}.Sanitize(), pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()
	for _, q := range []string{
		"CREATE ROLE " + r + " LOGIN PASSWORD 'worker-pw'",
		"REVOKE ALL ON DATABASE " + db + " FROM PUBLIC",
		"GRANT CONNECT ON DATABASE " + db + " TO " + r,
		"REVOKE CREATE ON SCHEMA public FROM PUBLIC",
		"GRANT USAGE ON SCHEMA jetflow TO " + r,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA jetflow TO " + r,
	} {
		if err := pgExec(ctx, dsn, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		// Roles belong to the whole server: drop this one, and first its privileges, which pin it.
		ctx := context.Background()
		if err := errors.Join(pgExec(ctx, dsn, "DROP OWNED BY "+r), pgExec(ctx, srv.DSN("postgres"), "DROP ROLE "+r)); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	u.User = url.UserPassword(role, "worker-pw")
	s := openPostgres(t, u.String())
	if _, err := s.Claim(ctx, state.Claim{Pipeline: "p", RunLabel: "r", ID: "x", Key: "k", Owner: "a", Lease: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, state.Partition{Pipeline: "p", RunLabel: "r", ID: "x", Key: "k", Lane: "0", Checkpoint: "c"}); err != nil {
		t.Fatal(err)
	}
	// A schema the role may not create is reported with what to do.
	_, err = Open(ctx, u.String(), Schema("other"))
	if err == nil || !strings.Contains(err.Error(), "CREATE privilege") {
		t.Fatalf("open in a schema the role cannot create: %v", err)
	}
}

func pgExec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func pgScan(ctx context.Context, dsn, sql string, dst any, args ...any) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql, args...).Scan(dst)
}

// Claims behave the same where an administrator made SERIALIZABLE the database's default isolation.
func TestPostgresSerializableDefault(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()
	if err := pgExec(t.Context(), dsn, "ALTER DATABASE "+db+" SET default_transaction_isolation = 'serializable'"); err != nil {
		t.Fatal(err)
	}
	open := func(t *testing.T) state.Store { return openPostgres(t, dsn) }
	statetest.ConcurrentClaims(t, open(t), open)
}

// Claim and Commit send their transaction as one batch. A statement that fails in it (text PostgreSQL rejects:
// invalid UTF-8) must leave nothing of the transaction behind, and the store must go on working: the pool drops
// the connection whose transaction was aborted instead of handing it to the next caller.
func TestPostgresFailedBatchCommitsNothing(t *testing.T) {
	ctx := t.Context()
	s := openPostgres(t, pgtest.Start(t).CreateDatabase(t))
	c := state.Claim{Pipeline: "p", RunLabel: "r", ID: "x", Key: "k", Lane: "lane", Owner: "a", Lease: time.Minute}
	if _, err := s.Claim(ctx, c); err != nil {
		t.Fatal(err)
	}
	// The partition's upsert succeeds, the checkpoint's insert after it fails: the partition stays running.
	bad := state.Partition{Pipeline: "p", RunLabel: "r", ID: "x", Key: "k", Lane: "lane", Attempts: 1, Rows: 5,
		Checkpoint: "offset \xff", Owner: "a"}
	if err := s.Commit(ctx, bad); err == nil || !strings.Contains(err.Error(), "commit partition x") {
		t.Fatalf("commit with an invalid checkpoint: got %v, want an error naming the partition", err)
	}
	if p, _, err := s.Get(ctx, "p", "x"); err != nil || p.Status != state.StatusRunning || p.Rows != 0 {
		t.Fatalf("after the failed commit: %+v, %v; want the partition still running with no rows", p, err)
	}
	if _, ok, err := s.Checkpoint(ctx, "p", "lane"); err != nil || ok {
		t.Fatalf("after the failed commit: checkpoint found=%v, %v; want none", ok, err)
	}
	badClaim := c
	badClaim.ID, badClaim.Owner = "y", "b\xff"
	if _, err := s.Claim(ctx, badClaim); err == nil || errors.Is(err, state.ErrLeased) {
		t.Fatalf("claim with an invalid owner: got %v, want a database error", err)
	}
	if _, ok, err := s.Get(ctx, "p", "y"); err != nil || ok {
		t.Fatalf("after the failed claim: found=%v, %v; want no record", ok, err)
	}
	// More calls than the pool has connections: none gets a connection left in an aborted transaction.
	for i := range 10 {
		c := c
		c.ID = fmt.Sprintf("after-%d", i)
		if _, err := s.Claim(ctx, c); err != nil {
			t.Fatalf("claim %d after the failures: %v", i, err)
		}
		good := state.Partition{Pipeline: "p", RunLabel: "r", ID: c.ID, Key: "k", Lane: "lane", Attempts: 1, Checkpoint: fmt.Sprint(i), Owner: "a"}
		if err := s.Commit(ctx, good); err != nil {
			t.Fatalf("commit %d after the failures: %v", i, err)
		}
	}
	if cp, _, err := s.Checkpoint(ctx, "p", "lane"); err != nil || cp != "9" {
		t.Fatalf("checkpoint after the commits: %q, %v; want 9", cp, err)
	}
}

// A store made by an older jetflow (before the worker column and the attempts table) opens: the column and the
// table are added once, what the older version recorded reads with worker 0, and new claims record their worker
// and attempt.
func TestOpenAddsColumnsToAnOlderStore(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.Start(t).CreateDatabase(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	// The tables as the first version made them.
	q := newPgQueries(DefaultSchema)
	v1 := strings.Replace(q.create, "\tworker      integer NOT NULL DEFAULT 0,\n", "", 1)
	v1, _, found := strings.Cut(v1, "CREATE TABLE IF NOT EXISTS "+pgx.Identifier{DefaultSchema, "attempts"}.Sanitize())
	if v1 == q.create || !found {
		t.Fatal("the test no longer finds the worker column or the attempts table in the tables' definition")
	}
	for _, stmt := range []string{q.schema, v1, `INSERT INTO jetflow.partitions (pipeline, id, run_label, key, idx, status, attempts, rows, owner)
		VALUES ('p', 'old', '2026-11-21', 'k', 0, 'committed', 1, 5, 'h:1')`} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close(ctx)
	for i := range 2 { // the second open finds the column there; its claim is the second attempt
		s := openPostgres(t, dsn)
		if _, err := s.Claim(ctx, state.Claim{Pipeline: "p", RunLabel: "2026-11-22", ID: "new", Key: "k", Owner: "h:2", Worker: 3, Lease: time.Minute}); err != nil {
			t.Fatal(err)
		}
		recs, err := s.List(ctx, "p", "")
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || recs[0].ID != "old" || recs[0].Worker != 0 || recs[0].Rows != 5 || recs[1].Worker != 3 {
			t.Fatalf("records after the upgrade: %+v", recs)
		}
		if as, err := s.Attempts(ctx, "p", "2026-11-22"); err != nil || len(as) != i+1 || as[i].Worker != 3 {
			t.Fatalf("attempts after the upgrade: %+v, %v", as, err)
		}
		s.Close()
	}
}
