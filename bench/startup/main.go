// Command startup measures what `jetflow validate` on one file costs before it does anything: wall time, CPU and
// peak RSS of whole processes of jetflow built as deploy/ builds it (cgo off, -trimpath: a static binary), against the start of a Go program that prints one line (the machine's floor for a Go
// binary, measured in the same run), and with -compare against the jetflow of another git revision. Each binary
// runs in turn, -runs times after a warm-up; the medians are printed with the ratios, which are what to read on a
// shared machine. Every binary is run from a copy written the same way, since how a file's page cache was filled
// changes what the kernel maps around each page fault. Every start goes through a small launcher program, whose
// own pages are all a child's peak RSS inherits: a child started by this process would count this process's
// (the kernel folds the memory of the process a child was cloned from into its peak at exec).
//
//	go run ./bench/startup                  # this tree against the floor
//	go run ./bench/startup -compare main    # and against main's jetflow
package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jetflow-dev/jetflow/bench/benchkit"
	"github.com/jetflow-dev/jetflow/internal/inittrace"
)

func main() {
	runs := flag.Int("runs", 40, "starts of each binary, in turn")
	compare := flag.String("compare", "", "a git revision (main, a commit) whose jetflow also starts, for the ratio")
	pipeline := flag.String("file", "examples/demo.yaml", "the pipeline file validate reads")
	flag.Parse()
	if err := run(*runs, *compare, *pipeline); err != nil {
		fmt.Fprintf(os.Stderr, "bench/startup: %v\n", err)
		os.Exit(1)
	}
}

// binary is one program whose start is measured, with its command line.
type binary struct {
	name string
	path string
	args []string
	size int64

	wall, cpu []time.Duration
	rssKB     []int64
}

func run(runs int, compare, pipeline string) error {
	work, err := os.MkdirTemp("", "jetflow-bench-startup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "jetflow")
	if err := buildJetflow(".", bin); err != nil {
		return err
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("start of `jetflow validate %s`, %d runs each (load average at the start: %.14s)\n", pipeline, runs, load)

	floor, err := buildProgram(work, "floor", floorSource)
	if err != nil {
		return err
	}
	launcher, err := buildProgram(work, "launch", launcherSource)
	if err != nil {
		return err
	}
	jetflow := []string{"validate", pipeline}
	bins := []*binary{{name: "Go floor (print a line)", path: floor}, {name: "jetflow", path: bin, args: jetflow}}
	if compare != "" {
		src, err := benchkit.Checkout(compare, work)
		if err != nil {
			return err
		}
		base := filepath.Join(work, "jetflow-base")
		if err := buildJetflow(src, base); err != nil {
			return fmt.Errorf("at %s: %w", compare, err)
		}
		bins = append(bins, &binary{name: "jetflow at " + compare, path: base, args: jetflow})
	}
	for i, b := range bins {
		if b.path, b.size, err = copyBinary(b.path, filepath.Join(work, fmt.Sprintf("copy-%d", i))); err != nil {
			return err
		}
	}

	for round := -3; round < runs; round++ { // three rounds of warm-up: the page cache, the dynamic loader
		for _, b := range bins {
			wall, cpu, rss, err := start(launcher, b.path, b.args)
			if err != nil {
				return fmt.Errorf("%s: %w", b.name, err)
			}
			if round >= 0 {
				b.wall, b.cpu, b.rssKB = append(b.wall, wall), append(b.cpu, cpu), append(b.rssKB, rss)
			}
		}
	}

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "binary\twall (median)\tp10\tp90\tCPU (median)\tpeak RSS (median)\tinitializers\tallocate\tcollections at start\tsize\t")
	for _, b := range bins {
		tr, err := trace(b)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%.1f MiB\t%d\t%.2f MB\t%d\t%.1f MB\t\n", b.name,
			ms(median(b.wall)), ms(percentile(b.wall, 10)), ms(percentile(b.wall, 90)), ms(median(b.cpu)),
			float64(median(b.rssKB))/1024, len(tr.Inits), float64(tr.Allocated())/1e6, len(tr.Collections), float64(b.size)/1e6)
	}
	w.Flush()
	ratio := func(a, b *binary) {
		fmt.Printf("%s / %s: wall %.2fx, CPU %.2fx, peak RSS %.2fx\n", a.name, b.name,
			float64(median(a.wall))/float64(median(b.wall)), float64(median(a.cpu))/float64(median(b.cpu)),
			float64(median(a.rssKB))/float64(median(b.rssKB)))
	}
	ratio(bins[1], bins[0])
	if len(bins) > 2 {
		ratio(bins[1], bins[2])
	}
	return nil
}

// buildJetflow builds cmd/jetflow of the tree in dir into out as deploy/ builds it: cgo off, -trimpath. (The first
// such build compiles every package again, since the flags differ from the tests'.)
func buildJetflow(dir, out string) error {
	build := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/jetflow")
	build.Dir, build.Stderr = dir, os.Stderr
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if err := build.Run(); err != nil {
		return fmt.Errorf("build jetflow (run from the repository root): %w", err)
	}
	return nil
}

// floorSource is a Go program that prints one line: what any Go binary's start costs on this machine.
const floorSource = `package main

import "fmt"

func main() { fmt.Println("ok") }
`

// launcherSource runs its arguments as a command and prints its wall time, CPU and peak RSS.
const launcherSource = `package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stderr = os.Stderr
	began := time.Now()
	err := cmd.Run()
	wall := time.Since(began)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	fmt.Println(wall.Nanoseconds(), ru.Utime.Nano()+ru.Stime.Nano(), ru.Maxrss)
}
`

// buildProgram builds the one-file Go program src, named name, in a folder of work.
func buildProgram(work, name, src string) (string, error) {
	dir := filepath.Join(work, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module "+name+"\n\ngo 1.26\n"), 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name)
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir, build.Stderr = dir, os.Stderr
	build.Env = append(os.Environ(), "GOFLAGS=")
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	return bin, nil
}

// copyBinary writes src to dst through the page cache, as `cp` does, and returns dst and its size.
func copyBinary(src, dst string) (string, int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return "", 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return dst, n, err
}

// start runs path once through the launcher and returns its wall time, its CPU (user and system) and its peak RSS
// in KiB.
func start(launcher, path string, args []string) (time.Duration, time.Duration, int64, error) {
	cmd := exec.Command(launcher, append([]string{path}, args...)...)
	cmd.Env = slices.DeleteFunc(slices.Clone(os.Environ()), func(kv string) bool { return strings.HasPrefix(kv, "GOGC=") })
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%v\n%s", err, stderr.String())
	}
	var wall, cpu, rss int64
	if _, err := fmt.Sscan(string(out), &wall, &cpu, &rss); err != nil {
		return 0, 0, 0, fmt.Errorf("read the launcher's %q: %w", out, err)
	}
	return time.Duration(wall), time.Duration(cpu), rss, nil
}

// trace starts b once more with the runtime's traces: its package initializers, what they allocate, and the
// garbage collections of its start.
func trace(b *binary) (inittrace.Trace, error) {
	cmd := exec.Command(b.path, b.args...)
	cmd.Env = inittrace.Env(os.Environ())
	out, err := cmd.CombinedOutput()
	if err != nil {
		return inittrace.Trace{}, fmt.Errorf("%s with GODEBUG traces: %v\n%s", b.name, err, out)
	}
	return inittrace.Parse(out), nil
}

func median[T cmp.Ordered](xs []T) T { return percentile(xs, 50) }

func percentile[T cmp.Ordered](xs []T, p int) T {
	s := slices.Sorted(slices.Values(xs))
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
