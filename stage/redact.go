package stage

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Redacted replaces a secret in any output.
const Redacted = "[REDACTED]"

// MinSecretLen is the length under which a value is not registered as a secret: replacing every "on" or "1"
// in the output would shred it while hiding nothing a guess would not find.
const MinSecretLen = 4

// Redactor holds the secrets of one pipeline: every value taken from the environment or a secret file, every
// value of a stage.Secret field, and what stages learn at run time (an OAuth token). Every output — log lines,
// errors stored in the state store, reports, the CLI's stderr — passes through Redact, whatever produced the
// text, a server's echo or a driver's error. It is safe for concurrent use. A nil *Redactor redacts nothing.
type Redactor struct {
	mu      sync.RWMutex
	secrets map[string]bool
	r       *strings.Replacer // nil when there is nothing to replace
}

// NewRedactor returns a redactor holding no secret yet.
func NewRedactor() *Redactor { return &Redactor{secrets: map[string]bool{}} }

// Add registers secrets. A secret is also registered as it appears quoted in Go or JSON, escaped in a URL, and,
// for a connection string, its password alone; values shorter than MinSecretLen are ignored.
func (r *Redactor) Add(secrets ...string) {
	if r == nil {
		return
	}
	var forms []string
	for _, s := range secrets {
		forms = append(forms, secretForms(s)...)
		if pw := dsnPassword(s); pw != "" {
			forms = append(forms, secretForms(pw)...)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, f := range forms {
		if len(f) >= MinSecretLen && !r.secrets[f] {
			r.secrets[f], changed = true, true
		}
	}
	if !changed {
		return
	}
	all := make([]string, 0, len(r.secrets))
	for s := range r.secrets {
		all = append(all, s)
	}
	// strings.Replacer tries its old strings in argument order at each position: longest first, so that a DSN is
	// replaced whole rather than leaving its parts around a replaced password.
	slices.SortFunc(all, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	pairs := make([]string, 0, 2*len(all))
	for _, s := range all {
		pairs = append(pairs, s, Redacted)
	}
	r.r = strings.NewReplacer(pairs...)
}

// secretForms are the ways a value may be written in a message: as is, inside Go or JSON quotes, URL-escaped.
func secretForms(s string) []string {
	if len(s) < MinSecretLen {
		return nil
	}
	forms := []string{s, strings.TrimSpace(s)}
	q := strconv.Quote(s)
	forms = append(forms, q[1:len(q)-1])
	if b, err := json.Marshal(s); err == nil {
		forms = append(forms, string(b[1:len(b)-1]))
	}
	return append(forms, url.QueryEscape(s), url.PathEscape(s))
}

// dsnPassword is the password of a URL (postgres://user:pw@host) or of a key=value connection string
// (password=pw), "" when s holds none.
func dsnPassword(s string) string {
	if u, err := url.Parse(strings.TrimSpace(s)); err == nil && u.User != nil {
		pw, _ := u.User.Password()
		return pw
	}
	for _, f := range strings.Fields(s) {
		if v, ok := strings.CutPrefix(f, "password="); ok {
			return strings.Trim(v, "'")
		}
	}
	return ""
}

// Redact replaces every registered secret in s with [REDACTED].
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	rep := r.r
	r.mu.RUnlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}

// Len is the number of forms of secrets registered.
func (r *Redactor) Len() int {
	if r == nil {
		return 0
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.secrets)
}

// Err returns err with its text redacted; errors.Is and errors.As still see the original chain.
func (r *Redactor) Err(err error) error {
	if err == nil || r == nil {
		return err
	}
	if msg := err.Error(); r.Redact(msg) != msg {
		return &redactedError{msg: r.Redact(msg), err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Writer returns a writer that redacts what it writes to w. Each Write is redacted whole: slog handlers and
// fmt.Fprint write one message per call, so a secret is never split across two.
func (r *Redactor) Writer(w io.Writer) io.Writer { return &redactWriter{r: r, w: w} }

type redactWriter struct {
	r *Redactor
	w io.Writer
}

func (w *redactWriter) Write(p []byte) (int, error) {
	s := string(p)
	out := w.r.Redact(s)
	if out == s {
		return w.w.Write(p)
	}
	if _, err := io.WriteString(w.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Handler returns a slog.Handler that redacts the message and every attribute (strings, errors and any value
// whose text holds a secret) before passing a record to h.
func (r *Redactor) Handler(h slog.Handler) slog.Handler {
	if rh, ok := h.(*redactHandler); r == nil || ok && rh.r == r {
		return h
	}
	return &redactHandler{r: r, h: h}
}

type redactHandler struct {
	r   *Redactor
	h   slog.Handler
	ops []handlerOp // With and WithGroup calls, replayed at each record: a secret registered later is redacted too
}

type handlerOp struct {
	attrs []slog.Attr
	group string
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	inner := h.h
	for _, op := range h.ops {
		if op.group != "" {
			inner = inner.WithGroup(op.group)
			continue
		}
		red := make([]slog.Attr, len(op.attrs))
		for i, a := range op.attrs {
			red[i] = h.attr(a)
		}
		inner = inner.WithAttrs(red)
	}
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return inner.Handle(ctx, out)
}

func (h *redactHandler) with(op handlerOp) slog.Handler {
	return &redactHandler{r: h.r, h: h.h, ops: append(slices.Clip(h.ops), op)}
}

func (h *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	return h.with(handlerOp{attrs: as})
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(handlerOp{group: name})
}

func (h *redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.Redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = h.attr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		var text string
		if err, ok := v.Any().(error); ok {
			text = err.Error()
		} else {
			text = fmt.Sprint(v.Any())
		}
		if red := h.r.Redact(text); red != text {
			return slog.String(a.Key, red)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
