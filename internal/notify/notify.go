// Package notify sends a pipeline's alerts — a failed run, the first success after failures, a pipeline late
// against its freshness deadline — to the targets of its notify: list: webhooks (a signed JSON body whose schema
// docs/PRODUCTION.md documents) and Slack incoming webhooks (a readable message). Sending is its one job: what
// happened and when to tell is decided by the caller. A target that cannot be reached is retried, then logged
// (never with its URL, which for Slack is itself a secret) and counted; it never changes a run's outcome.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/stage"
)

// Schema names the version of the webhook body. A change that removes or renames a field makes a new version;
// fields are only ever added within one.
const Schema = "jetflow.notification/v1"

// Headers of a webhook request.
const (
	SignatureHeader = "X-Jetflow-Signature" // sha256=<hex HMAC-SHA256 of the body, keyed with the target's secret>
	TimestampHeader = "X-Jetflow-Timestamp" // Unix seconds at which the message was made; the body's "time" too
	EventHeader     = "X-Jetflow-Event"     // failure, recovery or freshness
)

// Event is what a message tells.
type Event string

const (
	Failure   Event = "failure"   // a run of the pipeline failed
	Recovery  Event = "recovery"  // the first successful run after a failed one
	Freshness Event = "freshness" // the pipeline has not succeeded for longer than its freshness.warn_after
)

// Target is one entry of a pipeline's notify: list. Its tags are the only declaration of its keys' rules.
type Target struct {
	Type     string         `yaml:"type" required:"true" enum:"webhook,slack" doc:"webhook: a JSON POST signed with secret (schema jetflow.notification/v1, docs/PRODUCTION.md); slack: a Slack incoming webhook, sent a readable message."`
	URL      stage.Secret   `yaml:"url" required:"true" doc:"Where to POST. Write ${VAR} or ${file:PATH}: a Slack webhook URL is itself a secret, and no output ever shows it."`
	Secret   stage.Secret   `yaml:"secret" doc:"webhook: the key of the X-Jetflow-Signature header (sha256=HMAC-SHA256 of the body, in hex); write ${VAR} or ${file:PATH}. Without it the body is not signed."`
	On       []string       `yaml:"on" default:"failure,recovery,freshness" enum:"failure,recovery,freshness" doc:"The events sent to this target: failure (a run failed), recovery (the first success after a failure), freshness (jetflow check-freshness found the pipeline late)."`
	Attempts int            `yaml:"attempts" default:"4" min:"1" max:"10" doc:"Tries of one message, the first included; only network errors, 429 and 5xx answers are tried again."`
	Backoff  stage.Duration `yaml:"backoff" default:"1s" min:"10ms" max:"1m" doc:"Wait before the first retry; doubled at each further retry (a 429's Retry-After, up to 1m, wins)."`
	Timeout  stage.Duration `yaml:"timeout" default:"10s" min:"1s" max:"2m" doc:"Time allowed for one try."`
}

// Wants says whether the target subscribes to ev.
func (t Target) Wants(ev Event) bool { return slices.Contains(t.On, string(ev)) }

// Message is the webhook body (schema jetflow.notification/v1), and what a Slack message is written from.
type Message struct {
	Schema      string `json:"schema"`
	Event       Event  `json:"event"`
	Pipeline    string `json:"pipeline"`
	RunInstance string `json:"run_instance,omitempty"`
	// Status is how the pipeline stands: failed, ok or late.
	Status     string     `json:"status"`
	ExitCode   int        `json:"exit_code"`
	Error      *ErrorInfo `json:"error,omitempty"`
	Rows       int64      `json:"rows"`
	Bytes      int64      `json:"bytes"`
	Duration   float64    `json:"duration_seconds"`
	Partitions Partitions `json:"partitions"`
	// SkippedDependents are the pipelines a folder run skipped because this one failed.
	SkippedDependents []string `json:"skipped_dependents,omitempty"`
	// FailingSince is, for a recovery, when the failures it ends began.
	FailingSince *time.Time     `json:"failing_since,omitempty"`
	Freshness    *FreshnessInfo `json:"freshness,omitempty"`
	Host         string         `json:"host"`
	// Time is when the message was made: the same on every try, and in the X-Jetflow-Timestamp header.
	Time time.Time `json:"time"`
}

// ErrorInfo is a failure's first error: the whole message, and its innermost cause.
type ErrorInfo struct {
	Message string `json:"message"`
	Cause   string `json:"cause,omitempty"`
}

// Partitions counts a run's partitions by outcome.
type Partitions struct {
	Committed int `json:"committed"`
	Skipped   int `json:"skipped"`
	Failed    int `json:"failed"`
	Aborted   int `json:"aborted"`
}

// FreshnessInfo is a freshness message's detail.
type FreshnessInfo struct {
	LastSuccess *time.Time `json:"last_success"` // null: the pipeline never succeeded
	WarnAfter   float64    `json:"warn_after_seconds"`
	Late        float64    `json:"late_seconds"` // how far past warn_after; 0 when it never succeeded
}

// NewMessage starts a message of ev about pipeline, made now on this host.
func NewMessage(ev Event, pipeline string, now time.Time) Message {
	host, _ := os.Hostname()
	return Message{Schema: Schema, Event: ev, Pipeline: pipeline, Host: host, Time: now.UTC().Truncate(time.Second)}
}

// Sender sends messages. The zero value is not usable: Redactor may be nil, Logger may not.
type Sender struct {
	Client   *http.Client    // nil: a client without its own timeout (each try has the target's)
	Redactor *stage.Redactor // every text sent or logged passes through it
	Logger   *slog.Logger
}

// Result counts what a Send delivered.
type Result struct {
	Sent, Failed int
}

// Send delivers m to each target that subscribes to its event, one after the other. A failure is logged at warn
// level with the target's position and type, never its URL, and counted in the result; it returns no error,
// since a notification never decides anything.
func (s *Sender) Send(ctx context.Context, targets []Target, m Message) Result {
	var res Result
	for i, t := range targets {
		if !t.Wants(m.Event) {
			continue
		}
		attempts, err := s.sendOne(ctx, t, m)
		if err == nil {
			res.Sent++
			s.Logger.Debug("notification sent", "pipeline", m.Pipeline, "event", string(m.Event), "target", targetName(i, t), "attempts", attempts)
			continue
		}
		res.Failed++
		s.Logger.Warn("notification not sent", "pipeline", m.Pipeline, "event", string(m.Event), "target", targetName(i, t),
			"attempts", attempts, "err", s.Redactor.Redact(err.Error()))
	}
	return res
}

func targetName(i int, t Target) string { return fmt.Sprintf("notify[%d] (%s)", i, t.Type) }

// Body is the request body sent to t for m: the JSON of the schema for a webhook, Slack's payload for slack;
// redacted whole.
func (s *Sender) Body(t Target, m Message) ([]byte, error) {
	var v any = m
	if t.Type == "slack" {
		v = slackPayload{Text: SlackText(m)}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	// The redactor knows secrets in their JSON-quoted form too, so a secret anywhere in the body is replaced.
	return []byte(s.Redactor.Redact(b.String())), nil
}

// Sign is the X-Jetflow-Signature value of body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// sendOne sends m to t with retries; it returns the number of tries made.
func (s *Sender) sendOne(ctx context.Context, t Target, m Message) (int, error) {
	body, err := s.Body(t, m)
	if err != nil {
		return 0, err
	}
	wait := t.Backoff.D()
	for attempt := 1; ; attempt++ {
		retryAfter, err := s.try(ctx, t, m, body)
		if err == nil {
			return attempt, nil
		}
		var perm *permanentError
		if errors.As(err, &perm) || attempt >= t.Attempts || ctx.Err() != nil {
			return attempt, err
		}
		d := wait
		if retryAfter > 0 {
			d = min(retryAfter, time.Minute)
		}
		if serr := sleep(ctx, d); serr != nil {
			return attempt, err
		}
		wait *= 2
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// permanentError is an answer no retry changes: a 4xx other than 429.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

// try makes one request. Its errors never hold the URL: a *url.Error's text does, so only its cause is kept.
func (s *Sender) try(ctx context.Context, t Target, m Message, body []byte) (retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, t.Timeout.D())
	defer cancel()
	// The URL usually comes from the environment, known only at run time: checked here, never shown.
	u, err := url.Parse(t.URL.Reveal())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return 0, &permanentError{errors.New("url: want an http:// or https:// URL (the value is not shown: it is a secret)")}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, &permanentError{errors.New("url: not a valid URL")}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "jetflow")
	if t.Type == "webhook" {
		req.Header.Set(EventHeader, string(m.Event))
		req.Header.Set(TimestampHeader, strconv.FormatInt(m.Time.Unix(), 10))
		if t.Secret != "" {
			req.Header.Set(SignatureHeader, Sign([]byte(t.Secret.Reveal()), body))
		}
	}
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("POST: %w", err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return 0, nil
	}
	err = fmt.Errorf("the receiver answered %s: %s", resp.Status, strings.TrimSpace(string(text)))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs > 0 {
			retryAfter = time.Duration(secs) * time.Second
		}
		return retryAfter, err
	case resp.StatusCode >= 500:
		return 0, err
	}
	return 0, &permanentError{fmt.Errorf("%w (not retried: fix the target)", err)}
}

type slackPayload struct {
	Text string `json:"text"`
}

// SlackText is the message as Slack shows it: what happened first, then the first error, rows and duration.
func SlackText(m Message) string {
	var b strings.Builder
	run := ""
	if m.RunInstance != "" {
		run = ", run " + m.RunInstance
	}
	switch m.Event {
	case Failure:
		fmt.Fprintf(&b, ":red_circle: *jetflow: pipeline `%s` failed*%s\n", m.Pipeline, run)
		if m.Error != nil {
			fmt.Fprintf(&b, "*What failed:* %s\n", slackEscape(firstLine(m.Error.Message)))
			if m.Error.Cause != "" && m.Error.Cause != m.Error.Message {
				fmt.Fprintf(&b, "*First error:* %s\n", slackEscape(firstLine(m.Error.Cause)))
			}
		}
		fmt.Fprintf(&b, "*Partitions:* %d failed, %d committed · *Rows:* %s · *Duration:* %s\n",
			m.Partitions.Failed, m.Partitions.Committed, count(m.Rows), seconds(m.Duration))
		if len(m.SkippedDependents) > 0 {
			fmt.Fprintf(&b, "*Skipped because of it:* %s\n", slackEscape(strings.Join(m.SkippedDependents, ", ")))
		}
	case Recovery:
		fmt.Fprintf(&b, ":large_green_circle: *jetflow: pipeline `%s` recovered*%s\n", m.Pipeline, run)
		if m.FailingSince != nil {
			fmt.Fprintf(&b, "Failing since %s; this run succeeded.\n", m.FailingSince.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(&b, "*Partitions:* %d committed · *Rows:* %s · *Duration:* %s\n", m.Partitions.Committed, count(m.Rows), seconds(m.Duration))
	case Freshness:
		fmt.Fprintf(&b, ":hourglass: *jetflow: pipeline `%s` is late*\n", m.Pipeline)
		if f := m.Freshness; f != nil {
			if f.LastSuccess == nil {
				fmt.Fprintf(&b, "It has never succeeded; it should succeed at least every %s.\n", seconds(f.WarnAfter))
			} else {
				fmt.Fprintf(&b, "Last success %s, %s past its freshness deadline of %s.\n",
					f.LastSuccess.UTC().Format(time.RFC3339), seconds(f.Late), seconds(f.WarnAfter))
			}
		}
	}
	fmt.Fprintf(&b, "_host %s_", slackEscape(m.Host))
	return b.String()
}

// slackEscape escapes what Slack's mrkdwn reads as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 500 {
		s = s[:497] + "..."
	}
	return s
}

// seconds prints a number of seconds as a rounded duration: 12.3s, 1m13s, 26h.
func seconds(f float64) string {
	d := time.Duration(f * float64(time.Second))
	switch {
	case d >= time.Hour:
		d = d.Round(time.Minute)
	case d >= time.Minute:
		d = d.Round(time.Second)
	case d >= time.Second:
		d = d.Round(100 * time.Millisecond)
	default:
		d = d.Round(time.Millisecond)
	}
	text := d.String()
	if strings.HasSuffix(text, "m0s") {
		text = strings.TrimSuffix(text, "0s")
	}
	return strings.TrimSuffix(text, "0m")
}

// count prints a number with thousands separators: 1,204,331.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
