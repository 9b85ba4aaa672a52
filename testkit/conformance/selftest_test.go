package conformance_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/conformance"
)

// The suites must fail stages that break the contracts. Each broken stage runs its suite in a child process
// (this test binary, selecting one helper), since a failing suite fails the test that runs it; the parent wants
// exactly the checks that name the broken rule to fail.
func TestSuitesCatchBrokenStages(t *testing.T) {
	tests := []struct {
		helper string
		fail   []string // checks that must fail
		pass   []string // checks that must pass: the suite blames the right rule
	}{
		{"TestHelperSharedState", []string{"partition_state_is_isolated", "flush_once"}, []string{"output_has_the_OutputSchema", "empty_batch"}},
		{"TestHelperLeak", []string{"output_has_the_OutputSchema", "batch_ownership"}, nil},
		{"TestHelperWrongSchema", []string{"output_has_the_OutputSchema"}, nil},
		{"TestHelperStreamSkips", []string{"resume_neither_loses_nor_repeats"}, []string{"partitions_roll", "cancellation_stops_cleanly"}},
		{"TestHelperStreamRepeats", []string{"resume_neither_loses_nor_repeats"}, []string{"partitions_roll"}},
	}
	for _, tt := range tests {
		t.Run(tt.helper, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+tt.helper+"$", "-test.v")
			cmd.Env = append(os.Environ(), "CONFORMANCE_HELPER=1")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a broken stage:\n%s", out)
			}
			for _, name := range tt.fail {
				if !regexp.MustCompile(`--- FAIL: ` + tt.helper + `/` + regexp.QuoteMeta(name) + ` `).Match(out) {
					t.Errorf("check %q did not fail:\n%s", name, out)
				}
			}
			for _, name := range tt.pass {
				if !regexp.MustCompile(`--- PASS: ` + tt.helper + `/` + regexp.QuoteMeta(name) + ` `).Match(out) {
					t.Errorf("check %q did not pass:\n%s", name, out)
				}
			}
		})
	}
}

func helperOnly(t *testing.T) {
	if os.Getenv("CONFORMANCE_HELPER") == "" {
		t.Skip("run by TestSuitesCatchBrokenStages")
	}
}

var idSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)

func idInput(t *testing.T, mem memory.Allocator) arrow.RecordBatch {
	return testkit.Records(t, mem, idSchema, `[{"id": 1}, {"id": 2}, {"id": 3}]`)
}

// sharedState holds rows until Flush, but every partition instance shares one buffer.
type sharedState struct{ held *[]int64 }

func (s sharedState) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) { return in, nil }
func (s sharedState) Transform(_ context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	*s.held = append(*s.held, b.Column(0).(*array.Int64).Int64Values()...)
	return nil, nil
}
func (s sharedState) ForPartition(stage.Partition) (stage.Transformer, error) { return s, nil }
func (s sharedState) Flush(context.Context) (arrow.RecordBatch, error) {
	if len(*s.held) == 0 {
		return nil, nil
	}
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(*s.held, nil)
	col := b.NewArray()
	defer col.Release()
	return array.NewRecordBatch(idSchema, []arrow.Array{col}, int64(col.Len())), nil
}

func TestHelperSharedState(t *testing.T) {
	helperOnly(t)
	conformance.Transformers(t, conformance.ConformanceTransformer{
		New:   func(*testing.T, memory.Allocator) stage.Transformer { return sharedState{held: new([]int64)} },
		Input: idInput,
	})
}

// leak retains its input and never releases it.
type leak struct{}

func (leak) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) { return in, nil }
func (leak) Transform(_ context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	b.Retain()
	b.Retain()
	return b, nil
}

func TestHelperLeak(t *testing.T) {
	helperOnly(t)
	conformance.Transformers(t, conformance.ConformanceTransformer{
		New:   func(*testing.T, memory.Allocator) stage.Transformer { return leak{} },
		Input: idInput,
	})
}

// wrongSchema promises a column it does not add.
type wrongSchema struct{ leak }

func (wrongSchema) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	return arrow.NewSchema(append(in.Fields(), arrow.Field{Name: "extra", Type: arrow.BinaryTypes.String}), nil), nil
}
func (wrongSchema) Transform(_ context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	b.Retain()
	return b, nil
}

func TestHelperWrongSchema(t *testing.T) {
	helperOnly(t)
	conformance.Transformers(t, conformance.ConformanceTransformer{
		New:   func(*testing.T, memory.Allocator) stage.Transformer { return wrongSchema{} },
		Input: idInput,
	})
}

// counter is an endless one-lane stream of ids, 10 a partition, 5 a batch; skip is added to a resumed
// checkpoint (a skip loses records, a negative one repeats them).
type counter struct {
	mem  memory.Allocator
	skip int64
}

func (c counter) Schema(context.Context) (*arrow.Schema, error) { return idSchema, nil }
func (c counter) Stream(ctx context.Context, run stage.RunInstance, resume stage.ResumeFunc, handle stage.PartitionHandler) error {
	next := int64(0)
	if cp, ok, err := resume(ctx, "0"); err != nil {
		return err
	} else if ok {
		n, err := strconv.ParseInt(cp, 10, 64)
		if err != nil {
			return err
		}
		next = max(n+c.skip, 0)
	}
	for ctx.Err() == nil {
		first := next
		err := handle(ctx, stage.Partition{Key: "at" + strconv.FormatInt(first, 10), Lane: "0", Run: run},
			func(ctx context.Context, out func(arrow.RecordBatch) error) (string, error) {
				for lo := first; lo < first+10; lo += 5 {
					if err := ctx.Err(); err != nil {
						return "", err
					}
					b := array.NewInt64Builder(c.mem)
					for v := lo; v < lo+5; v++ {
						b.Append(v)
					}
					col := b.NewArray()
					b.Release()
					rec := array.NewRecordBatch(idSchema, []arrow.Array{col}, 5)
					col.Release()
					err := out(rec)
					rec.Release()
					if err != nil {
						return "", err
					}
				}
				return strconv.FormatInt(first+10, 10), nil
			})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		next = first + 10
	}
	return nil
}

func TestHelperStreamSkips(t *testing.T) {
	helperOnly(t)
	conformance.Streams(t, conformance.ConformanceStream{
		New:        func(_ *testing.T, mem memory.Allocator) stage.StreamConsumer { return counter{mem: mem, skip: 1} },
		KeyColumns: []string{"id"},
	})
}

func TestHelperStreamRepeats(t *testing.T) {
	helperOnly(t)
	conformance.Streams(t, conformance.ConformanceStream{
		New:        func(_ *testing.T, mem memory.Allocator) stage.StreamConsumer { return counter{mem: mem, skip: -3} },
		KeyColumns: []string{"id"},
	})
}

// TestCorrectCounterPasses: the same stream without the fault passes, so the failures above are the fault's.
func TestCorrectCounterPasses(t *testing.T) {
	conformance.Streams(t, conformance.ConformanceStream{
		New:        func(_ *testing.T, mem memory.Allocator) stage.StreamConsumer { return counter{mem: mem} },
		KeyColumns: []string{"id"},
	})
}
