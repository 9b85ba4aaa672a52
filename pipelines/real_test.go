package pipelines_test

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
)

// TestRealStages checks a pipeline of built-in stages end to end through Load, Build and Validate.
func TestRealStages(t *testing.T) {
	src := `name: real
run_instance: {every: 1h}
consumer:
  type: generate
  rows: ${ROWS}
  partition: {rows: 10}
  columns:
    - {name: id, type: int64, sequence: true}
    - {name: region, type: string, distinct: 4}
loaders:
  - type: parquet
    path: "${OUT}/real/"
    partition_by: [region]
`
	p, err := pipelines.Options{LookupEnv: pipelines.LookupTestEnv}.Parse("real.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b, err := p.Build(stage.BuildContext{Alloc: mem, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := p.Validate(context.Background(), b, false)
	if err != nil || len(b.Notes) != 0 {
		t.Fatalf("validate: %v %v", err, b.Notes)
	}
	if len(schemas) != 1 || schemas[0].NumFields() != 2 || schemas[0].Field(1).Name != "region" {
		t.Fatalf("schemas %v", schemas)
	}
	run, err := p.ParseRun("2026-11-22T13")
	if err != nil {
		t.Fatal(err)
	}
	parts, err := b.Source.(stage.Consumer).Partitions(context.Background(), run)
	if err != nil || len(parts) != 3 { // 25 rows from ${ROWS}, 10 per partition
		t.Fatalf("partitions: %v %d", err, len(parts))
	}
}

// A stage whose config keeps a raw YAML node (derive's columns) still gets its errors at the entry's own line.
func TestFieldErrorInsideRawNodeIsPositioned(t *testing.T) {
	src := `name: raw
consumer:
  type: generate
  rows: 5
  columns:
    - {name: ts, type: "timestamp[us, UTC]"}
transformers:
  - type: derive
    columns:
      ok: year(ts)
      bad: yeer(ts)
loaders:
  - type: parquet
    path: out
`
	p, err := pipelines.Options{}.Parse("raw.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Build(stage.BuildContext{Pipeline: p.Name, Alloc: memory.NewGoAllocator()})
	if err == nil {
		_, err = p.Validate(context.Background(), b, false)
	}
	const want = `raw.yaml:11:12: transformers[0].columns.bad: unknown function "yeer"; did you mean year?` + "\n"
	if err == nil || !strings.HasPrefix(err.Error()+"\n", want) {
		t.Fatalf("error = %v, want it to start with %q", err, want)
	}
}

// TestStrictLoadsLoadersOnly: with Options.Strict, a variable missing outside the strict keys leaves its value
// as written and unchecked (the consumer is never built), while one missing in a strict key is still an error.
func TestStrictLoadsLoadersOnly(t *testing.T) {
	src := `name: real
consumer:
  type: postgres
  dsn: ${NOT_SET_DSN}
  table: orders
  batch_rows: ${NOT_SET_ROWS}
transformers:
  - type: filter
    where: ${NOT_SET_WHERE}
loaders:
  - type: parquet
    path: "${OUT}/x/"
`
	opts := pipelines.Options{LookupEnv: pipelines.LookupTestEnv, Strict: []string{"loaders"}}
	p, err := opts.Parse("strict.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse with Strict: %v", err)
	}
	b, err := p.BuildLoaders(stage.BuildContext{Alloc: memory.NewGoAllocator()})
	if err != nil {
		t.Fatalf("BuildLoaders: %v", err)
	}
	if len(b.Loaders) != 1 || b.Source != nil || len(b.Transformers) != 0 {
		t.Fatalf("BuildLoaders built source %v, %d transformers, %d loaders; want the one loader only", b.Source, len(b.Transformers), len(b.Loaders))
	}

	// Without Strict, and in a strict key, a missing variable is an error at its value.
	for _, tc := range []struct {
		name string
		opts pipelines.Options
		src  string
		want string
	}{
		{"every key strict", pipelines.Options{LookupEnv: pipelines.LookupTestEnv}, src, "strict.yaml:4:8: consumer.dsn: environment variable NOT_SET_DSN is not set"},
		{"missing in a strict key", opts, strings.Replace(src, "${OUT}", "${NOT_SET_OUT}", 1),
			"strict.yaml:12:11: loaders[0].path: environment variable NOT_SET_OUT is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.opts.Parse("strict.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
