package testkit

import (
	"testing"

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
