// Package stores opens the state store a pipeline's state: section names. It is the one place that links every
// backend (SQLite and PostgreSQL); the engine and package state import neither, so a program embedding the engine
// with a store of its own links neither.
package stores

import (
	"context"
	"fmt"

	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/state/postgres"
	"github.com/jetflow-dev/jetflow/state/sqlite"
)

// Config chooses a store: the fields of a pipeline's state: section.
type Config struct {
	Type   string // "sqlite" (also when empty) or "postgres"
	Path   string // sqlite: the file
	DSN    string // postgres: the connection string
	Schema string // postgres: the schema of the tables
}

// UnknownTypeError is returned by Open for a Type no backend answers to: a mistake in the pipeline, not an
// unreachable store.
type UnknownTypeError struct{ Type string }

func (e *UnknownTypeError) Error() string {
	return fmt.Sprintf("state.type %q is not known; use sqlite or postgres", e.Type)
}

// Open opens (creating what is missing) the store cfg names.
func Open(ctx context.Context, cfg Config) (state.Store, error) {
	// Each case returns its own nil on failure: a nil *sqlite.Store in the interface would not be a nil Store.
	switch cfg.Type {
	case "", "sqlite":
		s, err := sqlite.Open(ctx, cfg.Path)
		if err != nil {
			return nil, err
		}
		return s, nil
	case "postgres":
		s, err := postgres.Open(ctx, cfg.DSN, postgres.Schema(cfg.Schema))
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, &UnknownTypeError{Type: cfg.Type}
}
