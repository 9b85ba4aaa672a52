package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jetflow-dev/jetflow/stage"
)

// authenticator adds credentials to a request. invalidate drops cached credentials after a 401.
type authenticator interface {
	apply(ctx context.Context, req *http.Request) error
	invalidate()
}

type noAuth struct{}

func (noAuth) apply(context.Context, *http.Request) error { return nil }
func (noAuth) invalidate()                                {}

type headerAuth struct{ name, value string }

func (a headerAuth) apply(_ context.Context, req *http.Request) error {
	req.Header.Set(a.name, a.value)
	return nil
}
func (headerAuth) invalidate() {}

type basicAuth struct{ user, pass string }

func (a basicAuth) apply(_ context.Context, req *http.Request) error {
	req.SetBasicAuth(a.user, a.pass)
	return nil
}
func (basicAuth) invalidate() {}

type queryAuth struct{ name, value string }

func (a queryAuth) apply(_ context.Context, req *http.Request) error {
	q := req.URL.Query()
	q.Set(a.name, a.value)
	req.URL.RawQuery = q.Encode()
	return nil
}
func (queryAuth) invalidate() {}

// oauth2 fetches a client-credentials token and reuses it until shortly before it expires; concurrent
// requests share one fetch.
type oauth2 struct {
	hc       *http.Client
	tokenURL string
	id       string
	secret   string
	scopes   []string
	now      func() time.Time
	red      *stage.Redactor // receives each token fetched, so no output shows it

	mu      sync.Mutex
	token   string
	expires time.Time
}

// expiryMargin renews a token this long before the server says it expires, so that a request in flight
// never carries a token that dies on the way.
const expiryMargin = 30 * time.Second

func (a *oauth2) apply(ctx context.Context, req *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == "" || !a.now().Before(a.expires) {
		if err := a.fetch(ctx); err != nil {
			return err
		}
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	return nil
}

func (a *oauth2) invalidate() {
	a.mu.Lock()
	a.token = ""
	a.mu.Unlock()
}

func (a *oauth2) fetch(ctx context.Context) error {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(a.scopes) > 0 {
		form.Set("scope", strings.Join(a.scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("oauth2 token request to %s: %w", redactURL(a.tokenURL, nil), err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(a.id), url.QueryEscape(a.secret))
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("oauth2 token request to %s: %w", redactURL(a.tokenURL, nil), scrubErr(err, a.secret))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("oauth2 token response from %s: %w", redactURL(a.tokenURL, nil), err)
	}
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			// Wrong credentials do not get better with retries.
			return &permanentError{fmt.Errorf("oauth2 token request to %s: status %s: %s; check auth.client_id, auth.client_secret and auth.scopes",
				redactURL(a.tokenURL, nil), resp.Status, scrub(snippet(body), a.secret))}
		}
		return fmt.Errorf("oauth2 token request to %s: status %s: %s; check auth.client_id, auth.client_secret and auth.scopes",
			redactURL(a.tokenURL, nil), resp.Status, scrub(snippet(body), a.secret))
	}
	var tok struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return fmt.Errorf("oauth2 token response from %s has no access_token", redactURL(a.tokenURL, nil))
	}
	a.token = tok.AccessToken
	a.red.Add(a.token)
	// expires_in is a number of seconds, sometimes sent as a string; without it, assume an hour.
	secs := 3600.0
	if s := strings.Trim(string(tok.ExpiresIn), `"`); s != "" {
		if _, err := fmt.Sscan(s, &secs); err != nil {
			secs = 3600
		}
	}
	a.expires = a.now().Add(time.Duration(secs*float64(time.Second)) - expiryMargin)
	return nil
}

// newAuth checks the auth config and returns its authenticator and the secrets to scrub from errors.
func newAuth(c Auth, hc *http.Client) (authenticator, []string, error) {
	need := func(key string, ok bool) error {
		if !ok {
			return stage.FieldErrorf("auth."+key, "auth type %s needs %s", c.Type, key)
		}
		return nil
	}
	switch c.Type {
	case "none":
		return noAuth{}, nil, nil
	case "bearer":
		if err := need("token", c.Token != ""); err != nil {
			return nil, nil, err
		}
		return headerAuth{"Authorization", "Bearer " + c.Token.Reveal()}, []string{c.Token.Reveal()}, nil
	case "basic":
		if err := need("username", c.Username != ""); err != nil {
			return nil, nil, err
		}
		return basicAuth{c.Username, c.Password.Reveal()}, []string{c.Password.Reveal()}, nil
	case "api_key":
		if err := need("key", c.Key != ""); err != nil {
			return nil, nil, err
		}
		if c.In == "query" {
			return queryAuth{c.Name, c.Key.Reveal()}, []string{c.Key.Reveal()}, nil
		}
		return headerAuth{c.Name, c.Key.Reveal()}, []string{c.Key.Reveal()}, nil
	case "oauth2":
		for _, k := range []struct {
			key string
			ok  bool
		}{{"token_url", c.TokenURL != ""}, {"client_id", c.ClientID != ""}, {"client_secret", c.ClientSecret != ""}} {
			if err := need(k.key, k.ok); err != nil {
				return nil, nil, err
			}
		}
		if u, err := url.Parse(c.TokenURL); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, nil, stage.FieldErrorf("auth.token_url", "token_url must be an absolute http(s) URL")
		}
		return &oauth2{hc: hc, tokenURL: c.TokenURL, id: c.ClientID, secret: c.ClientSecret.Reveal(), scopes: c.Scopes, now: time.Now},
			[]string{c.ClientSecret.Reveal()}, nil
	}
	return nil, nil, stage.FieldErrorf("auth.type", "unknown auth type %q; use none, bearer, basic, api_key or oauth2", c.Type)
}

// registerAuth tells the pipeline's redactor the secrets an authenticator derives from its config: the Basic
// header's encoded user:password, and the tokens an oauth2 client will fetch.
func registerAuth(red *stage.Redactor, a authenticator) {
	switch a := a.(type) {
	case basicAuth:
		red.Add(base64.StdEncoding.EncodeToString([]byte(a.user + ":" + a.pass)))
	case *oauth2:
		a.red = red
	}
}
