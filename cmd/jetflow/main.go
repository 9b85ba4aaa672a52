// Command jetflow validates, plans and runs jetflow pipelines.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	// Imported for its initializer, which must run before most others: see the package.
	_ "github.com/jetflow-dev/jetflow/cmd/jetflow/internal/briefgc"
	"github.com/jetflow-dev/jetflow/internal/suggest"
	"github.com/jetflow-dev/jetflow/stage"
)

// Exit codes, documented in the README.
const (
	exitOK          = 0 // everything asked for was done
	exitFailed      = 1 // the run ended with partitions that failed after every retry
	exitInvalid     = 2 // bad command line or invalid pipeline
	exitInterrupted = 3 // SIGINT or SIGTERM: in-flight partitions were aborted, nothing half-written is visible
	exitError       = 4 // the run could not proceed: the state store, the source or the destination failed, or a fatal fault (stage.Fatal)
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if limit, err := memoryLimit(os.Getenv); err != nil {
		fmt.Fprintf(os.Stderr, "jetflow: %v\n", err)
		os.Exit(exitInvalid)
	} else if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// memoryLimit is the Go heap's soft limit to set: 90% of JETFLOW_MEMORY_LIMIT, a container's memory limit in bytes
// (Kubernetes' downward API gives it as limits.memory), so the collector works harder before the kernel's OOM
// killer would end the pod; 0 when it is unset, or when GOMEMLIMIT, which the Go runtime reads itself, is set.
func memoryLimit(getenv func(string) string) (int64, error) {
	v := getenv("JETFLOW_MEMORY_LIMIT")
	if v == "" || getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("JETFLOW_MEMORY_LIMIT=%q: want a number of bytes, as the downward API's limits.memory gives", v)
	}
	return n / 10 * 9, nil
}

// exitError carries the exit code an error should end the process with.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

// command is one of jetflow's commands: the one list that dispatch, the usage text and the did-you-mean of an
// unknown command all read.
type cliCommand struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []cliCommand{
	{"validate", "check pipeline files without touching sources or destinations", cmdValidate},
	{"plan", "list the partitions of a run instance and what a run would do with each; a folder: its graph", cmdPlan},
	{"run", "load a run instance (or, with --stream, an unbounded source); a folder runs as one graph", cmdRunAny},
	{"state", "inspect or reset the recorded state of partitions", cmdState},
	{"test", "run the stage tests declared next to pipelines (tests: or <name>.test.yaml)", cmdTest},
	{"iceberg", "show, expire-snapshots or compact the Iceberg table a pipeline loads", cmdIceberg},
	{"cdc", "status or drop the replication slot of a change-capture pipeline", cmdCDC},
	{"ui", "serve read-only web pages of a folder's runs, partitions and freshness (or write them, --static)", cmdUI},
	{"check-freshness", "list each pipeline's last success; alert on and exit 1 for those past freshness.warn_after", cmdCheckFreshness},
	{"version", "print the version", cmdVersion},
}

// cmdRunAny is `jetflow run`: a folder runs as one graph, a file on its own.
func cmdRunAny(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if folderArg(args) {
		return cmdRunFolder(ctx, args, stdout, stderr)
	}
	return cmdRun(ctx, args, stdout, stderr)
}

func cmdVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintf(stdout, "jetflow %s\n", version)
	return nil
}

// usage is the text of `jetflow --help`, its command list made from commands.
func usage() string {
	var b strings.Builder
	b.WriteString(`jetflow moves data from a source to Parquet and Iceberg, one deterministic partition at a time.

Usage:
  jetflow <command> [flags] [arguments]

Commands:
`)
	w := tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(w, "  %s\t%s\n", c.name, c.summary)
	}
	w.Flush()
	b.WriteString(`
Examples:
  jetflow validate pipelines/
  jetflow plan pipelines/orders.yaml --run 2026-11-22
  jetflow plan pipelines/ --run 2026-11-22 --select tag:nightly
  jetflow run pipelines/orders.yaml --run 2026-11-22 --workers 8
  jetflow run pipelines/ --run 2026-11-22 --select tag:nightly
  jetflow state reset pipelines/orders.yaml --run 2026-11-22
  jetflow test pipelines/

Run 'jetflow <command> --help' for the flags of a command.
Exit codes: 0 done, 1 partitions failed, 2 invalid input, 3 interrupted, 4 infrastructure error.
`)
	return b.String()
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage())
		if len(args) == 0 {
			return exitInvalid
		}
		return exitOK
	}
	// Everything the command prints passes through the redactor that the pipeline it loads fills with its secrets.
	red := stage.NewRedactor()
	stdout, stderr = redacting(stdout, red), redacting(stderr, red)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal asks for a clean stop (a stream commits the partitions it holds, for up to its drain
	// time); a second one stops the process at once, as if no handler were installed. Either way nothing is
	// lost: what was not committed is read again by the next run.
	go func() {
		<-ctx.Done()
		stop()
	}()
	name := args[0]
	if name == "--version" {
		name = "version"
	}
	i := slices.IndexFunc(commands, func(c cliCommand) bool { return c.name == name })
	if i < 0 {
		names := make([]string, len(commands))
		for i, c := range commands {
			names[i] = c.name
		}
		fmt.Fprintf(stderr, "jetflow: unknown command %q%s\n\n%s", args[0], didYouMean(args[0], names), usage())
		return exitInvalid
	}
	err := commands[i].run(ctx, args[1:], stdout, stderr)
	if err == nil {
		return exitOK
	}
	if !errors.Is(err, errQuiet) {
		fmt.Fprintf(stderr, "jetflow %s: %v\n", args[0], err)
	}
	return exitCode(ctx, err)
}

// exitCode is the code err ends the process with: its own, else interrupted or the run could not proceed.
func exitCode(ctx context.Context, err error) int {
	if err == nil {
		return exitOK
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	if ctx.Err() != nil {
		return exitInterrupted
	}
	return exitError
}

// errQuiet marks an error whose details were already printed.
var errQuiet = errors.New("see above")

func didYouMean(got string, valid []string) string {
	if best, ok := suggest.Closest(got, valid); ok {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}
