package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	_ "github.com/jetflow-dev/jetflow/consumers/httpapi"
	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	_ "github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state/sqlite"
	"github.com/jetflow-dev/jetflow/testkit"
	_ "github.com/jetflow-dev/jetflow/transformers"
)

// ordersAPI is a SaaS-like API: an OAuth2 token endpoint and /v2/orders, which lists the orders updated in
// [updated_since, updated_until) — 25 per hour — in pages of 10 chained by a cursor in the body. The first
// request for the second page of the 06:00 window fails with a 500, once.
type ordersAPI struct {
	mu       sync.Mutex
	failed   bool
	requests map[string]int // by window, pages served
}

func (a *ordersAPI) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		if id, secret, _ := r.BasicAuth(); id != "jetflow" || secret != "s3cret-client" {
			http.Error(w, `{"error": "invalid_client"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"access_token": "at-1", "token_type": "bearer", "expires_in": 3600}`)
	})
	mux.HandleFunc("GET /v2/orders", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer at-1" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		q := r.URL.Query()
		since, err1 := time.Parse(time.RFC3339, q.Get("updated_since"))
		until, err2 := time.Parse(time.RFC3339, q.Get("updated_until"))
		if err1 != nil || err2 != nil {
			http.Error(w, "bad window", http.StatusBadRequest)
			return
		}
		// All orders of the window, in id order; the cursor is the offset, opaque to the client.
		var ids []int64
		for h := since; h.Before(until); h = h.Add(time.Hour) {
			for i := range 25 {
				ids = append(ids, h.Unix()/3600*100+int64(i))
			}
		}
		off := 0
		if c := q.Get("cursor"); c != "" {
			off, _ = strconv.Atoi(strings.TrimPrefix(c, "off-"))
		}
		a.mu.Lock()
		if off == 10 && since.Hour() == 6 && !a.failed {
			a.failed = true
			a.mu.Unlock()
			http.Error(w, "upstream timeout", http.StatusInternalServerError)
			return
		}
		a.requests[since.Format(time.RFC3339)]++
		a.mu.Unlock()
		end := min(off+10, len(ids))
		var sb strings.Builder
		sb.WriteString(`{"data": {"orders": [`)
		for i, id := range ids[off:end] {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"id": %d, "amount": "%d.%02d", "status": %q, "updated_at": %q, "customer": {"name": "c%d", "city": %q}}`,
				id, id%1000, id%100, []string{"paid", "shipped", "refunded"}[id%3],
				since.Add(time.Duration(id%25)*time.Minute).Format(time.RFC3339), id%50, []string{"Lisbon", "Porto"}[id%2])
		}
		sb.WriteString(`]}, "paging": {"next_cursor": `)
		if end < len(ids) {
			fmt.Fprintf(&sb, `"off-%d"`, end)
		} else {
			sb.WriteString("null")
		}
		sb.WriteString(`}}`)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, sb.String())
	})
	return mux
}

const ordersPipeline = `name: api_orders
run_instance: {every: 1d}
retries: {attempts: 3, backoff: 10ms}
consumer:
  type: httpapi
  url: ${API_URL}/v2/orders
  auth:
    type: oauth2
    token_url: ${API_URL}/oauth/token
    client_id: jetflow
    client_secret: ${API_CLIENT_SECRET}
  records: data.orders
  pagination: {type: cursor, cursor_path: paging.next_cursor}
  partition: {every: 6h, since_param: updated_since, until_param: updated_until}
  retries: 0                      # a failed page fails its partition; the engine re-reads it whole
  schema:
    - {name: id, type: int64}
    - {name: amount, type: "decimal(12,2)"}
    - {name: status, type: string}
    - {name: updated_at, type: "timestamp[us, UTC]"}
    - {name: customer, type: "struct<name: string, city: string>"}
transformers:
  - type: flatten
  - type: select
    columns: [id, amount, status, updated_at, customer_city]
loaders:
  - type: parquet
    path: ${OUT}/orders/
`

func TestPipelineEndToEnd(t *testing.T) {
	api := &ordersAPI{requests: map[string]int{}}
	srv := httptest.NewServer(api.handler(t))
	defer srv.Close()
	out := t.TempDir()
	env := map[string]string{"API_URL": srv.URL, "API_CLIENT_SECRET": "s3cret-client", "OUT": out}
	p, err := pipelines.Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}.Parse("api_orders.yaml", []byte(ordersPipeline))
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	b, err := p.Build(stage.BuildContext{Pipeline: p.Name, Alloc: mem, Dir: out})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Validate(t.Context(), b, false); err != nil {
		t.Fatalf("validate: %v", err)
	}
	store, err := sqlite.Open(t.Context(), filepath.Join(out, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	job := p.Job(b)
	run, err := p.ParseRun("2026-11-22")
	if err != nil {
		t.Fatal(err)
	}
	for attempt := range 2 {
		e, err := engine.New(job, store, engine.Options{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := e.Run(t.Context(), run)
		if err != nil {
			t.Fatalf("run %d: %v", attempt, err)
		}
		if !rep.OK() {
			t.Fatalf("run %d: %+v", attempt, rep)
		}
		// The first run commits the four windows; the second finds them committed and reads nothing.
		if want := [2]int{4, 0}[attempt]; rep.Committed != want {
			t.Errorf("run %d: %d partitions committed, want %d", attempt, rep.Committed, want)
		}
	}
	// The 06:00 window failed at its second page, then was read again from its first page.
	if got := api.requests["2026-11-22T06:00:00Z"]; got != 1+15 {
		t.Errorf("the 06:00 window served %d pages, want 16 (1 before the failure, 15 on the retry)", got)
	}

	rows := testkit.DuckDBQuery(t, "SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(amount) AS total, "+
		"count(DISTINCT customer_city) AS cities, min(updated_at) AS first FROM read_parquet('"+out+"/orders/**/*.parquet')")
	var wantTotal int64
	for h := range 24 {
		for i := range 25 {
			id := int64(time.Date(2026, 11, 22, h, 0, 0, 0, time.UTC).Unix()/3600*100) + int64(i)
			wantTotal += (id%1000)*100 + id%100
		}
	}
	want := map[string]string{"n": "600", "ids": "600", "total": fmt.Sprintf("%d.%02d", wantTotal/100, wantTotal%100),
		"cities": "2", "first": "2026-11-22 00:00:00+00"}
	t.Logf("DuckDB: %v", rows)
	if fmt.Sprint(rows) != fmt.Sprint([]map[string]string{want}) {
		t.Errorf("DuckDB reads %v, want %v", rows, want)
	}
}
