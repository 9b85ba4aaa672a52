//go:build chserver

package clickhouse

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	_ "github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state/sqlite"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/chtest"
	"github.com/jetflow-dev/jetflow/testkit/faultproxy"
)

// Each fault ends in an error that says what failed and where, and never shows the password.
func TestErrors(t *testing.T) {
	srv := chtest.Start(t)
	db := srv.CreateDatabase(t)
	srv.Exec(t, db, "CREATE TABLE t (id UInt64, s String) ENGINE = MergeTree ORDER BY id",
		"INSERT INTO t SELECT number, toString(number) FROM system.numbers LIMIT 300000")
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := down.Addr().String()
	down.Close() // nothing listens there now
	for _, tc := range []struct {
		name  string
		cfg   Config
		want  []string
		field string // the config key a FieldError names, if any
	}{
		{"server down", Config{Addr: downAddr, Table: "t"}, []string{"connect to " + downAddr, "is the server up"}, ""},
		{"wrong password", Config{Addr: srv.Addr(), User: srv.User, Password: "not-the-password", Table: "t"},
			[]string{"connect to " + srv.Addr() + " as " + srv.User, "check user and password"}, ""},
		{"unknown user", Config{Addr: srv.Addr(), User: "nobody", Table: "t"}, []string{"as nobody", "check user and password"}, ""},
		{"unknown database", Config{Addr: srv.Addr(), Database: "no_such_db", Table: "t"}, []string{"no_such_db"}, "database"},
		{"unknown table", Config{Addr: srv.Addr(), Table: "missing"}, []string{"no table or view " + db + ".missing"}, "table"},
		{"unknown column", Config{Addr: srv.Addr(), Table: "t", Columns: []string{"id", "nope"}}, []string{`no column "nope"`}, "columns[1]"},
		{"partition column of a wrong type", Config{Addr: srv.Addr(), Table: "t", Partition: PartitionConfig{Column: "s", Count: 2}},
			[]string{`column "s" is String`}, "partition.column"},
		{"bad query", Config{Addr: srv.Addr(), Query: "SELEKT 1"}, []string{"Syntax error"}, "query"},
		{"unsupported type", Config{Addr: srv.Addr(), Query: "SELECT toIntervalDay(1) AS iv"},
			[]string{`read the query's columns on ` + srv.Addr() + `: column "iv" (IntervalDay): type not supported`}, "query"},
		// The server fails the query after it has sent blocks: a clear error naming the partition and the rows.
		{"error mid-stream", Config{Addr: srv.Addr(), BlockRows: 10000, Settings: map[string]string{"max_threads": "1"},
			Query: "SELECT id, throwIf(id = 250000) AS boom FROM t"}, []string{"partition all: read failed after 250000 rows", "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			if tc.cfg.Database == "" {
				tc.cfg.Database = db
			}
			c := newConsumer(t, mem, tc.cfg)
			err := readErr(t, c)
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to mention %q", err, w)
				}
			}
			if tc.cfg.Password != "" && strings.Contains(err.Error(), tc.cfg.Password.Reveal()) {
				t.Errorf("the error shows the password: %v", err)
			}
			var fe *stage.FieldError
			if errors.As(err, &fe) != (tc.field != "") || (fe != nil && fe.Path != tc.field) {
				t.Errorf("error %v: want a FieldError on %q", err, tc.field)
			}
		})
	}
	t.Run("TLS to the plain port", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(offheap.NewGuarded())
		defer mem.AssertSize(t, 0)
		c := newConsumer(t, mem, Config{Addr: srv.Addr(), Database: db, Query: "SELECT 1 AS one", TLS: TLSConfig{Enabled: true, CAFile: srv.CAFile}, DialTimeout: stage.Duration(2e9)})
		if err := readErr(t, c); err == nil || !strings.Contains(err.Error(), "connect to "+srv.Addr()) {
			t.Fatalf("TLS to a port without it: %v", err)
		}
	})
	t.Run("TLS, certificate not trusted", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(offheap.NewGuarded())
		defer mem.AssertSize(t, 0)
		c := newConsumer(t, mem, Config{Addr: srv.TLSAddr(), Database: db, Query: "SELECT 1 AS one", TLS: TLSConfig{Enabled: true}})
		if err := readErr(t, c); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("a self-signed certificate without ca_file: %v", err)
		}
	})
	t.Run("right password", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(offheap.NewGuarded())
		defer mem.AssertSize(t, 0)
		c := newConsumer(t, mem, Config{Addr: srv.Addr(), Database: db, User: srv.User, Password: stage.Secret(srv.Password), Query: "SELECT 1 AS one"})
		if rows, _ := testkit.ReadAllText(t, c); len(rows) != 1 || rows[0] != "1" {
			t.Fatalf("rows %q", rows)
		}
	})
}

// The connection drops in the middle of a partition's result (a proxy cuts it after 2 MB): the engine retries
// the partition, and the Parquet output holds every row exactly once.
func TestConnectionCutMidPartition(t *testing.T) {
	srv := chtest.Start(t)
	db := srv.CreateDatabase(t)
	srv.Exec(t, db, "CREATE TABLE big (id Int64, note String) ENGINE = MergeTree ORDER BY id",
		"INSERT INTO big SELECT toInt64(number + 1), concat('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', toString(number)) FROM system.numbers LIMIT 300000")
	proxy := faultproxy.Start(t, srv.Addr())
	out := t.TempDir()
	src := `name: big
retries: {attempts: 3, backoff: 10ms, max_backoff: 50ms}
consumer:
  type: clickhouse
  addr: ${CH_ADDR}
  database: ${CH_DB}
  table: big
  compression: none
  partition: {column: id, count: 2}
  block_rows: 5000
loaders:
  - type: parquet
    path: ${OUT}/big/
`
	env := map[string]string{"CH_ADDR": proxy.Addr, "CH_DB": db, "OUT": out}
	p, err := pipelines.Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}.Parse("big.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	built, err := p.Build(stage.BuildContext{Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	eng, err := engine.New(p.Job(built), store, engine.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	run, err := p.ParseRun("2026-11-22")
	if err != nil {
		t.Fatal(err)
	}
	// Planning reads little; the first result stream past 2 MB is a partition's rows (each is about 7 MB).
	proxy.CutAfter(2_000_000, 1)
	report, err := eng.Run(t.Context(), run)
	if err != nil || !report.OK() {
		t.Fatalf("run: %v %+v", err, report)
	}
	if proxy.Cuts() != 1 {
		t.Fatalf("the proxy cut %d connections, want 1", proxy.Cuts())
	}
	retried := false
	for _, pr := range report.Partitions {
		retried = retried || pr.Attempts > 1
	}
	if !retried {
		t.Fatalf("no partition took a second attempt after the cut: %+v", report.Partitions)
	}
	rec := testkit.ReadParquet(t, mem, filepath.Join(out, "big"))
	defer rec.Release()
	testkit.AssertIDsOnce(t, rec.Column(0).(*array.Int64), 1, 300000)
}

// A receiver's error stops the read and comes back as is.
func TestReceiverError(t *testing.T) {
	srv := chtest.Start(t)
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newConsumer(t, mem, Config{Addr: srv.Addr(), BlockRows: 1000, Query: "SELECT number FROM system.numbers LIMIT 100000"})
	stop := errors.New("enough")
	n := 0
	err := c.Read(t.Context(), stage.Partition{Key: "all"}, func(arrow.RecordBatch) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if err != stop || n != 3 {
		t.Fatalf("Read returned %v after %d batches, want the receiver's error after 3", err, n)
	}
}
