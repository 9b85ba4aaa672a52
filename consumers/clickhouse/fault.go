package clickhouse

import (
	"github.com/ClickHouse/ch-go"
	"github.com/ClickHouse/ch-go/proto"

	"github.com/jetflow-dev/jetflow/stage"
)

// classify marks msg, the consumer's error for the server's error err, as fatal when the server refused the
// login, does not have the database, or refuses the user access: a retry would get the same answer. Other
// exceptions (a memory limit, too many queries) and lost connections are returned unchanged.
func classify(err, msg error) error {
	ex, ok := ch.AsException(err)
	switch {
	case !ok:
		return msg
	case ex.IsCode(proto.ErrAuthenticationFailed, proto.ErrWrongPassword, proto.ErrUnknownUser, proto.ErrRequiredPassword,
		proto.ErrIPAddressNotAllowed):
		return stage.Fatal("authentication failed", "", msg) // msg says what to check
	case ex.IsCode(proto.ErrUnknownDatabase):
		return stage.Fatal("no such database", "check the consumer's database", msg)
	case ex.IsCode(proto.ErrAccessDenied, proto.ErrDatabaseAccessDenied):
		return stage.Fatal("permission denied", "grant the user SELECT on the table (or what the query reads)", msg)
	}
	return msg
}
