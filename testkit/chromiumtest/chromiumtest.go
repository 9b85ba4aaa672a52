// Package chromiumtest drives Debian's Chromium (installed by .ci/run) from Go tests through chromedp: a real
// browser loads the pages of jetflow ui, runs their script and lays out their SVG.
//
//	ctx := chromiumtest.New(t)             // skips t when Chromium is not installed
//	chromedp.Do(ctx, chromedp.Navigate(url))
//	n, err := chromedp.Run(ctx, chromedp.Evaluate[int]("document.querySelectorAll('rect.part').length"))
//	chromiumtest.Screenshot(t, ctx, dir, "overview")
package chromiumtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Path is where Debian installs Chromium; $JETFLOW_CHROMIUM overrides it.
func Path() string {
	if p := os.Getenv("JETFLOW_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// New starts a headless Chromium with its own profile, closed when t ends, and returns the context of its first
// tab. The flags keep it from reaching any network service of its own (updates, sync, QUIC probes): without them
// its connections are refused on the CI machine. It skips t when there is no Chromium.
func New(t testing.TB) context.Context {
	t.Helper()
	bin := Path()
	if bin == "" {
		t.Skip("Chromium is not installed (apt-get install chromium, as .ci/run does; or set JETFLOW_CHROMIUM to its binary): the browser tests need it")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser now, so that a browser that cannot start fails here with its reason. (A timeout on this
	// first call would end the browser with it.)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium %s: %v", bin, err)
	}
	return ctx
}

// Screenshot saves the whole page as dir/name.png and returns the path; a page too long for one image is
// taken as the browser window shows it.
func Screenshot(t testing.TB, ctx context.Context, dir, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		png, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
	}
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	t.Logf("screenshot: %s", abs)
	return path
}

// Eval evaluates a JavaScript expression in the page and returns its value.
func Eval[T any](t testing.TB, ctx context.Context, js string) T {
	t.Helper()
	v, err := TryEval[T](ctx, js)
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// TryEval is Eval that returns its error: while a page navigates, the old page's context is gone and an
// evaluation fails ("Inspected target navigated or closed") until the new one is there.
func TryEval[T any](ctx context.Context, js string) (T, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[T](js))
}

// BodyText waits until the page's rendered text contains want and returns it; after timeout it returns the text
// as it is. The rendered text is what a reader sees, so it waits for the page's first frame: until that frame the
// browser skips the content of an element with content-visibility: auto, and innerText leaves it out.
func BodyText(t testing.TB, ctx context.Context, want string, timeout time.Duration) string {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.PollFunction[bool](`want => document.body.innerText.includes(want)`,
		chromedp.WithPollingArgs(want), chromedp.WithPollingTimeout(timeout)))
	if err != nil && !errors.Is(err, chromedp.ErrPollingTimeout) {
		t.Fatalf("wait for the page to show %q: %v", want, err)
	}
	return Eval[string](t, ctx, `document.body.innerText`)
}

// WatchDialogs counts the JavaScript dialogs (alert, confirm, prompt) the pages of ctx open from now on, and
// closes each: a test of escaping expects none.
func WatchDialogs(ctx context.Context) *atomic.Int64 {
	var n atomic.Int64
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			n.Add(1)
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return &n
}
