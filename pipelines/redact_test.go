package pipelines

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInlineSecretWarnings checks the warnings `jetflow validate` prints for secrets written in the file.
func TestInlineSecretWarnings(t *testing.T) {
	files, _ := filepath.Glob("testdata/warn/*.yaml")
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			p, err := Options{LookupEnv: lookupTestEnv}.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if len(p.Warnings) > 0 {
				got = p.Warnings.Error() + "\n"
			}
			golden(t, strings.TrimSuffix(f, ".yaml")+".golden", got)
		})
	}
}

// TestRedactorRegistersSecrets checks what a loaded pipeline's redactor hides: every value taken from the
// environment or a secret file and every secret field's value, but no default written in the file and no value
// too short to be told apart from ordinary words.
func TestRedactorRegistersSecrets(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "pg_password")
	if err := os.WriteFile(secretFile, []byte("from-a-file-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TOKEN_PART": "env-token-part", "OUT": "/srv/out", "SHORT": "ab"}
	src := `name: r
state: {type: postgres, dsn: "postgres://app:${file:` + secretFile + `}@db/state"}
consumer:
  type: testsrc
  columns: [{name: id}]
  token: tok_inline_secret
  note: ${SHORT}
  labels: {k: "${TOKEN_PART}", d: "${UNSET:-written-default}"}
loaders:
  - type: testsink
    dir: ${OUT}
`
	p, err := Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}.Parse("r.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in, want string
	}{
		{"pw from-a-file-pw", "pw [REDACTED]"}, // the file's text without its newline
		{"dsn postgres://app:from-a-file-pw@db/state", "dsn [REDACTED]"},
		{"header env-token-part", "header [REDACTED]"},
		{"token tok_inline_secret", "token [REDACTED]"},
		{"dir /srv/out/x", "dir [REDACTED]/x"},
		{"ab and written-default stay", "ab and written-default stay"},
	} {
		if got := p.Redactor.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSecretFileErrors(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"${file:/nonexistent/jetflow-secret}", "secret file /nonexistent/jetflow-secret cannot be read: no such file or directory"},
		{"${file:}", "${file:} names no file"},
	} {
		src := "name: e\nconsumer: {type: testsrc, columns: [{name: id}], note: \"" + tc.value + "\"}\nloaders: [{type: testsink, dir: out}]\n"
		_, err := Options{LookupEnv: lookupTestEnv}.Parse("e.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "e.yaml:2:") {
			t.Errorf("%s: got %v, want an error at e.yaml:2 saying %q", tc.value, err, tc.want)
		}
	}
}
