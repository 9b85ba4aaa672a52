// Package shared keeps one server for all the tests of a test binary: the first test that asks starts it, and
// the package's TestMain stops it after the last test. testkit/pgtest and testkit/chtest use it for PostgreSQL and
// ClickHouse.
package shared

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// Server is the shared server of one kind (S is the package's own server type).
type Server[S any] struct {
	pkg, what string
	start     func(context.Context) (S, error)
	stop      func(S) error

	once    sync.Once
	inMain  atomic.Bool
	srv     S
	started bool
	err     error
}

// New describes a shared server: pkg names the package in messages ("pgtest"), what the server ("PostgreSQL").
func New[S any](pkg, what string, start func(context.Context) (S, error), stop func(S) error) *Server[S] {
	return &Server[S]{pkg: pkg, what: what, start: start, stop: stop}
}

// Main runs the tests and then stops the server, if a test started it. Call it from TestMain.
func (s *Server[S]) Main(m *testing.M) {
	s.inMain.Store(true)
	code := m.Run()
	if s.started {
		if err := s.stop(s.srv); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", s.pkg, err)
		}
	}
	os.Exit(code)
}

// Get returns the server, starting it on first use; it fails the test when the server does not start, and when
// the package's TestMain does not call Main (the server would outlive the tests).
func (s *Server[S]) Get(t testing.TB) S {
	t.Helper()
	if !s.inMain.Load() {
		t.Fatalf("%[1]s.Start: add `func TestMain(m *testing.M) { %[1]s.Main(m) }` to the package's tests, "+
			"so the shared %[2]s server is stopped after them", s.pkg, s.what)
	}
	s.once.Do(func() {
		s.srv, s.err = s.start(context.Background())
		s.started = s.err == nil
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.srv
}
