package iceberg

import (
	"net/http"
	"strings"

	"github.com/jetflow-dev/jetflow/stage"
)

// tokenSpy is the REST catalog's transport: iceberg-go exchanges credential for an OAuth token internally and
// never hands it out, so the token is taken from the Authorization header of each request and registered with
// the pipeline's redactor before the request leaves, in case a server or a library echoes it.
func tokenSpy(red *stage.Redactor) http.RoundTripper {
	base := http.DefaultTransport.(*http.Transport).Clone()
	if red == nil {
		return base
	}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if auth := r.Header.Get("Authorization"); auth != "" {
			_, token, _ := strings.Cut(auth, " ")
			red.Add(auth, token)
		}
		return base.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
