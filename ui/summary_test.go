package ui

import (
	"testing"

	"github.com/jetflow-dev/jetflow/state"
)

func TestAttemptSummary(t *testing.T) {
	failed := []state.Attempt{{Number: 1, Failure: state.Failure{Class: "transient", Cause: "connection reset"}}, {Number: 2, Failure: state.Failure{Class: "fatal", Cause: "no such table"}}}
	tests := []struct {
		name     string
		attempts []state.Attempt
		err      string
		want     string
	}{
		{"last failure's class and cause", failed, "read orders: no such table\nmore", "fatal: no such table"},
		{"error from a store older than the attempts table", nil, "read orders: timeout\nmore", "read orders: timeout"},
		{"attempt without a recorded cause", []state.Attempt{{Number: 1}}, "boom", "boom"},
		{"retried, then committed", failed, "", "2 attempts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := attemptSummary(tt.attempts, tt.err); got != tt.want {
				t.Errorf("attemptSummary = %q, want %q", got, tt.want)
			}
		})
	}
}
