package iceberg

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jetflow-dev/jetflow/stage"
)

// TestRESTCatalogRequests checks what the loader sends a REST catalog: the bearer token from the config, the
// custom headers, the warehouse; a failing catalog is reported with its URL and without the token.
func TestRESTCatalogRequests(t *testing.T) {
	var mu sync.Mutex
	var seen []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Clone(context.Background()))
		mu.Unlock()
		if r.URL.Path == "/v1/config" {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"defaults": {}, "overrides": {}}`))
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error": {"message": "catalog down for maintenance", "type": "ServiceUnavailableException", "code": 503}}`))
	}))
	defer srv.Close()
	const token = "rest-token-never-printed"
	l := newLoader(t, t.TempDir(), func(c *Config) {
		c.Catalog = CatalogConfig{Type: "rest", URI: stage.Secret(srv.URL), Warehouse: "lakehouse", Token: token,
			Headers: map[string]string{"X-Tenant": "acme"}}
	})
	_, err := l.LoadTable(context.Background())
	if err == nil {
		t.Fatal("LoadTable succeeded against a catalog that answers 503")
	}
	if !strings.Contains(err.Error(), "catalog down for maintenance") {
		t.Errorf("error %v does not carry the catalog's message", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Fatalf("the error shows the token: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 2 {
		t.Fatalf("the catalog saw %d requests, want the config and the table load", len(seen))
	}
	for _, r := range seen {
		if got := r.Header.Get("Authorization"); got != "Bearer "+token {
			t.Errorf("%s %s: Authorization %q, want the bearer token", r.Method, r.URL.Path, got)
		}
		if got := r.Header.Get("X-Tenant"); got != "acme" {
			t.Errorf("%s %s: X-Tenant %q, want acme", r.Method, r.URL.Path, got)
		}
	}
	if got := seen[0].URL.Query().Get("warehouse"); seen[0].URL.Path != "/v1/config" || got != "lakehouse" {
		t.Errorf("first request %s?%s, want /v1/config?warehouse=lakehouse", seen[0].URL.Path, seen[0].URL.RawQuery)
	}
}
