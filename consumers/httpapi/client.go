package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxRetryAfter bounds how long a Retry-After header may make a request wait.
const maxRetryAfter = 15 * time.Minute

// client sends the requests of every partition of one consumer: it holds the rate limit, the concurrency limit,
// the retry policy and the redaction of secrets from what it logs and returns.
type client struct {
	hc         *http.Client
	auth       authenticator
	log        *slog.Logger
	limiter    *limiter
	sem        chan struct{}
	retries    int
	backoff    time.Duration
	maxBackoff time.Duration
	timeout    time.Duration
	maxSize    int64
	redact     map[string]bool // query parameter and header names, lower case
	secrets    []string        // values scrubbed from error text
	sleep      func(ctx context.Context, d time.Duration) error
}

// request is one page request before authentication.
type request struct {
	method string
	url    *url.URL
	header http.Header
	body   []byte
	page   int
}

// what names the request in logs and errors, without secrets.
func (c *client) what(r *request) string {
	return fmt.Sprintf("page %d of %s %s", r.page, r.method, redactURL(r.url.String(), c.redact))
}

// statusError is a response that was not 2xx.
type statusError struct {
	status     int
	text       string
	retryAfter time.Duration
}

func (e *statusError) Error() string { return fmt.Sprintf("status %s", e.text) }

// do sends r, retrying what is transient, and hands a 2xx response's body to read, bounded by max_response_size.
// read is never retried: a body that breaks off half-way has already fed builders, so the error fails the
// partition and the engine re-reads it whole.
func (c *client) do(ctx context.Context, r *request, read func(resp *http.Response, body io.Reader) error) error {
	var last error
	authRetried := false
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			wait := c.delay(attempt, last)
			c.log.DebugContext(ctx, "httpapi: retrying", "request", c.what(r), "attempt", attempt, "wait", wait, "error", c.scrub(last.Error()))
			if err := c.sleep(ctx, wait); err != nil {
				return fmt.Errorf("%s: %w (after %v)", c.what(r), err, c.scrubErr(last))
			}
		}
		err := c.once(ctx, r, read)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", c.what(r), ctx.Err())
		}
		var se *statusError
		if errors.As(err, &se) && se.status == http.StatusUnauthorized && !authRetried {
			// An expired or revoked token: fetch a new one once before giving up.
			authRetried = true
			c.auth.invalidate()
			attempt--
			last = err
			continue
		}
		var re *readError
		if errors.As(err, &re) || !retryable(err) || attempt >= c.retries {
			if attempt > 0 {
				return classify(err, fmt.Errorf("%s: %w (after %d retries)", c.what(r), c.scrubErr(err), attempt))
			}
			return classify(err, fmt.Errorf("%s: %w", c.what(r), c.scrubErr(err)))
		}
		last = err
	}
}

// readError is an error while decoding a 2xx body.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

func (c *client) once(ctx context.Context, r *request, read func(*http.Response, io.Reader) error) error {
	if err := c.limiter.wait(ctx); err != nil {
		return err
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.sem }()

	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	u := *r.url
	req, err := http.NewRequestWithContext(rctx, r.method, u.String(), body)
	if err != nil {
		return err
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if err := c.auth.apply(rctx, req); err != nil {
		return err
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil && rctx.Err() != nil {
			return fmt.Errorf("no response within timeout %v", c.timeout)
		}
		return err
	}
	defer resp.Body.Close()
	c.log.DebugContext(ctx, "httpapi: response", "request", c.what(r), "status", resp.StatusCode, "duration", time.Since(start))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		text := resp.Status
		if s := snippet(b); s != "" {
			text += ": " + s
		}
		return &statusError{status: resp.StatusCode, text: text, retryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	lr := &limitedReader{r: resp.Body, left: c.maxSize}
	if err := read(resp, lr); err != nil {
		if rctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("body not read within timeout %v: %w", c.timeout, err)
		}
		return &readError{err}
	}
	return nil
}

// permanentError is a failure that a retry cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// retryable tells whether a failed attempt may succeed when repeated.
func retryable(err error) bool {
	var pe *permanentError
	if errors.As(err, &pe) {
		return false
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.status == http.StatusTooManyRequests || se.status >= 500 && se.status != http.StatusNotImplemented
	}
	// Connection errors, resets and timeouts: transport failures before a 2xx body.
	return true
}

// delay is the wait before retry attempt: Retry-After when the server gave one, else exponential backoff with
// jitter (half fixed, half random, so that clients retrying together spread out).
func (c *client) delay(attempt int, last error) time.Duration {
	var se *statusError
	if errors.As(last, &se) && se.retryAfter > 0 {
		return min(se.retryAfter, maxRetryAfter)
	}
	d := c.backoff << min(attempt-1, 30)
	if d > c.maxBackoff || d <= 0 {
		d = c.maxBackoff
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// retryAfter parses a Retry-After value: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// limiter spaces requests at least 1/rate apart across goroutines.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func (l *limiter) wait(ctx context.Context) error {
	if l == nil || l.interval <= 0 {
		return ctx.Err()
	}
	l.mu.Lock()
	now := time.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	return sleepCtx(ctx, time.Until(at))
}

// errTooLarge is returned once a body passes max_response_size.
var errTooLarge = errors.New("response body is larger than max_response_size")

type limitedReader struct {
	r    io.Reader
	left int64
	read int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells a body of exactly the limit from a larger one.
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("%w (%d bytes)", errTooLarge, l.read)
		}
		return l.r.Read(p)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	l.read += int64(n)
	return n, err
}

// redactURL strips user info and masks the values of the named query parameters.
func redactURL(raw string, names map[string]bool) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	if len(names) > 0 && u.RawQuery != "" {
		q := u.Query()
		masked := false
		for k := range q {
			if names[strings.ToLower(k)] {
				q[k] = []string{"REDACTED"}
				masked = true
			}
		}
		if masked {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

func (c *client) scrub(s string) string { return scrub(s, c.secrets...) }

func (c *client) scrubErr(err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	if t := c.scrub(s); t != s {
		return errors.New(t)
	}
	return err
}

// scrub masks every secret value in s: a last guard for error text that quotes a request (net/url errors do).
func scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
			if esc := url.QueryEscape(sec); esc != sec {
				s = strings.ReplaceAll(s, esc, "[redacted]")
			}
		}
	}
	return s
}

func scrubErr(err error, secrets ...string) error {
	if s := err.Error(); scrub(s, secrets...) != s {
		return errors.New(scrub(s, secrets...))
	}
	return err
}

// snippet is the start of a response body for an error message, on one line.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
