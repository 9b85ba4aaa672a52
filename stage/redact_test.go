package stage_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/jetflow-dev/jetflow/stage"
)

func TestRedact(t *testing.T) {
	r := stage.NewRedactor()
	r.Add("s3cr3t-token", "pw", "", "postgres://app:hunter22@db:5432/orders", "host=db password='kv-pass' user=x",
		`quo"te\secret`, "a b&c=d")
	for _, tc := range []struct{ in, want string }{
		{"no secret here", "no secret here"},
		{"X-Custom-Key: s3cr3t-token", "X-Custom-Key: [REDACTED]"},
		{"s3cr3t-tokens3cr3t-token", "[REDACTED][REDACTED]"},
		{"pw is too short to register", "pw is too short to register"},
		{"connect postgres://app:hunter22@db:5432/orders: refused", "connect [REDACTED]: refused"},
		{"password authentication failed (password hunter22)", "password authentication failed (password [REDACTED])"},
		{"dsn host=db password='kv-pass' user=x", "dsn [REDACTED]"},
		{"kv-pass", "[REDACTED]"},
		{`{"header":"quo\"te\\secret"}`, `{"header":"[REDACTED]"}`},
		{"GET /x?k=a+b%26c%3Dd", "GET /x?k=[REDACTED]"},
		{"GET /a%20b&c=d", "GET /[REDACTED]"},
	} {
		if got := r.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactNil(t *testing.T) {
	var r *stage.Redactor
	r.Add("s3cr3t-token")
	if got := r.Redact("s3cr3t-token"); got != "s3cr3t-token" {
		t.Errorf("nil redactor changed its input: %q", got)
	}
}

func TestRedactErrKeepsChain(t *testing.T) {
	r := stage.NewRedactor()
	r.Add("s3cr3t-token")
	err := r.Err(fmt.Errorf("server said s3cr3t-token: %w", fs.ErrPermission))
	if strings.Contains(err.Error(), "s3cr3t") || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Err = %q (Is ErrPermission: %v), want it redacted and unwrapping", err, errors.Is(err, fs.ErrPermission))
	}
	plain := errors.New("nothing secret")
	if r.Err(plain) != plain {
		t.Error("Err wrapped an error holding no secret")
	}
}

func TestRedactHandlerAndWriter(t *testing.T) {
	r := stage.NewRedactor()
	var buf bytes.Buffer
	log := slog.New(r.Handler(slog.NewJSONHandler(&buf, nil))).With("dsn", "postgres://u:late-secret@h/db")
	// Registered after the logger was made, as a stage registers the token it obtains at run time.
	r.Add("late-secret")
	log.WithGroup("g").Error("failed: late-secret", "err", errors.New("echo late-secret"), "n", 3,
		slog.Group("inner", "v", "late-secret"), "any", struct{ S string }{"late-secret"})
	w := r.Writer(&buf)
	fmt.Fprintf(w, "jetflow run: late-secret\n")
	if out := buf.String(); strings.Contains(out, "late-secret") || !strings.Contains(out, `"n":3`) {
		t.Errorf("output leaks the secret or lost an attribute:\n%s", out)
	}
}

func TestRedactConcurrent(t *testing.T) {
	r := stage.NewRedactor()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			secret := fmt.Sprintf("secret-%d", i)
			r.Add(secret)
			if got := r.Redact("x " + secret); got != "x [REDACTED]" {
				t.Errorf("Redact = %q", got)
			}
		}()
	}
	wg.Wait()
}
