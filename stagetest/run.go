package stagetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"gopkg.in/yaml.v3"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/internal/records"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
)

// Options tune Run. The zero value runs every case with the default allocator.
type Options struct {
	// Run keeps only the cases whose "pipeline/case" it matches; nil runs all.
	Run *regexp.Regexp
	// Update rewrites the expected rows of failing cases in *.test.yaml files with what the stages produced,
	// and counts those cases as passed.
	Update bool
	// Alloc allocates every Arrow buffer of the stages and of the expected rows; tests pass a checked allocator.
	Alloc memory.Allocator
	// Logger receives the stages' logs; nil discards them.
	Logger *slog.Logger
	// TempDir is where loader cases write; "" uses os.TempDir. Each case gets its own directory, removed after.
	TempDir string
}

// Status is the outcome of one case.
type Status int

const (
	// Pass: the stages produced what the case expects.
	Pass Status = iota
	// Fail: they produced something else; Result.Diff says what.
	Fail
	// Error: the case could not run (a stage did not build, a fixture is missing); Result.Err says why.
	Error
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "PASS"
	case Fail:
		return "FAIL"
	}
	return "ERROR"
}

// Result is the outcome of one case.
type Result struct {
	Pipeline string
	Case     string
	Where    string // file:line:col of the case
	Status   Status
	// Diff is the readable difference for a Fail: schema lines, row counts, then "row N, column "c": want X, got Y".
	Diff string
	// Err says why a case is an Error.
	Err      error
	Updated  bool // --update rewrote the case's expected rows
	Rows     int64
	Duration time.Duration

	c *Case // set when Updated, for writeUpdates
}

// ID is "pipeline/case", what Options.Run matches.
func (r Result) ID() string { return r.Pipeline + "/" + r.Case }

// Report is the outcome of a Run.
type Report struct {
	Results []Result
	// Invalid lists problems in the case definitions (unknown keys, bad types, missing stages) at file:line:col.
	// The cases they concern did not run.
	Invalid pipelines.ErrorList
}

// Count returns how many results have status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == s {
			n++
		}
	}
	return n
}

// OK is true when every case passed and every case file was valid.
func (r Report) OK() bool {
	return len(r.Invalid) == 0 && r.Count(Pass) == len(r.Results)
}

// LoadCases returns the cases of p: its tests: list, then those of its sibling <name>.test.yaml (or .test.yml).
// Problems are returned as a positioned ErrorList, next to the cases that decoded.
func LoadCases(p *pipelines.Pipeline) ([]*Case, error) {
	d := &caseDecoder{file: p.File}
	cases := d.decodeCases(p.Tests, "tests")
	for _, sib := range siblings(p.File) {
		data, err := os.ReadFile(sib)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		fd := &caseDecoder{file: sib}
		if err != nil {
			fd.errorf(nil, "cannot read the test file: %v", err)
		} else {
			var doc yaml.Node
			if err := yaml.Unmarshal(data, &doc); err != nil {
				fd.errs = append(fd.errs, pipelines.YAMLSyntaxError(sib, err))
			} else if len(doc.Content) > 0 {
				more := fd.decodeCases(&doc, "test file")
				for _, c := range more {
					c.doc = &doc
					if i := slices.IndexFunc(cases, func(o *Case) bool { return o.Name == c.Name }); i >= 0 {
						fd.errorf(c.Node, "case %q is already defined in %s", c.Name, cases[i].where(cases[i].Node))
						continue
					}
					cases = append(cases, c)
				}
			}
		}
		d.errs = append(d.errs, fd.errs...)
	}
	return cases, d.errs.Err()
}

// siblings are the test files that belong to a pipeline file.
func siblings(file string) []string {
	base := strings.TrimSuffix(file, filepath.Ext(file))
	return []string{base + ".test.yaml", base + ".test.yml"}
}

// Run runs the stage tests of each pipeline, in order, and reports every case.
func Run(ctx context.Context, ps []*pipelines.Pipeline, opts Options) Report {
	if opts.Alloc == nil {
		opts.Alloc = memory.DefaultAllocator
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var rep Report
	for _, p := range ps {
		cases, err := LoadCases(p)
		var list pipelines.ErrorList
		if errors.As(err, &list) {
			rep.Invalid = append(rep.Invalid, list...)
		}
		var selected []*Case
		for _, c := range cases {
			if opts.Run == nil || opts.Run.MatchString(p.Name+"/"+c.Name) {
				selected = append(selected, c)
			}
		}
		if len(selected) == 0 {
			continue
		}
		built, err := p.Build(stage.BuildContext{Pipeline: p.Name, Alloc: opts.Alloc, Logger: opts.Logger})
		r := &runner{p: p, built: built, opts: opts}
		for _, c := range selected {
			res := Result{Pipeline: p.Name, Case: c.Name, Where: c.where(c.Node)}
			start := time.Now()
			if err != nil {
				res.Status, res.Err = Error, fmt.Errorf("the pipeline's stages do not build: %w", err)
			} else {
				r.runCase(ctx, c, &res)
			}
			res.Duration = time.Since(start)
			rep.Results = append(rep.Results, res)
		}
		if err == nil {
			closeStages(built, opts.Logger)
		}
	}
	if opts.Update {
		rep.Invalid = append(rep.Invalid, writeUpdates(rep.Results)...)
	}
	rep.Invalid.Sort()
	return rep
}

func closeStages(b *pipelines.Built, log *slog.Logger) {
	if err := b.Close(); err != nil {
		log.Warn("closing a stage after its tests", "err", err)
	}
}

type runner struct {
	p     *pipelines.Pipeline
	built *pipelines.Built
	opts  Options
}

// caseError is a problem with the case itself, reported at a node of its file.
type caseError struct {
	at  string
	err error
}

func (e *caseError) Error() string { return e.at + ": " + e.err.Error() }
func (e *caseError) Unwrap() error { return e.err }

func (r *runner) runCase(ctx context.Context, c *Case, res *Result) {
	got, err := r.produce(ctx, c)
	if got != nil {
		defer got.Release()
		res.Rows = got.NumRows()
	}
	var ce *caseError
	if errors.As(err, &ce) {
		res.Status, res.Err = Error, err
		return
	}
	exp := c.Expect
	if exp.HasError {
		switch {
		case err == nil:
			res.Status, res.Diff = Fail, fmt.Sprintf("want an error containing %q, got %d rows and no error\n", exp.Error, res.Rows)
		case !strings.Contains(err.Error(), exp.Error):
			res.Status, res.Diff = Fail, fmt.Sprintf("want an error containing %q, got: %v\n", exp.Error, err)
		default:
			res.Status = Pass
		}
		return
	}
	if err != nil {
		res.Status, res.Diff = Fail, fmt.Sprintf("want rows, got an error: %v\n", err)
		return
	}
	var diff strings.Builder
	if exp.Schema != nil {
		diff.WriteString(diffSchema(exp.Schema, got.Schema()))
	}
	var want arrow.RecordBatch
	switch {
	case exp.Rows != nil:
		want, err = rowsRecord(r.opts.Alloc, got.Schema(), exp.Rows)
		if err != nil {
			if r.opts.Update && c.updatable() {
				c.Expect.Rows.Content = rowsNode(got).Content
				res.Status, res.Updated, res.c = Pass, true, c
				return
			}
			res.Status, res.Err = Error, &caseError{at: c.where(errNode(err, exp.Rows)), err: fmt.Errorf("expect.rows: %w", err)}
			return
		}
	case exp.File != "":
		want, err = readFixture(ctx, r.opts.Alloc, c.fixturePath(exp.File), got.Schema())
		if err != nil && r.opts.Update && errors.Is(err, os.ErrNotExist) {
			want, err = nil, nil // a golden file not written yet: --update writes it below
		}
		if err != nil {
			res.Status, res.Err = Error, &caseError{at: c.where(exp.FileNode), err: fmt.Errorf("expect.file: %w", err)}
			return
		}
	}
	if want != nil {
		defer want.Release()
		var opts []records.DiffOption
		if len(c.SortBy) > 0 {
			opts = append(opts, records.SortBy(c.SortBy...))
		}
		// The expected rows take the output's schema, so nullability is not theirs to differ in.
		diff.WriteString(records.DiffRecords(want, got, opts...))
	}
	if diff.Len() == 0 && (want != nil || exp.File == "") {
		res.Status = Pass
		return
	}
	if r.opts.Update && exp.File != "" {
		if err := writeGolden(c.fixturePath(exp.File), got); err != nil {
			res.Status, res.Err = Error, &caseError{at: c.where(exp.FileNode), err: fmt.Errorf("expect.file: --update: %w", err)}
			return
		}
		res.Status, res.Updated = Pass, true
		return
	}
	if r.opts.Update && exp.Rows != nil && c.updatable() {
		c.Expect.Rows.Content = rowsNode(got).Content
		res.Status, res.Updated, res.c = Pass, true, c
		return
	}
	res.Status, res.Diff = Fail, diff.String()
}

// nullInNotNull finds the first null in a column the schema declares not null: a batch no source would send.
func nullInNotNull(rec arrow.RecordBatch) (col string, row int, found bool) {
	for i, f := range rec.Schema().Fields() {
		a := rec.Column(i)
		if f.Nullable || a.NullN() == 0 {
			continue
		}
		for j := range a.Len() {
			if a.IsNull(j) {
				return f.Name, j, true
			}
		}
	}
	return "", 0, false
}

// errNode is where a rows error points: its own node, or else def.
func errNode(err error, def *yaml.Node) *yaml.Node {
	var pe *posError
	if errors.As(err, &pe) && pe.node != nil {
		return pe.node
	}
	return def
}

// updatable: --update rewrites *.test.yaml files only; a pipeline file is the user's to format.
func (c *Case) updatable() bool {
	return strings.HasSuffix(c.File, ".test.yaml") || strings.HasSuffix(c.File, ".test.yml")
}

// diffSchema compares an expected schema with the output's, column by column: names, order, types, nullability.
func diffSchema(want, got *arrow.Schema) string {
	var out strings.Builder
	for _, f := range want.Fields() {
		idx := got.FieldIndices(f.Name)
		if len(idx) != 1 {
			fmt.Fprintf(&out, "schema: column %q: missing (want %s)\n", f.Name, fieldType(f))
			continue
		}
		if g := got.Field(idx[0]); !arrow.TypeEqual(f.Type, g.Type) || f.Nullable != g.Nullable {
			fmt.Fprintf(&out, "schema: column %q: want %s, got %s\n", f.Name, fieldType(f), fieldType(g))
		}
	}
	for _, g := range got.Fields() {
		if !want.HasField(g.Name) {
			fmt.Fprintf(&out, "schema: column %q: not expected (got %s)\n", g.Name, fieldType(g))
		}
	}
	if out.Len() == 0 {
		wn, gn := names(want), names(got)
		if !slices.Equal(wn, gn) {
			fmt.Fprintf(&out, "schema: column order: want %s, got %s\n", strings.Join(wn, ", "), strings.Join(gn, ", "))
		}
	}
	return out.String()
}

func fieldType(f arrow.Field) string {
	if f.Nullable {
		return arrowtype.Format(f.Type)
	}
	return arrowtype.Format(f.Type) + " not null"
}

func names(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name
	}
	return out
}

// produce runs the stages under test on the case's input and returns their output as one record. A *caseError
// means the case itself is wrong; any other error comes from a stage (what expect: {error: ...} matches).
func (r *runner) produce(ctx context.Context, c *Case) (arrow.RecordBatch, error) {
	if len(c.Serve) > 0 && (c.Stage == "" || c.Stage != r.built.SourceName) {
		return nil, &caseError{at: c.where(c.Serve[0].node), err: fmt.Errorf("serve: recorded responses are for a case on the consumer (stages: %s)", r.built.SourceName)}
	}
	if c.Stage != "" {
		if c.Stage == r.built.SourceName {
			return r.readConsumer(ctx, c)
		}
		if i := slices.Index(r.built.LoaderNames, c.Stage); i >= 0 {
			return r.load(ctx, c, i)
		}
	}
	from, to, err := r.transformerRange(c)
	if err != nil {
		return nil, err
	}
	part, err := r.partition(c)
	if err != nil {
		return nil, err
	}
	in, err := r.input(ctx, c, from)
	if err != nil {
		return nil, err
	}
	defer in.Release()
	return r.transform(ctx, r.built.Transformers[from:to], r.built.TransformerNames[from:to], in, part)
}

// stageNames lists every stage name of the pipeline, for messages.
func (r *runner) stageNames() string {
	all := append([]string{r.built.SourceName}, r.built.TransformerNames...)
	return strings.Join(append(all, r.built.LoaderNames...), ", ")
}

// transformerRange is the half-open range of transformer indices a case covers.
func (r *runner) transformerRange(c *Case) (from, to int, err error) {
	idx := func(name string) (int, error) {
		if i := slices.Index(r.built.TransformerNames, name); i >= 0 {
			return i, nil
		}
		return 0, &caseError{at: c.where(c.stageNode), err: fmt.Errorf("stages: no stage named %q in pipeline %s; its stages are %s", name, r.p.Name, r.stageNames())}
	}
	switch {
	case c.Stage != "":
		i, err := idx(c.Stage)
		return i, i + 1, err
	case c.From == "" && c.To == "":
		if len(r.built.Transformers) == 0 {
			return 0, 0, &caseError{at: c.where(nil), err: fmt.Errorf("pipeline %s has no transformers: name the consumer or a loader in stages:", r.p.Name)}
		}
		return 0, len(r.built.Transformers), nil
	}
	from, to = 0, len(r.built.Transformers)
	if c.From != "" {
		if from, err = idx(c.From); err != nil {
			return 0, 0, err
		}
	}
	if c.To != "" {
		i, err := idx(c.To)
		if err != nil {
			return 0, 0, err
		}
		to = i + 1
	}
	if to <= from {
		return 0, 0, &caseError{at: c.where(c.stageNode), err: fmt.Errorf("stages: %q comes after %q in the pipeline; from: names the first transformer, to: the last", c.From, c.To)}
	}
	return from, to, nil
}

// runInstance is the case's run instance: run: if given, else the one that holds 2026-01-01T00:00 in the
// pipeline's zone, so that metadata columns are the same on every machine and day.
func (r *runner) runInstance(c *Case) (stage.RunInstance, error) {
	if c.Run != "" {
		run, err := r.p.ParseRunAt(c.Run, time.Time{})
		if err != nil {
			return run, &caseError{at: c.where(nil), err: fmt.Errorf("partition.run: %w", err)}
		}
		return run, nil
	}
	loc := r.p.Location
	if loc == nil {
		loc = time.UTC
	}
	// PreviousRun at the end of an instance is that instance.
	return r.p.PreviousRun(time.Date(2026, 1, 1, 0, 0, 0, 0, loc).Add(r.p.RunInstance.Every.D())), nil
}

// partition is the partition a transformer or loader case runs as, with the id the engine would give it.
func (r *runner) partition(c *Case) (stage.Partition, error) {
	run, err := r.runInstance(c)
	if err != nil {
		return stage.Partition{}, err
	}
	key := c.PartitionKey
	if key == "" {
		key = "test"
	}
	return stage.Partition{ID: stage.PartitionID(r.p.Name, run.Label, key), Key: key, Run: run}, nil
}

// schemaAt is the schema arriving at transformer i (len(Transformers): at the loaders), carried from the
// consumer's declared schema; nil when the source only knows it at run time.
func (r *runner) schemaAt(i int) (*arrow.Schema, error) {
	d, ok := r.built.Source.(stage.DeclaredSchema)
	if !ok {
		return nil, nil
	}
	s, known, err := d.DeclaredSchema()
	if err != nil || !known || s == nil {
		return nil, err
	}
	for _, t := range r.built.Transformers[:i] {
		if s, err = t.OutputSchema(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// input builds the case's input record for the stage at transformer index i.
func (r *runner) input(ctx context.Context, c *Case, i int) (arrow.RecordBatch, error) {
	in := c.Input
	if in.Rows == nil && in.File == "" {
		return nil, &caseError{at: c.where(nil), err: errors.New("the case has no input: write input: with rows: or file:")}
	}
	schema := in.Schema
	if schema == nil && !strings.EqualFold(filepath.Ext(in.File), ".parquet") {
		s, err := r.schemaAt(i)
		if err != nil {
			return nil, &caseError{at: c.where(nil), err: fmt.Errorf("input: cannot carry the source's schema to the stage under test: %w; write input.schema", err)}
		}
		if s == nil {
			return nil, &caseError{at: c.where(nil), err: errors.New("input: the source's schema is only known at run time; write input.schema: {column: type, ...}")}
		}
		schema = s
	}
	if in.Rows != nil {
		rec, err := rowsRecord(r.opts.Alloc, schema, in.Rows)
		if err != nil {
			return nil, &caseError{at: c.where(errNode(err, in.Rows)), err: fmt.Errorf("input.rows: %w", err)}
		}
		if col, row, ok := nullInNotNull(rec); ok {
			rec.Release()
			return nil, &caseError{at: c.where(deref(in.Rows.Content[row])), err: fmt.Errorf(
				"input.rows[%d]: column %q is null, but the schema arriving at the stage declares it not null; write input.schema to test with another schema", row, col)}
		}
		return rec, nil
	}
	rec, err := readFixture(ctx, r.opts.Alloc, c.fixturePath(in.File), schema)
	if err != nil {
		return nil, &caseError{at: c.where(in.FileNode), err: fmt.Errorf("input.file: %w", err)}
	}
	if rec == nil {
		return nil, &caseError{at: c.where(in.FileNode), err: fmt.Errorf("input.file: no Parquet file at %s", in.File)}
	}
	return rec, nil
}

// transform runs in through the transformers named in names as the engine runs one partition (stage.Chain).
// The result has the chain's OutputSchema even when every row was dropped.
func (r *runner) transform(ctx context.Context, ts []stage.Transformer, names []string, in arrow.RecordBatch, p stage.Partition) (arrow.RecordBatch, error) {
	named := make([]stage.NamedTransformer, len(ts))
	for i, t := range ts {
		named[i] = stage.NamedTransformer{Name: names[i], Transformer: t}
	}
	chain := stage.NewChain(named, nil)
	schema, err := chain.OutputSchema(in.Schema())
	if err != nil {
		return nil, err
	}
	pc, err := chain.ForPartition(p)
	if err != nil {
		return nil, err
	}
	var outs []arrow.RecordBatch
	defer func() { records.ReleaseAll(outs) }()
	keep := func(b arrow.RecordBatch) error {
		if !b.Schema().Equal(schema) {
			return fmt.Errorf("a transformer returned schema %s where its OutputSchema promised %s", b.Schema(), schema)
		}
		b.Retain()
		outs = append(outs, b)
		return nil
	}
	if err := pc.Process(ctx, in, keep); err != nil {
		return nil, err
	}
	if err := pc.Flush(ctx, keep); err != nil {
		return nil, err
	}
	return records.Concat(r.opts.Alloc, schema, outs)
}

// readConsumer reads the case's partition from the consumer.
func (r *runner) readConsumer(ctx context.Context, c *Case) (arrow.RecordBatch, error) {
	src := r.built.Source
	var rec *recorded
	if len(c.Serve) > 0 {
		srv, rs, err := startServer(c)
		if err != nil {
			return nil, err
		}
		defer srv.Close()
		rec = rs
		st := r.p.Consumer
		cfg, err := withBaseURL(st.Config, srv.URL)
		if err != nil {
			return nil, &caseError{at: c.where(c.Serve[0].node), err: fmt.Errorf("serve: consumer %s (%s): %w", st.Name, st.Type, err)}
		}
		v, err := st.Build(stage.BuildContext{Pipeline: r.p.Name, Dir: filepath.Dir(r.p.File), Alloc: r.opts.Alloc,
			Logger: r.opts.Logger.With("pipeline", r.p.Name, "stage", st.Name)}, cfg)
		if err != nil {
			return nil, fmt.Errorf("consumer %s: building it against the recorded responses at %s: %w", st.Name, srv.URL, err)
		}
		src = v.(stage.Source)
		if cl, ok := src.(io.Closer); ok {
			defer cl.Close()
		}
	}
	out, err := r.readPartition(ctx, c, src)
	if rec != nil {
		if missed := rec.missedErr(); missed != nil {
			if out != nil {
				out.Release()
			}
			return nil, &caseError{at: c.where(c.Serve[0].node), err: fmt.Errorf("serve: %w (read: %v)", missed, err)}
		}
	}
	return out, err
}

// readPartition reads the case's partition from src.
func (r *runner) readPartition(ctx context.Context, c *Case, src stage.Source) (arrow.RecordBatch, error) {
	cons, ok := src.(stage.Consumer)
	if !ok {
		return nil, &caseError{at: c.where(c.stageNode), err: fmt.Errorf("stages: consumer %s reads a stream; only bounded consumers can be tested by partition", c.Stage)}
	}
	if c.Input.Rows != nil || c.Input.File != "" {
		return nil, &caseError{at: c.where(nil), err: errors.New("a consumer case has no input: the consumer reads its source (give fixtures in its config)")}
	}
	run, err := r.runInstance(c)
	if err != nil {
		return nil, err
	}
	parts, err := cons.Partitions(ctx, run)
	if err != nil {
		return nil, fmt.Errorf("consumer %s: listing the partitions of %s: %w", c.Stage, run.Label, err)
	}
	var part *stage.Partition
	keys := make([]string, len(parts))
	for i := range parts {
		keys[i] = parts[i].Key
		if parts[i].Key == c.PartitionKey || (c.PartitionKey == "" && len(parts) == 1) {
			part = &parts[i]
		}
	}
	if part == nil {
		what := fmt.Sprintf("no partition has key %q", c.PartitionKey)
		if c.PartitionKey == "" {
			what = fmt.Sprintf("run %s has %d partitions: name one with partition: {key: ...}", run.Label, len(parts))
		}
		return nil, &caseError{at: c.where(nil), err: fmt.Errorf("%s; the keys are %s", what, strings.Join(keys, ", "))}
	}
	part.ID = stage.PartitionID(r.p.Name, run.Label, part.Key)
	var batches []arrow.RecordBatch
	defer func() { records.ReleaseAll(batches) }()
	err = cons.Read(ctx, *part, func(b arrow.RecordBatch) error {
		b.Retain()
		batches = append(batches, b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	schema, err := cons.Schema(ctx)
	if err != nil {
		return nil, err
	}
	if len(batches) > 0 {
		schema = batches[0].Schema()
	}
	return records.Concat(r.opts.Alloc, schema, batches)
}

// load writes the case's input through loader i, rebuilt with its path: pointing into a temporary directory,
// commits the partition, and reads back the Parquet files it wrote.
func (r *runner) load(ctx context.Context, c *Case, i int) (arrow.RecordBatch, error) {
	st := r.p.Loaders[i]
	dir, err := os.MkdirTemp(r.opts.TempDir, "jetflow-test-*")
	if err != nil {
		return nil, &caseError{at: c.where(nil), err: fmt.Errorf("making a directory for loader %s: %w", st.Name, err)}
	}
	defer os.RemoveAll(dir)
	cfg, err := withPath(st.Config, dir)
	if err != nil {
		return nil, &caseError{at: c.where(c.stageNode), err: fmt.Errorf("stages: loader %s (%s): %w", st.Name, st.Type, err)}
	}
	v, err := st.Build(stage.BuildContext{Pipeline: r.p.Name, Dir: filepath.Dir(r.p.File), Alloc: r.opts.Alloc,
		Logger: r.opts.Logger.With("pipeline", r.p.Name, "stage", st.Name)}, cfg)
	if err != nil {
		return nil, fmt.Errorf("loader %s: building it with path %s: %w", st.Name, dir, err)
	}
	l := v.(stage.Loader)
	if cl, ok := l.(io.Closer); ok {
		defer cl.Close()
	}
	part, err := r.partition(c)
	if err != nil {
		return nil, err
	}
	in, err := r.input(ctx, c, len(r.built.Transformers))
	if err != nil {
		return nil, err
	}
	defer in.Release()
	if err := l.CheckSchema(in.Schema()); err != nil {
		return nil, err
	}
	w, err := l.Begin(ctx, in.Schema(), part)
	if err != nil {
		return nil, err
	}
	if err := w.Write(ctx, in); err != nil {
		return nil, errors.Join(err, w.Abort(context.WithoutCancel(ctx)))
	}
	info := stage.CommitInfo{Pipeline: r.p.Name, RunInstance: part.Run.Label, PartitionID: part.ID, Key: part.Key, Rows: in.NumRows()}
	if _, err := w.Commit(ctx, info); err != nil {
		return nil, errors.Join(err, w.Abort(context.WithoutCancel(ctx)))
	}
	rec, err := records.ReadParquetFiles(r.opts.Alloc, dir)
	if err != nil {
		return nil, fmt.Errorf("reading back what loader %s wrote: %w", st.Name, err)
	}
	if rec == nil {
		return nil, fmt.Errorf("loader %s wrote no Parquet file under %s", st.Name, dir)
	}
	return rec, nil
}

// withPath copies a loader config (a pointer to its struct) with its `path` key set to dir.
func withPath(cfg any, dir string) (any, error) {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("its config is %T, not a struct", cfg)
	}
	cp := reflect.New(v.Elem().Type())
	cp.Elem().Set(v.Elem())
	t := cp.Elem().Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == "path" && f.Type.Kind() == reflect.String {
			cp.Elem().Field(i).SetString(dir)
			return cp.Interface(), nil
		}
	}
	return nil, errors.New("it has no path: key to point at a temporary directory, so it cannot be tested here")
}
