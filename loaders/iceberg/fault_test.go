package iceberg

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/diskfault"
	"github.com/jetflow-dev/jetflow/testkit/restcatalog"
)

// A catalog or storage that refuses for good is fatal at Begin, where the engine meets it, so the engine stops
// instead of asking again for every partition; a catalog that is down for a while is not.
func TestFatalFaults(t *testing.T) {
	answer := func(code int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Path == "/v1/config" {
				w.Write([]byte(`{"defaults": {}, "overrides": {}}`))
				return
			}
			w.WriteHeader(code)
			w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tests := []struct {
		name   string
		edit   func(t *testing.T, c *Config)
		reason string // "" when not fatal
	}{
		{"wrong token", func(t *testing.T, c *Config) {
			srv := restcatalog.Start(t, t.TempDir(), restcatalog.Options{Token: "the-token"})
			c.Catalog = CatalogConfig{Type: "rest", URI: stage.Secret(srv.URL), Warehouse: "lakehouse", Token: "not-the-token"}
		}, "authentication failed"},
		{"wrong client secret", func(t *testing.T, c *Config) {
			srv := restcatalog.Start(t, t.TempDir(), restcatalog.Options{Token: "the-token", ClientID: "jetflow", ClientSecret: "the-secret"})
			c.Catalog = CatalogConfig{Type: "rest", URI: stage.Secret(srv.URL), Warehouse: "lakehouse", Credential: "jetflow:not-the-secret"}
		}, "authentication failed"},
		{"403", func(t *testing.T, c *Config) {
			url := answer(http.StatusForbidden, `{"error": {"message": "no grant on analytics", "type": "ForbiddenException", "code": 403}}`)
			c.Catalog = CatalogConfig{Type: "rest", URI: stage.Secret(url), Warehouse: "lakehouse", Token: "t"}
		}, "access denied"},
		{"503", func(t *testing.T, c *Config) {
			url := answer(http.StatusServiceUnavailable, `{"error": {"message": "maintenance", "type": "ServiceUnavailableException", "code": 503}}`)
			c.Catalog = CatalogConfig{Type: "rest", URI: stage.Secret(url), Warehouse: "lakehouse", Token: "t"}
		}, ""},
		{"warehouse below a file", func(t *testing.T, c *Config) {
			c.Catalog.Warehouse = diskfault.BelowFile(t)
		}, "not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLoader(t, t.TempDir(), func(c *Config) { tc.edit(t, c) })
			_, err := l.Begin(context.Background(), ordersSchema(), testkit.PartitionFor("id[0,100)"))
			testkit.AssertFault(t, err, tc.reason)
		})
	}
}
