package generate_test

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/consumers/generate"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/conformance"
)

// The suite runs through the registered constructor, where the config defaults matter as much as the code.
func TestGenerateConformance(t *testing.T) {
	reg, ok := stage.Lookup(stage.KindConsumer, "generate")
	if !ok {
		t.Fatal(`consumer "generate" is not registered`)
	}
	conformance.Consumers(t, conformance.ConformanceConsumer{
		New: func(t *testing.T, mem memory.Allocator) stage.Consumer {
			cfg := reg.NewConfig().(*generate.Config)
			*cfg = generate.Config{
				Seed:      7,
				Rows:      20_000,
				BatchRows: 1_000,
				Partition: generate.PartitionConfig{Count: 4},
				Columns: []generate.Column{
					{Name: "id", Type: "int64", Sequence: true},
					{Name: "total", Type: "decimal(18,4)", NullRate: 0.1},
					{Name: "name", Type: "string", NullRate: 0.2, Distinct: 50},
					{Name: "at", Type: "timestamp[us, UTC]"},
					{Name: "tags", Type: "list<int64>", NullRate: 0.1},
				},
			}
			src, err := reg.Build(stage.BuildContext{Pipeline: "conformance", Alloc: mem}, cfg)
			if err != nil {
				t.Fatalf("building the generate consumer: %v", err)
			}
			c, ok := src.(stage.Consumer)
			if !ok {
				t.Fatalf("generate built a %T, want a stage.Consumer in bounded mode", src)
			}
			return c
		},
		KeyColumns: []string{"id"},
	})
}

// TestStreamConformance runs the stream suite on the unbounded generator: small partitions (500 rows, 2 batches),
// so a session commits several within the checks' time.
func TestStreamConformance(t *testing.T) {
	reg, ok := stage.Lookup(stage.KindConsumer, "generate")
	if !ok {
		t.Fatal(`consumer "generate" is not registered`)
	}
	conformance.Streams(t, conformance.ConformanceStream{
		New: func(t *testing.T, mem memory.Allocator) stage.StreamConsumer {
			cfg := reg.NewConfig().(*generate.Config)
			*cfg = generate.Config{
				Seed:      7,
				BatchRows: 250,
				Unbounded: &generate.StreamConfig{Roll: generate.RollConfig{Rows: 500, Bytes: 128 << 20, Interval: stage.Duration(time.Minute)}},
				Columns: []generate.Column{
					{Name: "id", Type: "int64", Sequence: true},
					{Name: "name", Type: "string", NullRate: 0.2, Distinct: 50},
				},
			}
			src, err := reg.Build(stage.BuildContext{Pipeline: "conformance", Alloc: mem}, cfg)
			if err != nil {
				t.Fatalf("building the unbounded generate consumer: %v", err)
			}
			sc, ok := src.(stage.StreamConsumer)
			if !ok {
				t.Fatalf("generate built a %T, want a stage.StreamConsumer with unbounded:", src)
			}
			return sc
		},
		KeyColumns: []string{"id"},
	})
}
