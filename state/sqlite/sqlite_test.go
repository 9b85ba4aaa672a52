package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/state/statetest"
)

// TestStore runs the store suite on SQLite files; a second handle on the same file stands for a second process of
// the same machine.
func TestStore(t *testing.T) {
	statetest.Run(t, statetest.Backend{
		Name:      "sqlite",
		Precision: time.Millisecond,
		Open: func(t *testing.T) (state.Store, func(t *testing.T) state.Store) {
			path := filepath.Join(t.TempDir(), "sub", "state.db") // the directory is created on open
			open := func(t *testing.T) state.Store {
				t.Helper()
				s, err := Open(context.Background(), path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			return open(t), open
		},
	})
}

// A store made by an older jetflow (before the worker column and the attempts table) opens: the column and the
// table are added, what the older version recorded reads with worker 0, and new claims record their worker and
// attempt.
func TestOpenAddsColumnsToAnOlderStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	old, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	const v1 = `CREATE TABLE partitions (pipeline TEXT NOT NULL, id TEXT NOT NULL, run_label TEXT NOT NULL, key TEXT NOT NULL,
		idx INTEGER NOT NULL, lane TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
		rows INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0, fingerprint TEXT NOT NULL DEFAULT '',
		tokens TEXT NOT NULL DEFAULT '', checkpoint TEXT NOT NULL DEFAULT '', owner TEXT NOT NULL DEFAULT '',
		lease_until INTEGER NOT NULL DEFAULT 0, started_at INTEGER NOT NULL DEFAULT 0, finished_at INTEGER NOT NULL DEFAULT 0,
		error TEXT NOT NULL DEFAULT '', PRIMARY KEY (pipeline, id));
		INSERT INTO partitions (pipeline, id, run_label, key, idx, status, attempts, rows, owner, started_at, finished_at)
		VALUES ('p', 'old', '2026-11-21', 'k', 0, 'committed', 1, 5, 'h:1', 1000, 2000);`
	if _, err := old.ExecContext(ctx, v1); err != nil {
		t.Fatal(err)
	}
	old.Close()
	for i := range 2 { // the second open finds the column there; its claim is the second attempt
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Claim(ctx, state.Claim{Pipeline: "p", RunLabel: "2026-11-22", ID: "new", Key: "k", Owner: "h:2", Worker: 3, Lease: time.Minute}); err != nil {
			t.Fatal(err)
		}
		recs, err := s.List(ctx, "p", "")
		as, aerr := s.Attempts(ctx, "p", "2026-11-22")
		s.Close()
		if err != nil || aerr != nil {
			t.Fatal(err, aerr)
		}
		if len(as) != i+1 || as[i].Worker != 3 {
			t.Fatalf("attempts after the upgrade: %+v", as)
		}
		if len(recs) != 2 || recs[0].ID != "old" || recs[0].Worker != 0 || recs[0].Rows != 5 || recs[1].Worker != 3 {
			t.Fatalf("records after the upgrade: %+v", recs)
		}
	}
}
