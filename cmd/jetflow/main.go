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
	"strconv"
	"syscall"

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

const usage = `jetflow moves data from a source to Parquet and Iceberg, one deterministic partition at a time.

Usage:
  jetflow <command> [flags] [arguments]

Commands:
  validate   check pipeline files without touching sources or destinations
  plan       list the partitions of a run instance and what a run would do with each; a folder: its graph
  run        load a run instance (or, with --stream, an unbounded source); a folder runs as one graph
  state      inspect or reset the recorded state of partitions
  test       run the stage tests declared next to pipelines (tests: or <name>.test.yaml)
  iceberg    show, expire-snapshots or compact the Iceberg table a pipeline loads
  cdc        status or drop the replication slot of a change-capture pipeline
  ui         serve read-only web pages of a folder's runs, partitions and freshness (or write them, --static)
  check-freshness  list each pipeline's last success; alert on and exit 1 for those past freshness.warn_after
  version    print the version

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
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
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
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "validate":
		err = cmdValidate(ctx, rest, stdout, stderr)
	case "plan":
		err = cmdPlan(ctx, rest, stdout, stderr)
	case "run":
		if folderArg(rest) {
			err = cmdRunFolder(ctx, rest, stdout, stderr)
		} else {
			err = cmdRun(ctx, rest, stdout, stderr)
		}
	case "state":
		err = cmdState(ctx, rest, stdout, stderr)
	case "test":
		err = cmdTest(ctx, rest, stdout, stderr)
	case "iceberg":
		err = cmdIceberg(ctx, rest, stdout, stderr)
	case "cdc":
		err = cmdCDC(ctx, rest, stdout, stderr)
	case "ui":
		err = cmdUI(ctx, rest, stdout, stderr)
	case "check-freshness":
		err = cmdCheckFreshness(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "jetflow %s\n", version)
	default:
		fmt.Fprintf(stderr, "jetflow: unknown command %q%s\n\n%s", cmd, didYouMean(cmd, []string{"validate", "plan", "run", "state", "test", "iceberg", "cdc", "ui", "check-freshness", "version"}), usage)
		return exitInvalid
	}
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
