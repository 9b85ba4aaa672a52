package engine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
)

func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot start a child process: %v", err)
	}
	return cmd.Process.Pid
}

func TestOwnerGone(t *testing.T) {
	host, _ := os.Hostname()
	tests := []struct {
		owner string
		want  bool
	}{
		{fmt.Sprintf("%s:%d", host, deadPID(t)), true},
		{fmt.Sprintf("%s:%d", host, os.Getpid()), false},
		{fmt.Sprintf("%s:%d", host, os.Getppid()), false},
		{"another-host:1", false},
		{"worker-7", false},
	}
	for _, tt := range tests {
		if got := ownerGone(tt.owner); got != tt.want {
			t.Errorf("ownerGone(%q) = %v, want %v", tt.owner, got, tt.want)
		}
	}
}

// A re-run right after a SIGKILL finds the dead process's live lease and takes it over without waiting.
func TestRunTakesOverLeaseOfDeadProcess(t *testing.T) {
	mem := checked(t)
	store := openStore(t)
	tbl := newTable()
	host, _ := os.Hostname()
	dead := fmt.Sprintf("%s:%d", host, deadPID(t))
	job := newJob(&rangeSource{mem: mem, parts: 2, per: 10, batch: 5}, tbl)
	if _, err := store.Claim(context.Background(), state.Claim{Pipeline: "p", RunLabel: day.Label,
		ID: stage.PartitionID(job.Pipeline, day.Label, "n[000000,000010)"), Key: "n[000000,000010)", Owner: dead, Lease: time.Hour}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep := run(t, job, store, Options{Workers: 1})
	if !rep.OK() || rep.Committed != 2 {
		t.Fatalf("%+v", rep)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("run waited %v for a dead owner's lease", waited)
	}
	wantSequence(t, tbl.all(), 20)
}
