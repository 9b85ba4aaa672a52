package kafka

import (
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
)

// TestInferSchema infers the schema of a topic from a sample with widening, then reads it with that schema.
func TestInferSchema(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "inf", 2)
	msgs := []string{
		`{"id": 1, "price": 3, "flag": true, "mixed": 1, "tags": ["a"], "addr": {"city": "Paris"}, "gone": null, "empty": {}}`,
		`{"id": 2, "price": 3.5, "flag": false, "mixed": "x", "tags": [], "addr": {"city": "Lyon", "zip": 69000}, "empty": {}}`,
		`not json at all`,
		`{"id": 3, "extra": [1, 2.5], "addr": null}`,
	}
	for i, m := range msgs {
		kc.Produce(t, &kgo.Record{Topic: "inf", Partition: int32(i % 2), Value: []byte(m)})
	}
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newTestConsumer(t, mem, Config{Brokers: kc.Addrs, Topics: []string{"inf"}, InferSample: 100, OnError: "skip",
		Metadata: []string{"partition"}})
	defer c.Close()
	if _, ok, _ := c.DeclaredSchema(); ok {
		t.Fatal("an inferred schema must not be declared")
	}
	schema, err := c.Schema(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range schema.Fields() {
		got = append(got, f.Name+": "+arrowtype.Format(f.Type))
	}
	// Fields appear in the order first seen: partition 0 holds messages 0 and 2, partition 1 messages 1 and 3.
	want := []string{"id: int64", "price: float64", "flag: bool", "mixed: string", "tags: list<string>",
		"addr: struct<city: string, zip: int64>", "gone: string", "empty: string", "extra: list<float64>", "kafka_partition: int32"}
	if len(got) != len(want) {
		t.Fatalf("schema\n%v\nwant\n%v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("schema\n%v\nwant\n%v", got, want)
		}
	}

	// Read the topic with the inferred schema: the mixed field keeps a number as its JSON text, and an object
	// that was always empty (no fields to make a struct of, which Parquet could not store) its text too.
	c.ResumeWatermark("", false)
	parts, err := c.Partitions(t.Context(), stage.RunInstance{Label: "r"})
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, p := range parts {
		err := c.Read(t.Context(), p, func(rec arrow.RecordBatch) error {
			for i := range int(rec.NumRows()) {
				rows = append(rows, rec.Column(0).ValueStr(i)+" "+rec.Column(3).ValueStr(i)+" "+rec.Column(5).ValueStr(i)+" "+rec.Column(7).ValueStr(i))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(rows)
	wantRows := `1 1 {"city":"Paris","zip":null} {}|2 x {"city":"Lyon","zip":69000} {}|3 (null) (null) (null)`
	if strings.Join(rows, "|") != wantRows {
		t.Errorf("rows\n%s\nwant\n%s", strings.Join(rows, "|"), wantRows)
	}
	if c.BadMessages() != 1 {
		t.Errorf("%d bad messages, want the one that is not JSON", c.BadMessages())
	}
}
