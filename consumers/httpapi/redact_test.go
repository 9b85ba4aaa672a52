package httpapi

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
)

// TestAuthSecretsRegistered checks that the secrets an authenticator derives — a fetched OAuth2 token, the
// encoded Basic credentials — reach the pipeline's redactor, for the server that echoes them in an error page.
func TestAuthSecretsRegistered(t *testing.T) {
	const issued = "issued-token-never-configured"
	for _, tc := range []struct {
		name   string
		auth   func(url string) Auth
		secret string
	}{
		{"oauth2", func(url string) Auth {
			return Auth{Type: "oauth2", TokenURL: url + "/token", ClientID: "app", ClientSecret: "client-s3cret"}
		}, issued},
		{"basic", func(string) Auth { return Auth{Type: "basic", Username: "ann", Password: "basic-s3cret"} },
			base64.StdEncoding.EncodeToString([]byte("ann:basic-s3cret"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"access_token": %q, "expires_in": 3600}`, issued)
			})
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "broken: "+r.Header.Get("Authorization"), http.StatusBadGateway)
			})
			srv := httptest.NewServer(mux)
			defer srv.Close()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			red := stage.NewRedactor()
			cfg := testConfig(srv.URL)
			cfg.Auth, cfg.Retries = tc.auth(srv.URL), 0
			c, err := New(stage.BuildContext{Alloc: mem, Redactor: red}, &cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = readErr(t, c)
			if err == nil || !strings.Contains(err.Error(), tc.secret) {
				t.Fatalf("error %v does not echo %q: the test checks nothing", err, tc.secret)
			}
			if got := red.Redact(err.Error()); strings.Contains(got, tc.secret) || !strings.Contains(got, stage.Redacted) {
				t.Errorf("redacted error still shows the secret: %s", got)
			}
		})
	}
}
