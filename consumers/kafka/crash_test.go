package kafka

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/jetflow-dev/jetflow/loaders/iceberg"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
)

var (
	jetflowOnce sync.Once
	jetflowPath string
	jetflowErr  error
)

// jetflowBinary builds the real jetflow command once per test process: the crash and rebalance tests kill it.
func jetflowBinary(t testing.TB) string {
	t.Helper()
	jetflowOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "kafka-jetflow-")
		if err != nil {
			jetflowErr = err
			return
		}
		jetflowPath = filepath.Join(dir, "jetflow")
		cmd := exec.Command("go", "build", "-o", jetflowPath, "./cmd/jetflow")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			jetflowErr = fmt.Errorf("go build ./cmd/jetflow: %v\n%s", err, out)
		}
	})
	if jetflowErr != nil {
		t.Fatal(jetflowErr)
	}
	return jetflowPath
}

// startJetflow starts `jetflow args...` in dir; its output goes to log.
func startJetflow(t testing.TB, dir string, env []string, log string, args ...string) *exec.Cmd {
	t.Helper()
	f, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(jetflowBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// producer writes keys 0, 1, 2, ... round-robin over the topic's partitions until stopped.
type producer struct {
	n    atomic.Int64
	stop chan struct{}
	done chan error
}

func startProducer(t testing.TB, kc *kafkatest.Cluster, topic string, partitions int32, batch int, every time.Duration) *producer {
	cl := kc.Client(t)
	p := &producer{stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				p.done <- nil
				return
			case <-tick.C:
			}
			k := int(p.n.Load())
			recs := make([]*kgo.Record, batch)
			for i := range recs {
				recs[i] = &kgo.Record{Topic: topic, Partition: int32(k+i) % partitions, Key: []byte(strconv.Itoa(k + i)), Value: orderJSON(k + i)}
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				p.done <- err
				return
			}
			p.n.Add(int64(batch))
		}
	}()
	return p
}

func (p *producer) finish(t testing.TB) int {
	t.Helper()
	close(p.stop)
	if err := <-p.done; err != nil {
		t.Fatalf("producer: %v", err)
	}
	return int(p.n.Load())
}

const crashConsumer = `name: events
consumer:
  type: kafka
  brokers: ["${BROKERS}"]
  topics: [events]
  group_instance_id: ${INSTANCE}
  session_timeout: 6s
  batch_rows: 200
  roll: {rows: 400, interval: %s}
` + ordersSchema

// crashSinks are the loaders the crash test streams into, each with how to count the keys it holds.
var crashSinks = []struct {
	name     string
	interval string
	loader   string
	keys     func(t testing.TB, out string) map[int64]int
}{
	{"parquet", "150ms", "loaders:\n  - type: parquet\n    path: ${OUT}/\n", ids},
	{"iceberg", "400ms", "loaders:\n  - type: iceberg\n    catalog: {type: sql, warehouse: \"${OUT}\"}\n    table: lake.events\n", icebergIDs},
}

// TestStreamSurvivesSIGKILL runs `jetflow run --stream` as a child process and SIGKILLs it at random moments 10
// times while a producer keeps writing; a last run catches up and stops on SIGTERM. Every produced key is in the
// output exactly once, for a Parquet and an Iceberg sink.
func TestStreamSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the jetflow binary")
	}
	for _, sink := range crashSinks {
		t.Run(sink.name, func(t *testing.T) {
			kc := kafkatest.StartProcess(t, "-topic", "events:4")
			dir, out := t.TempDir(), t.TempDir()
			yaml := fmt.Sprintf(crashConsumer, sink.interval) + sink.loader
			if err := os.WriteFile(filepath.Join(dir, "events.yaml"), []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			env := []string{"BROKERS=" + kc.Brokers(), "OUT=" + out, "INSTANCE=crash-test"}
			log := filepath.Join(t.TempDir(), "jetflow.log")
			t.Cleanup(func() {
				if t.Failed() {
					b, _ := os.ReadFile(log)
					t.Logf("jetflow output:\n%s", b)
				}
			})
			jetflowBinary(t)
			prod := startProducer(t, kc, "events", 4, 50, 10*time.Millisecond)
			for i := range 10 {
				cmd := startJetflow(t, dir, env, log, "run", "events.yaml", "--stream")
				time.Sleep(time.Duration(300+rand.IntN(1200)) * time.Millisecond)
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				err := cmd.Wait()
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
					t.Fatalf("kill %d: jetflow ended on its own before the kill: %v", i+1, err)
				}
			}
			before := len(sink.keys(t, out))
			n := prod.finish(t)
			if before == 0 {
				t.Fatalf("no partition committed across 10 runs (%d keys produced)", n)
			}
			cmd := startJetflow(t, dir, env, log, "run", "events.yaml", "--stream")
			waitFor(t, 90*time.Second, fmt.Sprintf("all %d keys in the output", n), func() bool { return len(sink.keys(t, out)) >= n })
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("jetflow after SIGTERM: %v", err)
			}
			checkExactlyOnce(t, sink.keys(t, out), n)
			checkNoLeftovers(t, out)
			t.Logf("%d keys produced; %d committed before the last run", n, before)
		})
	}
}

// checkNoLeftovers checks that the killed runs left nothing behind once the last run swept: no file under
// _jetflow/tmp/ (the Parquet sink), and every Parquet file under out is whole, so that DuckDB reads a plain glob
// (truncated Iceberg data files of killed attempts made it fail).
func checkNoLeftovers(t *testing.T, out string) {
	t.Helper()
	if left := testkit.TempLeftovers(out); len(left) > 0 {
		t.Errorf("killed attempts' files left in _jetflow/tmp/: %q", left)
	}
	rows := testkit.DuckDBQuery(t, fmt.Sprintf(`SELECT count(*) AS n FROM read_parquet('%s/**/*.parquet')`, out))
	if rows[0]["n"] == "" || rows[0]["n"] == "0" {
		t.Errorf("DuckDB over %s/**/*.parquet: %v", out, rows)
	}
}

// icebergIDs scans the Iceberg table lake.events of the SQLite catalog in warehouse with iceberg-go's own
// scanner and counts each id.
func icebergIDs(t testing.TB, warehouse string) map[int64]int {
	t.Helper()
	out := map[int64]int{}
	if _, err := os.Stat(filepath.Join(warehouse, "catalog.db")); err != nil {
		return out // no commit yet
	}
	p := parsePipeline(t, crashReader+"    catalog: {type: sql, warehouse: \""+warehouse+"\"}\n", nil)
	built, err := p.Build(stage.BuildContext{Pipeline: "events", Alloc: memory.NewGoAllocator()})
	if err != nil {
		t.Fatal(err)
	}
	built.Source.(*Consumer).Close()
	l := built.Loaders[0].(*iceberg.Loader)
	defer l.Close()
	ctx := context.Background()
	cat, err := l.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := cat.LoadTable(ctx, l.Ident())
	if err != nil {
		return out // not created yet
	}
	if tbl.CurrentSnapshot() == nil {
		return out
	}
	_, recs, err := tbl.Scan(table.WithSelectedFields("id")).ToArrowRecords(ctx)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	for b, err := range recs {
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		col := b.Column(0).(*array.Int64)
		for i := range col.Len() {
			out[col.Value(i)]++
		}
		b.Release()
	}
	return out
}

// crashReader is a pipeline whose only use is to build the iceberg loader the crash test wrote with, to read
// the table back.
const crashReader = `name: events
consumer: {type: kafka, brokers: ["localhost:1"], topics: [events], format: raw}
loaders:
  - type: iceberg
    table: lake.events
`
