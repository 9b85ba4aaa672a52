package pipelines

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"gopkg.in/yaml.v3"

	"github.com/jetflow-dev/jetflow/stage"
)

// Stage types of this package's tests; reference_test leaves them out of docs/REFERENCE.md.
var testStageTypes = []string{"testsrc", "testmap", "testsink"}

type testSrcConfig struct {
	Columns []testColumn      `yaml:"columns" required:"true" doc:"Columns of the declared schema."`
	Rows    int64             `yaml:"rows" default:"10" doc:"Rows of the single partition."`
	Every   stage.Duration    `yaml:"every" default:"1h" doc:"A duration."`
	MaxSize stage.ByteSize    `yaml:"max_size" default:"64MiB" doc:"A size."`
	Token   stage.Secret      `yaml:"token" doc:"Must start with tok_."`
	Known   bool              `yaml:"known" default:"true" doc:"Whether the schema is declared."`
	Mode    string            `yaml:"mode" default:"fast" enum:"fast,slow,careful" doc:"An enum."`
	Labels  map[string]string `yaml:"labels" doc:"A map."`
	Ratio   *float64          `yaml:"ratio" doc:"An optional number."`
	Shards  uint8             `yaml:"shards" default:"1" doc:"A small unsigned integer."`
	Extra   *yaml.Node        `yaml:"extra" doc:"Kept raw."`
	Note    string            `yaml:"note" fingerprint:"-" doc:"Not output-relevant."`
}

type testColumn struct {
	Name string `yaml:"name" required:"true" doc:"Column name."`
	Type string `yaml:"type" default:"int64" enum:"int64,string" doc:"Column type."`
}

type testSrc struct {
	cfg    *testSrcConfig
	schema *arrow.Schema
	alloc  memory.Allocator
}

func newTestSrc(bc stage.BuildContext, c *testSrcConfig) (stage.Source, error) {
	var errs []error
	if c.Rows < 0 {
		errs = append(errs, stage.FieldErrorf("rows", "must not be negative, got %d", c.Rows))
	}
	fields := make([]arrow.Field, 0, len(c.Columns))
	for i, col := range c.Columns {
		if slices.ContainsFunc(c.Columns[:i], func(x testColumn) bool { return x.Name == col.Name }) {
			errs = append(errs, stage.FieldErrorf(fmt.Sprintf("columns[%d].name", i), "duplicate column %q", col.Name))
		}
		typ := arrow.DataType(arrow.PrimitiveTypes.Int64)
		if col.Type == "string" {
			typ = arrow.BinaryTypes.String
		}
		fields = append(fields, arrow.Field{Name: col.Name, Type: typ})
	}
	if c.Token != "" && !strings.HasPrefix(c.Token.Reveal(), "tok_") {
		errs = append(errs, fmt.Errorf("the source rejected token %q: tokens start with tok_", c.Token.Reveal()))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &testSrc{cfg: c, schema: arrow.NewSchema(fields, nil), alloc: bc.Alloc}, nil
}

func (s *testSrc) Schema(context.Context) (*arrow.Schema, error) { return s.schema, nil }

func (s *testSrc) DeclaredSchema() (*arrow.Schema, bool, error) { return s.schema, s.cfg.Known, nil }

func (s *testSrc) Partitions(_ context.Context, run stage.RunInstance) ([]stage.Partition, error) {
	return []stage.Partition{{Key: "all", Run: run, Lo: int64(0), Hi: s.cfg.Rows}}, nil
}

func (s *testSrc) Read(_ context.Context, _ stage.Partition, out func(arrow.RecordBatch) error) error {
	b := array.NewRecordBuilder(s.alloc, s.schema)
	defer b.Release()
	for i, f := range s.schema.Fields() {
		switch fb := b.Field(i).(type) {
		case *array.Int64Builder:
			for r := range s.cfg.Rows {
				fb.Append(r)
			}
		case *array.StringBuilder:
			for r := range s.cfg.Rows {
				fb.Append(fmt.Sprintf("%s-%d", f.Name, r))
			}
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return out(rec)
}

type testMapConfig struct {
	Drop []string `yaml:"drop" doc:"Columns to remove."`
}

type testMap struct{ drop []string }

func (m *testMap) OutputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	var errs []error
	for i, d := range m.drop {
		if len(in.FieldIndices(d)) == 0 {
			errs = append(errs, stage.FieldErrorf(fmt.Sprintf("drop[%d]", i), "no column %q in the input", d))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var keep []arrow.Field
	for _, f := range in.Fields() {
		if !slices.Contains(m.drop, f.Name) {
			keep = append(keep, f)
		}
	}
	return arrow.NewSchema(keep, nil), nil
}

func (m *testMap) Transform(_ context.Context, batch arrow.RecordBatch) (arrow.RecordBatch, error) {
	out, err := m.OutputSchema(batch.Schema())
	if err != nil {
		return nil, err
	}
	cols := make([]arrow.Array, 0, out.NumFields())
	for i, f := range batch.Schema().Fields() {
		if !slices.Contains(m.drop, f.Name) {
			cols = append(cols, batch.Column(i))
		}
	}
	return array.NewRecordBatch(out, cols, batch.NumRows()), nil
}

type testSinkConfig struct {
	Dir         string   `yaml:"dir" required:"true" doc:"Where to write."`
	Format      string   `yaml:"format" default:"csv" enum:"csv,json" doc:"Output format."`
	PartitionBy []string `yaml:"partition_by" doc:"Columns that must exist."`
}

type testSink struct{ cfg *testSinkConfig }

func (s *testSink) CheckSchema(schema *arrow.Schema) error {
	var errs []error
	for i, c := range s.cfg.PartitionBy {
		if len(schema.FieldIndices(c)) == 0 {
			errs = append(errs, stage.FieldErrorf(fmt.Sprintf("partition_by[%d]", i), "no column %q in the schema", c))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

func (s *testSink) Begin(context.Context, *arrow.Schema, stage.Partition) (stage.PartitionWriter, error) {
	return &testWriter{}, nil
}

type testWriter struct{ rows int64 }

func (w *testWriter) Write(_ context.Context, b arrow.RecordBatch) error {
	w.rows += b.NumRows()
	return nil
}
func (w *testWriter) Commit(context.Context, stage.CommitInfo) (stage.CommitResult, error) {
	return stage.CommitResult{Token: fmt.Sprint(w.rows)}, nil
}
func (w *testWriter) Abort(context.Context) error { return nil }

func init() {
	stage.RegisterConsumer("testsrc", "A test source with a declared schema.", newTestSrc)
	stage.RegisterTransformer("testmap", "A test transformer that drops columns.",
		func(_ stage.BuildContext, c *testMapConfig) (stage.Transformer, error) {
			return &testMap{drop: c.Drop}, nil
		})
	stage.RegisterLoader("testsink", "A test loader whose schema check wants its partition columns.",
		func(_ stage.BuildContext, c *testSinkConfig) (stage.Loader, error) { return &testSink{cfg: c}, nil })
}
