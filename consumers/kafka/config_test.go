package kafka

import (
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	_ "github.com/jetflow-dev/jetflow/transformers"
	_ "github.com/jetflow-dev/jetflow/transformers/expr"
)

// TestConfigErrors checks that config mistakes are reported on the key that holds them, with its position.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ consumer, want string }{
		{"topics: [a]\n  topic_regex: b", "k.yaml:6:16: consumer.topic_regex: give topics or topic_regex, not both"},
		{"group: g", "k.yaml:3:9: consumer.topics: name the topics to read"},
		{"topics: [a]\n  start: yesterday", "k.yaml:6:10: consumer.start: start is earliest, latest or an RFC 3339 time"},
		{"topics: [a]\n  schema: [{name: x, type: \"map<string, int64>\"}]", "consumer.schema[0].type: type map<string, int64> is not read from JSON"},
		{"topics: [a]\n  schema: [{name: x, type: int64}, {name: x, type: string}]", "consumer.schema[1].name: column \"x\" is declared twice"},
		{"topics: [a]\n  metadata: [key, size]", "consumer.metadata[1]: unknown metadata \"size\""},
		{"topics: [a]\n  format: raw\n  schema: [{name: x, type: int64}]", "consumer.schema: format raw reads the value's bytes"},
		{"topics: [a]\n  on_error: dead_letter", "consumer.dead_letter: on_error: dead_letter needs dead_letter.topic or dead_letter.path"},
		{"topics: [a]\n  dead_letter: {topic: d}", "consumer.dead_letter: dead_letter is used only with on_error: dead_letter"},
		{"topics: [a]\n  format: avro", "consumer.avro_schema: format avro needs the writer's schema"},
		{"topics: [a/b]", "consumer.topics[0]: \"a/b\" is not a Kafka topic name"},
		{"topics: [a]\n  metadata_max_age: 2h", "consumer.metadata_max_age: metadata_max_age must be between 10ms and 1h"},
		{"topics: [a]\n  batch_rows: 0", "k.yaml:6:15: consumer.batch_rows: want at least 1, got 0"},
		{"topics: [a]\n  fetch: {max_wait: 0s}", "consumer.fetch.max_wait: want at least 1ms, got 0s"},
		{"topics: [a]\n  key_format: text", `consumer.key_format: "text" is not one of bytes, string, avro`},
	} {
		src := "name: k\nconsumer:\n  type: kafka\n  brokers: [\"localhost:9092\"]\n  " + tc.consumer + "\nloaders:\n  - {type: parquet, path: /tmp/x/}\n"
		p, err := pipelines.Options{}.Parse("k.yaml", []byte(src))
		if err == nil {
			var b *pipelines.Built
			b, err = p.Build(stage.BuildContext{Alloc: memory.NewGoAllocator()})
			if err == nil {
				b.Source.(*Consumer).Close()
			}
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\nerror %v\nwant %q", tc.consumer, err, tc.want)
		}
	}
}

// TestExamplePipelineValidates builds the README's streaming pipeline (testdata/events.yaml) offline: the
// declared schema lets `jetflow validate` check the whole pipeline without a broker.
func TestExamplePipelineValidates(t *testing.T) {
	src, err := os.ReadFile("testdata/events.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KAFKA_BROKERS": "localhost:9092", "LAKE": t.TempDir()}
	p, err := pipelines.Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}.Parse("events.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Build(stage.BuildContext{Alloc: memory.NewGoAllocator()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Source.(*Consumer).Close()
	if _, err := p.Validate(t.Context(), b, false); err != nil {
		t.Fatal(err)
	}
	if len(b.Notes) > 0 {
		t.Errorf("notes %v: a declared schema needs no connection", b.Notes)
	}
}
