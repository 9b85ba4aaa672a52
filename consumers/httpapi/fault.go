package httpapi

import (
	"errors"
	"net/http"

	"github.com/jetflow-dev/jetflow/stage"
)

// classify marks msg, the consumer's error for the failed request err, as fatal when the server refused the
// credentials (401, after one fresh token) or the permission (403), or the token endpoint refused the client: a
// retry of the partition would get the same answer. A 404 stays a partition's failure, since a URL built per
// partition (a fan-out id, a date) may be missing for that one only.
func classify(err, msg error) error {
	var se *statusError
	if errors.As(err, &se) {
		switch se.status {
		case http.StatusUnauthorized:
			return stage.Fatal("authentication failed", "check auth (its token, user and password, key or client credentials)", msg)
		case http.StatusForbidden:
			return stage.Fatal("access denied", "check that the credentials in auth may read this endpoint", msg)
		}
	}
	var pe *permanentError
	if errors.As(err, &pe) { // the token endpoint refused the client; its message says what to check
		return stage.Fatal("authentication failed", "", msg)
	}
	return msg
}
