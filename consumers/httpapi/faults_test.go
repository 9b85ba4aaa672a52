package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

const (
	secretToken = "tok-5ecret-value"
	secretPass  = "pa55-5ecret"
	secretKey   = "key-5ecret/+="
	secretOAuth = "client-5ecret"
)

func TestAuth(t *testing.T) {
	tests := []struct {
		name  string
		auth  Auth
		check func(r *http.Request) bool
	}{
		{"bearer", Auth{Type: "bearer", Token: secretToken}, func(r *http.Request) bool {
			return r.Header.Get("Authorization") == "Bearer "+secretToken
		}},
		{"basic", Auth{Type: "basic", Username: "ann", Password: secretPass}, func(r *http.Request) bool {
			u, p, ok := r.BasicAuth()
			return ok && u == "ann" && p == secretPass
		}},
		{"api key in a header", Auth{Type: "api_key", Key: secretKey, Name: "X-Key", In: "header"}, func(r *http.Request) bool {
			return r.Header.Get("X-Key") == secretKey
		}},
		{"api key in the query", Auth{Type: "api_key", Key: secretKey, Name: "api_key", In: "query"}, func(r *http.Request) bool {
			return r.URL.Query().Get("api_key") == secretKey && r.URL.Query().Get("page") != ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			var fail atomic.Bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !tt.check(r) {
					http.Error(w, "bad credentials", http.StatusUnauthorized)
					return
				}
				if fail.Load() {
					// An API that echoes the request, secrets included, in its error page.
					http.Error(w, "broken: "+r.URL.String()+" "+r.Header.Get("Authorization")+" "+r.Header.Get("X-Key"), http.StatusBadGateway)
					return
				}
				lo := (qint(r, "page", 1) - 1) * 3
				writeJSON(t, w, items(min(lo, 5), min(lo+3, 5)))
			}))
			defer srv.Close()
			var logs bytes.Buffer
			cfg := testConfig(srv.URL)
			cfg.Auth = tt.auth
			cfg.Pagination = Pagination{Type: "page", PageParam: "page", FirstPage: 1, LimitParam: "limit", Limit: 3}
			cfg.Retries = 1
			c, err := New(stage.BuildContext{Alloc: mem, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, &cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := readOne(t, mem, c)
			if got.NumRows() != 5 {
				t.Errorf("%d rows, want 5", got.NumRows())
			}
			got.Release()

			fail.Store(true)
			err = readErr(t, c)
			if err == nil || !strings.Contains(err.Error(), "502") {
				t.Fatalf("error %v, want the 502", err)
			}
			for _, sec := range []string{secretToken, secretPass, secretKey, "key-5ecret%2F%2B%3D"} {
				if strings.Contains(err.Error(), sec) {
					t.Errorf("the error shows a secret: %v", err)
				}
				if strings.Contains(logs.String(), sec) {
					t.Errorf("the debug log shows a secret:\n%s", logs.String())
				}
			}
			if !strings.Contains(logs.String(), "httpapi: response") {
				t.Errorf("no debug log of the requests:\n%s", logs.String())
			}
		})
	}
}

func TestOAuth2(t *testing.T) {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	var fetches, tokenCalls atomic.Int64
	var mu sync.Mutex
	valid := map[string]bool{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		tokenCalls.Add(1)
		id, secret, _ := r.BasicAuth()
		if id != "app" || secret != secretOAuth || r.FormValue("grant_type") != "client_credentials" || r.FormValue("scope") != "read write" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		tok := fmt.Sprintf("access-%d", fetches.Add(1))
		mu.Lock()
		valid[tok] = true
		mu.Unlock()
		fmt.Fprintf(w, `{"access_token": %q, "token_type": "Bearer", "expires_in": 3600}`, tok)
	})
	mux.HandleFunc("GET /api", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := valid[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		mu.Unlock()
		if !ok {
			http.Error(w, "token expired", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `[{"id": 1}]`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cfg := testConfig(srv.URL + "/api")
	cfg.Auth = Auth{Type: "oauth2", TokenURL: srv.URL + "/token", ClientID: "app", ClientSecret: secretOAuth, Scopes: []string{"read", "write"}}
	c := newConsumer(t, mem, cfg)
	oa := c.client.auth.(*oauth2)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	oa.now = func() time.Time { return now }

	read := func(wantFetches int64) {
		t.Helper()
		got := readOne(t, mem, c)
		got.Release()
		if f := fetches.Load(); f != wantFetches {
			t.Errorf("%d token fetches, want %d", f, wantFetches)
		}
	}
	read(1)
	read(1) // the token is reused
	now = now.Add(59 * time.Minute)
	read(1) // still valid, even with the margin
	now = now.Add(31 * time.Minute)
	read(2) // refreshed before it expires
	// The server revokes every token: a 401 makes the consumer fetch a new one once, then retry.
	mu.Lock()
	clear(valid)
	mu.Unlock()
	read(3)

	// Wrong credentials: a clear error that names the token endpoint and never the secret.
	cfg.Auth.ClientID = "other"
	c = newConsumer(t, mem, cfg)
	before := tokenCalls.Load()
	err := readErr(t, c)
	if calls := tokenCalls.Load() - before; calls != 1 {
		t.Errorf("%d token requests for a rejected client, want 1: a 401 is not retried", calls)
	}
	if err == nil || !strings.Contains(err.Error(), "oauth2 token request to "+srv.URL+"/token: status 401") || strings.Contains(err.Error(), secretOAuth) {
		t.Errorf("error %v, want a 401 from the token endpoint without the secret", err)
	}
}

// faultServer answers with the responses in order, then with the last one forever.
func faultServer(t *testing.T, responses ...func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		responses[min(i, len(responses)-1)](w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func status(code int, header ...string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		http.Error(w, http.StatusText(code), code)
	}
}

func body(contentType, text string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		fmt.Fprint(w, text)
	}
}

var okPage = body("application/json", `[{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]`)

func TestFaults(t *testing.T) {
	// HTTP dates have whole seconds: half a second more makes the wait round to 90s.
	httpDate := time.Now().Add(90*time.Second + 500*time.Millisecond).UTC().Format(http.TimeFormat)
	tests := []struct {
		name      string
		responses []func(w http.ResponseWriter, r *http.Request)
		edit      func(c *Config)
		wantErr   string // "" for success with two rows
		requests  int64
		waits     string // the retry delays, rounded to seconds, when Retry-After decides them
	}{
		{name: "500 then success", responses: []func(http.ResponseWriter, *http.Request){status(500), status(502), okPage}, requests: 3},
		{name: "429 with Retry-After seconds", responses: []func(http.ResponseWriter, *http.Request){status(429, "Retry-After", "7"), okPage}, requests: 2, waits: "[7s]"},
		{name: "503 with Retry-After date", responses: []func(http.ResponseWriter, *http.Request){status(503, "Retry-After", httpDate), okPage}, requests: 2, waits: "[1m30s]"},
		{name: "retries run out", responses: []func(http.ResponseWriter, *http.Request){status(500)}, wantErr: "status 500 Internal Server Error: Internal Server Error (after 3 retries)", requests: 4},
		{name: "404 is not retried", responses: []func(http.ResponseWriter, *http.Request){status(404)}, wantErr: "page 1 of GET http://", requests: 1},
		{name: "slow past the timeout", responses: []func(http.ResponseWriter, *http.Request){
			func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			}, okPage,
		}, edit: func(c *Config) { c.Timeout = stage.Duration(50 * time.Millisecond) }, requests: 2},
		{name: "slow every time", responses: []func(http.ResponseWriter, *http.Request){
			func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
		}, edit: func(c *Config) { c.Timeout, c.Retries = stage.Duration(50*time.Millisecond), 1 }, wantErr: "no response within timeout 50ms (after 1 retries)", requests: 2},
		{name: "malformed JSON", responses: []func(http.ResponseWriter, *http.Request){body("application/json", `[{"id": 1,}]`)},
			wantErr: "malformed JSON body: record 0: invalid character '}'", requests: 1},
		{name: "not JSON", responses: []func(http.ResponseWriter, *http.Request){body("text/html", `<html>maintenance</html>`)},
			wantErr: "the body is not JSON (Content-Type text/html)", requests: 1},
		{name: "truncated with a Content-Length", responses: []func(http.ResponseWriter, *http.Request){
			func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "500")
				fmt.Fprint(w, `[{"id": 1, "name": "a"}, {"id": 2, "na`)
			},
		}, wantErr: "truncated", requests: 1},
		{name: "truncated by a closed connection", responses: []func(http.ResponseWriter, *http.Request){
			func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, `[{"id": 1, "name": "a"}, {"id": 2, "na`)
				w.(http.Flusher).Flush()
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
			},
		}, wantErr: "truncated", requests: 1},
		{name: "too large", responses: []func(http.ResponseWriter, *http.Request){okPage}, edit: func(c *Config) { c.MaxResponseSize = 20 },
			wantErr: "larger than max_response_size", requests: 1},
		{name: "exactly the maximum size", responses: []func(http.ResponseWriter, *http.Request){okPage}, edit: func(c *Config) { c.MaxResponseSize = 48 }, requests: 1},
		{name: "records path missing", responses: []func(http.ResponseWriter, *http.Request){body("application/json", `{"error": "no such view"}`)},
			edit: func(c *Config) { c.Records = "data.items" }, wantErr: `the response has no records at "data.items"`, requests: 1},
		{name: "records not an array", responses: []func(http.ResponseWriter, *http.Request){body("application/json", `{"data": {"items": 3}}`)},
			edit: func(c *Config) { c.Records = "data.items" }, wantErr: `the records at "data.items" are a number, want an array`, requests: 1},
		{name: "a value that does not fit", responses: []func(http.ResponseWriter, *http.Request){body("application/json", `[{"id": "one"}]`)},
			wantErr: "record 0: field id: a string does not fit its type", requests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			srv, n := faultServer(t, tt.responses...)
			cfg := testConfig(srv.URL)
			cfg.Schema = []Column{{Name: "id", Type: "int64"}, {Name: "name", Type: "string"}}
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			c := newConsumer(t, mem, cfg)
			var waits []time.Duration
			c.client.sleep = func(ctx context.Context, d time.Duration) error {
				waits = append(waits, d)
				return ctx.Err()
			}
			parts, _ := c.Partitions(t.Context(), testkit.RunInstance())
			var rows int64
			err := c.Read(t.Context(), parts[0], func(b arrow.RecordBatch) error {
				rows += b.NumRows()
				return nil
			})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Read: %v", err)
			case tt.wantErr == "" && rows != 2:
				t.Errorf("%d rows, want 2", rows)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), "page 1 of GET "+srv.URL):
				t.Errorf("error %v does not name the page and URL", err)
			}
			if got := n.Load(); got != tt.requests {
				t.Errorf("%d requests, want %d", got, tt.requests)
			}
			if tt.waits != "" {
				for i := range waits {
					waits[i] = waits[i].Round(time.Second)
				}
				if fmt.Sprint(waits) != tt.waits {
					t.Errorf("waited %v, want %s", waits, tt.waits)
				}
			}
		})
	}
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	cfg := testConfig(url)
	cfg.Retries = 2
	c := newConsumer(t, memory.NewGoAllocator(), cfg)
	var waits int
	c.client.sleep = func(ctx context.Context, d time.Duration) error { waits++; return nil }
	err := readErr(t, c)
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "(after 2 retries)") || waits != 2 {
		t.Errorf("error %v after %d waits, want connection refused after 2 retries", err, waits)
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	c := &client{backoff: 100 * time.Millisecond, maxBackoff: time.Second}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 40: time.Second} {
		for range 20 {
			d := c.delay(attempt, fmt.Errorf("connection reset"))
			if d < want/2 || d > want {
				t.Errorf("attempt %d: delay %v outside [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}

func TestRateAndConcurrencyLimits(t *testing.T) {
	var inFlight, peak, requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		fmt.Fprint(w, `[{"id": 1}]`)
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL + "/{{ .Partition.Lo }}")
	cfg.Concurrency, cfg.RateLimit = 2, 50
	cfg.Partition = PartitionConfig{IDs: []string{"a", "b", "c", "d", "e", "f", "g", "h"}}
	c := newConsumer(t, memory.NewGoAllocator(), cfg)
	parts, _ := c.Partitions(t.Context(), testkit.RunInstance())
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Go(func() {
			if err := c.Read(t.Context(), p, func(arrow.RecordBatch) error { return nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// 8 requests at 50/s are spaced 20ms apart: at least 140ms from the first to the last.
	if el := time.Since(start); el < 140*time.Millisecond {
		t.Errorf("8 requests took %v at a rate limit of 50/s", el)
	}
	if p := peak.Load(); p > 2 {
		t.Errorf("%d requests in flight at once, want at most 2", p)
	}
	if requests.Load() != 8 {
		t.Errorf("%d requests, want 8", requests.Load())
	}
}

func TestRedactURL(t *testing.T) {
	got := redactURL("https://user:pw@api.example/v1?api_key=abc&page=2&Token=x", map[string]bool{"api_key": true, "token": true})
	if want := "https://api.example/v1?Token=REDACTED&api_key=REDACTED&page=2"; got != want {
		t.Errorf("redactURL = %s, want %s", got, want)
	}
}
