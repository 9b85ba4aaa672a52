package testkit

import (
	"context"
	"net"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/jetflow-dev/jetflow/stage"
)

// AssertFault checks how a stage classified the fault err: marked fatal (stage.Fatal) with reason, or, when
// reason is "", left unmarked, for the engine's retries. A nil err fails the test: the fault did not happen.
func AssertFault(t testing.TB, err error, reason string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error: the fault did not happen")
	}
	f, fatal := stage.AsFatal(err)
	switch {
	case fatal && reason == "":
		t.Fatalf("marked fatal (%q), want it left to the retries: %v", f.Reason, err)
	case !fatal && reason != "":
		t.Fatalf("not marked fatal, want %q: %v", reason, err)
	case fatal && f.Reason != reason:
		t.Fatalf("marked fatal with reason %q, want %q: %v", f.Reason, reason, err)
	}
}

// ReadErr reads every partition of RunInstance from c as the engine would (schema, partitions, each partition in
// turn), discarding the rows, and returns the first error: the fault a test provoked.
func ReadErr(ctx context.Context, c stage.Consumer) error {
	if _, err := c.Schema(ctx); err != nil {
		return err
	}
	parts, err := c.Partitions(ctx, RunInstance())
	if err != nil {
		return err
	}
	for _, p := range parts {
		if err := c.Read(ctx, p, func(arrow.RecordBatch) error { return nil }); err != nil {
			return err
		}
	}
	return nil
}

// ClosedAddr is a 127.0.0.1 host:port that nothing listens on, for a server that is down: a port the system
// handed out a moment ago and took back.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
