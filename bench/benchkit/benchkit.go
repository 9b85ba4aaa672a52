// Package benchkit holds what jetflow's benchmark commands share: building the binary, timing a case with the
// CPU it cost, reading a child's peak RSS, reading a consumer with batches discarded, and printing a table.
// Each source has its own command (go run ./bench, ./bench/clickhouse, ...) so that one can run without the rest.
package benchkit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pgx/v5"

	_ "github.com/jetflow-dev/jetflow/builtin" // every stage type, as the binary has them
	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// Case is one measured line of a table.
type Case struct {
	Name    string
	Rows    int64
	Elapsed time.Duration
	CPU     time.Duration // user+sys of whoever ran the case (this process or the child)
	Bytes   int64         // bytes read or written, when the case has a meaningful figure (0: none)
	RSSKB   int64         // peak RSS in KiB when the case ran as a child process (0: not measured)
}

// RowsPerSec is the case's throughput.
func (c Case) RowsPerSec() float64 { return float64(c.Rows) / c.Elapsed.Seconds() }

// BuildJetflow builds cmd/jetflow into work and returns the binary's path. Run from the repository root.
func BuildJetflow(work string) (string, error) {
	bin := filepath.Join(work, "jetflow")
	build := exec.Command("go", "build", "-o", bin, "./cmd/jetflow")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build jetflow (run from the repository root): %w", err)
	}
	return bin, nil
}

// Checkout writes the tree of git revision rev (main, a commit) into a folder under work and returns the folder,
// to build the revision's jetflow for a comparison. Run from the repository.
func Checkout(rev, work string) (string, error) {
	src := filepath.Join(work, "src-"+strings.NewReplacer("/", "-", ".", "-").Replace(rev))
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	archive := exec.Command("sh", "-c", `git archive "$1" | tar -x -C "$2"`, "sh", rev, src)
	archive.Stderr = os.Stderr
	if err := archive.Run(); err != nil {
		return "", fmt.Errorf("git archive %s (run from the repository): %w", rev, err)
	}
	return src, nil
}

// Workspace makes a temporary folder for a bench program named name and builds cmd/jetflow into it, or takes
// the binary JETFLOW_BENCH_BIN names (to run two builds in turn); cleanup removes the folder, unless
// JETFLOW_BENCH_KEEP is set (then it says where the folder is, for a look at the logs and the lake after the
// run). Run from the repository root.
func Workspace(name string) (work, bin string, cleanup func(), err error) {
	work, err = os.MkdirTemp("", "jetflow-bench-"+name+"-")
	if err != nil {
		return "", "", nil, err
	}
	cleanup = func() { os.RemoveAll(work) }
	if os.Getenv("JETFLOW_BENCH_KEEP") != "" {
		cleanup = func() { fmt.Fprintf(os.Stderr, "benchkit: kept the workspace %s (JETFLOW_BENCH_KEEP)\n", work) }
	}
	if bin = os.Getenv("JETFLOW_BENCH_BIN"); bin != "" {
		return work, bin, cleanup, nil
	}
	if bin, err = BuildJetflow(work); err != nil {
		cleanup()
		return "", "", nil, err
	}
	return work, bin, cleanup, nil
}

// Postgres starts the bench's PostgreSQL server (testkit/pgtest) and connects to its postgres database; stop
// closes the connection and the server.
func Postgres(ctx context.Context) (dsn string, conn *pgx.Conn, stop func(), err error) {
	srv, stopServer, err := pgtest.StartMain()
	if err != nil {
		return "", nil, nil, err
	}
	dsn = srv.DSN("postgres")
	if conn, err = pgx.Connect(ctx, dsn); err != nil {
		stopServer()
		return "", nil, nil, err
	}
	return dsn, conn, func() { conn.Close(context.WithoutCancel(ctx)); stopServer() }, nil
}

// CPUNow is the CPU time (user+sys) this process has used so far.
func CPUNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// InProcess times fn and the CPU this process spent on it.
func InProcess(name string, rows int64, fn func() error) (Case, error) {
	c0, t0 := CPUNow(), time.Now()
	if err := fn(); err != nil {
		return Case{}, fmt.Errorf("%s: %w", name, err)
	}
	return Case{Name: name, Rows: rows, Elapsed: time.Since(t0), CPU: CPUNow() - c0}, nil
}

// Child runs cmd to completion and measures it: wall time, the child's CPU and its peak RSS.
func Child(name string, rows int64, cmd *exec.Cmd) (Case, error) {
	t0 := time.Now()
	rss, err := RunPeakRSS(cmd)
	if err != nil {
		return Case{}, fmt.Errorf("%s: %w", name, err)
	}
	return Case{Name: name, Rows: rows, Elapsed: time.Since(t0),
		CPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), RSSKB: rss}, nil
}

// RunPeakRSS runs cmd and returns its peak resident set size in KiB, read from the kernel's high-water mark
// (VmHWM in /proc/PID/status) while it runs. The rusage Maxrss of a child is no good here: Go starts children
// with vfork semantics, and the kernel carries the parent's high-water mark into the child's, so a bench process
// that has grown would inflate every child it measures.
func RunPeakRSS(cmd *exec.Cmd) (int64, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if kb, ok := vmHWM(cmd.Process.Pid); ok && kb > peak {
			peak = kb
		}
		select {
		case err := <-done:
			return peak, err
		case <-tick.C:
		}
	}
}

func vmHWM(pid int) (int64, bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}

// ReadConsumer builds the consumer of a pipeline given as YAML and reads every partition of run (a label such as
// "2026-11-22"), one goroutine each, discarding the batches. It returns the rows read.
func ReadConsumer(ctx context.Context, yaml, run string) (int64, error) {
	p, err := pipelines.Options{}.Parse("bench.yaml", []byte(yaml))
	if err != nil {
		return 0, err
	}
	b, err := p.Build(stage.BuildContext{Pipeline: p.Name, Alloc: offheap.New(0)}) // as jetflow run does
	if err != nil {
		return 0, err
	}
	c, ok := b.Source.(stage.Consumer)
	if !ok {
		return 0, fmt.Errorf("consumer %T is not bounded", b.Source)
	}
	if cl, ok := c.(interface{ Close() error }); ok {
		defer cl.Close()
	}
	ri, err := p.ParseRun(run)
	if err != nil {
		return 0, err
	}
	parts, err := c.Partitions(ctx, ri)
	if err != nil {
		return 0, err
	}
	type result struct {
		rows int64
		err  error
	}
	results := make(chan result, len(parts))
	for _, part := range parts {
		go func() {
			var n int64
			err := c.Read(ctx, part, func(b arrow.RecordBatch) error { n += b.NumRows(); return nil })
			results <- result{n, err}
		}()
	}
	var total int64
	var firstErr error
	for range parts {
		r := <-results
		total += r.rows
		if r.err != nil && firstErr == nil {
			firstErr = r.err
		}
	}
	return total, firstErr
}

// Table prints cases with rows/s, MB/s (when Bytes is set), peak RSS, CPU, and each case's rows/s as a ratio of
// the case at index base.
func Table(w io.Writer, cases []Case, base int) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\trows\tseconds\trows/s\tMB/s\tpeak RSS MB\tCPU s\tvs baseline\t")
	for _, c := range cases {
		mbs, rss := "-", "-"
		if c.Bytes > 0 {
			mbs = fmt.Sprintf("%.1f", float64(c.Bytes)/1e6/c.Elapsed.Seconds())
		}
		if c.RSSKB > 0 {
			rss = fmt.Sprintf("%.0f", float64(c.RSSKB)/1024)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%s\t%s\t%.2f\t%.2fx\t\n", c.Name, c.Rows, c.Elapsed.Seconds(), c.RowsPerSec(),
			mbs, rss, c.CPU.Seconds(), c.RowsPerSec()/cases[base].RowsPerSec())
	}
	return tw.Flush()
}

// ServerCPU is the CPU time (user+sys) a server has used so far: its main process's (postmaster), its live
// children's, and that of the children it reaped (connections closed meanwhile).
func ServerCPU(postmaster int) time.Duration {
	_, own, reaped := ProcStat(postmaster)
	total := own + reaped
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == postmaster {
			continue
		}
		if ppid, cpu, _ := ProcStat(pid); ppid == postmaster {
			total += cpu
		}
	}
	return total
}

// ProcStat reads a process's parent, its CPU time and its reaped children's, from /proc/PID/stat (in clock ticks
// of 10 ms: Linux's USER_HZ is 100).
func ProcStat(pid int) (ppid int, cpu, children time.Duration) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0
	}
	i := bytes.LastIndexByte(b, ')') // the command name may hold spaces and parentheses
	if i < 0 {
		return 0, 0, 0
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 15 {
		return 0, 0, 0
	}
	tick := func(s string) time.Duration {
		n, _ := strconv.ParseInt(s, 10, 64)
		return time.Duration(n) * 10 * time.Millisecond
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, tick(f[11]) + tick(f[12]), tick(f[13]) + tick(f[14])
}

// VmHWM is the peak RSS in KiB of process pid so far, as /proc says (false when it cannot be read).
func VmHWM(pid int) (int64, bool) { return vmHWM(pid) }
