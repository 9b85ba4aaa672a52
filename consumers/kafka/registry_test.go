package kafka

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/jetflow-dev/jetflow/consumers/kafka/internal/kavro"
	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/conformance"
	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
)

// The writer's schemas of the tests, by registry id. orders-value has versions 1 (id 1) and 2 (id 2, adds the
// optional note); the others are registered under other subjects, as a producer of another team might.
var testSchemas = map[uint32]string{
	1: `{"type": "record", "name": "Order", "fields": [
		{"name": "id", "type": "long"}, {"name": "customer", "type": "string"}]}`,
	2: `{"type": "record", "name": "Order", "fields": [
		{"name": "id", "type": "long"}, {"name": "customer", "type": "string"},
		{"name": "note", "type": ["null", "string"], "default": null}]}`,
	// a writer with fields the reader does not have (skipped), in another order
	3: `{"type": "record", "name": "Order", "fields": [
		{"name": "extra", "type": {"type": "array", "items": {"type": "record", "name": "X", "fields": [
			{"name": "a", "type": "string"}, {"name": "m", "type": {"type": "map", "values": "double"}}]}}},
		{"name": "customer", "type": "string"}, {"name": "id", "type": "long"},
		{"name": "flag", "type": ["null", "boolean"]}, {"name": "fx", "type": {"type": "fixed", "name": "F", "size": 3}}]}`,
	// id is a string here: the reader's long column cannot take it
	4: `{"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}, {"name": "customer", "type": "string"}]}`,
	// no customer, which the reader's schema does not let be null
	5: `{"type": "record", "name": "Order", "fields": [{"name": "id", "type": "long"}]}`,
	// types Avro promotes: int to long, bytes to string
	6: `{"type": "record", "name": "Order", "fields": [{"name": "id", "type": "int"}, {"name": "customer", "type": "bytes"}]}`,
	// customers-value v1 (id 7) and v2 (id 8): v2 adds a top-level field with a default and a field with a default
	// inside the nested address record
	7: `{"type": "record", "name": "Customer", "fields": [{"name": "id", "type": "long"},
		{"name": "address", "type": {"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"}]}}]}`,
	8: `{"type": "record", "name": "Customer", "fields": [{"name": "id", "type": "long"},
		{"name": "address", "type": {"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"},
			{"name": "country", "type": "string", "default": "FR"}]}},
		{"name": "tier", "type": {"type": "enum", "name": "Tier", "symbols": ["basic", "gold"]}, "default": "basic"}]}`,
	// customers-key v1 (id 9) and v2 (id 10, adds region with a default); id 11: a key that is a plain string;
	// id 12: a key whose tenant is a long, which the reader's string cannot take
	9:  `{"type": "record", "name": "CustomerKey", "fields": [{"name": "tenant", "type": "string"}, {"name": "id", "type": "int"}]}`,
	10: `{"type": "record", "name": "CustomerKey", "fields": [{"name": "tenant", "type": "string"}, {"name": "id", "type": "long"}, {"name": "region", "type": "string", "default": "eu"}]}`,
	11: `"string"`,
	12: `{"type": "record", "name": "CustomerKey", "fields": [{"name": "tenant", "type": "long"}, {"name": "id", "type": "long"}]}`,
}

// fakeRegistry serves the Confluent schema registry endpoints the consumer uses, from testSchemas, and counts
// the requests per path.
type fakeRegistry struct {
	*httptest.Server
	subjects map[string][]uint32 // subject -> ids of its versions, oldest first
	auth     string              // the Authorization header it wants, if any

	mu   sync.Mutex
	hits map[string]int
}

func startRegistry(t *testing.T, auth string, subjects map[string][]uint32) *fakeRegistry {
	f := &fakeRegistry{subjects: subjects, auth: auth, hits: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeRegistry) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hits[r.URL.Path]++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	fail := func(status, code int, msg string) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"error_code": code, "message": msg})
	}
	if f.auth != "" && r.Header.Get("Authorization") != f.auth {
		fail(http.StatusUnauthorized, 401, "Unauthorized")
		return
	}
	var subject string
	var version int
	var id uint32
	switch {
	case strings.HasPrefix(r.URL.Path, "/schemas/ids/"):
		if _, err := fmt.Sscan(strings.TrimPrefix(r.URL.Path, "/schemas/ids/"), &id); err != nil || testSchemas[id] == "" {
			fail(http.StatusNotFound, 40403, "Schema not found")
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"schema": testSchemas[id]})
		return
	case strings.HasPrefix(r.URL.Path, "/subjects/") && strings.HasSuffix(r.URL.Path, "/versions/latest"):
		subject = strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/subjects/"), "/versions/latest")
		ids := f.subjects[subject]
		if len(ids) == 0 {
			fail(http.StatusNotFound, 40401, "Subject '"+subject+"' not found.")
			return
		}
		version, id = len(ids), ids[len(ids)-1]
	default:
		fail(http.StatusNotFound, 404, "HTTP 404 Not Found")
		return
	}
	text := testSchemas[id]
	if subject == "broken-value" {
		text = `{"type": "record", "name": `
	}
	json.NewEncoder(w).Encode(map[string]any{"subject": subject, "version": version, "id": id, "schema": text})
}

func (f *fakeRegistry) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

// confluentMsg encodes a value given in Avro's JSON encoding with writer's schema id, behind the Confluent header.
func confluentMsg(t *testing.T, id uint32, jsonText string) []byte {
	t.Helper()
	text := testSchemas[id]
	if text == "" {
		text = testSchemas[1]
	}
	body := encodeAvro(t, avro.MustParse(text), jsonText)
	return append(binary.BigEndian.AppendUint32([]byte{0}, id), body...)
}

// registryConsumer builds the consumer from YAML, so the config's tags (defaults, secrets from env) are in play.
func registryConsumer(t *testing.T, mem memory.Allocator, extra string, env map[string]string) (*Consumer, error) {
	t.Helper()
	if !strings.Contains(extra, "  topics:") {
		extra = "  topics: [orders]\n" + extra
	}
	p := parsePipeline(t, `name: orders
run_instance: {every: 1d}
consumer:
  type: kafka
  brokers: ["${BROKERS}"]
  format: avro
`+extra+`loaders:
  - type: parquet
    path: /tmp/unused/
`, env)
	built, err := p.Build(stage.BuildContext{Alloc: mem})
	if err != nil {
		return nil, err
	}
	c := built.Source.(*Consumer)
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// readAll plans the batch run and reads every partition, returning the rows and the first Read error.
func readAll(t *testing.T, mem memory.Allocator, c *Consumer) (arrow.RecordBatch, error) {
	t.Helper()
	ctx := t.Context()
	schema, err := c.Schema(ctx)
	if err != nil {
		return nil, err
	}
	parts, err := c.Partitions(ctx, testkit.RunInstance())
	if err != nil {
		t.Fatal(err)
	}
	var got []arrow.RecordBatch
	defer func() { testkit.ReleaseAll(got) }()
	for _, p := range parts {
		if err := c.Read(ctx, p, func(b arrow.RecordBatch) error {
			b.Retain()
			got = append(got, b)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	rec, err := testkit.Concat(mem, schema, got)
	if err != nil {
		t.Fatal(err)
	}
	return rec, nil
}

// TestRegistryEvolution reads messages written with several writer's schemas — v1 and v2 of the subject (v2 adds
// an optional field), one with fields the reader lacks, one whose field type the reader's column cannot take,
// one without a required field, an id the registry does not know — with the subject's latest version, under
// each on_error.
func TestRegistryEvolution(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "orders", 1)
	reg := startRegistry(t, "", map[string][]uint32{"orders-value": {1, 2}})
	msgs := []struct {
		id   uint32
		json string
	}{
		{1, `{"id": 1, "customer": "ann"}`},
		{2, `{"id": 2, "customer": "bob", "note": {"string": "gift"}}`},
		{3, `{"extra": [{"a": "x", "m": {"k": 1.5}}], "customer": "cy", "id": 3, "flag": {"boolean": true}, "fx": "abc"}`},
		{4, `{"id": "4", "customer": "dee"}`},
		{1, `{"id": 5, "customer": "eve"}`},
		{5, `{"id": 6}`},
		{99, `{"id": 7, "customer": "unknown id"}`},
		{2, `{"id": 8, "customer": "fay", "note": null}`},
		{6, `{"id": 9, "customer": "gus"}`},
	}
	var recs []*kgo.Record
	for _, m := range msgs {
		recs = append(recs, &kgo.Record{Topic: "orders", Value: confluentMsg(t, m.id, m.json)})
	}
	recs = append(recs, &kgo.Record{Topic: "orders", Value: []byte{1, 0, 0, 0, 1, 2}}) // not the Confluent header
	kc.Produce(t, recs...)

	good := `[{"id": 1, "customer": "ann"}, {"id": 2, "customer": "bob", "note": "gift"}, {"id": 3, "customer": "cy"},
		{"id": 5, "customer": "eve"}, {"id": 8, "customer": "fay"}, {"id": 9, "customer": "gus"}]`
	wantBad := []string{
		"orders/0@3: writer's schema id 4: field id is string, which its column (int64) cannot take",
		"orders/0@5: writer's schema id 5 has no field customer",
		"orders/0@6: schema registry " + reg.URL + "/schemas/ids/99: schema id 99: not found (HTTP 404: Schema not found)",
		"orders/0@9: the value does not start with the Confluent header",
	}
	for _, tc := range []struct {
		onError string
		wantErr string // on_error fail: the Read error
	}{
		{"fail", wantBad[0]},
		{"skip", ""},
		{"dead_letter", ""},
	} {
		t.Run(tc.onError, func(t *testing.T) {
			reg.mu.Lock()
			clear(reg.hits)
			reg.mu.Unlock()
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			dl := t.TempDir()
			extra := "  schema_registry: {url: \"${REGISTRY}\"}\n  metadata: [offset]\n  on_error: " + tc.onError + "\n"
			if tc.onError == "dead_letter" {
				extra += "  dead_letter: {path: " + dl + "}\n"
			}
			c, err := registryConsumer(t, mem, extra, map[string]string{"BROKERS": kc.Brokers(), "REGISTRY": reg.URL})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := c.DeclaredSchema(); ok {
				t.Error("DeclaredSchema: the schema comes from the registry, yet it says the config declares it")
			}
			rec, err := readAll(t, mem, c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rec.Release()
			want := testkit.Records(t, mem, arrow.NewSchema(rec.Schema().Fields()[:3], nil), good)
			defer want.Release()
			got := array.NewRecordBatch(want.Schema(), rec.Columns()[:3], rec.NumRows())
			defer got.Release()
			testkit.AssertRecordsEqual(t, want, got)
			if n := c.BadMessages(); n != int64(len(wantBad)) {
				t.Errorf("%d bad messages, want %d", n, len(wantBad))
			}
			if tc.onError == "dead_letter" {
				dead := testkit.ReadParquet(t, mem, dl)
				defer dead.Release()
				var errs []string
				offsets := dead.Column(2).(*array.Int64)
				texts := dead.Column(6).(*array.String)
				for i := range int(dead.NumRows()) {
					errs = append(errs, fmt.Sprintf("orders/0@%d: %s", offsets.Value(i), texts.Value(i)))
				}
				sort.Strings(errs)
				for i, w := range wantBad {
					if i >= len(errs) || !strings.Contains(errs[i], strings.SplitN(w, ": ", 2)[1]) || !strings.HasPrefix(errs[i], strings.SplitN(w, ": ", 2)[0]) {
						t.Errorf("dead letter %d: %q, want %q", i, errs, w)
						break
					}
				}
			}
			// once per id; the latest version (id 2) came with the subject
			for id, want := range map[int]int{1: 1, 2: 0, 3: 1, 4: 1, 5: 1, 6: 1, 99: 1} {
				if n := reg.count(fmt.Sprintf("/schemas/ids/%d", id)); n != want {
					t.Errorf("schema id %d fetched %d times, want %d", id, n, want)
				}
			}
		})
	}
}

// TestRegistryAuth checks the credentials reach the registry as basic auth or a bearer token, and that a refusal
// names the URL but never the secret.
func TestRegistryAuth(t *testing.T) {
	basic := "Basic " + "dXNlcjpzM2NyZXQ=" // user:s3cret
	for _, tc := range []struct {
		name, want, extra, err string
	}{
		{"basic", basic, `username: user, password: "${PW}"`, ""},
		{"bearer", "Bearer t0ken", `token: "${TOKEN}"`, ""},
		{"wrong password", basic, `username: user, password: "${TOKEN}"`, "refused subject \"orders-value\" (HTTP 401)"},
		{"no credentials", "Bearer t0ken", ``, "(HTTP 401)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := startRegistry(t, tc.want, map[string][]uint32{"orders-value": {2}})
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			c, err := registryConsumer(t, mem, "  schema_registry: {url: \"${REGISTRY}\", "+tc.extra+"}\n",
				map[string]string{"BROKERS": "127.0.0.1:1", "REGISTRY": reg.URL, "PW": "s3cret", "TOKEN": "t0ken"})
			if err != nil {
				t.Fatal(err)
			}
			schema, err := c.Schema(t.Context())
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := columnList(schema.Fields()); got != "id int64, customer string, note string" {
					t.Errorf("columns %s", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), reg.URL) {
				t.Fatalf("error %v, want %q naming %s", err, tc.err, reg.URL)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "t0ken") {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}

// TestRegistryErrors covers a registry that is down, a subject or schema it does not have, and topics whose
// subjects disagree.
func TestRegistryErrors(t *testing.T) {
	reg := startRegistry(t, "", map[string][]uint32{"orders-value": {2}, "refunds-value": {1}, "broken-value": {1}})
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	for _, tc := range []struct {
		name, url, extra, err string
	}{
		{"down", down.URL, "", "schema registry " + down.URL + "/subjects/orders-value/versions/latest is unreachable (subject \"orders-value\")"},
		{"no subject", reg.URL, "  topics: [nope]\n", "subject \"nope-value\": not found (HTTP 404: Subject 'nope-value' not found.)"},
		{"malformed schema", reg.URL, "  topics: [broken]\n", "subject \"broken-value\" version 1 (id 1)"},
		{"subjects differ", reg.URL, "  topics: [orders, refunds]\n", `subjects "orders-value" and "refunds-value" have different columns`},
		{"plain subject", reg.URL, "  topics: [a, b]\n  schema_registry: {url: \"${REGISTRY}\", subject: orders-value}\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := tc.extra
			if !strings.Contains(extra, "schema_registry") {
				extra += "  schema_registry: {url: \"${REGISTRY}\"}\n"
			}
			c, err := registryConsumer(t, memory.NewGoAllocator(), extra, map[string]string{"BROKERS": "127.0.0.1:1", "REGISTRY": tc.url})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Schema(t.Context())
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}

// TestRegistryDownWhileReading: a new schema id while the registry is down fails the read even with on_error:
// skip, since the message itself may be fine.
func TestRegistryDownWhileReading(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "orders", 1)
	reg := startRegistry(t, "", map[string][]uint32{"orders-value": {1, 2}})
	kc.Produce(t, &kgo.Record{Topic: "orders", Value: confluentMsg(t, 1, `{"id": 1, "customer": "ann"}`)})
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c, err := registryConsumer(t, mem, "  schema_registry: {url: \"${REGISTRY}\", timeout: 2s}\n  on_error: skip\n",
		map[string]string{"BROKERS": kc.Brokers(), "REGISTRY": reg.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Schema(t.Context()); err != nil {
		t.Fatal(err)
	}
	reg.Close()
	_, err = readAll(t, mem, c)
	want := "message orders/0@0: schema registry " + reg.URL + "/schemas/ids/1 is unreachable (schema id 1)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want %q", err, want)
	}
	if n := c.BadMessages(); n != 0 {
		t.Errorf("%d bad messages: a registry that is down must not make messages bad", n)
	}
}

// TestRegistryConfig checks the keys that go with schema_registry, at the key to fix.
func TestRegistryConfig(t *testing.T) {
	for _, tc := range []struct{ yaml, err string }{
		{"  format: json\n  schema_registry: {url: \"http://r:8081\"}\n", "consumer.schema_registry: schema_registry holds Avro schemas"},
		{"  avro_wire: plain\n  schema_registry: {url: \"http://r:8081\"}\n", "consumer.avro_wire: with schema_registry"},
		{"  schema_registry: {url: \"http://u:p@r:8081\"}\n", "consumer.schema_registry.url: put credentials"},
		{"  schema_registry: {url: \"r:8081\"}\n", "consumer.schema_registry.url: schema_registry.url must be an http"},
		{"  schema_registry: {url: \"http://r:8081\", token: x, username: u, password: p}\n", "consumer.schema_registry.token: give a token or"},
		{"  schema_registry: {url: \"http://r:8081\", username: u}\n", "consumer.schema_registry.username: basic auth needs"},
		{"  schema_registry: {token: x}\n", "consumer.schema_registry.url: schema_registry needs its url"},
		{"", "consumer.avro_schema: format avro needs"},
		{"  key_format: avro\n  avro_schema: '{\"type\": \"record\", \"name\": \"R\", \"fields\": []}'\n  metadata: [key]\n", "consumer.key_format: key_format: avro reads the keys' schemas from a schema_registry"},
		{"  key_format: avro\n  schema_registry: {url: \"http://r:8081\"}\n", "consumer.key_format: key_format says how the kafka_key column is read; add key to metadata"},
		{"  key_format: text\n  schema_registry: {url: \"http://r:8081\"}\n  metadata: [key]\n", "key_format"},
	} {
		yaml := strings.Replace(tc.yaml, "  format: json\n", "", 1)
		src := "name: t\nconsumer:\n  type: kafka\n  brokers: [\"x:1\"]\n  topics: [t]\n"
		if strings.Contains(tc.yaml, "format: json") {
			src += "  format: json\n  schema: [{name: a, type: int64}]\n"
		} else {
			src += "  format: avro\n"
		}
		src += yaml + "loaders:\n  - type: parquet\n    path: /tmp/x/\n"
		p, err := pipelines.Options{}.Parse("k.yaml", []byte(src))
		if err == nil {
			_, err = p.Build(stage.BuildContext{Alloc: memory.NewGoAllocator()})
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.yaml, err, tc.err)
		}
	}
}

// BenchmarkDecodeRegistry decodes messages written with an older writer's schema into the latest through the
// registry, against the same messages read with avro_schema (no resolution) as the baseline: once an id is
// cached, no allocation per message.
func BenchmarkDecodeRegistry(b *testing.B) {
	reg := httptest.NewServer(http.HandlerFunc((&fakeRegistry{hits: map[string]int{}}).serve))
	defer reg.Close()
	body, err := avro.MustParse(testSchemas[1]).Encode(map[string]any{"id": int64(7), "customer": "customer-000007"})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"avro_schema", Config{Format: "avro", AvroSchema: testSchemas[1], AvroWire: "confluent"}},
		{"registry_v1_into_v2", Config{Format: "avro", AvroSchema: testSchemas[2], Registry: RegistryConfig{URL: reg.URL, Subject: "{topic}-value"}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := newTestConsumer(b, memory.NewGoAllocator(), tc.cfg)
			rec := &kgo.Record{Topic: "t", Value: append([]byte{0, 0, 0, 0, 1}, body...)}
			r := c.newPartReader(context.Background(), c.schema, func(arrow.RecordBatch) error { return nil })
			defer r.b.release()
			b.SetBytes(int64(len(rec.Value)))
			b.ReportAllocs()
			for b.Loop() {
				if err := r.record(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRegistryStream streams a topic of three partitions whose messages mix three writer's schemas into
// Parquet: the lanes share the registry's cache (each id is asked for once, whichever lane meets it first), and
// every message is in the output once, decoded into the latest version's columns.
func TestRegistryStream(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "events", 3)
	reg := startRegistry(t, "Bearer t0ken", map[string][]uint32{"events-value": {1, 2}})
	const n = 900
	var recs []*kgo.Record
	for k := range n {
		var v []byte
		switch k % 3 {
		case 0:
			v = confluentMsg(t, 1, fmt.Sprintf(`{"id": %d, "customer": "c%d"}`, k, k))
		case 1:
			v = confluentMsg(t, 2, fmt.Sprintf(`{"id": %d, "customer": "c%d", "note": {"string": "n%d"}}`, k, k, k))
		default:
			v = confluentMsg(t, 3, fmt.Sprintf(`{"extra": [], "customer": "c%d", "id": %d, "flag": null, "fx": "xyz"}`, k, k))
		}
		recs = append(recs, &kgo.Record{Topic: "events", Partition: int32(k % 3), Value: v})
	}
	out := t.TempDir()
	p := parsePipeline(t, `name: events
consumer:
  type: kafka
  brokers: ["${BROKERS}"]
  topics: [events]
  format: avro
  schema_registry: {url: "${REGISTRY}", token: "${TOKEN}"}
  batch_rows: 100
  roll: {rows: 200, interval: 300ms}
loaders:
  - type: parquet
    path: ${OUT}/
`, map[string]string{"BROKERS": kc.Brokers(), "OUT": out, "REGISTRY": reg.URL, "TOKEN": "t0ken"})
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	eng, _ := pipelineEngine(t, p, mem, tempStore(t))
	stream := startStream(t, eng)
	kc.Produce(t, recs...)
	waitFor(t, 30*time.Second, "every key in the output", func() bool { return len(ids(t, out)) >= n })
	if err := stream.stop(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	checkExactlyOnce(t, ids(t, out), n)
	for id, want := range map[int]int{1: 1, 2: 0, 3: 1} {
		if got := reg.count(fmt.Sprintf("/schemas/ids/%d", id)); got != want {
			t.Errorf("schema id %d fetched %d times, want %d", id, got, want)
		}
	}
	rec := testkit.ReadParquet(t, mem, out)
	defer rec.Release()
	notes := 0
	idc := rec.Column(0).(*array.Int64)
	note := rec.Column(2).(*array.String)
	for i := range int(rec.NumRows()) {
		k := idc.Value(i)
		if want := fmt.Sprintf("n%d", k); k%3 == 1 && note.Value(i) != want || k%3 != 1 && note.IsValid(i) {
			t.Fatalf("id %d: note %q (valid %v)", k, note.Value(i), note.IsValid(i))
		}
		if note.IsValid(i) {
			notes++
		}
	}
	if notes != n/3 {
		t.Errorf("%d notes, want %d", notes, n/3)
	}
}

// TestPromotions decodes one field written as one Avro type into a column of another: Avro's promotions work,
// the rest make the message bad.
func TestPromotions(t *testing.T) {
	record := func(typ string) string {
		return `{"type": "record", "name": "R", "fields": [{"name": "v", "type": ` + typ + `}]}`
	}
	for _, tc := range []struct {
		writer, reader, value, want string // want: the row, or the error
	}{
		{`"int"`, `"long"`, `-7`, "v=-7"},
		{`"int"`, `"float"`, `3`, "v=3"},
		{`"long"`, `"double"`, `9007199254740993`, "v=9.007199254740992e+15"},
		{`"long"`, `"float"`, `16777217`, "v=1.6777216e+07"},
		{`"float"`, `"double"`, `0.5`, "v=0.5"},
		{`"string"`, `"bytes"`, `"ab"`, "v=YWI="},
		{`"bytes"`, `"string"`, `"ab"`, "v=ab"},
		{`["null", "int"]`, `["null", "long"]`, `{"int": 5}`, "v=5"},
		{`["null", "int"]`, `["null", "long"]`, `null`, "v=(null)"},
		{`"long"`, `"int"`, `1`, "field v is int64, which its column (int32) cannot take"},
		{`"double"`, `"float"`, `1`, "field v is float64, which its column (float32) cannot take"},
		{`{"type": "enum", "name": "E", "symbols": ["A"]}`, `"bytes"`, `"A"`, "field v is string, which its column (binary) cannot take"},
		{`{"type": "int", "logicalType": "date"}`, `"long"`, `1`, "field v is date32, which its column (int64) cannot take"},
		{`{"type": "record", "name": "In", "fields": [{"name": "a", "type": "int"}]}`, `"string"`, `{"a": 1}`, "field v is struct<a: int32>, which its column (string) cannot take"},
		{`{"type": "array", "items": "int"}`, `{"type": "map", "values": "int"}`, `[1]`, "field v is list<int32>, which its column (map<string, int32>) cannot take"},
		{`"long"`, `{"type": "record", "name": "In", "fields": [{"name": "a", "type": "int"}]}`, `1`, "field v is int64, which its column (struct<a: int32>) cannot take"},
	} {
		t.Run(tc.writer+"→"+tc.reader, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			c := newTestConsumer(t, mem, Config{Format: "avro", AvroSchema: record(tc.reader), OnError: "fail",
				Registry: RegistryConfig{URL: "http://127.0.0.1:1", Subject: "s"}})
			w := kavro.Compile(7, record(tc.writer))
			if w.Err != nil {
				t.Fatal(w.Err)
			}
			c.reg.ids[7] = w // as if fetched
			body := encodeAvro(t, avro.MustParse(record(tc.writer)), `{"v": `+tc.value+`}`)
			rows, errs := decodeAll(t, c, string(append([]byte{0, 0, 0, 0, 7}, body...)))
			got := strings.Join(append(rows, errs...), "; ")
			if !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRegistryConformance runs the consumer conformance suite over Avro messages of three writer's schemas read
// through the registry.
func TestRegistryConformance(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "confavro", 3)
	reg := startRegistry(t, "", map[string][]uint32{"confavro-value": {1, 2}})
	var recs []*kgo.Record
	for k := range 1500 {
		v := confluentMsg(t, uint32(1+k%3), map[int]string{
			0: fmt.Sprintf(`{"id": %d, "customer": "c%d"}`, k, k),
			1: fmt.Sprintf(`{"id": %d, "customer": "c%d", "note": {"string": "n"}}`, k, k),
			2: fmt.Sprintf(`{"extra": [], "customer": "c%d", "id": %d, "flag": null, "fx": "xyz"}`, k, k),
		}[k%3])
		recs = append(recs, &kgo.Record{Topic: "confavro", Partition: int32(k % 3), Value: v})
	}
	kc.Produce(t, recs...)
	sreg, ok := stage.Lookup(stage.KindConsumer, "kafka")
	if !ok {
		t.Fatal(`consumer "kafka" is not registered`)
	}
	conformance.Consumers(t, conformance.ConformanceConsumer{
		New: func(t *testing.T, mem memory.Allocator) stage.Consumer {
			cfg := sreg.NewConfig().(*Config)
			*cfg = Config{Brokers: kc.Addrs, Topics: []string{"confavro"}, Format: "avro", OnError: "fail", BatchRows: 100,
				MaxMessageBytes: 1 << 20, Start: "earliest", Metadata: []string{"partition", "offset"},
				Registry: RegistryConfig{URL: reg.URL, Subject: "{topic}-value"}}
			src, err := sreg.Build(stage.BuildContext{Pipeline: "conformance", Alloc: mem}, cfg)
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

// TestRegistryDefaults reads, through Kafka and the registry, messages of a subject's v1 and v2 with v2 as the
// reader's schema: v1's messages get v2's defaults, at the top level and inside the nested record.
func TestRegistryDefaults(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "customers", 1)
	reg := startRegistry(t, "", map[string][]uint32{"customers-value": {7, 8}})
	kc.Produce(t,
		&kgo.Record{Topic: "customers", Value: confluentMsg(t, 7, `{"id": 1, "address": {"city": "Paris"}}`)},
		&kgo.Record{Topic: "customers", Value: confluentMsg(t, 8, `{"id": 2, "address": {"city": "Bonn", "country": "DE"}, "tier": "gold"}`)},
		&kgo.Record{Topic: "customers", Value: confluentMsg(t, 7, `{"id": 3, "address": {"city": "Lyon"}}`)})
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c, err := registryConsumer(t, mem, "  topics: [customers]\n  schema_registry: {url: \"${REGISTRY}\"}\n",
		map[string]string{"BROKERS": kc.Brokers(), "REGISTRY": reg.URL})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := readAll(t, mem, c)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	want := testkit.Records(t, mem, rec.Schema(), `[
		{"id": 1, "address": {"city": "Paris", "country": "FR"}, "tier": "basic"},
		{"id": 2, "address": {"city": "Bonn", "country": "DE"}, "tier": "gold"},
		{"id": 3, "address": {"city": "Lyon", "country": "FR"}, "tier": "basic"}]`)
	defer want.Release()
	testkit.AssertRecordsEqual(t, want, rec)
	if n := reg.count("/schemas/ids/7"); n != 1 {
		t.Errorf("schema id 7 fetched %d times, want 1", n)
	}
}

// TestRegistryKeys reads keys with key_format avro (through the key subject's latest version, older writer's
// schemas resolved into it), string and bytes, and checks what makes a key bad.
func TestRegistryKeys(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "customers", 1)
	reg := startRegistry(t, "", map[string][]uint32{"customers-value": {7, 8}, "customers-key": {9, 10}, "names-key": {11}})
	value := confluentMsg(t, 7, `{"id": 1, "address": {"city": "Paris"}}`)
	kc.Produce(t,
		&kgo.Record{Topic: "customers", Key: confluentMsg(t, 9, `{"tenant": "acme", "id": 1}`), Value: value},
		&kgo.Record{Topic: "customers", Key: confluentMsg(t, 10, `{"tenant": "acme", "id": 2, "region": "us"}`), Value: value},
		&kgo.Record{Topic: "customers", Key: nil, Value: value},
		&kgo.Record{Topic: "customers", Key: confluentMsg(t, 12, `{"tenant": 5, "id": 3}`), Value: value},
		&kgo.Record{Topic: "customers", Key: []byte("plain\xff"), Value: value})
	for _, tc := range []struct {
		name, extra string
		want        string   // the kafka_key column, as JSON rows
		bad         []string // the errors of the bad messages, in offset order
	}{
		{"avro", "  key_format: avro\n", `[{"k": {"tenant": "acme", "id": 1, "region": "eu"}}, {"k": {"tenant": "acme", "id": 2, "region": "us"}}, {"k": null}]`,
			[]string{"key: writer's schema id 12: field kafka_key.tenant is int64, which its column (string) cannot take",
				"key: the key does not start with the Confluent header"}},
		{"avro, string key subject", "  key_format: avro\n  schema_registry: {url: \"${REGISTRY}\", key_subject: names-key}\n", ``,
			nil},
		{"string", "  key_format: string\n", ``, []string{"the key is not valid UTF-8 (key_format: string)"}},
		{"bytes", "", ``, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			dl := t.TempDir()
			extra := "  topics: [customers]\n  metadata: [key]\n  on_error: dead_letter\n  dead_letter: {path: \"" + dl + "\"}\n" + tc.extra
			if !strings.Contains(extra, "schema_registry") {
				extra += "  schema_registry: {url: \"${REGISTRY}\"}\n"
			}
			c, err := registryConsumer(t, mem, extra, map[string]string{"BROKERS": kc.Brokers(), "REGISTRY": reg.URL})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := c.DeclaredSchema(); ok {
				t.Error("DeclaredSchema: the schema comes from the registry, yet it says the config declares it")
			}
			rec, err := readAll(t, mem, c)
			if err != nil {
				t.Fatal(err)
			}
			defer rec.Release()
			keys := rec.Column(rec.Schema().NumFields() - 1)
			var got []string
			for i := range keys.Len() {
				got = append(got, keys.ValueStr(i))
			}
			switch tc.name {
			case "avro":
				ks := arrow.NewSchema([]arrow.Field{{Name: "k", Type: keys.DataType(), Nullable: true}}, nil)
				want := testkit.Records(t, mem, ks, tc.want)
				defer want.Release()
				gotRec := array.NewRecordBatch(ks, []arrow.Array{keys}, int64(keys.Len()))
				defer gotRec.Release()
				testkit.AssertRecordsEqual(t, want, gotRec)
			case "avro, string key subject": // every key's writer's schema is a record, the reader's a string
				if keys.DataType().ID() != arrow.STRING || keys.Len() != 1 || !keys.IsNull(0) {
					t.Errorf("keys %s %q, want the null key alone", keys.DataType(), got)
				}
			case "string":
				if keys.DataType().ID() != arrow.STRING || len(got) != 4 || got[2] != "(null)" {
					t.Errorf("keys %s %q", keys.DataType(), got)
				}
			case "bytes":
				if keys.DataType().ID() != arrow.BINARY || len(got) != 5 {
					t.Errorf("keys %s %q", keys.DataType(), got)
				}
			}
			if tc.name == "avro, string key subject" {
				tc.bad = []string{"key: writer's schema id 9: field kafka_key is struct<tenant: string, id: int32>, which its column (string) cannot take",
					"key: writer's schema id 10:", "key: writer's schema id 12:", "key: the key does not start with the Confluent header"}
			}
			if n := c.BadMessages(); n != int64(len(tc.bad)) {
				t.Errorf("%d bad messages, want %d", n, len(tc.bad))
			}
			if len(tc.bad) == 0 {
				return
			}
			dead := testkit.ReadParquet(t, mem, dl)
			defer dead.Release()
			texts := dead.Column(6).(*array.String)
			for i, w := range tc.bad {
				if i >= texts.Len() || !strings.Contains(texts.Value(i), w) {
					t.Errorf("dead letter %d: %q, want %q", i, texts, w)
				}
			}
		})
	}
}

// TestRegistryResponses checks what the consumer makes of the registry's answers through franz-go's client: a
// schema of another type is the subject's fault, while a server error, a body that is not the registry's JSON and
// an answer without a schema or over maxResponse are the registry's (registryError: they fail the read whatever
// on_error says).
func TestRegistryResponses(t *testing.T) {
	for _, tc := range []struct {
		name, body, err string
		status          int
		registryFault   bool
	}{
		{"protobuf", `{"subject": "orders-value", "version": 1, "id": 1, "schemaType": "PROTOBUF", "schema": "syntax = \"proto3\";"}`, `subject "orders-value" is a PROTOBUF schema, not Avro`, 200, false},
		{"server error", `{"error_code": 50001, "message": "boom"}`, `subject "orders-value": HTTP 500: boom`, 500, true},
		{"not JSON", `<html>`, `the response is not the registry's JSON`, 200, true},
		{"no schema", `{"subject": "orders-value", "version": 1, "id": 1}`, `subject "orders-value": the response has no schema`, 200, true},
		{"too large", `{"schema": "` + strings.Repeat("x", maxResponse) + `"}`, `subject "orders-value": the response is over 16 MiB`, 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer reg.Close()
			c, err := registryConsumer(t, memory.NewGoAllocator(), "  schema_registry: {url: \"${REGISTRY}\"}\n",
				map[string]string{"BROKERS": "127.0.0.1:1", "REGISTRY": reg.URL})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Schema(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), reg.URL) {
				t.Fatalf("error %v, want %q naming %s", err, tc.err, reg.URL)
			}
			var re *registryError
			if got := errors.As(err, &re); got != tc.registryFault {
				t.Errorf("registryError: %v, want %v", got, tc.registryFault)
			}
		})
	}
}
