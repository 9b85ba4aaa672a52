package postgres

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jetflow-dev/jetflow/stage"
)

// fatalStates are the SQLSTATEs that no retry can fix, with what to tell the user (nothing more when the
// connection error already says to check the dsn); the others (a lost connection, a serialization failure, too
// many connections, a shutdown) keep the engine's retries.
var fatalStates = map[string]struct{ reason, hint string }{
	"28P01": {"authentication failed", ""},
	"28000": {"authentication failed", "also check the server's pg_hba.conf"},
	"3D000": {"no such database", ""},
	"42501": {"permission denied", "grant the dsn's user SELECT on the table (or what the query reads)"},
}

// classify marks err, the consumer's message for the driver's error cause, as fatal when cause is one of
// fatalStates.
func classify(cause, err error) error {
	var pe *pgconn.PgError
	if errors.As(cause, &pe) {
		if f, ok := fatalStates[pe.Code]; ok {
			return stage.Fatal(f.reason, f.hint, err)
		}
	}
	return err
}
