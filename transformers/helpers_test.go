package transformers

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/arrowtype"
	_ "github.com/jetflow-dev/jetflow/consumers/generate"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	_ "github.com/jetflow-dev/jetflow/loaders/parquet"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// build loads a one-transformer pipeline whose transformer is written in yamlFlow (a YAML flow mapping such as
// `{type: select, columns: [a]}`) through the real pipeline loader, so tags, defaults and error positions are
// those a user gets. It returns the transformer or the loader's error.
func build(t testing.TB, mem memory.Allocator, yamlFlow string) (stage.Transformer, error) {
	t.Helper()
	doc := "name: t\nconsumer: {type: generate, rows: 1, columns: [{name: x, type: int64}]}\n" +
		"transformers:\n  - " + yamlFlow + "\nloaders: [{type: parquet, path: " + strconv.Quote(t.TempDir()) + "}]\n"
	p, err := pipelines.Options{}.Parse("t.yaml", []byte(doc))
	if err != nil {
		return nil, err
	}
	b, err := p.Build(stage.BuildContext{Alloc: mem})
	if err != nil {
		return nil, err
	}
	return b.Transformers[0], nil
}

func mustBuild(t testing.TB, mem memory.Allocator, yamlFlow string) stage.Transformer {
	t.Helper()
	tr, err := build(t, mem, yamlFlow)
	if err != nil {
		t.Fatalf("building %s: %v", yamlFlow, err)
	}
	return tr
}

// schemaOf parses "name: type, name: type not null" into a schema with the arrowtype syntax.
func schemaOf(t testing.TB, text string) *arrow.Schema {
	t.Helper()
	var fields []arrow.Field
	for _, part := range splitTop(text) {
		name, typ, ok := strings.Cut(part, ":")
		if !ok {
			t.Fatalf("schemaOf: %q is not name: type", part)
		}
		typ = strings.TrimSpace(typ)
		nullable := true
		if s, cut := strings.CutSuffix(typ, " not null"); cut {
			typ, nullable = s, false
		}
		dt, err := arrowtype.Parse(typ)
		if err != nil {
			t.Fatalf("schemaOf: %v", err)
		}
		fields = append(fields, arrow.Field{Name: strings.TrimSpace(name), Type: dt, Nullable: nullable})
	}
	return arrow.NewSchema(fields, nil)
}

// splitTop splits on commas outside brackets.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '<', '(', '[':
			depth++
		case '>', ')', ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if strings.TrimSpace(s[start:]) != "" {
		out = append(out, strings.TrimSpace(s[start:]))
	}
	return out
}

// run transforms in with tr (through ForPartition when tr is a PartitionTransformer, plus a final Flush when
// the instance has one) and returns the output as one batch, or nil when every batch was dropped.
func run(t testing.TB, mem memory.Allocator, tr stage.Transformer, in ...arrow.RecordBatch) arrow.RecordBatch {
	t.Helper()
	out, err := tryRun(t, mem, tr, in...)
	if err != nil {
		t.Fatalf("transform: %v", err)
	}
	return out
}

func tryRun(t testing.TB, mem memory.Allocator, tr stage.Transformer, in ...arrow.RecordBatch) (arrow.RecordBatch, error) {
	t.Helper()
	ctx := context.Background()
	if pt, ok := tr.(stage.PartitionTransformer); ok {
		inst, err := pt.ForPartition(testkit.PartitionFor("p0"))
		if err != nil {
			return nil, err
		}
		tr = inst
	}
	var outs []arrow.RecordBatch
	defer func() { testkit.ReleaseAll(outs) }()
	for _, b := range in {
		want, err := tr.OutputSchema(b.Schema())
		if err != nil {
			return nil, err
		}
		r, err := tr.Transform(ctx, b)
		if err != nil {
			return nil, err
		}
		if r == nil {
			continue
		}
		outs = append(outs, r)
		if !r.Schema().Equal(want) {
			t.Fatalf("result schema %s differs from OutputSchema %s", r.Schema(), want)
		}
	}
	if f, ok := tr.(Flusher); ok {
		r, err := f.Flush(ctx)
		if err != nil {
			return nil, err
		}
		if r != nil {
			outs = append(outs, r)
		}
	}
	if len(outs) == 0 {
		return nil, nil
	}
	return testkit.ConcatRecords(mem, outs), nil
}

// sliced returns the rows of in as a slice with a non-zero offset of a larger batch, so every transformer is
// also run over arrays whose offset is not zero.
func sliced(t testing.TB, mem memory.Allocator, in arrow.RecordBatch) arrow.RecordBatch {
	t.Helper()
	// Surround the rows with one copy of the first row on each side, then slice them back out.
	if in.NumRows() == 0 {
		in.Retain()
		return in
	}
	head := in.NewSlice(0, 1)
	defer head.Release()
	big := testkit.ConcatRecords(mem, []arrow.RecordBatch{head, in, head})
	defer big.Release()
	return big.NewSlice(1, 1+in.NumRows())
}

// dictEncode returns in with its string columns dictionary-encoded (int32 indices).
func dictEncode(t testing.TB, mem memory.Allocator, in arrow.RecordBatch) arrow.RecordBatch {
	t.Helper()
	fields := in.Schema().Fields()
	cols := make([]arrow.Array, len(fields))
	defer releaseAll(cols)
	for i, f := range fields {
		c := in.Column(i)
		if f.Type.ID() != arrow.STRING {
			c.Retain()
			cols[i] = c
			continue
		}
		dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: f.Type}
		b := array.NewDictionaryBuilder(mem, dt)
		for r := range c.Len() {
			if c.IsNull(r) {
				b.AppendNull()
				continue
			}
			if err := b.(*array.BinaryDictionaryBuilder).AppendString(c.(*array.String).Value(r)); err != nil {
				t.Fatal(err)
			}
		}
		cols[i] = b.NewArray()
		b.Release()
		fields[i].Type = dt
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, in.NumRows())
}

func checkedMem(t testing.TB) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// errContains fails unless err is non-nil and holds every fragment.
func errContains(t testing.TB, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q, got none", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
}

// decodeDicts returns rec with its dictionary columns decoded to their value type, so the output for a
// dictionary-encoded input can be compared with the plain expectation.
func decodeDicts(t testing.TB, mem memory.Allocator, rec arrow.RecordBatch) arrow.RecordBatch {
	t.Helper()
	fields := rec.Schema().Fields()
	cols := make([]arrow.Array, len(fields))
	defer releaseAll(cols)
	for i, f := range fields {
		c := rec.Column(i)
		dt, ok := f.Type.(*arrow.DictionaryType)
		if !ok {
			c.Retain()
			cols[i] = c
			continue
		}
		d, err := compute.CastArray(compute.WithAllocator(context.Background(), mem), c, compute.SafeCastOptions(dt.ValueType))
		if err != nil {
			t.Fatalf("decoding dictionary column %q: %v", f.Name, err)
		}
		cols[i], fields[i].Type = d, dt.ValueType
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rec.NumRows())
}

// variantCase checks a transformer over one input the ways every transformer test must: as given, as a slice
// with an offset, dictionary-encoded (when it has string columns), and, for transformers that map rows one to
// one, over the empty batch and the first row alone.
func checkVariants(t *testing.T, mem memory.Allocator, tr stage.Transformer, in, want arrow.RecordBatch, rowwise bool, opts ...testkit.DiffOption) {
	t.Helper()
	check := func(name string, in, want arrow.RecordBatch, decode bool) {
		t.Helper()
		got := run(t, mem, tr, in)
		if got == nil {
			t.Errorf("%s: no output", name)
			return
		}
		defer got.Release()
		if decode {
			d := decodeDicts(t, mem, got)
			defer d.Release()
			got = d
		}
		if diff := testkit.DiffRecords(want, got, opts...); diff != "" {
			t.Errorf("%s: records differ (-want +got):\n%s", name, diff)
		}
	}
	check("as given", in, want, false)
	s := sliced(t, mem, in)
	check("sliced", s, want, false)
	s.Release()
	hasString := false
	for _, f := range in.Schema().Fields() {
		hasString = hasString || f.Type.ID() == arrow.STRING
	}
	if hasString {
		d := dictEncode(t, mem, in)
		check("dictionary-encoded", d, want, true)
		d.Release()
	}
	if rowwise && in.NumRows() > 0 {
		e, we := in.NewSlice(0, 0), want.NewSlice(0, 0)
		check("empty", e, we, false)
		e.Release()
		we.Release()
		o, wo := in.NewSlice(0, 1), want.NewSlice(0, 1)
		check("one row", o, wo, false)
		o.Release()
		wo.Release()
	}
}

// runCase runs one row of a transformer's table: the input rows through the transformer built from cfg, expecting
// either errors containing wantErr or the wanted rows, checked on every input variant (checkVariants).
func runCase(t *testing.T, inSchema, inRows, cfg string, wantErr []string, wantSchema, wantRows string, rowwise bool) {
	t.Helper()
	mem := checkedMem(t)
	in := testkit.RecordsYAML(t, mem, schemaOf(t, inSchema), inRows)
	defer in.Release()
	tr := mustBuild(t, mem, cfg)
	if wantErr != nil {
		_, err := tryRun(t, mem, tr, in)
		errContains(t, err, wantErr...)
		return
	}
	want := testkit.RecordsYAML(t, mem, schemaOf(t, wantSchema), wantRows)
	defer want.Release()
	checkVariants(t, mem, tr, in, want, rowwise)
}
