package ui_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/testkit/chromiumtest"
	"github.com/jetflow-dev/jetflow/ui"
)

// screenshots is where the browser tests leave their screenshots (kept out of git).
const screenshots = "screenshots"

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate to %s: %v", url, err)
	}
}

// A <script> in an error message, a description and a file's pipeline name is shown as text: the browser runs
// nothing of it and no dialog opens.
func TestBrowserShowsScriptAsText(t *testing.T) {
	ctx := chromiumtest.New(t)
	dir, store := folder(t, map[string]string{
		"orders.yaml": pipelineFile("orders", ""),
		"bad.yaml":    "name: \"" + strings.ReplaceAll(script, `"`, `\"`) + "\"\n",
	})
	record(t, store, "orders", "2026-11-22", 0, state.StatusFailed, 0, "load failed: "+script, 2)
	srv := httptest.NewServer(newSite(t, ui.Options{Dir: dir}).Handler(ui.ServeOptions{LoopbackOnly: true}))
	defer srv.Close()
	dialogs := chromiumtest.WatchDialogs(ctx)
	for _, tt := range []struct{ name, path, want string }{
		{"injection-overview", "/", `name: "<script>alert(\"pwned\")</script>" is not a valid pipeline name`},
		{"injection-run", "/p/orders/r/2026-11-22/index.html", "load failed: " + script},
	} {
		navigate(t, ctx, srv.URL+tt.path)
		// The error's summary is visible; the full text is in the details element, opened here.
		chromiumtest.Eval[any](t, ctx, `document.querySelectorAll('details').forEach(d => d.open = true)`)
		if text := chromiumtest.BodyText(t, ctx, tt.want, 10*time.Second); !strings.Contains(text, tt.want) {
			t.Errorf("%s: the page does not show %q as text:\n%s", tt.path, tt.want, text)
		}
		if n := chromiumtest.Eval[int](t, ctx, `document.scripts.length`); n != 1 {
			t.Errorf("%s: %d script elements, want 1 (live.js)", tt.path, n)
		}
		chromiumtest.Screenshot(t, ctx, screenshots, tt.name)
	}
	time.Sleep(200 * time.Millisecond) // a dialog opened by the last page has arrived by now
	if n := dialogs.Load(); n != 0 {
		t.Errorf("%d dialog(s) opened: a <script> of the data ran", n)
	}
}

// The run instance page of a large run: every partition in the table and on the timeline. The load time is
// logged, not asserted (timings never decide a test).
func TestBrowserRunWith10000Partitions(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a state store with 10,000 partitions")
	}
	ctx := chromiumtest.New(t)
	dir, store := folder(t, map[string]string{"orders.yaml": pipelineFile("orders", "")})
	const n = 10000
	for i := range n {
		status, attempts := state.StatusCommitted, 1
		if i%500 == 7 {
			status, attempts = state.StatusFailed, 3
		}
		record(t, store, "orders", "2026-11-22", i, status, int64(1000+i), "boom", attempts)
	}
	srv := httptest.NewServer(newSite(t, ui.Options{Dir: dir}).Handler(ui.ServeOptions{LoopbackOnly: true}))
	defer srv.Close()
	url := srv.URL + "/p/orders/r/2026-11-22/index.html"
	navigate(t, ctx, srv.URL+"/") // the browser is warm; the measured load is the page's own
	start := time.Now()
	navigate(t, ctx, url) // returns at the load event
	wall := time.Since(start)
	timing := chromiumtest.Eval[[]float64](t, ctx, `(() => { const e = performance.getEntriesByType('navigation')[0];
		return [e.loadEventEnd - e.startTime, e.responseEnd - e.requestStart, e.loadEventEnd - e.responseEnd] })()`)
	// Above a thousand bars, the bars of a status are one path; data-n says how many it draws.
	drawn := func(sel string) string {
		return `[...document.querySelectorAll('` + sel + `')].reduce((s, e) => s + Number(e.dataset.n || 1), 0)`
	}
	if got := chromiumtest.Eval[int](t, ctx, drawn("#gantt .part")); got != n {
		t.Errorf("%d partitions on the timeline, want %d", got, n)
	}
	if got := chromiumtest.Eval[int](t, ctx, `document.querySelectorAll('#partitions .pchunk .prow').length`); got != n {
		t.Errorf("%d partitions in the table, want %d", got, n)
	}
	if got := chromiumtest.Eval[int](t, ctx, drawn("#gantt .part.st-failed")); got != n/500 {
		t.Errorf("%d failed partitions on the timeline, want %d", got, n/500)
	}
	size := chromiumtest.Eval[int](t, ctx, `document.documentElement.outerHTML.length`)
	t.Logf("run instance page with %d partitions: loaded in %.0f ms in the browser (navigation start to load event end: "+
		"%.0f ms request to last byte, %.0f ms parse and layout), %s from the test's Navigate; %d characters of HTML",
		n, timing[0], timing[1], timing[2], wall.Round(time.Millisecond), size)
	chromiumtest.Screenshot(t, ctx, screenshots, "run-10000-partitions")
}
