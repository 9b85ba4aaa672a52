package main

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/failpoint"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/shared"
)

// expected computes, from the generate consumer itself (not from anything a loader wrote), the aggregates the
// demo's Parquet output must have.
type expected struct {
	rows, sumID, discounts, notes int64
	sumTotal                      *big.Int // unscaled, scale 4
	minTS, maxTS                  int64    // microseconds
	probe                         map[string]string
}

func demoExpectations(t *testing.T, file string, run stage.RunInstance, probeID int64) expected {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	p, err := pipelines.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Build(stage.BuildContext{Pipeline: p.Name, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	c := b.Source.(stage.Consumer)
	parts, err := c.Partitions(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	e := expected{sumTotal: new(big.Int), minTS: 1<<63 - 1, maxTS: -1 << 63, probe: map[string]string{}}
	for _, part := range parts {
		for _, rec := range testkit.ReadPartition(context.Background(), t, c, part) {
			s := rec.Schema()
			col := func(name string) arrow.Array { return rec.Column(s.FieldIndices(name)[0]) }
			ids, totals := col("id").(*array.Int64), col("total").(*array.Decimal128)
			ts, disc, note := col("updated_at").(*array.Timestamp), col("discount"), col("note")
			for i := 0; i < int(rec.NumRows()); i++ {
				e.rows++
				e.sumID += ids.Value(i)
				e.sumTotal.Add(e.sumTotal, totals.Value(i).BigInt())
				v := int64(ts.Value(i))
				e.minTS, e.maxTS = min(e.minTS, v), max(e.maxTS, v)
				if ids.Value(i) == probeID {
					e.probe["total"] = totals.Value(i).ToString(4)
					e.probe["ts"] = fmt.Sprint(v)
					e.probe["status"] = col("status").(*array.String).Value(i)
				}
			}
			e.discounts += int64(disc.Len() - disc.NullN())
			e.notes += int64(note.Len() - note.NullN())
			rec.Release()
		}
	}
	return e
}

func decimalText(unscaled *big.Int, scale int) string {
	s := new(big.Int).Abs(unscaled).String()
	for len(s) <= scale {
		s = "0" + s
	}
	out := s[:len(s)-scale] + "." + s[len(s)-scale:]
	if unscaled.Sign() < 0 {
		out = "-" + out
	}
	return out
}

// The README's demo: run examples/demo.yaml, read the output back with arrow-go's Parquet reader and with DuckDB,
// and compare counts, sums, null counts, a decimal and a timestamp, exactly, with what the source generated.
func TestDemoEndToEnd(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, dir, "demo.yaml", string(src))
	jetflow(t, dir, nil, "validate", "demo.yaml").must(t, exitOK)
	r := jetflow(t, dir, nil, "run", "demo.yaml", "--run", "2026-11-22", "--workers", "2").must(t, exitOK)
	if !strings.Contains(r.stdout, "8 committed, 0 skipped, 0 failed") {
		t.Fatalf("run summary:\n%s", r.stdout)
	}
	p, _ := pipelines.Load(file)
	run, _ := p.ParseRun("2026-11-22")
	const probeID = 777_777
	want := demoExpectations(t, file, run, probeID)
	out := filepath.Join(dir, "out", "orders")

	// arrow-go's Parquet reader.
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	got := testkit.ReadParquet(t, mem, out)
	if got.NumRows() != want.rows {
		t.Fatalf("arrow-go reads %d rows, want %d", got.NumRows(), want.rows)
	}
	var sumID int64
	for _, v := range got.Column(got.Schema().FieldIndices("id")[0]).(*array.Int64).Int64Values() {
		sumID += v
	}
	if sumID != want.sumID {
		t.Fatalf("arrow-go: sum(id) = %d, want %d", sumID, want.sumID)
	}
	if f, _ := got.Schema().FieldsByName("updated_at"); len(f) != 1 || f[0].Type.String() != "timestamp[us, tz=UTC]" {
		t.Fatalf("updated_at type in Parquet: %v", f)
	}
	got.Release()

	// DuckDB, an independent reader.
	rows := testkit.DuckDBQuery(t, fmt.Sprintf(`SELECT count(*) AS n, sum(id) AS sum_id, sum(total) AS sum_total,
		count(discount) AS discounts, count(note) AS notes, epoch_us(min(updated_at)) AS min_ts, epoch_us(max(updated_at)) AS max_ts
		FROM read_parquet('%s/**/*.parquet', hive_partitioning = false)`, out))
	wantRow := map[string]string{
		"n": fmt.Sprint(want.rows), "sum_id": fmt.Sprint(want.sumID), "sum_total": decimalText(want.sumTotal, 4),
		"discounts": fmt.Sprint(want.discounts), "notes": fmt.Sprint(want.notes),
		"min_ts": fmt.Sprint(want.minTS), "max_ts": fmt.Sprint(want.maxTS),
	}
	for k, v := range wantRow {
		if rows[0][k] != v {
			t.Errorf("DuckDB: %s = %q, want %q", k, rows[0][k], v)
		}
	}
	if want.discounts == want.rows || want.notes == want.rows || want.discounts == 0 {
		t.Errorf("null rates not exercised: %d discounts, %d notes of %d rows", want.discounts, want.notes, want.rows)
	}
	probe := testkit.DuckDBQuery(t, fmt.Sprintf(`SELECT total, epoch_us(updated_at) AS ts, status
		FROM read_parquet('%s/**/*.parquet') WHERE id = %d`, out, probeID))
	if len(probe) != 1 || probe[0]["total"] != want.probe["total"] || probe[0]["ts"] != want.probe["ts"] || probe[0]["status"] != want.probe["status"] {
		t.Errorf("DuckDB row id=%d: %v, want %v", probeID, probe, want.probe)
	}
	// A second run finds everything committed and writes nothing.
	r = jetflow(t, dir, nil, "run", "demo.yaml", "--run", "2026-11-22").must(t, exitOK)
	if !strings.Contains(r.stdout, "0 committed, 8 skipped") {
		t.Fatalf("second run:\n%s", r.stdout)
	}
	assertExactlyOnce(t, out, int(want.rows))
}

// SIGKILL at chosen points of the commit protocol, then a plain re-run: every row exactly once.
func TestKilledAtCommitPointsThenRerun(t *testing.T) {
	points := []string{
		"parquet.before-intent",      // data files written to the temporary area, nothing published
		"parquet.before-marker",      // files renamed to their final names, commit marker not yet written
		"engine.before-state-commit", // destination committed, state store not yet told
	}
	for _, point := range points {
		t.Run(point, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "p.yaml", seqPipeline("crash", 60_000, 6, ""))
			r := jetflow(t, dir, []string{failpoint.EnvVar + "=" + point + "=kill"}, "run", "p.yaml", "--run", "2026-11-22", "--workers", "2")
			if !r.killed {
				t.Fatalf("process was not killed at %s (code %d)\n%s", point, r.code, r.stderr)
			}
			r = jetflow(t, dir, nil, "run", "p.yaml", "--run", "2026-11-22", "--workers", "2").must(t, exitOK)
			assertExactlyOnce(t, filepath.Join(dir, "out", "crash"), 60_000)
			assertNoLeftovers(t, filepath.Join(dir, "out", "crash"))
			plan := jetflow(t, dir, nil, "plan", "p.yaml", "--run", "2026-11-22").must(t, exitOK)
			if !strings.Contains(plan.stdout, "0 new, 6 committed") {
				t.Fatalf("plan after recovery:\n%s", plan.stdout)
			}
		})
	}
}

// SIGKILL from outside at arbitrary moments mid-run (after the 1st and the 3rd commit), then a re-run.
func TestKilledMidRunThenRerun(t *testing.T) {
	for _, after := range []int{1, 3} {
		t.Run(fmt.Sprintf("after-%d-commits", after), func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "p.yaml", seqPipeline("midrun", 400_000, 8, ""))
			cmd := command(dir, nil, "run", "p.yaml", "--run", "2026-11-22", "--workers", "2", "--log-format", "json")
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, fmt.Sprintf("%d commits", after), time.Minute, func() bool {
				return strings.Count(out.String(), `"partition committed"`) >= after
			})
			cmd.Process.Signal(syscall.SIGKILL)
			err := cmd.Wait()
			r := finish(t, cmd, err, out.String(), "")
			if !r.killed && r.code == 0 && after < 8 {
				t.Logf("run finished before the kill; the re-run below still has to find everything committed")
			}
			jetflow(t, dir, nil, "run", "p.yaml", "--run", "2026-11-22", "--workers", "2").must(t, exitOK)
			assertExactlyOnce(t, filepath.Join(dir, "out", "midrun"), 400_000)
			assertNoLeftovers(t, filepath.Join(dir, "out", "midrun"))
		})
	}
}

// A loader commit that fails once is retried within the same run; the output holds every row once.
func TestRetryAfterFailedCommit(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", seqPipeline("retry", 30_000, 3, ""))
	r := jetflow(t, dir, []string{failpoint.EnvVar + "=parquet.before-marker=error-once"}, "run", "p.yaml", "--run", "2026-11-22", "--workers", "1")
	r.must(t, exitOK)
	if !strings.Contains(r.stderr, "retrying") {
		t.Fatalf("no retry logged:\n%s", r.stderr)
	}
	assertExactlyOnce(t, filepath.Join(dir, "out", "retry"), 30_000)
	plan := jetflow(t, dir, nil, "plan", "p.yaml", "--run", "2026-11-22", "--json").must(t, exitOK)
	if !strings.Contains(plan.stdout, `"attempts": 2`) {
		t.Fatalf("plan should show the partition that took two attempts:\n%s", plan.stdout)
	}
}

// A commit that always fails: the run exits 1 naming the partition, the others are committed, and the next run
// retries only the failed one.
func TestPersistentFailureExitCode(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", seqPipeline("fail", 30_000, 3, ""))
	r := jetflow(t, dir, []string{failpoint.EnvVar + "=parquet.before-marker=error"}, "run", "p.yaml", "--run", "2026-11-22", "--workers", "1")
	r.must(t, exitFailed)
	if !strings.Contains(r.stdout, "3 failed") || !strings.Contains(r.stderr, "partition(s) failed after 3 attempt(s)") {
		t.Fatalf("failure report:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	jetflow(t, dir, nil, "run", "p.yaml", "--run", "2026-11-22").must(t, exitOK)
	assertExactlyOnce(t, filepath.Join(dir, "out", "fail"), 30_000)
}

// Two jetflow processes on the same run instance at once leave exactly one copy.
func TestTwoProcessesOneRun(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", seqPipeline("twins", 200_000, 10, ""))
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = jetflow(t, dir, nil, "run", "p.yaml", "--run", "2026-11-22", "--workers", "2")
		}()
	}
	wg.Wait()
	for i, r := range results {
		r.must(t, exitOK)
		t.Logf("process %d: %s", i, strings.SplitN(r.stdout, "\n", 2)[0])
	}
	assertExactlyOnce(t, filepath.Join(dir, "out", "twins"), 200_000)
}

// SIGTERM aborts in-flight partitions cleanly: exit code 3, no temporary file left visible, and a re-run finishes.
func TestSIGTERMAbortsCleanly(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", seqPipeline("term", 400_000, 8, ""))
	cmd := command(dir, nil, "run", "p.yaml", "--run", "2026-11-22", "--workers", "2", "--log-format", "json")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first commit", time.Minute, func() bool { return strings.Contains(out.String(), `"partition committed"`) })
	cmd.Process.Signal(syscall.SIGTERM)
	r := finish(t, cmd, cmd.Wait(), out.String(), "")
	if r.code != exitInterrupted && r.code != exitOK {
		t.Fatalf("exit code %d after SIGTERM, want %d\n%s", r.code, exitInterrupted, r.stdout)
	}
	if r.code == exitInterrupted && !strings.Contains(r.stdout, "run the same command again") {
		t.Fatalf("interrupt message missing:\n%s", r.stdout)
	}
	tmp, _ := filepath.Glob(filepath.Join(dir, "out", "term", "_jetflow", "tmp", "*", "*"))
	if len(tmp) > 0 {
		t.Fatalf("aborted partitions left temporary files: %v", tmp)
	}
	jetflow(t, dir, nil, "run", "p.yaml", "--run", "2026-11-22").must(t, exitOK)
	assertExactlyOnce(t, filepath.Join(dir, "out", "term"), 400_000)
}

// streamUntilCommits runs `jetflow run s.yaml --stream` in dir until it has committed n partitions, stops it with
// SIGTERM, checks that it exited 0, and returns its JSON log.
func streamUntilCommits(t *testing.T, dir string, n int) string {
	t.Helper()
	cmd := command(dir, nil, "run", "s.yaml", "--stream", "--log-format", "json")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fmt.Sprintf("%d stream commits", n), time.Minute, func() bool { return strings.Count(out.String(), `"partition committed"`) >= n })
	cmd.Process.Signal(syscall.SIGTERM)
	r := finish(t, cmd, cmd.Wait(), out.String(), "")
	if r.code != exitOK {
		t.Fatalf("stream stopped by SIGTERM exited %d, want 0\n%s", r.code, r.stdout)
	}
	return out.String()
}

// Stream mode: an unbounded generator is stopped by SIGTERM and restarted; the rows of both runs form one
// gap-free, duplicate-free sequence.
func TestStreamStopAndResume(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "s.yaml", `name: events
consumer:
  type: generate
  batch_rows: 1000
  unbounded: { rate: 20000, roll: { rows: 5000, interval: 1s } }
  columns:
    - { name: id, type: int64, sequence: true }
    - { name: payload, type: string }
loaders:
  - type: parquet
    path: out/events
`)
	for range 2 {
		streamUntilCommits(t, dir, 2)
	}
	rows := testkit.DuckDBQuery(t, `SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi FROM read_parquet('`+
		filepath.Join(dir, "out", "events")+`/**/*.parquet')`)
	n := rows[0]["n"]
	if n == "0" || rows[0]["d"] != n || rows[0]["lo"] != "0" || fmt.Sprint(mustAtoi(t, rows[0]["hi"])+1) != n {
		t.Fatalf("stream output is not one gap-free sequence: %v", rows[0])
	}
}

// A stream whose state store is lost (an ephemeral SQLite file in a pod) resumes from the checkpoints the
// destination holds (the Parquet commit markers, the Iceberg snapshot summaries): the second round starts after
// the first round's newest partition, not at row 0, and the output is one gap-free sequence.
func TestStreamResumesFromDestinationWhenStateIsLost(t *testing.T) {
	tests := []struct {
		name   string
		loader string
		files  func(t *testing.T, dir string) string // the live data files, for DuckDB's read_parquet
	}{
		{"parquet", "  - type: parquet\n    path: out/events\n", func(t *testing.T, dir string) string {
			return "'" + filepath.Join(dir, "out", "events") + "/**/*.parquet'"
		}},
		{"iceberg", "  - type: iceberg\n    catalog: { warehouse: wh }\n    table: lake.events\n", func(t *testing.T, dir string) string {
			return liveFilesSQL(t, icebergTable(t, dir, "events", ""))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "s.yaml", `name: events
consumer:
  type: generate
  batch_rows: 1000
  unbounded: { rate: 20000, roll: { rows: 3000, interval: 700ms } }
  columns:
    - { name: id, type: int64, sequence: true }
loaders:
`+tc.loader)
			var rounds []string
			for round := range 2 {
				if round == 1 {
					if err := os.RemoveAll(filepath.Join(dir, ".jetflow")); err != nil {
						t.Fatal(err)
					}
				}
				rounds = append(rounds, streamUntilCommits(t, dir, 3))
			}
			if !strings.Contains(rounds[1], "resuming after the newest partition the destination holds") {
				t.Errorf("the second round did not say it resumed from the destination:\n%s", rounds[1])
			}
			if strings.Contains(rounds[1], `"partition":"rows@0"`) {
				t.Errorf("the second round started again at row 0 instead of after the committed partitions:\n%s", rounds[1])
			}
			rows := testkit.DuckDBQuery(t, `SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi FROM read_parquet(`+tc.files(t, dir)+`)`)
			n := rows[0]["n"]
			if n == "0" || rows[0]["d"] != n || rows[0]["lo"] != "0" || fmt.Sprint(mustAtoi(t, rows[0]["hi"])+1) != n {
				t.Fatalf("stream output is not one gap-free sequence: %v", rows[0])
			}
		})
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer = shared.SyncBuffer

// A second SIGTERM stops the process at once: here the first one waits for a stream commit that a failpoint
// holds for a minute.
func TestSecondSIGTERMStopsAtOnce(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "s.yaml", eventsStream)
	cmd := command(dir, []string{failpoint.EnvVar + "=parquet.before-marker=sleep:60s"}, "run", "s.yaml", "--stream", "--log-format", "json")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The first partition rolls after a second and then sleeps in its commit.
	time.Sleep(3 * time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(500 * time.Millisecond)
	if cmd.ProcessState != nil {
		t.Fatalf("the process ended on the first SIGTERM although a commit was held:\n%s", out.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the process still ran 10s after a second SIGTERM:\n%s", out.String())
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("exit status %v after a second SIGTERM, want killed by SIGTERM", cmd.ProcessState)
	}
}
