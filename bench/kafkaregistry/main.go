// Command kafkaregistry measures the kafka consumer's Avro decoding through a schema registry against franz-go
// consuming alone and against Avro with the schema given in YAML, in the same run, on a kfake broker running as
// its own process (started from testkit/kafkatest/cmd/kfake) and an in-process Confluent-compatible registry:
//
//	go run ./bench/kafkaregistry                      # 1M Avro records of ~73 bytes, 4 partitions
//	go run ./bench/kafkaregistry -records 200000 -rounds 1   # a quicker look
//
// Every message is written with version 1 of the subject (Confluent header, id 1). Cases: franz-go PollRecords
// with records discarded (the baseline); the consumer decoding into Arrow with avro_schema: v1 in YAML (no
// registry, no resolution); the consumer with schema_registry, whose latest version (v2) adds an optional field,
// so every message is resolved from v1 into v2's columns (the writer's schema fetched once).
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/twmb/avro"

	"github.com/jetflow-dev/jetflow/bench/benchkit"
)

const v1 = `{"type": "record", "name": "Order", "fields": [
	{"name": "id", "type": "long"}, {"name": "customer", "type": "string"},
	{"name": "total", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
	{"name": "status", "type": "string"}, {"name": "tags", "type": {"type": "array", "items": "string"}},
	{"name": "address", "type": {"type": "record", "name": "Addr", "fields": [
		{"name": "city", "type": "string"}, {"name": "zip", "type": "string"}]}},
	{"name": "note", "type": "string"}]}`

// v2 adds an optional field: the reader's schema of the registry case.
var v2 = strings.Replace(v1, `{"name": "note", "type": "string"}]}`,
	`{"name": "note", "type": "string"}, {"name": "channel", "type": ["null", "string"], "default": null}]}`, 1)

func main() {
	records := flag.Int64("records", 1_000_000, "records to produce and read")
	partitions := flag.Int("partitions", 4, "partitions of the topic")
	rounds := flag.Int("rounds", 3, "rounds of the cases (each keeps its fastest)")
	work := flag.String("work", "", "working directory (default: a temporary one, removed after)")
	flag.Parse()
	if *rounds < 1 {
		*rounds = 1
	}
	if err := run(*records, *partitions, *rounds, *work); err != nil {
		fmt.Fprintln(os.Stderr, "bench/kafkaregistry:", err)
		os.Exit(1)
	}
}

func run(records int64, partitions, rounds int, work string) error {
	ctx := context.Background()
	if work == "" {
		dir, err := os.MkdirTemp("", "bench-kafkaregistry-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	kfake := filepath.Join(work, "kfake")
	if out, err := exec.Command("go", "build", "-o", kfake, "./testkit/kafkatest/cmd/kfake").CombinedOutput(); err != nil {
		return fmt.Errorf("build kfake (run from the repository root): %v\n%s", err, out)
	}
	brokers, stop, err := benchkit.StartKfake(kfake, partitions)
	if err != nil {
		return err
	}
	defer stop()
	var idHits atomic.Int64
	reg := httptest.NewServer(registry(&idHits))
	defer reg.Close()

	fmt.Fprintf(os.Stderr, "bench: producing %d Avro records to %d partitions\n", records, partitions)
	bytes, err := produce(ctx, brokers, "bench", partitions, records)
	if err != nil {
		return err
	}
	quote := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	read := func(extra string) func() error {
		yaml := fmt.Sprintf(`name: bench
run_instance: {every: 1d}
consumer:
  type: kafka
  brokers: [%q]
  topics: [bench]
  format: avro
%sloaders:
  - type: parquet
    path: %s/
`, brokers, extra, filepath.Join(work, "unused"))
		return func() error {
			n, err := benchkit.ReadConsumer(ctx, yaml, "2026-11-22")
			if err == nil && n != records {
				err = fmt.Errorf("read %d records, want %d", n, records)
			}
			return err
		}
	}
	runs := []struct {
		name string
		fn   func() error
	}{
		{"franz-go PollRecords, records discarded (baseline)", func() error { return benchkit.FranzAlone(ctx, brokers, "bench", partitions, records) }},
		{"jetflow → Arrow, avro_schema v1 in YAML (no registry)", read("  avro_schema: " + quote(v1) + "\n  avro_wire: confluent\n")},
		{"jetflow → Arrow, schema_registry: v1 messages into v2", read("  schema_registry: {url: " + quote(reg.URL) + "}\n")},
	}
	// The cases alternate for several rounds and each keeps its fastest: the first read of a topic runs slower
	// (the broker's and this process's first touches), which would otherwise favour whichever runs later.
	cases := make([]benchkit.Case, len(runs))
	for round := range rounds {
		for i, r := range runs {
			c, err := benchkit.InProcess(r.name, records, r.fn)
			if err != nil {
				return err
			}
			if round == 0 || c.Elapsed < cases[i].Elapsed {
				cases[i] = c
			}
		}
	}
	for i := range cases {
		cases[i].Bytes = bytes
	}
	fmt.Printf("\nKafka (kfake broker process), %d Avro records of ~%d bytes (Confluent header), %d partitions, broker and client on the same cores; each case the fastest of %d rounds:\n",
		records, bytes/records, partitions, rounds)
	if err := benchkit.Table(os.Stdout, cases, 0); err != nil {
		return err
	}
	fmt.Printf("registry / avro_schema: %.2fx; registry / franz-go alone: %.2fx; writer's schema requests: %d (one per consumer built)\n",
		cases[2].RowsPerSec()/cases[1].RowsPerSec(), cases[2].RowsPerSec()/cases[0].RowsPerSec(), idHits.Load())
	return nil
}

// registry serves subject bench-value (versions 1 and 2) and ids 1 and 2, as a Confluent registry does.
func registry(idHits *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		switch r.URL.Path {
		case "/subjects/bench-value/versions/latest":
			json.NewEncoder(w).Encode(map[string]any{"subject": "bench-value", "version": 2, "id": 2, "schema": v2})
		case "/schemas/ids/1":
			idHits.Add(1)
			json.NewEncoder(w).Encode(map[string]any{"schema": v1})
		case "/schemas/ids/2":
			idHits.Add(1)
			json.NewEncoder(w).Encode(map[string]any{"schema": v2})
		default:
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]any{"error_code": 40401, "message": "not found"})
		}
	})
}

// produce writes n v1 records round-robin over the partitions and returns the value bytes written.
func produce(ctx context.Context, brokers, topic string, partitions int, n int64) (int64, error) {
	s := avro.MustParse(v1)
	return benchkit.Produce(ctx, brokers, topic, partitions, 0, n, func(id int64) ([]byte, error) {
		body, err := s.Encode(map[string]any{"id": id, "customer": fmt.Sprintf("customer-%06d", id%1000),
			"total": []byte{byte(id % 97), byte(id % 251)}, "status": "shipped", "tags": []any{"a", "b" + strconv.FormatInt(id%7, 10)},
			"address": map[string]any{"city": "Paris", "zip": fmt.Sprintf("750%02d", id%20)}, "note": "the quick brown fox"})
		if err != nil {
			return nil, err
		}
		return append(binary.BigEndian.AppendUint32([]byte{0}, 1), body...), nil // Confluent framing, schema id 1
	})
}
