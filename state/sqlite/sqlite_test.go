package sqlite

import (
	"context"
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
