package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// receiver is an httptest server that records every request and answers with the statuses given, then 200.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	bodies   [][]byte
	headers  []http.Header
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	rc := &receiver{statuses: statuses}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, b)
		rc.headers = append(rc.headers, r.Header.Clone())
		status := http.StatusOK
		if n := len(rc.bodies); n <= len(rc.statuses) {
			status = rc.statuses[n-1]
		} else if len(rc.statuses) > 0 && rc.statuses[len(rc.statuses)-1] < 0 { // -N: always answer N
			status = -rc.statuses[len(rc.statuses)-1]
		}
		rc.mu.Unlock()
		if status < 0 {
			status = -status
		}
		w.WriteHeader(status)
		// A receiver that echoes what it got: whatever reaches the log through its answer is what was sent.
		w.Write(b)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() ([][]byte, []http.Header) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.bodies, rc.headers
}

func target(typ, url string, on ...string) Target {
	if len(on) == 0 {
		on = []string{"failure", "recovery", "freshness"}
	}
	return Target{Type: typ, URL: stage.Secret(url), On: on, Attempts: 4, Backoff: stage.Duration(10 * time.Millisecond),
		Timeout: stage.Duration(5 * time.Second)}
}

func failureMessage() Message {
	m := NewMessage(Failure, "orders", time.Date(2026, 11, 23, 2, 14, 5, 0, time.UTC))
	m.Host, m.RunInstance, m.Status, m.ExitCode = "runner-7", "2026-11-22", "failed", 1
	m.Error = &ErrorInfo{Message: "1 partition(s) failed after 3 attempt(s); they are retried by the next run",
		Cause: "partition 2026-11-22T06:00:00Z: read: connection reset by peer"}
	m.Rows, m.Bytes, m.Duration = 1_204_331, 48_211_004, 73.42
	m.Partitions = Partitions{Committed: 23, Failed: 1}
	m.SkippedDependents = []string{"orders_daily", "revenue"}
	return m
}

func sender(log io.Writer, red *stage.Redactor) *Sender {
	return &Sender{Redactor: red, Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

// TestWebhookRetriesThenSucceeds: a receiver that answers 503 twice gets the same signed body three times.
func TestWebhookRetriesThenSucceeds(t *testing.T) {
	rc := newReceiver(t, 503, 503)
	tg := target("webhook", rc.URL+"/hook")
	tg.Secret = "whsec-0123456789"
	var log bytes.Buffer
	res := sender(&log, nil).Send(context.Background(), []Target{tg}, failureMessage())
	if res != (Result{Sent: 1}) {
		t.Fatalf("result %+v, want one sent\n%s", res, log.String())
	}
	bodies, headers := rc.requests()
	if len(bodies) != 3 {
		t.Fatalf("%d requests, want 3 (two 503s, then 200)", len(bodies))
	}
	for i, b := range bodies {
		if !bytes.Equal(b, bodies[0]) {
			t.Errorf("try %d sent another body:\n%s\nfirst:\n%s", i+1, b, bodies[0])
		}
		// What a receiver does: recompute the HMAC of the raw body and compare in constant time.
		mac := hmac.New(sha256.New, []byte("whsec-0123456789"))
		mac.Write(b)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if got := headers[i].Get(SignatureHeader); !hmac.Equal([]byte(got), []byte(want)) {
			t.Errorf("try %d: signature %q, want %q", i+1, got, want)
		}
		if got := headers[i].Get(EventHeader); got != "failure" {
			t.Errorf("try %d: %s %q, want failure", i+1, EventHeader, got)
		}
	}
	var m Message
	if err := json.Unmarshal(bodies[0], &m); err != nil {
		t.Fatal(err)
	}
	if ts := headers[0].Get(TimestampHeader); ts != strconv.FormatInt(m.Time.Unix(), 10) {
		t.Errorf("%s %q, want the body's time %d", TimestampHeader, ts, m.Time.Unix())
	}
	if m.Schema != Schema || m.Event != Failure || m.Pipeline != "orders" || m.Error == nil || m.Partitions.Failed != 1 {
		t.Errorf("body decodes to %+v", m)
	}
}

// TestWebhookFailures: a receiver that always fails is tried attempts times and logged without its URL; a 400
// is not tried again; a target that does not want the event is not called.
func TestWebhookFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses []int
		on       []string
		tries    int
		result   Result
		log      string
	}{
		{"always 500", []int{-500}, nil, 4, Result{Failed: 1}, "500 Internal Server Error"},
		{"400 is not retried", []int{400}, nil, 1, Result{Failed: 1}, "not retried"},
		{"429 is retried", []int{429}, nil, 2, Result{Sent: 1}, ""},
		{"not subscribed", nil, []string{"recovery"}, 0, Result{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, tc.statuses...)
			url := rc.URL + "/hooks/T0KENINTHEPATH"
			var log bytes.Buffer
			res := sender(&log, nil).Send(context.Background(), []Target{target("webhook", url, tc.on...)}, failureMessage())
			bodies, _ := rc.requests()
			if len(bodies) != tc.tries || res != tc.result {
				t.Errorf("%d tries and %+v, want %d and %+v\n%s", len(bodies), res, tc.tries, tc.result, log.String())
			}
			if tc.log != "" && (!strings.Contains(log.String(), tc.log) || !strings.Contains(log.String(), "notify[0] (webhook)")) {
				t.Errorf("log lacks %q and the target's position:\n%s", tc.log, log.String())
			}
			if strings.Contains(log.String(), "T0KENINTHEPATH") || strings.Contains(log.String(), rc.URL) {
				t.Errorf("the log shows the URL:\n%s", log.String())
			}
		})
	}
}

// TestUnreachableTargetLogsNoURL: a network error (nothing listens) is retried and logged without the URL,
// which Go's own error text holds.
func TestUnreachableTargetLogsNoURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/services/T000/B000/XXXXSECRET"
	srv.Close()
	var log bytes.Buffer
	tg := target("slack", url)
	tg.Attempts = 2
	if res := sender(&log, nil).Send(context.Background(), []Target{tg}, failureMessage()); res != (Result{Failed: 1}) {
		t.Fatalf("result %+v, want one failed", res)
	}
	if !strings.Contains(log.String(), "connection refused") || !strings.Contains(log.String(), "attempts=2") {
		t.Errorf("log does not say why and how often:\n%s", log.String())
	}
	if strings.Contains(log.String(), "XXXXSECRET") || strings.Contains(log.String(), "/services/") {
		t.Errorf("the log shows the URL:\n%s", log.String())
	}
}

// TestSlackPayload compares the Slack messages of the three events with the golden file.
func TestSlackPayload(t *testing.T) {
	rc := newReceiver(t)
	s := sender(io.Discard, nil)
	since := time.Date(2026, 11, 22, 2, 10, 0, 0, time.UTC)
	last := time.Date(2026, 11, 21, 2, 9, 0, 0, time.UTC)
	rec := NewMessage(Recovery, "orders", time.Date(2026, 11, 24, 2, 11, 0, 0, time.UTC))
	rec.Host, rec.RunInstance, rec.Status, rec.FailingSince = "runner-7", "2026-11-23", "ok", &since
	rec.Rows, rec.Duration, rec.Partitions.Committed = 1_190_002, 61.7, 24
	fresh := NewMessage(Freshness, "orders", time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC))
	fresh.Host, fresh.Status = "cron-1", "late"
	fresh.Freshness = &FreshnessInfo{LastSuccess: &last, WarnAfter: 26 * 3600, Late: 4*3600 + 51*60}
	fail := failureMessage()
	fail.Error.Message += " <see https://example.com?a=1&b=2>"
	for _, m := range []Message{fail, rec, fresh} {
		if res := s.Send(context.Background(), []Target{target("slack", rc.URL)}, m); res.Sent != 1 {
			t.Fatalf("%s not sent", m.Event)
		}
	}
	bodies, headers := rc.requests()
	var got strings.Builder
	for i, b := range bodies {
		if headers[i].Get(SignatureHeader) != "" {
			t.Errorf("a Slack request carries %s", SignatureHeader)
		}
		got.Write(b)
		got.WriteString("\n")
	}
	testkit.Golden(t, "testdata/slack.golden", got.String(), *update)
}

// TestNoSecretInBodiesOrLogs: a DSN's password in a run's error reaches neither a webhook body, nor a Slack
// message, nor the log of a receiver that echoes what it got in its error answer.
func TestNoSecretInBodiesOrLogs(t *testing.T) {
	const dsn = "postgres://loader:Hunter2-s3cret@db.internal:5432/orders"
	red := stage.NewRedactor()
	red.Add(dsn)
	m := failureMessage()
	m.Error = &ErrorInfo{Message: "open source: connect " + dsn + ": password authentication failed",
		Cause: `failed to connect to user=loader password=Hunter2-s3cret database=orders`}
	ok, slack, failing := newReceiver(t), newReceiver(t), newReceiver(t, 400)
	webhook := target("webhook", ok.URL)
	webhook.Secret = "whsec-abcdefgh"
	var log bytes.Buffer
	res := sender(&log, red).Send(context.Background(), []Target{webhook, target("slack", slack.URL), target("webhook", failing.URL)}, m)
	if res != (Result{Sent: 2, Failed: 1}) {
		t.Fatalf("result %+v, want 2 sent and 1 failed\n%s", res, log.String())
	}
	var all []string
	for _, rc := range []*receiver{ok, slack, failing} {
		bodies, _ := rc.requests()
		for _, b := range bodies {
			all = append(all, string(b))
		}
	}
	all = append(all, log.String())
	for _, text := range all {
		if strings.Contains(text, "Hunter2-s3cret") {
			t.Errorf("the password is in:\n%s", text)
		}
	}
	if !strings.Contains(all[0], stage.Redacted) || !strings.Contains(log.String(), stage.Redacted) {
		t.Errorf("the error was not kept, redacted:\n%s\n%s", all[0], log.String())
	}
}

// TestBadURLIsNotTried: a URL that is not http(s) (a variable set to the wrong thing) fails at once, logged
// without its value.
func TestBadURLIsNotTried(t *testing.T) {
	var log bytes.Buffer
	res := sender(&log, nil).Send(context.Background(), []Target{target("slack", "hooks-SECRETVALUE")}, failureMessage())
	if res != (Result{Failed: 1}) || !strings.Contains(log.String(), "attempts=1") || !strings.Contains(log.String(), "want an http") ||
		strings.Contains(log.String(), "SECRETVALUE") {
		t.Errorf("result %+v, log:\n%s", res, log.String())
	}
}
