package kafka

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
)

// TestBatchCrashRerun SIGKILLs `jetflow run` in batch mode right after a partition's Parquet commit and before
// the state store records it, while more messages arrive. The next run re-plans exactly the pinned ranges (the
// committed partition is replaced, not duplicated), a run of the same instance again reads nothing, and the next instance reads only what came later.
func TestBatchCrashRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the jetflow binary")
	}
	kc := kafkatest.StartProcess(t, "-topic", "orders:3")
	produceOrders(t, kc, "orders", 3, 0, 3000)
	dir, out := t.TempDir(), t.TempDir()
	yaml := `name: orders
run_instance: {every: 1d}
consumer:
  type: kafka
  brokers: ["${BROKERS}"]
  topics: [orders]
` + ordersSchema + `loaders:
  - type: parquet
    path: ${OUT}/
`
	if err := os.WriteFile(filepath.Join(dir, "orders.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"BROKERS=" + kc.Brokers(), "OUT=" + out}
	log := filepath.Join(t.TempDir(), "jetflow.log")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("jetflow output:\n%s", b)
		}
	})
	run := func(label string, extra ...string) (killed bool) {
		t.Helper()
		cmd := startJetflow(t, dir, append(env, extra...), log, "run", "orders.yaml", "--run", label, "--workers", "1")
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return true
		}
		if err != nil {
			t.Fatalf("jetflow run: %v", err)
		}
		return false
	}
	if !run("2026-11-22", "JETFLOW_FAILPOINTS=engine.before-state-commit=kill") {
		t.Fatal("the failpoint did not kill the run")
	}
	if got := ids(t, out); len(got) != 1000 {
		t.Fatalf("after the kill %d rows are visible, want the one partition committed before the state store (1000)", len(got))
	}
	produceOrders(t, kc, "orders", 3, 3000, 3600)
	if run("2026-11-22") {
		t.Fatal("the retry was killed")
	}
	checkExactlyOnce(t, ids(t, out), 3000) // the pinned plan: the new messages wait for the next run
	b, _ := os.ReadFile(log)
	if !strings.Contains(string(b), "partition committed") {
		t.Error("the retry committed nothing")
	}
	if run("2026-11-22") {
		t.Fatal("the instance run again was killed")
	}
	checkExactlyOnce(t, ids(t, out), 3000) // a committed instance keeps its window: the new messages are not its
	if run("2026-11-23") {
		t.Fatal("the next instance was killed")
	}
	checkExactlyOnce(t, ids(t, out), 3600)
}
