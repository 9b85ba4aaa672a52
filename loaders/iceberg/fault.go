package iceberg

import (
	"errors"

	"github.com/apache/iceberg-go/catalog/rest"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/storage"
)

// classify marks err as fatal when the REST catalog refused the credentials (401, or the OAuth2 exchange) or
// the permission (403), or the table's storage refused for good (storage.Classify: S3 credentials, a missing
// bucket, a full or read-only disk): every partition would meet the same refusal. A 5xx, a timeout or a
// commit conflict is returned unchanged, for the retries.
func classify(err error) error {
	switch {
	case err == nil || stage.IsFatal(err):
		return err
	case errors.Is(err, rest.ErrUnauthorized), errors.Is(err, rest.ErrOAuthError), errors.Is(err, rest.ErrAuthorizationExpired):
		return stage.Fatal("authentication failed", "check the catalog's token or credential", err)
	case errors.Is(err, rest.ErrForbidden):
		return stage.Fatal("access denied", "check that the catalog's credentials may load, create and commit the table", err)
	}
	return storage.Classify(err)
}
