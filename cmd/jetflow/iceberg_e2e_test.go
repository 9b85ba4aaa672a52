package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"

	"github.com/jetflow-dev/jetflow/internal/failpoint"
	"github.com/jetflow-dev/jetflow/loaders/iceberg"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// icebergPipeline numbers rows 0..rows-1 in id and loads them into the table lake.<name> of the warehouse
// <dir>/wh; catalogURI empty means the embedded SQLite catalog; extra is appended (a state: section).
func icebergPipeline(name string, rows, parts int, catalogURI, extra string) string {
	uri := ""
	if catalogURI != "" {
		uri = ", uri: '" + catalogURI + "'"
	}
	return fmt.Sprintf(`name: %s
retries: { attempts: 3, backoff: 10ms, max_backoff: 50ms }
consumer:
  type: generate
  rows: %d
  batch_rows: 4096
  partition: { count: %d }
  columns:
    - { name: id, type: int64, sequence: true }
    - { name: v, type: float64, null_rate: 0.1 }
    - { name: s, type: string, distinct: 100 }
loaders:
  - type: iceberg
    catalog: { warehouse: wh%s }
    table: lake.%s
    partition_by: [bucket(4, id)]
    commit: { retries: 200, max_wait: 500ms }
%s`, name, rows, parts, uri, name, extra)
}

// icebergTable opens the table a pipeline of icebergPipeline wrote, through a loader of its own.
func icebergTable(t *testing.T, dir, name, catalogURI string) *iceberg.Loader {
	t.Helper()
	l, err := iceberg.New(stage.BuildContext{Pipeline: name, Alloc: memory.NewGoAllocator()}, &iceberg.Config{
		Catalog: iceberg.CatalogConfig{Warehouse: filepath.Join(dir, "wh"), URI: stage.Secret(catalogURI)},
		Table:   "lake." + name,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// liveFilesSQL is the list of the table's live data files (as iceberg-go plans a scan), for DuckDB's
// read_parquet: ['a.parquet', 'b.parquet'].
func liveFilesSQL(t *testing.T, l *iceberg.Loader) string {
	t.Helper()
	ctx := context.Background()
	tbl, err := l.LoadTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, task := range tasks {
		files = append(files, "'"+strings.TrimPrefix(task.File.FilePath(), "file://")+"'")
	}
	if len(files) == 0 {
		t.Fatalf("table %s has no data files", l.TableName())
	}
	return "[" + strings.Join(files, ", ") + "]"
}

// assertIcebergExactlyOnce checks that the table's current snapshot holds ids 0..n-1 once each: iceberg-go plans
// the live data files, DuckDB reads them.
func assertIcebergExactlyOnce(t *testing.T, l *iceberg.Loader, n int) {
	t.Helper()
	ctx := context.Background()
	tbl, err := l.LoadTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows := testkit.DuckDBQuery(t, `SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi FROM read_parquet(`+
		liveFilesSQL(t, l)+`)`)
	want := map[string]string{"n": fmt.Sprint(n), "d": fmt.Sprint(n), "lo": "0", "hi": fmt.Sprint(n - 1)}
	for k, v := range want {
		if rows[0][k] != v {
			t.Fatalf("DuckDB over the live data files of %s: %s = %s, want %s (all: %v) — rows lost or duplicated", l.TableName(), k, rows[0][k], v, rows[0])
		}
	}
	// iceberg-go's scanner: ids 0..n-1, each once.
	_, recs, err := tbl.Scan(table.WithSelectedFields("id")).ToArrowRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]bool, n)
	var total int
	for b, err := range recs {
		if err != nil {
			t.Fatal(err)
		}
		ids := b.Column(0).(*array.Int64)
		for i := range ids.Len() {
			id := ids.Value(i)
			if id < 0 || id >= int64(n) || seen[id] {
				b.Release()
				t.Fatalf("iceberg-go's scan of %s: id %d out of range or seen twice", l.TableName(), id)
			}
			seen[id] = true
		}
		total += ids.Len()
		b.Release()
	}
	if total != n {
		t.Fatalf("iceberg-go's scan of %s: %d rows, want %d", l.TableName(), total, n)
	}
}

// SIGKILL between writing the data files and committing them, during the commit, and after the commit but
// before the state store heard of it; a plain re-run then leaves every row once and removes the files of the
// killed attempt, so a plain glob of data/ reads the table; `jetflow iceberg show --orphans --remove` cleans
// what is left otherwise.
func TestIcebergKilledAtCommitPoints(t *testing.T) {
	cases := []struct {
		point   string
		orphans bool   // the killed attempt surely leaves files no snapshot references
		extra   string // loader config appended
	}{
		{iceberg.FailBeforeCommit, true, ""},
		{iceberg.FailCommit, true, ""},
		{iceberg.FailCommit, true, "    commit: { max_partitions: 2, max_interval: 5s }\n"}, // a group of two killed
		// Committed: the re-run replaces the partition and older snapshots keep its files; only the other
		// worker's partition in flight, if any, leaves orphans.
		{"engine.before-state-commit", false, ""},
	}
	for _, tc := range cases {
		name := tc.point
		if tc.extra != "" {
			name += "/grouped"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := icebergPipeline("crash", 60_000, 6, "", "")
			if tc.extra != "" {
				p = strings.Replace(p, "    commit: { retries: 200, max_wait: 500ms }\n", tc.extra, 1)
			}
			writeFile(t, dir, "p.yaml", p)
			r := jetflow(t, dir, []string{failpoint.EnvVar + "=" + tc.point + "=kill"}, "run", "p.yaml", "--run", "2026-11-22", "--workers", "2")
			if !r.killed {
				t.Fatalf("process was not killed at %s (code %d)\n%s", tc.point, r.code, r.stderr)
			}
			jetflow(t, dir, nil, "run", "p.yaml", "--run", "2026-11-22", "--workers", "2").must(t, exitOK)
			l := icebergTable(t, dir, "crash", "")
			assertIcebergExactlyOnce(t, l, 60_000)

			show := jetflow(t, dir, nil, "iceberg", "show", "p.yaml", "--orphans").must(t, exitOK)
			if tc.orphans {
				// The re-run removed what the killed attempt wrote: no orphan data file, and a plain glob of
				// data/ reads (no truncated file) and holds the table.
				if listed := strings.Count(show.stdout, ".parquet\n"); listed != 0 {
					t.Fatalf("the re-run left %d data file(s) of the attempt killed at %s:\n%s", listed, tc.point, show.stdout)
				}
				assertGlobIDs(t, filepath.Join(dir, "wh", "lake.db", "crash", "data"), 60_000)
			}
			jetflow(t, dir, nil, "iceberg", "show", "p.yaml", "--orphans", "--remove", "--older-than", "0s").must(t, exitOK)
			show = jetflow(t, dir, nil, "iceberg", "show", "p.yaml", "--orphans").must(t, exitOK)
			if !strings.Contains(show.stdout, "0 orphan file(s)") {
				t.Fatalf("orphans left after --remove:\n%s", show.stdout)
			}
			assertIcebergExactlyOnce(t, l, 60_000)

			// The table shows the partitions its snapshots committed.
			show = jetflow(t, dir, nil, "iceberg", "show", "p.yaml").must(t, exitOK)
			if !strings.Contains(show.stdout, "bucket[4]") || !strings.Contains(show.stdout, "rows[") {
				t.Fatalf("show lacks the spec or the jetflow partitions:\n%s", show.stdout)
			}
			if tc.extra != "" && !strings.Contains(show.stdout, ") | rows[") {
				t.Fatalf("no snapshot holds two partitions with max_partitions 2:\n%s", show.stdout)
			}
		})
	}
}

// 4 processes `jetflow run --shard i/4` load one run instance into one table at once (SQLite catalog and state
// file; PostgreSQL catalog and state), then all 4 again with --force: every row once after each round.
func TestIcebergShardedRuns(t *testing.T) {
	for _, catalog := range []string{"sqlite", "postgres"} {
		t.Run(catalog, func(t *testing.T) {
			dir := t.TempDir()
			var uri, extra string
			var env []string
			if catalog == "postgres" {
				dsn := pgtest.Start(t).CreateDatabase(t)
				uri, extra = "${CATALOG_DSN}", "state:\n  type: postgres\n  dsn: ${CATALOG_DSN}\n"
				env = []string{"CATALOG_DSN=" + dsn}
			}
			writeFile(t, dir, "p.yaml", icebergPipeline("sharded", 160_000, 16, uri, extra))
			round := func(args ...string) {
				var wg sync.WaitGroup
				results := make([]result, 4)
				for i := range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						results[i] = jetflow(t, dir, env, append([]string{"run", "p.yaml", "--run", "2026-11-22", "--workers", "2", "--shard", fmt.Sprintf("%d/4", i)}, args...)...)
					}()
				}
				wg.Wait()
				for _, r := range results {
					r.must(t, exitOK)
					if len(env) > 0 && strings.Contains(r.stdout+r.stderr, strings.TrimPrefix(env[0], "CATALOG_DSN=")) {
						t.Fatal("a run printed the catalog DSN")
					}
				}
			}
			round()
			catURI := ""
			if len(env) > 0 {
				catURI = strings.TrimPrefix(env[0], "CATALOG_DSN=")
			}
			l := icebergTable(t, dir, "sharded", catURI)
			assertIcebergExactlyOnce(t, l, 160_000)
			round("--force")
			assertIcebergExactlyOnce(t, l, 160_000)
			tbl, err := l.LoadTable(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n := len(tbl.Metadata().Snapshots()); n != 32 {
				t.Errorf("%d snapshots, want 32 (16 partitions, twice)", n)
			}
		})
	}
}

// Maintenance through the binary: compact the small files of 6 partitions, expire the older snapshots, and the
// table still holds every row once; a --force re-run after expiry still replaces (the files carry their
// partition's tag), while show reports what happened.
func TestIcebergMaintenanceCommands(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", icebergPipeline("maint", 30_000, 6, "", ""))
	jetflow(t, dir, nil, "run", "p.yaml", "--run", "2026-11-22", "--workers", "2").must(t, exitOK)
	l := icebergTable(t, dir, "maint", "")

	jetflow(t, dir, nil, "run", "p.yaml", "--run", "2026-11-22", "--force").must(t, exitOK)
	r := jetflow(t, dir, nil, "iceberg", "expire-snapshots", "p.yaml", "--older-than", "0s").must(t, exitOK)
	if !strings.Contains(r.stdout, "expired 11 snapshot(s) of lake.maint; 1 remain") {
		t.Fatalf("expire-snapshots:\n%s", r.stdout)
	}
	jetflow(t, dir, nil, "run", "p.yaml", "--run", "2026-11-22", "--force").must(t, exitOK)
	assertIcebergExactlyOnce(t, l, 30_000)

	r = jetflow(t, dir, nil, "iceberg", "compact", "p.yaml", "--min-input-files", "2").must(t, exitOK)
	if !strings.Contains(r.stdout, "compacted 4 partition(s) of lake.maint: 24 files") {
		t.Fatalf("compact:\n%s", r.stdout)
	}
	assertIcebergExactlyOnce(t, l, 30_000)
	show := jetflow(t, dir, nil, "iceberg", "show", "p.yaml", "--snapshots", "1").must(t, exitOK)
	if !strings.Contains(show.stdout, "replace") || !strings.Contains(show.stdout, "compact") {
		t.Fatalf("show after compaction:\n%s", show.stdout)
	}
	// The compacted files hold every partition's rows; a forced re-run of some partitions (one shard's share)
	// and then of all finds them there and rewrites those files without them.
	jetflow(t, dir, nil, "run", "p.yaml", "--run", "2026-11-22", "--force", "--shard", "1/3").must(t, exitOK)
	assertIcebergExactlyOnce(t, l, 30_000)
	jetflow(t, dir, nil, "run", "p.yaml", "--run", "2026-11-22", "--force").must(t, exitOK)
	assertIcebergExactlyOnce(t, l, 30_000)
	r = jetflow(t, dir, nil, "iceberg", "compact", "p.yaml", "--table", "lake.other")
	r.must(t, exitInvalid)
	if !strings.Contains(r.stderr, "the pipeline's iceberg tables are lake.maint") {
		t.Fatalf("--table of another table:\n%s", r.stderr)
	}
}

// Usage errors of the iceberg command family.
func TestIcebergCommandUsage(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", seqPipeline("noice", 10, 1, ""))
	writeFile(t, dir, "i.yaml", icebergPipeline("fresh", 10, 1, "", ""))
	// The iceberg commands never read the source, so its unset ${VAR}s are no error there; the loaders' are.
	writeFile(t, dir, "pg.yaml", `name: pg
consumer:
  type: postgres
  dsn: ${JETFLOW_TEST_UNSET_DSN}
  table: orders
loaders:
  - type: iceberg
    catalog: { warehouse: wh }
    table: lake.${JETFLOW_TEST_NAMESPACE_UNSET:-fresh}
`)
	writeFile(t, dir, "pgloader.yaml", `name: pg
consumer: { type: postgres, dsn: "${JETFLOW_TEST_UNSET_DSN}", table: orders }
loaders:
  - { type: iceberg, catalog: { warehouse: "${JETFLOW_TEST_UNSET_WH}" }, table: lake.x }
`)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"iceberg"}, exitInvalid, "want a subcommand: show, expire-snapshots or compact"},
		{[]string{"iceberg", "shwo", "i.yaml"}, exitInvalid, `unknown subcommand "shwo" (did you mean "show"?)`},
		{[]string{"icebreg"}, exitInvalid, `did you mean "iceberg"?`},
		{[]string{"iceberg", "show", "p.yaml"}, exitInvalid, "p.yaml has no iceberg loader"},
		{[]string{"iceberg", "show", "i.yaml", "--remove"}, exitInvalid, "--remove goes with --orphans"},
		{[]string{"iceberg", "show", "i.yaml"}, exitError, "table lake.fresh does not exist yet (the first run creates it)"},
		{[]string{"iceberg", "show", "pg.yaml"}, exitError, "table lake.fresh does not exist yet (the first run creates it)"},
		{[]string{"iceberg", "show", "pgloader.yaml"}, exitInvalid, "loaders[0].catalog.warehouse: environment variable JETFLOW_TEST_UNSET_WH is not set"},
		{[]string{"validate", "pg.yaml"}, exitInvalid, "consumer.dsn: environment variable JETFLOW_TEST_UNSET_DSN is not set"},
	}
	for _, tc := range cases {
		r := jetflow(t, dir, nil, tc.args...)
		r.must(t, tc.code)
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("jetflow %v: stderr lacks %q:\n%s", tc.args, tc.want, r.stderr)
		}
	}
}

// examples/orders_lake.yaml does what its comment says: a run fills the Iceberg table, and a forced re-run
// replaces the partitions' files instead of adding to them.
func TestIcebergExamplePipeline(t *testing.T) {
	dir := t.TempDir()
	example, err := filepath.Abs("../../examples/orders_lake.yaml")
	if err != nil {
		t.Fatal(err)
	}
	jetflow(t, dir, nil, "run", example, "--run", "2026-11-22").must(t, exitOK)
	jetflow(t, dir, nil, "run", example, "--run", "2026-11-22", "--force").must(t, exitOK)
	l, err := iceberg.New(stage.BuildContext{Pipeline: "orders_lake", Alloc: memory.NewGoAllocator()}, &iceberg.Config{
		Catalog: iceberg.CatalogConfig{Warehouse: filepath.Join(dir, "lake")}, Table: "shop.orders"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rows := testkit.DuckDBQuery(t, `SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi, `+
		`max(total) <= 1000 AS cents FROM read_parquet(`+liveFilesSQL(t, l)+`)`)
	if want := []map[string]string{{"n": "100000", "d": "100000", "lo": "1", "hi": "100000", "cents": "true"}}; fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("DuckDB over the live files: %v, want %v", rows, want)
	}
}
