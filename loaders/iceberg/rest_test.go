package iceberg

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/restcatalog"
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

// TestRESTCatalogEndToEnd loads partitions into a table through a REST catalog server (testkit/restcatalog:
// iceberg-go's SQL catalog behind the REST protocol, since no third-party server installs here), with OAuth2
// client credentials exchanged for a token and a required header: the table is created through the catalog,
// every commit goes through it, a re-run of a committed partition replaces its rows, and iceberg-go's scanner
// reads back every row once.
func TestRESTCatalogEndToEnd(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const secret = "client-secret-never-printed"
	srv := restcatalog.Start(t, t.TempDir(), restcatalog.Options{Token: "issued-token", ClientID: "jetflow", ClientSecret: secret,
		Headers: map[string]string{"X-Tenant": "acme"}})
	rest := func(c *Config) {
		c.Catalog = CatalogConfig{Type: "rest", URI: stage.Secret(srv.URL), Warehouse: "lakehouse", Credential: stage.Secret("jetflow:" + secret),
			Scope: "catalog", Headers: map[string]string{"X-Tenant": "acme"}}
		c.PartitionBy = []string{"day(updated_at)", "identity(tenant_id)"}
	}
	l := newLoader(t, t.TempDir(), rest)
	var want []arrow.RecordBatch
	for i := range 3 {
		rec := orders(t, mem, i*100, 100)
		want = append(want, rec)
		load(t, l, fmt.Sprintf("id[%d,%d)", i*100, i*100+100), rec)
	}
	// The same partition again, as a retry after a lost acknowledgement would: replaced, not appended.
	again := orders(t, mem, 100, 100)
	load(t, l, "id[100,200)", again)
	again.Release()
	all := testkit.ConcatRecords(mem, want)
	testkit.ReleaseAll(want)
	defer all.Release()

	got := scan(t, l, mem, nil)
	defer got.Release()
	testkit.AssertRecordsEqual(t, all, got, testkit.SortBy("id"))

	tbl := loadTable(t, l)
	if !strings.HasPrefix(tbl.Location(), "file://"+srv.Warehouse) {
		t.Errorf("table location %s: want one the catalog chose, under %s", tbl.Location(), srv.Warehouse)
	}
	if n := len(tbl.Metadata().Snapshots()); n != 4 {
		t.Errorf("%d snapshots, want 4 (3 appends and 1 replace)", n)
	}
	ok, _ := srv.Commits()
	if ok < 4 {
		t.Errorf("the catalog committed %d times, want at least the 4 partitions' commits", ok)
	}
	reqs := strings.Join(srv.Requests(), "\n")
	for _, want := range []string{"POST /v1/oauth/tokens", "GET /v1/config", "POST /v1/namespaces", "POST /v1/namespaces/analytics/tables",
		"POST /v1/namespaces/analytics/tables/orders"} {
		if !strings.Contains(reqs, want+"\n") && !strings.HasSuffix(reqs, want) {
			t.Errorf("the catalog never received %s; it received:\n%s", want, reqs)
		}
	}

	// A wrong secret: the catalog refuses the exchange, the error says so and never shows the secret.
	bad := newLoader(t, t.TempDir(), func(c *Config) {
		rest(c)
		c.Catalog.Credential = stage.Secret("jetflow:wrong-" + secret)
	})
	_, err := bad.LoadTable(context.Background())
	if err == nil {
		t.Fatal("LoadTable succeeded with a wrong client secret")
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("the error shows the secret: %v", err)
	}
	if !strings.Contains(err.Error(), "invalid_client") && !strings.Contains(err.Error(), "unknown client credentials") {
		t.Errorf("error %v does not say the credentials were refused", err)
	}
}
