package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/internal/notify"
	"github.com/jetflow-dev/jetflow/state/stores"
)

// hooks is an httptest receiver of notifications: it keeps every body it is sent, by path.
type hooks struct {
	*httptest.Server
	mu     sync.Mutex
	bodies map[string][]string
}

func newHooks(t *testing.T) *hooks {
	h := &hooks{bodies: map[string][]string{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies[r.URL.Path] = append(h.bodies[r.URL.Path], string(b))
		h.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/broken/") {
			http.Error(w, "receiver down", http.StatusBadGateway)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hooks) got(path string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies[path]...)
}

// messages decodes the webhook bodies sent to path.
func (h *hooks) messages(t *testing.T, path string) []notify.Message {
	t.Helper()
	var out []notify.Message
	for _, b := range h.got(path) {
		var m notify.Message
		if err := json.Unmarshal([]byte(b), &m); err != nil {
			t.Fatalf("body sent to %s is not a message: %v\n%s", path, err, b)
		}
		out = append(out, m)
	}
	return out
}

// flakySource is an HTTP API that refuses its caller (echoing the credentials it got, as careless servers do)
// while failing is set, and serves three records otherwise.
func flakySource(t *testing.T, failing *atomic.Bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			user, pass, _ := r.BasicAuth()
			http.Error(w, "upstream database refused "+user+":"+pass, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"items": [{"id": 1}, {"id": 2}, {"id": 3}]}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

const alertPipeline = `name: %NAME%
%EXTRA%
retries: { attempts: 1 }
consumer:
  type: httpapi
  url: ${API}/items
  records: items
  retries: 0
  schema: [{ name: id, type: int64 }]
loaders:
  - { type: parquet, path: out/%NAME% }
notify:
  - type: webhook
    url: ${HOOKS}/webhook
    secret: ${env:HOOK_SECRET}
  - type: slack
    url: ${HOOKS}/slack/T0SECRET/B0SECRET
    on: [failure]
  - type: webhook
    url: ${HOOKS}/broken/T1SECRET
    attempts: 2
    backoff: 10ms
`

func alertYAML(name, extra string) string {
	return strings.NewReplacer("%NAME%", name, "%EXTRA%", extra).Replace(alertPipeline)
}

// TestRunNotifiesFailureThenRecovery runs a pipeline whose source fails, then works, then works again: the
// failure goes to every target, the recovery only to those that want it, the third run sends nothing. A
// target that is down changes no exit code, is logged without its URL and counted; the source's password,
// which its error echoes, is in no body and no log.
func TestRunNotifiesFailureThenRecovery(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	src, h := flakySource(t, &failing), newHooks(t)
	api := strings.Replace(src.URL, "http://", "http://loader:S3cret-Pw0rd@", 1)
	dir := t.TempDir()
	writeFile(t, dir, "api.yaml", alertYAML("api", ""))
	env := []string{"API=" + api, "HOOKS=" + h.URL, "HOOK_SECRET=whsec-e2e-0123"}
	run := func(code int) result {
		return jetflow(t, dir, env, "run", "api.yaml", "--run", "2026-11-22", "--progress", "none",
			"--metrics-file", filepath.Join(dir, "api.prom")).must(t, code)
	}

	first := run(exitFailed)
	msgs := h.messages(t, "/webhook")
	if len(msgs) != 1 || msgs[0].Event != notify.Failure || msgs[0].Pipeline != "api" || msgs[0].RunInstance != "2026-11-22" ||
		msgs[0].Status != "failed" || msgs[0].ExitCode != exitFailed || msgs[0].Partitions.Failed != 1 || msgs[0].Error == nil ||
		!strings.Contains(msgs[0].Error.Cause, "500") {
		t.Fatalf("webhook messages after the failed run: %+v", msgs)
	}
	if !strings.Contains(msgs[0].Error.Cause, "refused loader:[REDACTED]") {
		t.Errorf("the source's echo of its password did not reach the message, redacted: %q", msgs[0].Error.Cause)
	}
	if slack := h.got("/slack/T0SECRET/B0SECRET"); len(slack) != 1 || !strings.Contains(slack[0], "pipeline `api` failed") {
		t.Errorf("Slack got %q", slack)
	}
	if broken := h.got("/broken/T1SECRET"); len(broken) != 2 {
		t.Errorf("the broken target was tried %d times, want 2", len(broken))
	}
	if !strings.Contains(first.stderr, "notification not sent") || !strings.Contains(first.stderr, "notify[2] (webhook)") {
		t.Errorf("the failed notification is not logged:\n%s", first.stderr)
	}
	if prom, _ := os.ReadFile(filepath.Join(dir, "api.prom")); !strings.Contains(string(prom), `jetflow_notifications_total{outcome="failed",pipeline="api"} 1`) {
		t.Errorf("the failed notification is not counted:\n%s", prom)
	}

	failing.Store(false)
	second := run(exitOK)
	msgs = h.messages(t, "/webhook")
	if len(msgs) != 2 || msgs[1].Event != notify.Recovery || msgs[1].Status != "ok" || msgs[1].Rows != 3 || msgs[1].FailingSince == nil {
		t.Fatalf("webhook messages after the recovery: %+v", msgs)
	}
	if slack := h.got("/slack/T0SECRET/B0SECRET"); len(slack) != 1 {
		t.Errorf("Slack (on: [failure]) got %d messages, want only the failure", len(slack))
	}

	run(exitOK)
	if n := len(h.got("/webhook")); n != 2 {
		t.Errorf("a success after a success sent a notification (%d messages)", n)
	}

	outputs := append(h.got("/webhook"), h.got("/slack/T0SECRET/B0SECRET")...)
	outputs = append(outputs, h.got("/broken/T1SECRET")...)
	outputs = append(outputs, first.stdout, first.stderr, second.stdout, second.stderr)
	for _, o := range outputs {
		for _, secret := range []string{"S3cret-Pw0rd", "T0SECRET", "T1SECRET", "whsec-e2e-0123"} {
			if strings.Contains(o, secret) {
				t.Errorf("%s is in an output:\n%s", secret, o)
			}
		}
	}
}

// TestFolderRunNamesSkippedDependents: in a folder run, the failing pipeline's message names the dependents the
// failure skipped, and a skipped dependent sends nothing of its own.
func TestFolderRunNamesSkippedDependents(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	src, h := flakySource(t, &failing), newHooks(t)
	dir := t.TempDir()
	writeFile(t, dir, "pipelines/bronze.yaml", alertYAML("bronze", ""))
	writeFile(t, dir, "pipelines/silver.yaml", alertYAML("silver", "depends_on: [bronze]"))
	writeFile(t, dir, "pipelines/gold.yaml", alertYAML("gold", "depends_on: [silver]"))
	env := []string{"API=" + src.URL, "HOOKS=" + h.URL, "HOOK_SECRET=whsec-e2e-0123"}
	jetflow(t, dir, env, "run", "pipelines", "--run", "2026-11-22").must(t, exitFailed)
	msgs := h.messages(t, "/webhook")
	if len(msgs) != 1 || msgs[0].Pipeline != "bronze" || strings.Join(msgs[0].SkippedDependents, ",") != "silver,gold" {
		t.Fatalf("messages %+v, want one failure of bronze naming silver and gold", msgs)
	}
}

// TestFolderRunAlertsForAKilledPipeline: a pipeline's process killed by SIGKILL (as the OOM killer does) cannot
// send its own failure notification; the folder runner sends it, naming the signal and the dependents it skips,
// and records the failure so that the next success is a recovery.
func TestFolderRunAlertsForAKilledPipeline(t *testing.T) {
	var kill atomic.Bool
	kill.Store(true)
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if kill.Load() {
			killProcessesRunning(t, "doomed.yaml")
			time.Sleep(2 * time.Second) // the caller is gone before it reads an answer
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"items": [{"id": 1}]}`)
	}))
	t.Cleanup(src.Close)
	h := newHooks(t)
	dir := t.TempDir()
	writeFile(t, dir, "pipelines/doomed.yaml", alertYAML("doomed", ""))
	writeFile(t, dir, "pipelines/silver.yaml", alertYAML("silver", "depends_on: [doomed]"))
	env := []string{"API=" + src.URL, "HOOKS=" + h.URL, "HOOK_SECRET=whsec-e2e-0123"}
	r := jetflow(t, dir, env, "run", "pipelines", "--run", "2026-11-22").must(t, exitError)
	msgs := h.messages(t, "/webhook")
	if len(msgs) != 1 || msgs[0].Event != notify.Failure || msgs[0].Pipeline != "doomed" || msgs[0].RunInstance != "2026-11-22" ||
		msgs[0].ExitCode != exitError || strings.Join(msgs[0].SkippedDependents, ",") != "silver" ||
		msgs[0].Error == nil || !strings.Contains(msgs[0].Error.Message, "signal: killed") {
		t.Fatalf("messages %+v, want one failure of doomed naming the signal and silver\nstderr:\n%s", msgs, r.stderr)
	}
	if n := len(h.got("/slack/T0SECRET/B0SECRET")); n != 1 {
		t.Errorf("slack got %d messages, want 1", n)
	}
	if strings.Contains(r.stdout+r.stderr, "T1SECRET") || strings.Contains(r.stdout+r.stderr, "whsec-e2e-0123") {
		t.Errorf("a secret in the output:\n%s%s", r.stdout, r.stderr)
	}
	kill.Store(false)
	jetflow(t, dir, env, "run", "pipelines", "--run", "2026-11-22").must(t, exitOK)
	if msgs := h.messages(t, "/webhook"); len(msgs) != 2 || msgs[1].Event != notify.Recovery || msgs[1].Pipeline != "doomed" {
		t.Fatalf("messages %+v, want the failure then doomed's recovery", msgs)
	}
}

// killProcessesRunning SIGKILLs the processes whose command line names file (a pipeline's `jetflow run FILE`).
func killProcessesRunning(t *testing.T, file string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), file) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Logf("kill %d: %v", pid, err)
		}
	}
}

// TestCheckFreshness: of two pipelines that both succeeded, the one whose last success is older than its
// warn_after is late: the table says so, the command exits 1, and its freshness notification is sent once
// for the episode, not again at the next check.
func TestCheckFreshness(t *testing.T) {
	h := newHooks(t)
	dir := t.TempDir()
	for _, name := range []string{"fresh", "late"} {
		writeFile(t, dir, "pipelines/"+name+".yaml", `name: `+name+`
consumer:
  type: generate
  rows: 10
  columns: [{ name: id, type: int64 }]
loaders:
  - { type: parquet, path: out/`+name+` }
freshness: { warn_after: 26h }
notify:
  - { type: webhook, url: "${HOOKS}/webhook", on: [freshness] }
`)
	}
	env := []string{"HOOKS=" + h.URL}
	jetflow(t, dir, env, "run", "pipelines", "--run", "2026-11-22").must(t, exitOK)
	if n := len(h.got("/webhook")); n != 0 {
		t.Fatalf("successful runs sent %d messages to a freshness-only target", n)
	}
	// The late pipeline last succeeded 30 hours ago, as far as its state store knows.
	ctx := context.Background()
	store, err := stores.Open(ctx, stores.Config{Type: "sqlite", Path: filepath.Join(dir, ".jetflow/state.db")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := engine.RecordOutcome(ctx, store, "late", "2026-11-21", true, time.Now().Add(-30*time.Hour)); err != nil {
		t.Fatal(err)
	}
	store.Close()

	r := jetflow(t, dir, env, "check-freshness", "pipelines").must(t, exitFailed)
	if !regexpMatch(`(?m)^fresh +fresh +\S+ +\S+ +26h +-$`, r.stdout) || !regexpMatch(`(?m)^late +late +\S+ +30h +26h +sent$`, r.stdout) {
		t.Errorf("table:\n%s", r.stdout)
	}
	msgs := h.messages(t, "/webhook")
	if len(msgs) != 1 || msgs[0].Event != notify.Freshness || msgs[0].Pipeline != "late" || msgs[0].Freshness == nil ||
		msgs[0].Freshness.WarnAfter != 26*3600 || msgs[0].Freshness.Late < 4*3600-60 {
		t.Fatalf("messages %+v, want one freshness message about late", msgs)
	}

	r = jetflow(t, dir, env, "check-freshness", "--format", "json", "pipelines").must(t, exitFailed)
	var rows []freshnessRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(rows) != 2 || rows[0].Status != "fresh" || rows[1].Status != "late" || rows[1].Notified != "already" {
		t.Errorf("rows %+v", rows)
	}
	if n := len(h.got("/webhook")); n != 1 {
		t.Errorf("the second check sent again: %d messages", n)
	}

	// A new success ends the episode: the pipeline is fresh again.
	jetflow(t, dir, env, "run", "pipelines/late.yaml", "--run", "2026-11-23", "--progress", "none").must(t, exitOK)
	jetflow(t, dir, env, "check-freshness", "pipelines").must(t, exitOK)
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
