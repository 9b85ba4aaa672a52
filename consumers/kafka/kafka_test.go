package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	_ "github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/state/sqlite"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
)

func parsePipeline(t testing.TB, src string, env map[string]string) *pipelines.Pipeline {
	t.Helper()
	p, err := pipelines.Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}.Parse("kafka.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pipelineEngine builds p on mem and returns an engine for it over store; the consumer is closed when the test ends.
func pipelineEngine(t testing.TB, p *pipelines.Pipeline, mem memory.Allocator, store state.Store) (*engine.Engine, *Consumer) {
	t.Helper()
	return pipelineEngineLog(t, p, mem, store, nil)
}

// pipelineEngineLog is pipelineEngine with the stages logging to log (nil: discarded), built as the CLI builds
// them: with the pipeline's name.
func pipelineEngineLog(t testing.TB, p *pipelines.Pipeline, mem memory.Allocator, store state.Store, log *slog.Logger) (*engine.Engine, *Consumer) {
	t.Helper()
	built, err := p.Build(stage.BuildContext{Pipeline: p.Name, Alloc: mem, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	c := built.Source.(*Consumer)
	t.Cleanup(func() { c.Close() })
	eng, err := engine.New(p.Job(built), store, engine.Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	return eng, c
}

func tempStore(t testing.TB) state.Store {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// orderJSON is the test message of key k: about 200 bytes of JSON.
func orderJSON(k int) []byte {
	return fmt.Appendf(nil, `{"id": %d, "customer": "customer-%06d", "total": %d.%02d, "status": "shipped", "tags": ["a", "b%d"], `+
		`"address": {"city": "Paris", "zip": "750%02d"}, "note": "the quick brown fox jumps over the lazy dog"}`,
		k, k%1000, k%997, k%100, k%7, k%20)
}

// produceOrders writes keys [from, to) round-robin over partitions.
func produceOrders(t testing.TB, kc *kafkatest.Cluster, topic string, partitions int32, from, to int) {
	t.Helper()
	recs := make([]*kgo.Record, 0, to-from)
	for k := from; k < to; k++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(k) % partitions, Key: []byte(strconv.Itoa(k)), Value: orderJSON(k)})
	}
	kc.Produce(t, recs...)
}

const ordersSchema = `  schema:
    - {name: id, type: int64}
    - {name: customer, type: string}
    - {name: total, type: "decimal(10,2)"}
    - {name: tags, type: "list<string>"}
    - {name: address, type: "struct<city: string, zip: string>"}
`

// ids reads the id column of every Parquet file under dir and returns how often each id occurs.
func ids(t testing.TB, dir string) map[int64]int {
	t.Helper()
	mem := memory.NewGoAllocator()
	rec := testkit.ReadParquet(t, mem, dir)
	out := map[int64]int{}
	if rec == nil {
		return out
	}
	defer rec.Release()
	col := rec.Column(rec.Schema().FieldIndices("id")[0]).(*array.Int64)
	for i := range col.Len() {
		out[col.Value(i)]++
	}
	return out
}

// checkExactlyOnce fails unless every key in [0, n) occurs exactly once.
func checkExactlyOnce(t testing.TB, got map[int64]int, n int) {
	t.Helper()
	var missing, dup []int64
	for k := range int64(n) {
		switch got[k] {
		case 1:
		case 0:
			missing = append(missing, k)
		default:
			dup = append(dup, k)
		}
	}
	extra := 0
	for k := range got {
		if k < 0 || k >= int64(n) {
			extra++
		}
	}
	if len(missing) > 0 || len(dup) > 0 || extra > 0 {
		sort.Slice(missing, func(i, j int) bool { return missing[i] < missing[j] })
		t.Fatalf("want keys 0..%d exactly once: %d missing (first %v), %d duplicated (first %v), %d unexpected",
			n-1, len(missing), head(missing), len(dup), head(dup), extra)
	}
}

func head(s []int64) []int64 { return s[:min(len(s), 5)] }

// TestBatchRunsThroughTheEngine loads a topic of three partitions into Parquet through the engine, twice with
// new messages in between: each run reads exactly what the last one did not, and an unchanged topic loads
// nothing. DuckDB, an independent reader, checks the decoded values.
func TestBatchRunsThroughTheEngine(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "orders", 3)
	produceOrders(t, kc, "orders", 3, 0, 3000)
	out := t.TempDir()
	p := parsePipeline(t, `name: orders
run_instance: {every: 1d}
consumer:
  type: kafka
  brokers: ["${BROKERS}"]
  topics: [orders]
  batch_rows: 700
`+ordersSchema+`loaders:
  - type: parquet
    path: ${OUT}/
`, map[string]string{"BROKERS": kc.Brokers(), "OUT": out})
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	store := tempStore(t)

	run := func(label string) *engine.Report {
		t.Helper()
		eng, _ := pipelineEngine(t, p, mem, store)
		ri := stage.RunInstance{Start: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), Label: label}
		rep, err := eng.Run(t.Context(), ri)
		if err != nil {
			t.Fatalf("run %s: %v", label, err)
		}
		if !rep.OK() {
			t.Fatalf("run %s: %+v", label, rep.Partitions)
		}
		return rep
	}
	rep := run("2026-11-22")
	if len(rep.Partitions) != 3 {
		t.Fatalf("first run: %d partitions, want one per topic-partition", len(rep.Partitions))
	}
	checkExactlyOnce(t, ids(t, out), 3000)

	produceOrders(t, kc, "orders", 3, 3000, 4500)
	rep = run("2026-11-23")
	for _, pr := range rep.Partitions {
		if pr.Rows != 500 {
			t.Errorf("second run partition %s: %d rows, want the 500 new ones", pr.Key, pr.Rows)
		}
	}
	checkExactlyOnce(t, ids(t, out), 4500)

	if rep = run("2026-11-24"); len(rep.Partitions) != 0 {
		t.Errorf("a run with no new messages planned %v", rep.Partitions)
	}

	rows := testkit.DuckDBQuery(t, "SELECT id, customer, total::VARCHAR AS total, tags::VARCHAR AS tags, address.zip AS zip FROM read_parquet('"+out+"/**/*.parquet') WHERE id = 4242")
	want := map[string]string{"id": "4242", "customer": "customer-000242", "total": "254.42", "tags": "[a, b0]", "zip": "75002"}
	if len(rows) != 1 || fmt.Sprint(rows[0]) != fmt.Sprint(want) {
		t.Errorf("DuckDB reads %v, want %v", rows, want)
	}
}

func newTestConsumer(t testing.TB, mem memory.Allocator, cfg Config) *Consumer {
	t.Helper()
	if cfg.BatchRows == 0 {
		cfg.BatchRows = 1024
	}
	if len(cfg.Brokers) == 0 {
		cfg.Brokers = []string{"127.0.0.1:1"}
	}
	if len(cfg.Topics) == 0 {
		cfg.Topics = []string{"t"}
	}
	// The registry's path: absent keys take the defaults a pipeline file would get.
	src, err := stage.Build(stage.BuildContext{Pipeline: "test", Alloc: mem}, &cfg, build)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return src.(*Consumer)
}

// decodeAll runs messages through a partition reader and returns the batches' rows as JSON lines and the errors.
func decodeAll(t *testing.T, c *Consumer, values ...string) (rows []string, errs []string) {
	t.Helper()
	return decodeWith(t, c, nil, values...)
}

// decodeWith is decodeAll with prepare called on the reader's batcher first.
func decodeWith(t *testing.T, c *Consumer, prepare func(*batcher), values ...string) (rows []string, errs []string) {
	t.Helper()
	r := c.newPartReader(t.Context(), c.schema, func(rec arrow.RecordBatch) error {
		for i := range int(rec.NumRows()) {
			var cells []string
			for j, col := range rec.Columns() {
				cells = append(cells, rec.ColumnName(j)+"="+col.ValueStr(i))
			}
			rows = append(rows, strings.Join(cells, " "))
		}
		return nil
	})
	defer r.b.release()
	if prepare != nil {
		prepare(r.b)
	}
	for i, v := range values {
		rec := &kgo.Record{Topic: "t", Partition: 0, Offset: int64(i), Value: []byte(v), Key: []byte("k" + strconv.Itoa(i)),
			Timestamp: time.UnixMilli(1_700_000_000_000 + int64(i)).UTC(), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}
		if err := r.record(rec); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if err := r.flush(); err != nil {
		t.Fatal(err)
	}
	for _, b := range r.bad {
		errs = append(errs, "dead: "+b.Err)
	}
	return rows, errs
}

func stageContext() stage.BuildContext {
	return stage.BuildContext{Pipeline: "test", Alloc: memory.NewGoAllocator()}
}

// TestBatchTransactionalTopic reads a topic written by a transactional producer: committed transactions load,
// aborted ones do not, and the transaction markers at the end of the range do not keep the read waiting.
func TestBatchTransactionalTopic(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "tx", 1)
	cl := kc.Client(t, kgo.TransactionalID("jetflow-test"))
	txn := func(from, to int, commit bool) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for k := from; k < to; k++ {
			if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "tx", Value: orderJSON(k)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(t.Context(), kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	txn(0, 10, true)
	txn(100, 105, false)
	txn(10, 13, true)
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newTestConsumer(t, mem, Config{Brokers: kc.Addrs, Topics: []string{"tx"}, Schema: []Column{{Name: "id", Type: "int64"}}})
	defer c.Close()
	c.ResumeWatermark("", false)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	parts, err := c.Partitions(ctx, stage.RunInstance{Label: "r"})
	if err != nil || len(parts) != 1 {
		t.Fatalf("partitions %v, %v", parts, err)
	}
	got := map[int64]int{}
	err = c.Read(ctx, parts[0], func(rec arrow.RecordBatch) error {
		col := rec.Column(0).(*array.Int64)
		for i := range col.Len() {
			got[col.Value(i)]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, got, 13)
}
