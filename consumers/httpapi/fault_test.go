package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/testkit"
)

// Refused credentials and permissions are fatal, so the engine stops instead of re-reading every partition;
// what may pass on a retry, or concerns one partition only, is not.
func TestFatalStatuses(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name      string
		responses []func(w http.ResponseWriter, r *http.Request)
		edit      func(c *Config, url string)
		reason    string // "" when not fatal
		requests  int64
	}{
		{name: "401 after a fresh token", responses: []func(http.ResponseWriter, *http.Request){status(401)},
			edit: func(c *Config, _ string) { c.Auth = Auth{Type: "bearer", Token: secretToken} }, reason: "authentication failed", requests: 2},
		{name: "403", responses: []func(http.ResponseWriter, *http.Request){status(403)}, reason: "access denied", requests: 1},
		{name: "oauth2 client refused", responses: []func(http.ResponseWriter, *http.Request){status(401)},
			edit: func(c *Config, url string) {
				c.Auth = Auth{Type: "oauth2", TokenURL: url + "/token", ClientID: "app", ClientSecret: secretOAuth}
			}, reason: "authentication failed", requests: 1},
		{name: "404", responses: []func(http.ResponseWriter, *http.Request){status(404)}, requests: 1},
		{name: "429 until the retries run out", responses: []func(http.ResponseWriter, *http.Request){status(429)}, requests: 4},
		{name: "503 until the retries run out", responses: []func(http.ResponseWriter, *http.Request){status(503)}, requests: 4},
		{name: "connection refused", edit: func(c *Config, _ string) { c.URL = closed.URL }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			responses := tt.responses
			if responses == nil {
				responses = []func(http.ResponseWriter, *http.Request){status(500)}
			}
			srv, n := faultServer(t, responses...)
			cfg := testConfig(srv.URL)
			if tt.edit != nil {
				tt.edit(&cfg, srv.URL)
			}
			c := newConsumer(t, mem, cfg)
			err := readErr(t, c)
			testkit.AssertFault(t, err, tt.reason)
			if got := n.Load(); got != tt.requests {
				t.Errorf("%d requests, want %d", got, tt.requests)
			}
		})
	}
}
