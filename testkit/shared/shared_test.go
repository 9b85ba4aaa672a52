package shared

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// recorder stands in for a test to see what Get fails with.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Fatal(args ...any)         { r.failed = fmt.Sprint(args...) }
func (r *recorder) Fatalf(f string, a ...any) { r.failed = fmt.Sprintf(f, a...) }

func TestGet(t *testing.T) {
	starts := 0
	ok := New("demotest", "Demo", func(context.Context) (*int, error) { starts++; n := 7; return &n, nil }, func(*int) error { return nil })

	var r recorder
	ok.Get(&r)
	if want := "demotest.Start: add `func TestMain(m *testing.M) { demotest.Main(m) }` to the package's tests, so the shared Demo server is stopped after them"; r.failed != want {
		t.Errorf("without Main: %q, want %q", r.failed, want)
	}

	ok.inMain.Store(true) // as Main does before running the tests
	for range 3 {
		if srv := ok.Get(t); *srv != 7 {
			t.Fatalf("Get = %d", *srv)
		}
	}
	if starts != 1 || !ok.started {
		t.Errorf("%d starts (started %v), want one start shared by every Get", starts, ok.started)
	}

	broken := New("demotest", "Demo", func(context.Context) (*int, error) { return nil, errors.New("no binary") }, func(*int) error { return nil })
	broken.inMain.Store(true)
	r = recorder{}
	broken.Get(&r)
	if r.failed != "no binary" || broken.started {
		t.Errorf("a server that does not start: %q (started %v)", r.failed, broken.started)
	}
}
