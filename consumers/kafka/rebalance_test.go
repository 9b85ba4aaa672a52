package kafka

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
)

const rebalancePipeline = `name: rb
consumer:
  type: kafka
  brokers: ["${BROKERS}"]
  topics: [rb]
  session_timeout: 6s
  batch_rows: 200
  roll: {rows: 300, interval: 200ms}
` + ordersSchema + `loaders:
  - type: parquet
    path: ${OUT}/
`

// TestRebalanceTwoProcesses runs two `jetflow run --stream` processes in one consumer group over one state
// store while a producer writes. The second joining makes the group move topic-partitions away from the first,
// which must commit or abort its partitions in flight before letting go; then the first is SIGKILLed and the
// second takes over its topic-partitions after the session timeout. Every key lands exactly once.
func TestRebalanceTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the jetflow binary")
	}
	kc := kafkatest.StartProcess(t, "-topic", "rb:4")
	dir, out := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rb.yaml"), []byte(rebalancePipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"BROKERS=" + kc.Brokers(), "OUT=" + out}
	logs := t.TempDir()
	logA, logB := filepath.Join(logs, "a.log"), filepath.Join(logs, "b.log")
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range []string{logA, logB} {
				b, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", filepath.Base(l), b)
			}
		}
	})
	jetflowBinary(t)
	prod := startProducer(t, kc, "rb", 4, 50, 10*time.Millisecond)
	a := startJetflow(t, dir, env, logA, "run", "rb.yaml", "--stream")
	waitFor(t, 20*time.Second, "the first process to commit", func() bool { return len(ids(t, out)) > 0 })
	b := startJetflow(t, dir, env, logB, "run", "rb.yaml", "--stream")
	waitFor(t, 30*time.Second, "the second process to commit a partition", func() bool {
		log, _ := os.ReadFile(logB)
		return strings.Contains(string(log), "partition committed")
	})
	logged, _ := os.ReadFile(logA)
	if !strings.Contains(string(logged), "lane handed back to the group") {
		t.Errorf("the first process did not hand lanes back when the second joined")
	}
	time.Sleep(time.Second)
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.Wait()
	time.Sleep(time.Second)
	n := prod.finish(t)
	waitFor(t, 60*time.Second, "the second process to load every key", func() bool { return len(ids(t, out)) >= n })
	if err := b.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(); err != nil {
		t.Fatalf("second process after SIGTERM: %v", err)
	}
	checkExactlyOnce(t, ids(t, out), n)
}
