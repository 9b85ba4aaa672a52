package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jetflow-dev/jetflow/testkit/chromiumtest"
)

// uiScreenshots is where the browser test leaves its screenshots (kept out of git).
const uiScreenshots = "screenshots"

// uiFolder writes the folder the ui test reads: orders (committed), gold (depends on orders; fails after its
// retries), events (in progress while the test looks) and a file whose pipeline name is a <script>.
func uiFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "pipelines/orders.yaml", seqPipeline("orders", 60000, 6, ""))
	writeFile(t, dir, "pipelines/gold.yaml", seqPipeline("gold", 3000, 3, "depends_on: [orders]\n"))
	// 40 partitions: the run must outlast the browser's look at it however slow a loaded machine is; the test
	// ends it, so its length costs no time.
	writeFile(t, dir, "pipelines/events.yaml", seqPipeline("events", 40000, 40, ""))
	writeFile(t, dir, "pipelines/bad.yaml", `name: "<script>alert('pwned')</script>"`+"\n")
	if err := os.Mkdir(filepath.Join(dir, "reports"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startUI starts jetflow ui on a free loopback port and returns its address, stopped when t ends.
func startUI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := command(dir, nil, append([]string{"ui", "pipelines", "--addr", "127.0.0.1:0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	_, url, ok := strings.Cut(line, " on ")
	url, _, _ = strings.Cut(url, " ")
	if err != nil || !ok {
		t.Fatalf("jetflow ui printed %q (%v), stderr:\n%s", line, err, stderr.String())
	}
	return strings.TrimSuffix(url, "/")
}

type browser struct {
	t       *testing.T
	ctx     context.Context
	dialogs *atomic.Int64
}

func newBrowser(t *testing.T) *browser {
	b := &browser{t: t, ctx: chromiumtest.New(t)}
	b.dialogs = chromiumtest.WatchDialogs(b.ctx)
	return b
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) count(selector string) int {
	b.t.Helper()
	return chromiumtest.Eval[int](b.t, b.ctx, fmt.Sprintf("document.querySelectorAll(%q).length", selector))
}

func (b *browser) text() string {
	b.t.Helper()
	return chromiumtest.Eval[string](b.t, b.ctx, "document.body.innerText")
}

func (b *browser) location() string {
	b.t.Helper()
	return chromiumtest.Eval[string](b.t, b.ctx, "location.href")
}

func (b *browser) wantText(page string, want ...string) {
	b.t.Helper()
	for _, w := range want {
		// Waits for the page's first frame: the rows of the partitions table are not text until then.
		if text := chromiumtest.BodyText(b.t, b.ctx, w, 10*time.Second); !strings.Contains(text, w) {
			b.t.Errorf("%s: the page does not show %q; it shows:\n%s", page, w, text)
		}
	}
}

// follow clicks the first link matching selector and waits for the page it opens.
func (b *browser) follow(selector string) {
	b.t.Helper()
	before := b.location()
	b.do("click "+selector, chromedp.Click(chromedp.CSS(selector)))
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Evaluations fail while the page navigates: try again until the new page is loaded.
		loc, err := chromiumtest.TryEval[string](b.ctx, "location.href")
		if err == nil && loc != before {
			if state, err := chromiumtest.TryEval[string](b.ctx, "document.readyState"); err == nil && state == "complete" {
				return
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("clicking %s did not open a page (last error: %v)", selector, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUIInBrowser fills a state store with real runs — one committed, one failed after its retries, one in
// progress — and reads them through jetflow ui in Chromium: the visible text, the partitions on the timeline,
// the links between the pages, the page that updates itself while a run goes on, and a <script> shown as text.
func TestUIInBrowser(t *testing.T) {
	if chromiumtest.Path() == "" {
		t.Skip("Chromium is not installed (apt-get install chromium, as .ci/run does): the browser test needs it")
	}
	dir := uiFolder(t)
	jetflow(t, dir, nil, "run", "pipelines/orders.yaml", "--run", "2026-11-22", "--workers", "2",
		"--report", "reports/orders-2026-11-22.json").must(t, exitOK)
	gold := jetflow(t, dir, []string{"JETFLOW_FAILPOINTS=parquet.before-marker=error"}, "run", "pipelines/gold.yaml",
		"--run", "2026-11-22", "--report", "reports/gold-2026-11-22.json").must(t, exitFailed)
	// events loads a partition every 3 s on each of two workers, for a minute, while the browser watches.
	events := command(dir, []string{"JETFLOW_FAILPOINTS=parquet.before-marker=sleep:3s"}, "run", "pipelines/events.yaml",
		"--run", "2026-11-22", "--workers", "2", "--progress", "none")
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		events.Process.Kill()
		events.Wait()
	})
	base := startUI(t, dir, "--report-dir", "reports")
	b := newBrowser(t)

	// Wait until events has a partition in flight, as the overview shows it.
	deadline := time.Now().Add(time.Minute)
	for {
		b.do("open the overview", chromedp.Navigate(base+"/"))
		if b.count(`tr[data-pipeline="events"] .badge.st-running`) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events never showed as running:\n%s", b.text())
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.wantText("overview", "orders", "gold", "events", "committed", "failed", "running",
		`name: "<script>alert('pwned')</script>" is not a valid pipeline name`)
	if n := b.count("#pipelines tbody tr"); n != 3 {
		t.Errorf("overview: %d pipelines, want 3", n)
	}
	if n := b.count("svg.graph path.edge"); n != 1 {
		t.Errorf("overview: %d edges in the dependency graph, want 1 (gold depends on orders)", n)
	}
	if n := b.count("svg.graph a.gnode"); n != 3 {
		t.Errorf("overview: %d pipelines in the dependency graph, want 3", n)
	}
	chromiumtest.Screenshot(t, b.ctx, uiScreenshots, "overview")

	// events: the page updates in place while the run goes on (no reload: a mark set on the window stays).
	b.do("open events' run", chromedp.Navigate(base+"/p/events/r/2026-11-22/index.html"))
	if live := chromiumtest.Eval[string](t, b.ctx, `document.getElementById('main').dataset.live`); live != "on" {
		t.Fatalf("events run: data-live=%q while the run is in progress", live)
	}
	chromiumtest.Eval[any](t, b.ctx, `window.sameDocument = true`)
	first := b.count("#partitions .badge.st-committed")
	chromiumtest.Screenshot(t, b.ctx, uiScreenshots, "run-events-live")
	deadline = time.Now().Add(time.Minute)
	for b.count("#partitions .badge.st-committed") <= first {
		if time.Now().After(deadline) {
			t.Fatalf("events run: the page did not update from %d committed partitions:\n%s", first, b.text())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !chromiumtest.Eval[bool](t, b.ctx, `window.sameDocument === true`) {
		t.Error("events run: the page was reloaded instead of updated in place")
	}
	b.wantText("events run", "rows/s", "running")
	// The rows its partitions in flight have read, as their lease renewals record them, move the rate.
	for chromiumtest.Eval[string](t, b.ctx, `(document.getElementById('inflight') || {}).textContent || '0'`) == "0" {
		if time.Now().After(deadline) || b.count("#inflight") == 0 {
			t.Fatalf("events run: no rows in flight shown while it runs:\n%s", b.text())
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.follow(`a.livelink`)
	b.wantText("live", "Runs in progress", "events", "2026-11-22")
	if n := b.count("#live tbody tr"); n != 1 {
		t.Errorf("live: %d runs in progress, want 1", n)
	}
	chromiumtest.Screenshot(t, b.ctx, uiScreenshots, "live")

	// orders: overview → pipeline → run instance → report.
	b.follow(`header a.brand`)
	b.follow(`#pipelines a[href="p/orders/index.html"]`)
	b.wantText("orders", "Pipeline orders", "valid", "name: orders", "not incremental")
	if n := b.count("svg.history rect.st-committed"); n != 1 {
		t.Errorf("orders: %d run instances on the chart, want 1", n)
	}
	chromiumtest.Screenshot(t, b.ctx, uiScreenshots, "pipeline-orders")
	b.follow(`#runs a[href$="r/2026-11-22/index.html"]`)
	b.wantText("orders run", "6: 6 committed, 0 failed", "60,000 committed", "rows in", "report JSON")
	if n := b.count("#gantt rect.part"); n != 6 {
		t.Errorf("orders run: %d partitions on the timeline, want 6", n)
	}
	if n := b.count("#partitions .pchunk .prow"); n != 6 {
		t.Errorf("orders run: %d partitions in the table, want 6", n)
	}
	// Rows of the timeline are the workers the state store recorded (host:pid #N).
	if lanes := chromiumtest.Eval[[]string](t, b.ctx, `[...document.querySelectorAll('#gantt .lanelabel')].map(e => e.textContent)`); len(lanes) == 0 || !strings.Contains(lanes[0], " #") {
		t.Errorf("orders run: timeline rows %q, want one per worker (host:pid #N)", lanes)
	}
	if n := b.count("#stages tbody tr"); n < 2 {
		t.Errorf("orders run: %d stages in the stats table, want the consumer and the loader", n)
	}
	chromiumtest.Screenshot(t, b.ctx, uiScreenshots, "run-orders-committed")
	b.follow("#report-link")
	if text := b.text(); !strings.Contains(text, `"pipeline": "orders"`) || !strings.Contains(text, `"exit_code": 0`) {
		t.Errorf("report link: %s", text)
	}

	// gold: every partition failed after its three attempts; the error and its cause are shown.
	b.do("open gold's run", chromedp.Navigate(base+"/p/gold/r/2026-11-22/index.html"))
	chromiumtest.Eval[any](t, b.ctx, `document.querySelectorAll('details').forEach(d => d.open = true)`)
	b.wantText("gold run", "3: 0 committed, 3 failed", "3 retried", "failpoint parquet.before-marker: injected failure",
		"cause:", "exit code 1", "attempt 1: failed", "attempt 3: failed", "transient · cause: ", "6 earlier attempt(s)")
	if n := b.count("#gantt rect.part.st-failed.retried"); n != 3 {
		t.Errorf("gold run: %d failed, retried partitions on the timeline, want 3", n)
	}
	if n := b.count("#gantt rect.try.st-failed"); n != 6 {
		t.Errorf("gold run: %d earlier attempts on the timeline, want 6 (two per partition)", n)
	}
	if n := b.count("#partitions ol.tries li"); n != 9 {
		t.Errorf("gold run: %d attempts listed, want 9", n)
	}
	if !strings.Contains(gold.stderr, "failed") {
		t.Errorf("gold's run: %s", gold.stderr)
	}
	chromiumtest.Screenshot(t, b.ctx, uiScreenshots, "run-gold-failed")

	if n := b.dialogs.Load(); n != 0 {
		t.Errorf("%d JavaScript dialog(s) opened: a <script> of the data ran", n)
	}
}

// TestUIStaticCopyInBrowser writes the pages with --static and browses them from disk: the links are relative.
func TestUIStaticCopyInBrowser(t *testing.T) {
	if chromiumtest.Path() == "" {
		t.Skip("Chromium is not installed (apt-get install chromium, as .ci/run does): the browser test needs it")
	}
	dir := uiFolder(t)
	jetflow(t, dir, nil, "run", "pipelines/orders.yaml", "--run", "2026-11-22").must(t, exitOK)
	r := jetflow(t, dir, nil, "ui", "pipelines", "--static", "site").must(t, exitOK)
	if !strings.Contains(r.stdout, "wrote 6 page(s) to site") { // overview, live, 3 pipelines, 1 run instance
		t.Errorf("stdout: %s", r.stdout)
	}
	b := newBrowser(t)
	b.do("open the static overview", chromedp.Navigate("file://"+filepath.Join(dir, "site", "index.html")))
	b.wantText("static overview", "snapshot of", "orders", "2026-11-22")
	b.follow(`#pipelines a[href="p/orders/r/2026-11-22/index.html"]`)
	if n := b.count("#gantt rect.part"); n != 6 {
		t.Errorf("static run page: %d partitions on the timeline, want 6", n)
	}
	// No report folder here: the per-stage stats are the ones the run recorded in the state store.
	if n := b.count("#stages tbody tr"); n < 2 {
		t.Errorf("static run page: %d stages in the stats table, want the consumer and the loader", n)
	}
	chromiumtest.Screenshot(t, b.ctx, uiScreenshots, "static-run-orders")
	b.follow(`nav a[href="../../index.html"]`)
	b.wantText("static pipeline page", "Pipeline orders")
	chromiumtest.Screenshot(t, b.ctx, uiScreenshots, "static-pipeline-orders")
}

// TestUIRefusesAnOpenAddressWithoutToken: an address other than loopback needs JETFLOW_UI_TOKEN.
func TestUIRefusesAnOpenAddressWithoutToken(t *testing.T) {
	dir := uiFolder(t)
	r := jetflow(t, dir, []string{"JETFLOW_UI_TOKEN="}, "ui", "pipelines", "--addr", "0.0.0.0:0").must(t, exitInvalid)
	if !strings.Contains(r.stderr, "set JETFLOW_UI_TOKEN") {
		t.Errorf("stderr: %s", r.stderr)
	}
}
