package kafka

import (
	"testing"

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
