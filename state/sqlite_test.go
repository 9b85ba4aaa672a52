package state

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// sqliteBackend runs the store suite on SQLite files; a second handle on the same file stands for a second
// process of the same machine.
var sqliteBackend = backend{
	name:      "sqlite",
	precision: time.Millisecond,
	open: func(t *testing.T) (Store, func(t *testing.T) Store) {
		path := filepath.Join(t.TempDir(), "sub", "state.db") // the directory is created on open
		open := func(t *testing.T) Store {
			t.Helper()
			s, err := OpenSQLite(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		return open(t), open
	},
}
