package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/state/sqlite"
	"github.com/jetflow-dev/jetflow/testkit"
)

// docRunner runs a pipeline file of testdata (the ones the README shows) through the engine, run after run,
// against one SQLite state store, as `jetflow run` does night after night.
type docRunner struct {
	t     *testing.T
	file  string
	text  string // the file's text, possibly edited by the test
	env   map[string]string
	lake  string
	store state.Store
}

func newDocRunner(t *testing.T, file string, env map[string]string) *docRunner {
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	lake := t.TempDir()
	env["LAKE"] = lake
	store, err := sqlite.Open(t.Context(), filepath.Join(lake, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &docRunner{t: t, file: file, text: string(data), env: env, lake: lake, store: store}
}

// run runs the run instance label and returns the engine's report.
func (r *docRunner) run(label string) *engine.Report {
	t := r.t
	t.Helper()
	p, err := pipelines.Options{LookupEnv: func(k string) (string, bool) { v, ok := r.env[k]; return v, ok }}.Parse(r.file, []byte(r.text))
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	b, err := p.Build(stage.BuildContext{Pipeline: p.Name, Alloc: mem, Dir: r.lake})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Validate(t.Context(), b, false); err != nil {
		t.Fatalf("validate: %v", err)
	}
	run, err := p.ParseRun(label)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(p.Job(b), r.store, engine.Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := e.Run(t.Context(), run)
	if err != nil && rep == nil {
		t.Fatalf("run %s: %v", label, err)
	}
	return rep
}

// shopAPI serves /api/orders: one order every 10 minutes (id = unix time / 600), listed by updated_at in
// [updated_since, updated_until), in pages of per_page with meta.total. It records the windows asked for, and
// breaks off the body of one chosen window once.
type shopAPI struct {
	mu      sync.Mutex
	windows []string // "since/until" of every first page served
	breakAt string   // a window start whose first response is cut short, once
}

func (a *shopAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Shop-Key") != "shop-key-1" {
		http.Error(w, `{"error": "bad key"}`, http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	since, err1 := time.Parse(time.RFC3339, q.Get("updated_since"))
	until, err2 := time.Parse(time.RFC3339, q.Get("updated_until"))
	per, _ := strconv.Atoi(q.Get("per_page"))
	page, _ := strconv.Atoi(q.Get("page"))
	if err1 != nil || err2 != nil || per <= 0 || page < 1 {
		http.Error(w, "bad request: "+r.URL.RawQuery, http.StatusBadRequest)
		return
	}
	var ids []int64
	for at := since.Unix() + (600-since.Unix()%600)%600; at < until.Unix(); at += 600 {
		ids = append(ids, at/600)
	}
	a.mu.Lock()
	if page == 1 {
		a.windows = append(a.windows, since.Format(time.RFC3339)+"/"+until.Format(time.RFC3339))
	}
	cut := a.breakAt == since.Format(time.RFC3339)
	if cut {
		a.breakAt = ""
	}
	a.mu.Unlock()
	lo, hi := min((page-1)*per, len(ids)), min(page*per, len(ids))
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"meta": {"shop_id": 7, "total": %d}, "data": [`, len(ids))
	for i, id := range ids[lo:hi] {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id": %d, "total": "%d.%02d", "currency": "EUR", "status": "paid", "updated_at": %q,
			"lines": [{"sku": "s%d", "qty": 2, "price": "1.50"}]}`, id, id%1000, id%100, time.Unix(id*600, 0).UTC().Format(time.RFC3339), id%7)
	}
	sb.WriteString(`]}`)
	body := sb.String()
	if cut {
		body = body[:len(body)/2] // the connection drops mid-body
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, body)
}

// TestShopOrdersPipeline runs testdata/shop_orders.yaml (date windows + incremental state) night after night:
// a backfill from incremental.initial, a night whose run fails in one window and is run again, a missed night
// caught up by the next run, and an old run instance run again, which keeps its windows and reads nothing. Every order
// lands exactly once, as DuckDB reads the Parquet files.
func TestShopOrdersPipeline(t *testing.T) {
	api := &shopAPI{breakAt: "2026-11-03T05:00:00Z"}
	srv := httptest.NewServer(api)
	defer srv.Close()
	r := newDocRunner(t, "shop_orders.yaml", map[string]string{"SHOP_API": srv.URL, "SHOP_API_KEY": "shop-key-1"})
	// One attempt per partition, so the cut body fails the run (the file's 5 attempts would hide it).
	r.text = strings.Replace(r.text, "retries: {attempts: 5, backoff: 5s}", "retries: {attempts: 1}", 1)

	windowsOf := func(rep *engine.Report) (first, last string, n int) {
		keys := make([]string, 0, len(rep.Partitions))
		for _, p := range rep.Partitions {
			keys = append(keys, p.Key)
		}
		if len(keys) == 0 {
			return "", "", 0
		}
		slicesSort(keys)
		return keys[0], keys[len(keys)-1], len(keys)
	}
	for _, step := range []struct {
		label              string
		ok                 bool
		committed, skipped int
		firstKey, lastKey  string
	}{
		// The first run backfills from initial (2026-11-01) to the end of its run instance.
		{"2026-11-02", true, 48, 0, "window[2026-11-01T00:00:00Z,2026-11-01T01:00:00Z)", "window[2026-11-02T23:00:00Z,2026-11-03T00:00:00Z)"},
		// The 05:00 window's body breaks off: the run fails, and the watermark stays where it was.
		{"2026-11-03", false, 23, 0, "window[2026-11-03T00:00:00Z,2026-11-03T01:00:00Z)", "window[2026-11-03T23:00:00Z,2026-11-04T00:00:00Z)"},
		// Run again, it plans the same windows: 23 are committed, the broken one is read again, whole.
		{"2026-11-03", true, 1, 23, "window[2026-11-03T05:00:00Z,2026-11-03T06:00:00Z)", "window[2026-11-03T05:00:00Z,2026-11-03T06:00:00Z)"},
		// 2026-11-04 is missed; the next run catches it up.
		{"2026-11-05", true, 48, 0, "window[2026-11-04T00:00:00Z,2026-11-04T01:00:00Z)", "window[2026-11-05T23:00:00Z,2026-11-06T00:00:00Z)"},
		// An old run instance run again plans its own windows, all committed: nothing is read.
		{"2026-11-03", true, 0, 24, "", ""},
	} {
		rep := r.run(step.label)
		if rep.OK() != step.ok || rep.Committed != step.committed || rep.Skipped != step.skipped {
			t.Fatalf("run %s: ok %v, %d committed, %d skipped; want %v, %d, %d", step.label, rep.OK(), rep.Committed, rep.Skipped,
				step.ok, step.committed, step.skipped)
		}
		var committed []string
		for _, p := range rep.Partitions {
			if p.Outcome == "committed" {
				committed = append(committed, p.Key)
			}
		}
		slicesSort(committed)
		if len(committed) > 0 && (committed[0] != step.firstKey || committed[len(committed)-1] != step.lastKey) && step.ok {
			t.Errorf("run %s: committed windows %s … %s, want %s … %s", step.label, committed[0], committed[len(committed)-1], step.firstKey, step.lastKey)
		}
		if first, last, _ := windowsOf(rep); !step.ok && (first != step.firstKey || last != step.lastKey) {
			t.Errorf("run %s: planned windows %s … %s, want %s … %s", step.label, first, last, step.firstKey, step.lastKey)
		}
	}
	// Every hour from 2026-11-01 to 2026-11-05 asked for exactly once, but the broken window (twice).
	asked := map[string]int{}
	api.mu.Lock()
	for _, w := range api.windows {
		asked[w]++
	}
	api.mu.Unlock()
	if len(asked) != 5*24 {
		t.Errorf("%d distinct windows asked for, want %d", len(asked), 5*24)
	}
	for w, n := range asked {
		if want := map[bool]int{true: 2, false: 1}[strings.HasPrefix(w, "2026-11-03T05:00:00Z/")]; n != want {
			t.Errorf("window %s asked for %d times, want %d", w, n, want)
		}
	}

	rows := testkit.DuckDBQuery(t, "SELECT count(*) AS n, count(DISTINCT id) AS ids, min(updated_at) AS first, "+
		"max(updated_at) AS last, min(shop_id) AS shop, sum(lines[1].qty) AS qty FROM read_parquet('"+r.lake+"/bronze/shop_orders/**/*.parquet')")
	want := []map[string]string{{"n": "720", "ids": "720", "first": "2026-11-01 00:00:00+00", "last": "2026-11-05 23:50:00+00",
		"shop": "7", "qty": "1440"}}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("DuckDB reads %v, want %v", rows, want)
	}
}

// crmAPI is a CRM: OAuth2 client credentials at /oauth/token and /v3/contacts, which lists the contacts updated
// in [updated_after, updated_before) in pages of limit chained by paging.next.after. Some contacts carry a field
// the pipeline does not declare.
type crmAPI struct {
	mu     sync.Mutex
	tokens int
}

func (a *crmAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != "contacts.read" {
			http.Error(w, `{"error": "invalid_request"}`, http.StatusBadRequest)
			return
		}
		if id, secret, _ := r.BasicAuth(); id != "crm-client" || secret != "crm-secret" {
			http.Error(w, `{"error": "invalid_client"}`, http.StatusUnauthorized)
			return
		}
		a.mu.Lock()
		a.tokens++
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token": "crm-token", "token_type": "Bearer", "expires_in": 3600}`)
	})
	mux.HandleFunc("GET /v3/contacts", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer crm-token" {
			http.Error(w, `{"error": "unauthorized"}`, http.StatusUnauthorized)
			return
		}
		q := r.URL.Query()
		after, err1 := time.Parse(time.RFC3339, q.Get("updated_after"))
		before, err2 := time.Parse(time.RFC3339, q.Get("updated_before"))
		limit, _ := strconv.Atoi(q.Get("limit"))
		if err1 != nil || err2 != nil || limit <= 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		// One contact every 6 minutes of the window: 240 a day.
		var all []int64
		for at := after; at.Before(before); at = at.Add(6 * time.Minute) {
			all = append(all, at.Unix()/360)
		}
		off := 0
		if c := q.Get("after"); c != "" {
			off, _ = strconv.Atoi(c)
		}
		end := min(off+limit, len(all))
		var sb strings.Builder
		sb.WriteString(`{"results": [`)
		for i, n := range all[off:end] {
			if i > 0 {
				sb.WriteByte(',')
			}
			at := time.Unix(n*360, 0).UTC()
			extra := ""
			if n%10 == 0 {
				extra = fmt.Sprintf(`, "score": %d`, n%97)
			}
			fmt.Fprintf(&sb, `{"id": "c%d", "email": "c%d@example.com", "lifecycle_stage": "lead", "created_at": %q, "updated_at": %q,
				"properties": {"company": "Co %d", "country": "PT"}%s}`, n, n, at.Add(-time.Hour).Format(time.RFC3339Nano),
				at.Add(123*time.Millisecond).Format(time.RFC3339Nano), n%5, extra)
		}
		sb.WriteString(`]`)
		if end < len(all) {
			fmt.Fprintf(&sb, `, "paging": {"next": {"after": "%d"}}`, end)
		}
		sb.WriteString(`}`)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, sb.String())
	})
	return mux
}

// TestCRMContactsPipeline runs testdata/crm_contacts.yaml (cursor pagination, OAuth2 client credentials,
// schema_evolution: extra_column) for two days and reads the result with DuckDB.
func TestCRMContactsPipeline(t *testing.T) {
	api := &crmAPI{}
	srv := httptest.NewServer(api.handler())
	defer srv.Close()
	r := newDocRunner(t, "crm_contacts.yaml", map[string]string{"CRM_API": srv.URL, "CRM_AUTH": srv.URL,
		"CRM_CLIENT_ID": "crm-client", "CRM_CLIENT_SECRET": "crm-secret"})
	for _, label := range []string{"2026-11-21", "2026-11-22"} {
		if rep := r.run(label); !rep.OK() || rep.Committed != 1 || rep.Rows != 240 {
			t.Fatalf("run %s: %+v", label, rep)
		}
	}
	rows := testkit.DuckDBQuery(t, "SELECT date, count(*) AS n, count(DISTINCT id) AS ids, count(_extra) AS extras, "+
		"min(properties_country) AS country, max(epoch_ms(updated_at) % 1000) AS ms, max(json_extract(_extra, '$.score')::int) <= 96 AS scored "+
		"FROM read_parquet('"+r.lake+"/bronze/crm_contacts/**/*.parquet', hive_partitioning = true) GROUP BY date ORDER BY date")
	want := []map[string]string{
		{"date": "2026-11-21", "n": "240", "ids": "240", "extras": "24", "country": "PT", "ms": "123", "scored": "true"},
		{"date": "2026-11-22", "n": "240", "ids": "240", "extras": "24", "country": "PT", "ms": "123", "scored": "true"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("DuckDB reads %v, want %v", rows, want)
	}
	if api.tokens == 0 {
		t.Error("no OAuth2 token was fetched")
	}
}

func slicesSort(s []string) { sort.Strings(s) }
