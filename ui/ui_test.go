package ui_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/jetflow-dev/jetflow/builtin"
	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/state/sqlite"
	"github.com/jetflow-dev/jetflow/ui"
)

// folder writes pipeline files into a new folder whose pipelines share one SQLite state store, and returns
// the folder and the store.
func folder(t *testing.T, files map[string]string) (string, state.Store) {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "state.db")
	for name, body := range files {
		body = strings.ReplaceAll(body, "STATE", db)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	store, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return dir, store
}

// pipelineFile is a small valid pipeline.
func pipelineFile(name, extra string) string {
	return fmt.Sprintf(`name: %s
state: { path: STATE }
consumer:
  type: generate
  rows: 1000
  partition: { count: 4 }
  columns:
    - { name: id, type: int64, sequence: true }
loaders:
  - type: parquet
    path: out/%s
%s`, name, name, extra)
}

// record writes one partition's outcome as the engine does: a claim, then a commit or a failure (attempts
// claims in all).
func record(t testing.TB, s state.Store, pipe, label string, i int, status state.Status, rows int64, errText string, attempts int) {
	t.Helper()
	ctx := context.Background()
	id := fmt.Sprintf("%s-%s-%05d", pipe, label, i)
	key := fmt.Sprintf("id[%d,%d)", i*100, i*100+100)
	owner := fmt.Sprintf("host:%d", 1000+i%2)
	for a := range attempts {
		if _, err := s.Claim(ctx, state.Claim{Pipeline: pipe, RunLabel: label, ID: id, Key: key, Index: i, Owner: owner, Lease: time.Minute}); err != nil {
			t.Fatal(err)
		}
		switch {
		case status == state.StatusRunning && a == attempts-1:
		case status == state.StatusCommitted && a == attempts-1:
			if err := s.Commit(ctx, state.Partition{Pipeline: pipe, RunLabel: label, ID: id, Key: key, Index: i, Owner: owner,
				Attempts: attempts, Rows: rows, Bytes: rows * 8}); err != nil {
				t.Fatal(err)
			}
		default:
			// The engine records the innermost error as the cause: here, what follows the last ": ".
			f := state.Failure{Error: errText, Cause: errText, Class: "transient"}
			if i := strings.LastIndex(errText, ": "); i >= 0 {
				f.Cause = errText[i+2:]
			}
			if err := s.Fail(ctx, pipe, id, owner, state.StatusFailed, f); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func get(t *testing.T, h http.Handler, method, target string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

const script = `<script>alert("pwned")</script>`

func newSite(t *testing.T, o ui.Options) *ui.Site {
	t.Helper()
	s, err := ui.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPagesShowRunsAndEscapeWhatTheyShow(t *testing.T) {
	dir, store := folder(t, map[string]string{
		"orders.yaml": pipelineFile("orders", "description: \""+strings.ReplaceAll(script, `"`, `\"`)+"\"\n"),
		"gold.yaml":   pipelineFile("gold", "depends_on: [orders]\n"),
		"bad.yaml":    "name: \"" + strings.ReplaceAll(script, `"`, `\"`) + "\"\n",
	})
	for i := range 3 {
		record(t, store, "orders", "2026-11-21", i, state.StatusCommitted, 100, "", 1)
	}
	record(t, store, "orders", "2026-11-22", 0, state.StatusCommitted, 100, "", 2)
	record(t, store, "orders", "2026-11-22", 1, state.StatusFailed, 0, "load failed: "+script, 3)
	h := newSite(t, ui.Options{Dir: dir}).Handler(ui.ServeOptions{LoopbackOnly: true})

	tests := []struct {
		path string
		want []string
	}{
		{"/", []string{"orders", "gold", "2026-11-22", "failed", "bad.yaml", "&lt;script&gt;", `class="edge"`}},
		{"/p/orders/index.html", []string{"2026-11-21", "2026-11-22", "valid", "&lt;script&gt;", "rows (bars)"}},
		{"/p/orders/r/2026-11-22/", []string{"load failed: &lt;script&gt;", "host:1001", `class="part st-failed retried"`, "2 retried",
			"transient: &lt;script&gt;", "attempt 3: ", "<b>transient</b> · cause:", `class="try st-failed"`, "3 earlier attempt(s)"}},
		{"/live/", []string{"No run is in progress"}},
	}
	for _, tt := range tests {
		res, body := get(t, h, "GET", "http://127.0.0.1:8080"+tt.path)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d\n%s", tt.path, res.StatusCode, body)
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s: no %q in the page", tt.path, w)
			}
		}
		if strings.Contains(body, "<script>alert") {
			t.Errorf("GET %s: the page holds the <script> of a name or an error unescaped", tt.path)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tt.path, csp)
		}
	}
	if res, _ := get(t, h, "GET", "http://127.0.0.1:8080/p/nope/"); res.StatusCode != 404 {
		t.Errorf("unknown pipeline: %d, want 404", res.StatusCode)
	}
	if res, _ := get(t, h, "GET", "http://127.0.0.1:8080/p/orders/r/1999-01-01/"); res.StatusCode != 404 {
		t.Errorf("unknown run instance: %d, want 404", res.StatusCode)
	}
}

// A partition in flight counts the rows its last lease renewal recorded: the rate of a run in progress moves
// before any partition commits. Without a run report, the per-stage stats come from the state store.
func TestRunPageShowsRowsInFlightAndRecordedStages(t *testing.T) {
	dir, store := folder(t, map[string]string{"orders.yaml": pipelineFile("orders", "")})
	record(t, store, "orders", "2026-11-22", 0, state.StatusCommitted, 100, "", 1)
	record(t, store, "orders", "2026-11-22", 1, state.StatusRunning, 0, "", 1)
	id := "orders-2026-11-22-00001"
	if err := store.Renew(context.Background(), "orders", id, "host:1001", time.Minute, 1234); err != nil {
		t.Fatal(err)
	}
	stages := `[{"stage":"gen<b>","kind":"consumer","rows_in":0,"rows_out":1334}]`
	if err := store.SetWatermark(context.Background(), "orders", engine.StagesRecord("2026-11-22"), stages); err != nil {
		t.Fatal(err)
	}
	h := newSite(t, ui.Options{Dir: dir}).Handler(ui.ServeOptions{LoopbackOnly: true})
	for _, tt := range []struct{ path, want string }{
		{"/live/", "100 + 1,234 in flight"},
		{"/p/orders/r/2026-11-22/", `<span id="inflight">1,234</span> read by the partitions in flight`},
		{"/p/orders/r/2026-11-22/", `<td>gen&lt;b&gt;</td><td>consumer</td><td class="num">0</td><td class="num">1,334</td>`},
	} {
		if _, body := get(t, h, "GET", "http://127.0.0.1:8080"+tt.path); !strings.Contains(body, tt.want) {
			t.Errorf("GET %s: no %q in the page:\n%s", tt.path, tt.want, body)
		}
	}
}

func TestServerIsReadOnlyAndGuarded(t *testing.T) {
	dir, _ := folder(t, map[string]string{"orders.yaml": pipelineFile("orders", "")})
	site := newSite(t, ui.Options{Dir: dir})
	open := site.Handler(ui.ServeOptions{LoopbackOnly: true})
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		res, _ := get(t, open, m, "http://127.0.0.1:8080/")
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q; want 405, GET, HEAD", m, res.StatusCode, res.Header.Get("Allow"))
		}
	}
	if res, _ := get(t, open, "HEAD", "http://127.0.0.1:8080/"); res.StatusCode != 200 {
		t.Errorf("HEAD: %d", res.StatusCode)
	}
	// A page of another site whose name resolves to 127.0.0.1 (DNS rebinding) reads nothing.
	if res, _ := get(t, open, "GET", "http://evil.example:8080/"); res.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Host: %d, want 403", res.StatusCode)
	}

	const token = "s3cret-token-value"
	guarded := site.Handler(ui.ServeOptions{Token: token})
	for _, tt := range []struct {
		name string
		hdr  []string
		url  string
		want int
	}{
		{"no token", nil, "/", 401},
		{"wrong bearer", []string{"Authorization", "Bearer nope"}, "/", 401},
		{"bearer", []string{"Authorization", "Bearer " + token}, "/", 200},
		{"cookie", []string{"Cookie", ui.TokenCookie + "=" + token}, "/", 200},
		{"query sets the cookie", nil, "/?token=" + token, http.StatusSeeOther},
		{"wrong query", nil, "/?token=x", 401},
	} {
		res, body := get(t, guarded, "GET", "http://10.1.2.3:8080"+tt.url, tt.hdr...)
		if res.StatusCode != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, res.StatusCode, tt.want)
		}
		if strings.Contains(body, token) || strings.Contains(res.Header.Get("Location"), token) {
			t.Errorf("%s: the answer shows the token", tt.name)
		}
	}
}

func TestMaskDSN(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"postgres://etl:hunter22@db:5432/jetflow?sslmode=disable", "postgres://etl:xxxxx@db:5432/jetflow?sslmode=disable"},
		{"postgres://db/jetflow?user=etl&password=hunter22", "postgres://db/jetflow?password=xxxxx&user=etl"},
		{"host=db user=etl password=hunter22 dbname=j", "host=db user=etl password=xxxxx dbname=j"},
		{"postgres://etl@db/jetflow", "postgres://etl@db/jetflow"},
	} {
		if got := ui.MaskDSN(tt.in); got != tt.want {
			t.Errorf("MaskDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPostgresDSNIsShownMasked(t *testing.T) {
	t.Setenv("UI_TEST_PG_DSN", "postgres://etl:hunter22pw@127.0.0.1:1/jetflow")
	dir, _ := folder(t, map[string]string{"orders.yaml": strings.Replace(pipelineFile("orders", ""), "state: { path: STATE }",
		"state: { type: postgres, dsn: \"${UI_TEST_PG_DSN}\" }", 1)})
	h := newSite(t, ui.Options{Dir: dir}).Handler(ui.ServeOptions{})
	_, body := get(t, h, "GET", "/p/orders/")
	if strings.Contains(body, "hunter22pw") {
		t.Fatal("the pipeline page shows the state store's password")
	}
	if !strings.Contains(body, "postgres://etl:xxxxx@127.0.0.1:1/jetflow") {
		t.Errorf("the page does not name the store with its password masked:\n%s", body)
	}
}

func TestStaticCopyHasRelativeLinksToEveryPage(t *testing.T) {
	dir, store := folder(t, map[string]string{
		"orders.yaml": pipelineFile("orders", ""),
		"gold.yaml":   pipelineFile("gold", "depends_on: [orders]\n"),
	})
	record(t, store, "orders", "2026-11-22", 0, state.StatusCommitted, 100, "", 1)
	record(t, store, "gold", "2026-11-22", 0, state.StatusFailed, 0, "boom", 2)
	reports := t.TempDir()
	os.WriteFile(filepath.Join(reports, "orders-2026-11-22.json"), []byte(`{"pipeline":"orders","run":"2026-11-22","exit_code":0,
		"stages":[{"stage":"generate","kind":"consumer","rows_in":100,"rows_out":100}]}`), 0o644)
	out := t.TempDir()
	n, err := newSite(t, ui.Options{Dir: dir, ReportDir: reports}).WriteStatic(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 { // overview, live, two pipelines, two run instances
		t.Errorf("%d pages, want 6", n)
	}
	link := regexp.MustCompile(`(?:href|src)="([^"#]+)"`)
	checked := 0
	filepath.Walk(out, func(path string, info os.FileInfo, err error) error {
		if err != nil || !strings.HasSuffix(path, ".html") {
			return err
		}
		b, _ := os.ReadFile(path)
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.HasPrefix(target, "/") || strings.Contains(target, "://") {
				t.Errorf("%s links %s: not relative", path, target)
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), target)); err != nil {
				t.Errorf("%s links %s, which the copy lacks", path, target)
			}
			checked++
		}
		return nil
	})
	if checked < 20 {
		t.Errorf("only %d links checked", checked)
	}
	b, err := os.ReadFile(filepath.Join(out, "p/orders/r/2026-11-22/index.html"))
	if err != nil || !strings.Contains(string(b), "report JSON") || !strings.Contains(string(b), `<td>generate</td>`) {
		t.Errorf("the run page of the static copy lacks its report and stage stats (%v)", err)
	}
	if strings.Contains(string(b), `data-live="on"`) {
		t.Error("a static page is live")
	}
}
