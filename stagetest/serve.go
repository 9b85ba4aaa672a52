package stagetest

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
)

// recorded serves a case's recorded responses and remembers the requests nothing matched, which the case reports.
type recorded struct {
	c      *Case
	mu     sync.Mutex
	missed []string
}

func (rs *recorded) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	best, bestParams := -1, -1
	for i, s := range rs.c.Serve {
		path, query, _ := strings.Cut(s.Request, "?")
		if path != req.URL.Path {
			continue
		}
		want, err := url.ParseQuery(query)
		if err != nil {
			continue
		}
		got := req.URL.Query()
		ok := true
		for k := range want {
			if got.Get(k) != want.Get(k) {
				ok = false
			}
		}
		if ok && len(want) > bestParams {
			best, bestParams = i, len(want)
		}
	}
	if best < 0 {
		rs.mu.Lock()
		rs.missed = append(rs.missed, req.URL.RequestURI())
		rs.mu.Unlock()
		http.Error(w, "stagetest: no recorded response for "+req.URL.RequestURI(), http.StatusNotFound)
		return
	}
	data, err := os.ReadFile(rs.c.fixturePath(rs.c.Serve[best].File))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}

// check reports the fixtures that cannot be read before the consumer runs, at their position.
func (rs *recorded) check() error {
	for _, s := range rs.c.Serve {
		if _, err := os.Stat(rs.c.fixturePath(s.File)); err != nil {
			return &caseError{at: rs.c.where(s.node), err: fmt.Errorf("serve: %w", err)}
		}
	}
	return nil
}

func (rs *recorded) missedErr() error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.missed) == 0 {
		return nil
	}
	return fmt.Errorf("the consumer asked for %s, which serve: has no response for (a request matches an entry with its path and every parameter of its query)",
		strings.Join(rs.missed, ", "))
}

// startServer starts the recorded responses' server.
func startServer(c *Case) (*httptest.Server, *recorded, error) {
	rs := &recorded{c: c}
	if err := rs.check(); err != nil {
		return nil, nil, err
	}
	return httptest.NewServer(rs), rs, nil
}

var originRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*`)

// withBaseURL copies a consumer config (a pointer to its struct) with the scheme and host of every url: key,
// nested ones included, replaced by base.
func withBaseURL(cfg any, base string) (any, error) {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("its config is %T, not a struct", cfg)
	}
	cp := reflect.New(v.Elem().Type())
	cp.Elem().Set(v.Elem())
	n := 0
	rebase(cp.Elem(), base, &n)
	if n == 0 {
		return nil, errors.New("it has no url: key to point at the recorded responses, so serve: cannot be used with it")
	}
	return cp.Interface(), nil
}

// rebase rewrites the url: fields under v, copying the structs it reaches through pointers so the pipeline's own
// config stays as it is.
func rebase(v reflect.Value, base string, n *int) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || v.Elem().Kind() != reflect.Struct {
			return
		}
		cp := reflect.New(v.Elem().Type())
		cp.Elem().Set(v.Elem())
		v.Set(cp)
		rebase(cp.Elem(), base, n)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "url" && f.Type.Kind() == reflect.String {
				if u := v.Field(i).String(); originRE.MatchString(u) {
					v.Field(i).SetString(originRE.ReplaceAllLiteralString(u, base))
					*n++
				}
				continue
			}
			rebase(v.Field(i), base, n)
		}
	}
}
