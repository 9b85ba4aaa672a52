//go:build chserver

package clickhouse

import (
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/chtest"
)

// The tests in the files tagged chserver run against a real clickhouse-server (Debian's 18.16, started by
// chtest) and need the patched ch-go: run them with testkit/chtest/gotest-patched.sh ./consumers/clickhouse/...

func TestMain(m *testing.M) { chtest.Main(m) }

func newConsumer(t testing.TB, mem memory.Allocator, cfg Config) *Consumer {
	t.Helper()
	// The registry's path: absent keys take the defaults a pipeline file would get.
	src, err := stage.Build(stage.BuildContext{Pipeline: "test", Alloc: mem}, &cfg, build)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return src.(*Consumer)
}

// events: 20,000 rows, one every 4 s from 2026-01-01 00:00 UTC (the test run instance's day), with a Date column.
func createEvents(t *testing.T, srv *chtest.Server, db string) {
	t.Helper()
	srv.Exec(t, db, "CREATE TABLE events (id Int64, at DateTime, day Date, name String, amount Nullable(Decimal(12, 2))) ENGINE = MergeTree ORDER BY id",
		"INSERT INTO events SELECT toInt64(number), toDateTime('2026-01-01 00:00:00', 'UTC') + number * 4, toDate('2026-01-01'), "+
			"concat('e', toString(number)), if(number % 7 = 0, NULL, toDecimal64(number / 100, 2)) FROM system.numbers LIMIT 20000")
}

// TLS to the server's secure port, the certificate verified with ca_file; a read is the same as in plain text.
func TestTLS(t *testing.T) {
	srv := chtest.Start(t)
	db := srv.CreateDatabase(t)
	createEvents(t, srv, db)
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newConsumer(t, mem, Config{Addr: srv.TLSAddr(), Database: db, Table: "events", Columns: []string{"id"},
		Partition: PartitionConfig{Column: "id", Count: 2}, TLS: TLSConfig{Enabled: true, CAFile: srv.CAFile}})
	rows, _ := testkit.ReadAllText(t, c)
	if len(rows) != 20000 || rows[19999] != "19999" {
		t.Fatalf("%d rows over TLS", len(rows))
	}
}

// The partitions of each kind of config cover every row once, and their keys are the canonical bounds.
func TestPartitions(t *testing.T) {
	srv := chtest.Start(t)
	db := srv.CreateDatabase(t)
	createEvents(t, srv, db)
	for _, tc := range []struct {
		name string
		cfg  Config
		keys []string
	}{
		{"none", Config{Table: "events"}, []string{"all"}},
		{"integer step", Config{Table: "events", Partition: PartitionConfig{Column: "id", Step: 8000}},
			[]string{"id[0,8000)", "id[8000,16000)", "id[16000,24000)"}},
		{"integer count", Config{Table: "events", Partition: PartitionConfig{Column: "id", Count: 2}},
			[]string{"id[0,10000)", "id[10000,20000)"}},
		{"time every", Config{Table: "events", Partition: PartitionConfig{Column: "at", Every: stage.Duration(12 * time.Hour)}},
			[]string{"at[2026-01-01T00:00:00Z,2026-01-01T12:00:00Z)", "at[2026-01-01T12:00:00Z,2026-01-02T00:00:00Z)"}},
		{"query, time count", Config{Query: "SELECT id FROM events WHERE at >= {{ .Partition.Lo }} AND at < {{ .Partition.Hi }}",
			Partition: PartitionConfig{Column: "at", Count: 2}},
			[]string{"at[2026-01-01T00:00:00Z,2026-01-01T12:00:00Z)", "at[2026-01-01T12:00:00Z,2026-01-02T00:00:00Z)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			tc.cfg.Addr, tc.cfg.Database = srv.Addr(), db
			c := newConsumer(t, mem, tc.cfg)
			ps, err := c.Partitions(t.Context(), testkit.RunInstance())
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, p := range ps {
				keys = append(keys, p.Key)
			}
			if strings.Join(keys, " ") != strings.Join(tc.keys, " ") {
				t.Errorf("keys %q, want %q", keys, tc.keys)
			}
			rows, _ := testkit.ReadAllText(t, c)
			seen := map[string]bool{}
			for _, r := range rows {
				id := strings.Split(r, " | ")[0]
				if seen[id] {
					t.Fatalf("id %s read twice", id)
				}
				seen[id] = true
			}
			if len(seen) != 20000 {
				t.Errorf("%d distinct rows, want 20000", len(seen))
			}
		})
	}
}

// partition.parts: one partition per partition of the table's PARTITION BY, each read by its id.
func TestTableParts(t *testing.T) {
	srv := chtest.Start(t)
	db := srv.CreateDatabase(t)
	srv.Exec(t, db, "CREATE TABLE p (d Date, x UInt32) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY x",
		"INSERT INTO p SELECT toDate('2026-01-01') + number, toUInt32(number) FROM system.numbers LIMIT 70",
		"CREATE TABLE m (x UInt32) ENGINE = Memory")
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newConsumer(t, mem, Config{Addr: srv.Addr(), Database: db, Table: "p", Partition: PartitionConfig{Parts: true}})
	ps, err := c.Partitions(t.Context(), testkit.RunInstance())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, p := range ps {
		keys = append(keys, p.Key)
	}
	if got := strings.Join(keys, " "); got != "_partition_id[202601] _partition_id[202602] _partition_id[202603]" {
		t.Fatalf("keys %s", got)
	}
	counts := map[string]int64{}
	for _, p := range ps {
		for _, b := range testkit.ReadPartition(t.Context(), t, c, p) {
			counts[p.Key] += b.NumRows()
			b.Release()
		}
	}
	if counts["_partition_id[202601]"] != 31 || counts["_partition_id[202602]"] != 28 || counts["_partition_id[202603]"] != 11 {
		t.Fatalf("rows per partition %v", counts)
	}
	c = newConsumer(t, mem, Config{Addr: srv.Addr(), Database: db, Table: "m", Partition: PartitionConfig{Parts: true}})
	if _, err := c.Partitions(t.Context(), testkit.RunInstance()); err == nil || !strings.Contains(err.Error(), "Memory table") {
		t.Fatalf("parts of a Memory table: %v", err)
	}
}

// An empty table has no integer partitions; a time partition of an empty table reads nothing.
func TestEmpty(t *testing.T) {
	srv := chtest.Start(t)
	db := srv.CreateDatabase(t)
	srv.Exec(t, db, "CREATE TABLE e (id UInt32, at DateTime) ENGINE = MergeTree ORDER BY id")
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newConsumer(t, mem, Config{Addr: srv.Addr(), Database: db, Table: "e", Partition: PartitionConfig{Column: "id", Count: 3}})
	if ps, err := c.Partitions(t.Context(), testkit.RunInstance()); err != nil || len(ps) != 0 {
		t.Fatalf("partitions of an empty table: %v %v", ps, err)
	}
	c = newConsumer(t, mem, Config{Addr: srv.Addr(), Database: db, Table: "e", Partition: PartitionConfig{Column: "at", Every: stage.Duration(time.Hour)}})
	if rows, schema := testkit.ReadAllText(t, c); len(rows) != 0 || schema.NumFields() != 2 {
		t.Fatalf("rows %q, schema %s", rows, schema)
	}
}

// Names that need quoting are read as names; settings reach the server in the SETTINGS clause (a result limit
// set there fails a read that passes it).
func TestQuotingAndSettings(t *testing.T) {
	srv := chtest.Start(t)
	db := srv.CreateDatabase(t)
	srv.Exec(t, db, "CREATE TABLE `we'ird ``t` (`the id` UInt32, `sel``ect` String) ENGINE = MergeTree ORDER BY `the id`",
		"INSERT INTO `we'ird ``t` SELECT number, toString(number) FROM system.numbers LIMIT 10")
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newConsumer(t, mem, Config{Addr: srv.Addr(), Database: db, Table: "we'ird `t", Columns: []string{"sel`ect", "the id"},
		Partition: PartitionConfig{Column: "the id", Step: 5}, Settings: map[string]string{"max_threads": "2", "load_balancing": "in_order"}})
	rows, schema := testkit.ReadAllText(t, c)
	if len(rows) != 10 || rows[0] != `"0" | 0` || schema.Field(0).Name != "sel`ect" {
		t.Fatalf("rows %q, schema %s", rows, schema)
	}
	// The session's settings as the server sees them while running the consumer's query.
	c = newConsumer(t, mem, Config{Addr: srv.Addr(), Database: db, BlockRows: 777,
		Query:    "SELECT name, value FROM system.settings WHERE name IN ('max_threads', 'load_balancing', 'max_block_size') ORDER BY name",
		Settings: map[string]string{"max_threads": "3", "load_balancing": "in_order"}})
	rows, _ = testkit.ReadAllText(t, c)
	if got := strings.Join(rows, "; "); got != `"load_balancing" | "in_order"; "max_block_size" | "777"; "max_threads" | "3"` {
		t.Fatalf("settings seen by the server: %s", got)
	}
}

func readErr(t *testing.T, c *Consumer) error {
	t.Helper()
	ps, err := c.Partitions(t.Context(), testkit.RunInstance())
	if err != nil {
		return err
	}
	for _, p := range ps {
		if err := c.Read(t.Context(), p, func(arrow.RecordBatch) error { return nil }); err != nil {
			return err
		}
	}
	return nil
}
