package ui_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/ui"
)

// The overview shows each pipeline's freshness by the rule jetflow check-freshness alerts on: the age of its last
// success as the state store records it (engine.FreshnessOf), against its own freshness.warn_after.
func TestOverviewShowsFreshnessAsCheckFreshnessSeesIt(t *testing.T) {
	dir, store := folder(t, map[string]string{
		"fresh.yaml":      pipelineFile("fresh", "freshness: { warn_after: 26h }\n"),
		"late.yaml":       pipelineFile("late", "freshness: { warn_after: 26h }\n"),
		"never.yaml":      pipelineFile("never", "freshness: { warn_after: 26h }\n"),
		"undeclared.yaml": pipelineFile("undeclared", ""),
	})
	ctx := context.Background()
	now := time.Now()
	for name, at := range map[string]time.Time{"fresh": now.Add(-2 * time.Hour), "late": now.Add(-30 * time.Hour), "undeclared": now.Add(-90 * time.Hour)} {
		if _, _, err := engine.RecordOutcome(ctx, store, name, "2026-11-22", true, at); err != nil {
			t.Fatal(err)
		}
	}
	// A failure after the success does not make the data any fresher.
	if _, _, err := engine.RecordOutcome(ctx, store, "late", "2026-11-23", false, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	h := newSite(t, ui.Options{Dir: dir}).Handler(ui.ServeOptions{LoopbackOnly: true})
	res, body := get(t, h, "GET", "http://127.0.0.1:8080/")
	if res.StatusCode != 200 {
		t.Fatalf("GET /: %d\n%s", res.StatusCode, body)
	}
	for name, want := range map[string]string{
		"fresh":      `st-fresh"[^>]*>fresh</span>\s*<span class="muted">last success [^<]*, 2h`,
		"late":       `st-late"[^>]*>late</span>\s*<span class="muted">last success [^<]*, 30h`,
		"never":      `st-late"[^>]*>late</span>\s*<span class="muted">never succeeded`,
		"undeclared": `none declared`,
	} {
		row := regexp.MustCompile(`(?s)<tr[^>]*>\s*<td[^>]*><a[^>]*>` + name + `</a>.*?</tr>`).FindString(body)
		if row == "" {
			t.Fatalf("no overview row for %s in:\n%s", name, body)
		}
		if !regexp.MustCompile(want).MatchString(row) {
			t.Errorf("%s: the row does not match %s:\n%s", name, want, row)
		}
	}
}
