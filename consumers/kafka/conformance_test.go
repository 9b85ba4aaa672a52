package kafka

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/conformance"
	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
)

func TestConformance(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "conf", 3)
	produceOrders(t, kc, "conf", 3, 0, 3000)
	reg, ok := stage.Lookup(stage.KindConsumer, "kafka")
	if !ok {
		t.Fatal(`consumer "kafka" is not registered`)
	}
	conformance.Consumers(t, conformance.ConformanceConsumer{
		New: func(t *testing.T, mem memory.Allocator) stage.Consumer {
			cfg := reg.NewConfig().(*Config)
			*cfg = Config{Brokers: kc.Addrs, Topics: []string{"conf"}, Format: "json", OnError: "fail", BatchRows: 100,
				MaxMessageBytes: 1 << 20, Start: "earliest",
				Schema:   []Column{{Name: "id", Type: "int64"}, {Name: "customer", Type: "string"}, {Name: "tags", Type: "list<string>"}},
				Metadata: []string{"partition", "offset"}}
			src, err := reg.Build(stage.BuildContext{Pipeline: "conformance", Alloc: mem}, cfg)
			if err != nil {
				t.Fatalf("building the kafka consumer: %v", err)
			}
			c := src.(*Consumer)
			t.Cleanup(func() { c.Close() })
			return c
		},
		KeyColumns: []string{"id"},
	})
}

// TestStreamConformance runs the stream suite on a topic of 3 partitions (lanes) and 3000 records, cut into
// partitions of 200 messages, so a session commits a few partitions of each lane before the records run out.
func TestStreamConformance(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "stream", 3)
	produceOrders(t, kc, "stream", 3, 0, 3000)
	reg, ok := stage.Lookup(stage.KindConsumer, "kafka")
	if !ok {
		t.Fatal(`consumer "kafka" is not registered`)
	}
	var sessions atomic.Int64
	conformance.Streams(t, conformance.ConformanceStream{
		New: func(t *testing.T, mem memory.Allocator) stage.StreamConsumer {
			cfg := reg.NewConfig().(*Config)
			*cfg = Config{Brokers: kc.Addrs, Topics: []string{"stream"}, Format: "json", OnError: "fail", BatchRows: 100,
				MaxMessageBytes: 1 << 20, Start: "earliest",
				// A group per session: resuming is from the checkpoints the suite committed, never the group's
				// offsets, and no session waits for another to leave the group.
				Group:        fmt.Sprintf("conformance-%d", sessions.Add(1)),
				Roll:         RollConfig{Rows: 200, Interval: stage.Duration(10 * time.Second)},
				DrainTimeout: stage.Duration(5 * time.Second),
				Schema:       []Column{{Name: "id", Type: "int64"}, {Name: "customer", Type: "string"}},
				Metadata:     []string{"partition", "offset"}}
			src, err := reg.Build(stage.BuildContext{Pipeline: "conformance", Alloc: mem}, cfg)
			if err != nil {
				t.Fatalf("building the kafka consumer: %v", err)
			}
			c := src.(*Consumer)
			t.Cleanup(func() { c.Close() })
			return c
		},
		KeyColumns: []string{"id"},
		Records:    3000,
	})
}
