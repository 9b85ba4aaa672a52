package iceberg

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
	"github.com/jetflow-dev/jetflow/testkit/restcatalog"
)

// workerEnv carries a worker process's job (workerJob as JSON).
const workerEnv = "JETFLOW_ICEBERG_TEST_WORKER"

type workerJob struct {
	Catalog    string // sql, hadoop or rest
	Warehouse  string
	URI        string
	Token      string // rest: the catalog's bearer token
	Worker     int
	Partitions int
	Rows       int
}

const concurrentWorkers = 4

// TestConcurrentWorkers runs 4 processes that each commit the same 8 partitions into one table at once, in
// different orders, starting from a catalog without the table (SQLite, PostgreSQL, hadoop and REST catalogs):
// they race on creating the namespace and the table, on every commit, and on the same partition ids. The table
// ends with every row exactly once.
func TestConcurrentWorkers(t *testing.T) {
	for _, catalog := range []string{"sqlite", "postgres", "hadoop", "rest"} {
		t.Run(catalog, func(t *testing.T) {
			dir := t.TempDir()
			job := workerJob{Catalog: "sql", Warehouse: filepath.Join(dir, "warehouse"), Partitions: 8, Rows: 250}
			if catalog == "hadoop" {
				job.Catalog = "hadoop"
			}
			if catalog == "postgres" {
				job.URI = pgtest.Start(t).CreateDatabase(t)
			}
			var rest *restcatalog.Server
			if catalog == "rest" {
				rest = restcatalog.Start(t, dir, restcatalog.Options{Token: "workers-token"})
				job.Catalog, job.URI, job.Token = "rest", rest.URL, "workers-token"
			}
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var procs []*exec.Cmd
			outs := make([][]byte, concurrentWorkers)
			errc := make(chan error, concurrentWorkers)
			for w := range concurrentWorkers {
				job.Worker = w
				spec, _ := json.Marshal(job)
				cmd := exec.CommandContext(ctx, exe, "-test.run=^TestWorkerProcess$", "-test.count=1")
				cmd.Env = append(os.Environ(), workerEnv+"="+string(spec))
				procs = append(procs, cmd)
				go func() {
					out, err := cmd.CombinedOutput()
					outs[w] = out
					if err != nil {
						err = fmt.Errorf("worker %d: %v\n%s", w, err, out)
					}
					errc <- err
				}()
			}
			for range procs {
				if err := <-errc; err != nil {
					t.Error(err)
				}
			}
			if t.Failed() {
				return
			}
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			l := newLoader(t, dir, func(c *Config) {
				c.Catalog.URI, c.Catalog.Type, c.Catalog.Token = stage.Secret(job.URI), job.Catalog, stage.Secret(job.Token)
			})
			got := scan(t, l, mem, nil)
			defer got.Release()
			want := job.Partitions * job.Rows
			seen := make([]int, want)
			ids := got.Column(0).(*array.Int64)
			for i := range ids.Len() {
				seen[ids.Value(i)]++
			}
			for id, n := range seen {
				if n != 1 {
					t.Fatalf("row id %d is in the table %d times, want once (%d rows in all, want %d)", id, n, got.NumRows(), want)
				}
			}
			if got.NumRows() != int64(want) {
				t.Fatalf("%d rows, want %d", got.NumRows(), want)
			}
			// Every commit landed: the first of each partition appended, the three later ones replaced it.
			snaps := loadTable(t, l).Metadata().Snapshots()
			overwrites := 0
			for _, s := range snaps {
				if s.Summary.Operation == "overwrite" {
					overwrites++
				}
			}
			if len(snaps) != job.Partitions*concurrentWorkers || overwrites != job.Partitions*(concurrentWorkers-1) {
				t.Errorf("%d snapshots (%d overwrites), want %d (%d)", len(snaps), overwrites, job.Partitions*concurrentWorkers, job.Partitions*(concurrentWorkers-1))
			}
			// Conflicting attempts removed the manifests they staged. (The sql catalog itself leaves the
			// metadata.json of a commit whose compare-and-swap lost; `show --orphans --remove` clears those.)
			orphans, _, err := Orphans(context.Background(), loadTable(t, l), 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range orphans {
				if !strings.HasSuffix(o, ".metadata.json") {
					t.Errorf("orphan file after the race: %s", o)
				}
			}
			conflicts := 0
			for _, out := range outs {
				conflicts += strings.Count(string(out), "commit conflict, retrying")
			}
			t.Logf("%d commit conflicts retried", conflicts)
			if conflicts == 0 {
				t.Error("no worker met a commit conflict: the test did not exercise the retry loop")
			}
			if rest != nil {
				ok, refused := rest.Commits()
				t.Logf("the REST catalog committed %d times and answered 409 %d times", ok, refused)
			}
		})
	}
}

// TestWorkerProcess is one worker of TestConcurrentWorkers; it runs only in a process that test starts.
func TestWorkerProcess(t *testing.T) {
	spec := os.Getenv(workerEnv)
	if spec == "" {
		t.Skip("runs only as a worker process of TestConcurrentWorkers")
	}
	var job workerJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		t.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	debug := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l := newLoaderLog(t, filepath.Dir(job.Warehouse), debug, func(c *Config) {
		c.Catalog.URI, c.Catalog.Type, c.Catalog.Token = stage.Secret(job.URI), job.Catalog, stage.Secret(job.Token)
		c.PartitionBy = []string{"day(updated_at)", "identity(tenant_id)"}
		c.Commit.Retries = 200
		c.Commit.MaxWait = stage.Duration(500 * time.Millisecond)
	})
	for i := range job.Partitions {
		p := (i + job.Worker*3) % job.Partitions // each worker its own order
		rec := orders(t, mem, p*job.Rows, job.Rows)
		load(t, l, fmt.Sprintf("id[%d,%d)", p*job.Rows, (p+1)*job.Rows), rec)
		rec.Release()
	}
}
