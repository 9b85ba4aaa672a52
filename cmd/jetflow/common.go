package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	_ "github.com/jetflow-dev/jetflow/builtin" // every stage type shipped with jetflow
	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/internal/suggest"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/state/stores"
)

// commonFlags are the flags every command that loads a pipeline takes.
type commonFlags struct {
	logFormat string
	logLevel  string
	statePath string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.statePath, "state", "", "SQLite state file (default: the pipeline's state.path, .jetflow/state.db); ignored with state.type postgres")
}

func (c *commonFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, withCode(exitInvalid, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.logLevel))
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, withCode(exitInvalid, fmt.Errorf("--log-format %q: want text or json", c.logFormat))
}

// newFlagSet makes a flag set whose --help prints the command's usage, flags and examples. Flags are shown as
// the README writes them (--workers N); Go's own messages are kept out, parseArgs says what went wrong.
func newFlagSet(name, synopsis, examples string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: jetflow %s\n\nFlags:\n", synopsis)
		printFlags(stderr, fs)
		if examples != "" {
			fmt.Fprintf(stderr, "\nExamples:\n%s", examples)
		}
	}
	return fs
}

// printFlags lists a flag set's flags with two dashes, a placeholder for their value and their default.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if arg != "" {
			line += " " + cmp.Or(flagPlaceholders[arg], strings.ToUpper(arg))
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
	})
}

// flagPlaceholders name a flag's value by what it is rather than by its Go type.
var flagPlaceholders = map[string]string{"int": "N", "string": "VALUE", "duration": "DURATION", "float": "NUMBER"}

// parseArgs parses flags placed before or after the positional arguments, as users type them. A flag it does
// not know is named with two dashes, with the nearest known flag when it looks like a typo, after the usage.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return nil, withCode(exitOK, errQuiet)
			}
			return nil, withCode(exitInvalid, flagError(fs, err)) // the flag package printed the usage
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// parsePaths parses the flags of a command that takes pipeline files or folders, at least one.
func parsePaths(fs *flag.FlagSet, args []string) ([]string, error) {
	paths, err := parseArgs(fs, args)
	if err == nil && len(paths) == 0 {
		fs.Usage()
		err = withCode(exitInvalid, errors.New("name at least one pipeline file or directory"))
	}
	return paths, err
}

// flagError rewrites the flag package's message for the README's double-dash style.
func flagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		var known []string
		fs.VisitAll(func(f *flag.Flag) { known = append(known, f.Name) })
		if best, ok := suggest.Closest(name, known); ok {
			return fmt.Errorf("unknown flag --%s: did you mean --%s?", name, best)
		}
		return fmt.Errorf("unknown flag --%s (the flags are listed above)", name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return fmt.Errorf("flag --%s needs a value", strings.TrimLeft(name, "-"))
	}
	// "invalid value "x" for flag -workers: ..." keeps its text, with the flag written as the README does.
	return errors.New(strings.Replace(msg, " for flag -", " for flag --", 1))
}

// parseAndLoad parses a command's flags and its one pipeline file argument, makes the logger and loads the
// pipeline: what plan, run and state all start with.
func (c *commonFlags) parseAndLoad(ctx context.Context, fs *flag.FlagSet, args []string, stderr io.Writer) (*loaded, *slog.Logger, error) {
	return c.parseAndLoadWith(ctx, fs, args, stderr, loadOne)
}

func (c *commonFlags) parseAndLoadWith(ctx context.Context, fs *flag.FlagSet, args []string, stderr io.Writer,
	load func(context.Context, pipelines.Options, string, *slog.Logger, memory.Allocator) (*loaded, error)) (*loaded, *slog.Logger, error) {
	files, err := parseArgs(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if len(files) != 1 {
		fs.Usage()
		return nil, nil, withCode(exitInvalid, errors.New("name exactly one pipeline file"))
	}
	log, err := c.logger(stderr)
	if err != nil {
		return nil, nil, err
	}
	// A heap profile sees only the Go heap: with --mem-profile the Arrow buffers go there too, so it shows them.
	mem := allocator()
	if f := fs.Lookup("mem-profile"); f != nil && f.Value.String() != "" {
		mem = memory.DefaultAllocator
	}
	l, err := load(ctx, pipelines.Options{Redactor: redactorOf(stderr)}, files[0], log, mem)
	return l, log, err
}

// allocator is where the stages' Arrow buffers come from. By default large buffers are mapped outside the Go
// heap and unmapped on release (internal/offheap), which keeps a load's resident memory close to what it holds
// instead of twice that; JETFLOW_ALLOCATOR=go puts every buffer on the Go heap, as a way out should a stage
// misbehave with it.
func allocator() memory.Allocator {
	if os.Getenv("JETFLOW_ALLOCATOR") == "go" {
		return memory.DefaultAllocator
	}
	return offheap.New(0)
}

// loaded is a pipeline with its stages built.
type loaded struct {
	p     *pipelines.Pipeline
	built *pipelines.Built
	mem   memory.Allocator
}

// loadOne loads, builds and validates one pipeline file.
func loadOne(ctx context.Context, o pipelines.Options, file string, log *slog.Logger, mem memory.Allocator) (*loaded, error) {
	p, err := o.Load(file)
	if err != nil {
		return nil, withCode(exitInvalid, err)
	}
	built, err := p.Build(stage.BuildContext{Pipeline: p.Name, Dir: dirOf(file), Alloc: mem, Logger: log})
	if err != nil {
		return nil, withCode(exitInvalid, err)
	}
	if _, err := p.Validate(ctx, built, false); err != nil {
		return nil, withCode(exitInvalid, err)
	}
	return &loaded{p: p, built: built, mem: mem}, nil
}

// loadLoaders loads one pipeline file for a command that works on its loaders alone: only the loaders' ${VAR}s
// must be set and only the loaders are built, so `jetflow iceberg show` runs without the consumer's DSN.
func loadLoaders(_ context.Context, o pipelines.Options, file string, log *slog.Logger, mem memory.Allocator) (*loaded, error) {
	o.Strict = []string{"loaders"}
	p, err := o.Load(file)
	if err != nil {
		return nil, withCode(exitInvalid, err)
	}
	built, err := p.BuildLoaders(stage.BuildContext{Pipeline: p.Name, Dir: dirOf(file), Alloc: mem, Logger: log})
	if err != nil {
		return nil, withCode(exitInvalid, err)
	}
	return &loaded{p: p, built: built, mem: mem}, nil
}

// close releases what the stages hold open (store connections); a stage that holds nothing has no Close.
func (l *loaded) close(log *slog.Logger) {
	if err := l.built.Close(); err != nil {
		log.Warn("closing a stage", "err", err)
	}
}

// redactedWriter is an output of the CLI: what is written to it passes through the redactor.
type redactedWriter struct {
	io.Writer
	red *stage.Redactor
}

// redacting wraps a command's output with red, which the pipeline the command loads fills with its secrets
// (pipelines.Options.Redactor): whatever prints the text — a log line, the final error — cannot show them.
func redacting(w io.Writer, red *stage.Redactor) io.Writer {
	return &redactedWriter{Writer: red.Writer(w), red: red}
}

// redactorOf is the redactor of an output made by redacting, nil for another writer (a new one per pipeline).
func redactorOf(w io.Writer) *stage.Redactor {
	if rw, ok := w.(*redactedWriter); ok {
		return rw.red
	}
	return nil
}

func dirOf(file string) string {
	if i := strings.LastIndexByte(file, '/'); i >= 0 {
		return file[:i]
	}
	return "."
}

func (l *loaded) job() *engine.Job { return l.p.Job(l.built) }

func (l *loaded) openState(ctx context.Context, override string) (state.Store, error) {
	cfg := stores.Config{Type: l.p.State.Type, Path: l.p.State.Path, DSN: l.p.State.DSN.Reveal(), Schema: l.p.State.Schema}
	if override != "" {
		cfg.Path = override
	}
	s, err := stores.Open(ctx, cfg)
	var unknown *stores.UnknownTypeError
	switch {
	case errors.As(err, &unknown):
		return nil, withCode(exitInvalid, fmt.Errorf("%s: %w", l.p.File, err))
	case err != nil && ctx.Err() != nil: // SIGINT/SIGTERM while opening: the store is not at fault
		return nil, withCode(exitInterrupted, fmt.Errorf("interrupted while opening the state store: %w", err))
	case err != nil:
		return nil, withCode(exitError, err)
	}
	return s, nil
}

// parseRun picks the run instance: --run if given, else the last complete one.
func (l *loaded) parseRun(s string) (stage.RunInstance, error) {
	if s == "" {
		return l.p.PreviousRun(time.Now()), nil
	}
	r, err := l.p.ParseRun(s)
	if err != nil {
		return r, withCode(exitInvalid, fmt.Errorf("--run: %w", err))
	}
	return r, nil
}

// parseShard reads "i/N".
func parseShard(s string) (shard, shards int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, withCode(exitInvalid, fmt.Errorf("--shard %q: want INDEX/COUNT with 0 <= INDEX < COUNT, such as 0/4", s))
	}
	return i, n, nil
}

func defaultWorkers() int { return runtime.NumCPU() }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
