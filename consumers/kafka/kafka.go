// Package kafka is the `kafka` consumer: topics read with franz-go into Arrow batches, in two modes from one
// config. Batch (`jetflow run`): each run reads every topic-partition from the offset the last complete run
// ended at to the end offset seen when the run plans, one jetflow partition per topic-partition, and stores the
// end offsets as its watermark. Stream (`jetflow run --stream`): one lane per topic-partition, cut into
// partitions by rows, bytes or time, each committed with the offset it resumes at.
package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/jetflow-dev/jetflow/stage"
)

const doc = "Reads Kafka topics with franz-go. Batch mode (jetflow run) reads each topic-partition from where the " +
	"last complete run ended to the end offset seen at planning, one partition per topic-partition, and stores the " +
	"offsets as its watermark. Stream mode (jetflow run --stream) reads until SIGTERM, cutting a partition per " +
	"topic-partition by rows, bytes or time and committing the next offset with the data, so crashes, restarts and " +
	"rebalances neither lose nor duplicate a message. Values are decoded from JSON (declared or inferred schema), " +
	"Avro (schema in YAML or from a Confluent-compatible schema registry, evolving by field name) or kept raw; " +
	"key, headers, topic, partition, offset and timestamp can be added as columns."

func init() {
	stage.RegisterConsumer[Config]("kafka", doc, build)
}

// Consumer is the kafka consumer; it is a stage.Consumer (batch) and a stage.StreamConsumer (stream).
type Consumer struct {
	cfg      Config
	pipeline string
	alloc    memory.Allocator
	log      *slog.Logger
	metas    []metaKind
	infer    bool          // format json without schema: the value's columns are inferred on first use
	metaOnly *arrow.Schema // the metadata fields, after the value's columns

	// fromRegistry: format avro with schema_registry and no avro_schema: the value's columns are the subject's
	// latest version, fetched on first use into readerText.
	fromRegistry bool
	reg          *registry // nil without schema_registry
	readerText   string    // with reg: the reader's schema (avro_schema, or fetched)
	// keyAvro: key_format avro: the kafka_key column's type is the key subject's latest version, fetched on first
	// use into keyReaderText.
	keyAvro       bool
	keyReaderText string
	declared      []arrow.Field // with keyAvro: the value's columns when the config declares them

	schemaMu sync.Mutex
	schema   *arrow.Schema // nil until inferred or fetched
	topicRe  *regexp.Regexp
	startMs  int64 // start: an RFC 3339 time, in ms; -2 earliest, -1 latest
	base     []kgo.Opt
	sasl     saslWatch // hooked into every client of base
	dead     deadLetter

	mu    sync.Mutex
	admin *kgo.Client

	streaming atomic.Pointer[streamer] // the running Stream, for Lag

	resumed   map[string]int64 // batch: the stored watermark, topic/partition -> next offset
	resumedOK bool

	badMessages atomic.Int64 // bad messages skipped or dead-lettered since the consumer was built

	pools *RecordPools // the reading clients' record and decompression memory; every record read is recycled
}

var (
	_ stage.Consumer       = (*Consumer)(nil)
	_ stage.StreamConsumer = (*Consumer)(nil)
	_ stage.Watermarked    = (*Consumer)(nil)
	_ stage.DeclaredSchema = (*Consumer)(nil)
)

func build(bc stage.BuildContext, cfg *Config) (stage.Source, error) {
	c := &Consumer{cfg: *cfg, pipeline: bc.Pipeline, alloc: bc.Alloc, log: bc.Logger, pools: &RecordPools{}}
	switch {
	case len(cfg.Topics) > 0 && cfg.TopicRegex != "":
		return nil, stage.FieldErrorf("topic_regex", "give topics or topic_regex, not both")
	case len(cfg.Topics) == 0 && cfg.TopicRegex == "":
		return nil, stage.FieldErrorf("topics", "name the topics to read (topics: [orders]) or a topic_regex")
	case cfg.TopicRegex != "":
		re, err := regexp.Compile("^(?:" + cfg.TopicRegex + ")$")
		if err != nil {
			return nil, stage.FieldErrorf("topic_regex", "%v", err)
		}
		c.topicRe = re
	}
	for i, t := range cfg.Topics {
		if t == "" || strings.ContainsAny(t, "/@ ") {
			return nil, stage.FieldErrorf(fmt.Sprintf("topics[%d]", i), "%q is not a Kafka topic name", t)
		}
	}
	switch cfg.Start {
	case "earliest":
		c.startMs = -2
	case "latest":
		c.startMs = -1
	default:
		t, err := time.Parse(time.RFC3339Nano, cfg.Start)
		if err != nil {
			return nil, stage.FieldErrorf("start", "start is earliest, latest or an RFC 3339 time (2026-11-22T00:00:00Z), not %q", cfg.Start)
		}
		c.startMs = t.UnixMilli()
	}
	if a := cfg.MetadataMaxAge.D(); a != 0 && (a < 10*time.Millisecond || a > time.Hour) {
		return nil, stage.FieldErrorf("metadata_max_age", "metadata_max_age must be between 10ms and 1h")
	}
	if c.cfg.Group == "" {
		c.cfg.Group = "jetflow-" + bc.Pipeline
	}
	switch {
	case cfg.Registry.URL != "":
		base, err := checkRegistry(cfg)
		if err != nil {
			return nil, err
		}
		c.reg, c.readerText = newRegistry(cfg, base), cfg.AvroSchema
		c.cfg.AvroWire = "confluent"
	case cfg.Registry.Username != "" || cfg.Registry.Password != "" || cfg.Registry.Token != "":
		return nil, stage.FieldErrorf("schema_registry.url", "schema_registry needs its url")
	case cfg.AvroWire == "":
		c.cfg.AvroWire = "plain"
	}
	schema, metas, err := buildSchema(cfg)
	if err != nil {
		return nil, err
	}
	c.metas = metas
	if cfg.KeyFormat == "avro" {
		if c.reg == nil {
			return nil, stage.FieldErrorf("key_format", "key_format: avro reads the keys' schemas from a schema_registry; add one (with format: avro), or use key_format bytes or string")
		}
		c.keyAvro = true
	}
	if cfg.KeyFormat != "bytes" && !slices.Contains(cfg.Metadata, "key") {
		return nil, stage.FieldErrorf("key_format", "key_format says how the kafka_key column is read; add key to metadata")
	}
	switch {
	case cfg.Format == "json" && len(cfg.Schema) == 0:
		c.infer, c.metaOnly = true, schema
	case c.reg != nil && cfg.AvroSchema == "":
		c.fromRegistry, c.metaOnly = true, schema
	case c.keyAvro:
		n := schema.NumFields() - len(metas)
		c.declared, c.metaOnly = schema.Fields()[:n], arrow.NewSchema(schema.Fields()[n:], nil)
	default:
		c.schema = schema
	}
	if c.base, err = clientOpts(bc, cfg); err != nil {
		return nil, err
	}
	c.base = append(c.base, kgo.WithHooks(&c.sasl))
	switch cfg.OnError {
	case "fail", "skip":
		if cfg.DeadLetter != (DeadLetterConfig{}) {
			return nil, stage.FieldErrorf("dead_letter", "dead_letter is used only with on_error: dead_letter")
		}
	case "dead_letter":
		switch dl := cfg.DeadLetter; {
		case dl.Topic != "" && dl.Path != "":
			return nil, stage.FieldErrorf("dead_letter", "give dead_letter.topic or dead_letter.path, not both")
		case dl.Topic != "":
			c.dead = &topicDeadLetter{topic: dl.Topic, opts: c.base}
		case dl.Path != "":
			path := dl.Path
			if !filepath.IsAbs(path) && bc.Dir != "" {
				path = filepath.Join(bc.Dir, path)
			}
			c.dead = &fileDeadLetter{dir: path, alloc: c.alloc}
		default:
			return nil, stage.FieldErrorf("dead_letter", "on_error: dead_letter needs dead_letter.topic or dead_letter.path")
		}
	}
	return c, nil
}

// clientOpts are the options every franz-go client of the consumer shares: brokers, fetch sizes, SASL, TLS.
func clientOpts(bc stage.BuildContext, cfg *Config) ([]kgo.Opt, error) {
	fetch := cfg.Fetch
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.FetchMaxBytes(int32(min(int64(fetch.MaxBytes), 1<<30))),
		kgo.FetchMaxPartitionBytes(int32(min(int64(fetch.PartitionMaxBytes), 1<<30))),
		kgo.FetchMaxWait(fetch.MaxWait.D()),
		kgo.ClientID("jetflow"),
		// Transaction markers come through as control records, so a read can see its way past the markers that
		// end a partition's range; aborted transactions' messages are never read.
		kgo.KeepControlRecords(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}
	switch cfg.SASL.Mechanism {
	case "":
	case "plain":
		opts = append(opts, kgo.SASL(plain.Auth{User: cfg.SASL.User, Pass: cfg.SASL.Password.Reveal()}.AsMechanism()))
	case "scram-sha-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: cfg.SASL.User, Pass: cfg.SASL.Password.Reveal()}.AsSha256Mechanism()))
	case "scram-sha-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: cfg.SASL.User, Pass: cfg.SASL.Password.Reveal()}.AsSha512Mechanism()))
	}
	if cfg.TLS.Enabled {
		tc := &tls.Config{InsecureSkipVerify: cfg.TLS.InsecureSkipVerify} //nolint:gosec // opt-in, for tests
		if cfg.TLS.CAFile != "" {
			path := cfg.TLS.CAFile
			if !filepath.IsAbs(path) && bc.Dir != "" {
				path = filepath.Join(bc.Dir, path)
			}
			pem, err := os.ReadFile(path)
			if err != nil {
				return nil, stage.FieldErrorf("tls.ca_file", "%v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, stage.FieldErrorf("tls.ca_file", "%s holds no PEM certificate", path)
			}
			tc.RootCAs = pool
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	return opts, nil
}

// Schema implements stage.Source: the value's columns (declared, or inferred from a sample of messages on first
// call), then the metadata columns.
func (c *Consumer) Schema(ctx context.Context) (*arrow.Schema, error) {
	c.schemaMu.Lock()
	defer c.schemaMu.Unlock()
	if c.schema != nil {
		return c.schema, nil
	}
	var fields []arrow.Field
	var err error
	switch {
	case c.fromRegistry:
		fields, err = c.registryFields(ctx)
	case c.infer:
		fields, err = c.inferSchema(ctx)
	default:
		fields = c.declared
	}
	if err != nil {
		return nil, err
	}
	metas := c.metaOnly.Fields()
	if c.keyAvro {
		kt, err := c.registryKeyType(ctx)
		if err != nil {
			return nil, err
		}
		for i := range metas {
			if metas[i].Name == "kafka_key" {
				metas[i].Type = kt
			}
		}
	}
	seen := map[string]bool{}
	for _, f := range fields {
		seen[f.Name] = true
	}
	for _, f := range metas {
		if seen[f.Name] {
			return nil, fmt.Errorf("kafka: the messages have a field %s, as the metadata column of that name; declare schema: without it", f.Name)
		}
	}
	c.schema = arrow.NewSchema(append(append([]arrow.Field(nil), fields...), metas...), nil)
	return c.schema, nil
}

// DeclaredSchema implements stage.DeclaredSchema: the schema follows from the config alone, unless it is inferred.
func (c *Consumer) DeclaredSchema() (*arrow.Schema, bool, error) {
	if c.infer || c.fromRegistry || c.keyAvro {
		return nil, false, nil
	}
	return c.schema, true, nil
}

// BadMessages is the number of messages skipped or dead-lettered since the consumer was built.
func (c *Consumer) BadMessages() int64 { return c.badMessages.Load() }

// BadRecords implements stage.BadRecordCounter: the run report shows the bad messages with the consumer's stats.
func (c *Consumer) BadRecords() int64 { return c.badMessages.Load() }

// Close closes the consumer's admin connection and its dead-letter producer.
func (c *Consumer) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admin != nil {
		c.admin.Close()
		c.admin = nil
	}
	if c.dead != nil {
		c.dead.close()
	}
	return nil
}

func (c *Consumer) adminClient() (*kadm.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admin == nil {
		cl, err := kgo.NewClient(c.base...)
		if err != nil {
			return nil, fmt.Errorf("kafka: connect to %s: %w", strings.Join(c.cfg.Brokers, ","), err)
		}
		c.admin = cl
	}
	return kadm.NewClient(c.admin), nil
}

// topics lists the topics to read (the configured ones, or those matching topic_regex now) and returns the admin
// client it used, for the requests about them that follow.
func (c *Consumer) topics(ctx context.Context) (*kadm.Client, []string, error) {
	adm, err := c.adminClient()
	if err != nil {
		return nil, nil, err
	}
	if c.topicRe == nil {
		return adm, c.cfg.Topics, nil
	}
	details, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, nil, c.connErr("list topics", err)
	}
	var out []string
	for _, t := range details.Names() {
		if c.topicRe.MatchString(t) {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return adm, out, nil
}

// lane names a topic-partition: "orders/3".
func lane(topic string, partition int32) string {
	return topic + "/" + strconv.FormatInt(int64(partition), 10)
}

func parseLane(s string) (topic string, partition int32, err error) {
	i := strings.LastIndexByte(s, '/')
	if i <= 0 {
		return "", 0, fmt.Errorf("%q is not topic/partition", s)
	}
	p, err := strconv.ParseInt(s[i+1:], 10, 32)
	if err != nil || p < 0 {
		return "", 0, fmt.Errorf("%q is not topic/partition", s)
	}
	return s[:i], int32(p), nil
}

// WatermarkName implements stage.Watermarked: batch runs keep the offsets they ended at.
func (c *Consumer) WatermarkName() (string, bool) { return "kafka-offsets", true }

// ResumeWatermark implements stage.Watermarked: the next offset of each topic-partition, as JSON.
func (c *Consumer) ResumeWatermark(value string, ok bool) {
	c.resumed, c.resumedOK = map[string]int64{}, false
	if !ok || value == "" {
		return
	}
	if err := json.Unmarshal([]byte(value), &c.resumed); err != nil {
		// Partitions reports it: planning from scratch would read everything again.
		c.resumed = nil
		c.resumedOK = true
		return
	}
	c.resumedOK = true
}

// A batch partition's bounds: Lo is the first offset (int64). Hi is the end offset (int64), except on the last
// partition of a plan, whose Hi is "<end> <watermark JSON>": the engine stores the watermark of the last partition
// from the (possibly pinned) plan alone, and the watermark must hold the next offset of every topic-partition.

// PartitionWatermark implements stage.Watermarked: only the last partition of a plan carries the watermark.
func (c *Consumer) PartitionWatermark(p stage.Partition) (string, bool) {
	s, ok := p.Hi.(string)
	if !ok {
		return "", false
	}
	_, wm, ok := strings.Cut(s, " ")
	return wm, ok
}

func partitionBounds(p stage.Partition) (lo, hi int64, err error) {
	lo, ok := p.Lo.(int64)
	if !ok {
		return 0, 0, fmt.Errorf("kafka: partition %s: lower bound %v is not an offset", p.Key, p.Lo)
	}
	switch h := p.Hi.(type) {
	case int64:
		return lo, h, nil
	case string:
		end, _, _ := strings.Cut(h, " ")
		hi, err := strconv.ParseInt(end, 10, 64)
		if err == nil {
			return lo, hi, nil
		}
	}
	return 0, 0, fmt.Errorf("kafka: partition %s: upper bound %v is not an offset", p.Key, p.Hi)
}

// Partitions implements stage.Consumer: one partition per topic-partition with messages past the watermark,
// from the next offset the last complete run stored to the end offset now.
func (c *Consumer) Partitions(ctx context.Context, run stage.RunInstance) ([]stage.Partition, error) {
	if c.resumedOK && c.resumed == nil {
		return nil, errors.New("kafka: the stored watermark kafka-offsets is not an offsets map; was it written by another consumer type? " +
			"`jetflow state reset` clears it (the next run then starts at start:)")
	}
	adm, topics, err := c.topics(ctx)
	if err != nil {
		return nil, err
	}
	if len(topics) == 0 {
		return nil, nil
	}
	// The end of a run is the last stable offset: past it, open transactions may still commit or abort.
	ends, err := adm.ListCommittedOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, c.connErr("end offsets of "+strings.Join(topics, ","), err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, c.connErr("start offsets of "+strings.Join(topics, ","), err)
	}
	var after kadm.ListedOffsets
	if c.startMs >= 0 {
		if after, err = adm.ListOffsetsAfterMilli(ctx, c.startMs, topics...); err == nil {
			err = after.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("kafka: offsets after %s of %s: %w", c.cfg.Start, strings.Join(topics, ","), err)
		}
	}
	wm := make(map[string]int64, len(c.resumed))
	for k, v := range c.resumed {
		wm[k] = v
	}
	var parts []stage.Partition
	ends.Each(func(o kadm.ListedOffset) {
		l := lane(o.Topic, o.Partition)
		from, known := c.resumed[l]
		first, _ := starts.Lookup(o.Topic, o.Partition)
		switch {
		case known:
		case c.startMs == -2:
			from = first.Offset
		case c.startMs == -1:
			from = o.Offset
		default:
			a, _ := after.Lookup(o.Topic, o.Partition)
			from = a.Offset
		}
		if from < first.Offset {
			c.log.Warn("kafka: messages were deleted by retention before they were read", "topic_partition", l,
				"next_offset", from, "log_start", first.Offset, "lost", first.Offset-from)
			from = first.Offset
		}
		wm[l] = o.Offset
		// A known topic-partition with nothing new needs no partition; a new one gets one even when empty, so
		// that its start offset is stored (start: latest would otherwise move on with the log).
		if known && from >= o.Offset {
			return
		}
		parts = append(parts, stage.Partition{Key: fmt.Sprintf("%s@%d-%d", l, from, o.Offset), Lo: from, Hi: o.Offset})
	})
	sort.Slice(parts, func(i, j int) bool { return parts[i].Key < parts[j].Key })
	if len(parts) > 0 {
		b, err := json.Marshal(wm)
		if err != nil {
			return nil, err
		}
		last := &parts[len(parts)-1]
		last.Hi = fmt.Sprintf("%d %s", last.Hi.(int64), b)
	}
	for i := range parts {
		parts[i].Index, parts[i].Run = i, run
	}
	return parts, nil
}

// Read implements stage.Consumer: the messages of one topic-partition in [Lo, Hi).
func (c *Consumer) Read(ctx context.Context, p stage.Partition, out func(arrow.RecordBatch) error) error {
	at, _, ok := strings.Cut(p.Key, "@")
	if !ok {
		return fmt.Errorf("kafka: partition key %q is not topic/partition@from-to", p.Key)
	}
	topic, part, err := parseLane(at)
	if err != nil {
		return fmt.Errorf("kafka: partition key %q: %w", p.Key, err)
	}
	lo, hi, err := partitionBounds(p)
	if err != nil {
		return err
	}
	schema, err := c.Schema(ctx)
	if err != nil {
		return err
	}
	r := c.newPartReader(ctx, schema, out)
	defer r.b.release()
	if lo < hi {
		opts := append(append([]kgo.Opt(nil), c.base...),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {part: kgo.NewOffset().At(lo)}}),
			kgo.WithPools(c.pools))
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return fmt.Errorf("kafka: connect to %s: %w", strings.Join(c.cfg.Brokers, ","), err)
		}
		defer cl.Close()
		next := lo
		for next < hi {
			fetches := cl.PollRecords(ctx, c.cfg.BatchRows)
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("kafka: partition %s stopped at offset %d: %w", p.Key, next, err)
			}
			if err := fetchError(fetches); err != nil {
				return c.classify(err, fmt.Errorf("kafka: read %s from offset %d: %w", at, next, err))
			}
			var rerr error
			fetches.EachRecord(func(rec *kgo.Record) {
				// Every value is copied into the batch (or cloned for the dead letter) before the record goes back
				// to the pools.
				defer rec.Recycle()
				if rerr != nil || rec.Offset >= hi || rec.Offset < next {
					return
				}
				if next == lo && rec.Offset > lo {
					c.log.Warn("kafka: the partition's first offsets are gone (deleted by retention or compaction, or transaction markers)",
						"partition", p.Key, "expected", lo, "got", rec.Offset)
				}
				next = rec.Offset + 1
				if rec.Attrs.IsControl() {
					return
				}
				rerr = r.record(rec)
			})
			if rerr != nil {
				return rerr
			}
		}
	}
	if err := r.flush(); err != nil {
		return err
	}
	return c.finishBad(ctx, r, p)
}

// newPartReader makes the reader of one partition; ctx is the read's, for schema registry requests.
func (c *Consumer) newPartReader(ctx context.Context, schema *arrow.Schema, out func(arrow.RecordBatch) error) *partReader {
	b := newBatcher(c.alloc, schema, c.cfg.Format, c.metas, int(c.cfg.MaxMessageBytes))
	if c.reg != nil {
		if err := b.setRegistry(ctx, c.reg, c.readerText); err != nil {
			panic("kafka: the reader's schema was checked when fetched: " + err.Error())
		}
	} else if c.cfg.Format == "avro" {
		if err := b.setAvro(c.cfg.AvroSchema, c.cfg.AvroWire); err != nil {
			panic("kafka: avro_schema was checked at build: " + err.Error())
		}
	}
	if c.keyAvro {
		if err := b.setKeyRegistry(c.keyReaderText); err != nil {
			panic("kafka: the reader's schema of the keys was checked when fetched: " + err.Error())
		}
	}
	return &partReader{
		b:         b,
		out:       out,
		batchRows: c.cfg.BatchRows,
		onError:   c.cfg.OnError,
		log:       c.log,
	}
}

// finishBad counts a partition's bad messages and writes them to the dead letter, before the partition commits.
// The log line and the dead-letter file name the partition as the engine does: its key and its id.
func (c *Consumer) finishBad(ctx context.Context, r *partReader, p stage.Partition) error {
	if r.badCount == 0 {
		return nil
	}
	id := p.ID
	if id == "" { // a stream partition: the engine gives it its id after the consumer cut it
		id = stage.PartitionID(c.pipeline, p.Run.Label, p.Key)
	}
	c.badMessages.Add(r.badCount)
	c.log.Warn("kafka: partition had bad messages", "partition", p.Key, "id", id, "bad", r.badCount, "on_error", r.onError)
	if c.dead != nil && len(r.bad) > 0 {
		if err := c.dead.write(ctx, id, r.bad); err != nil {
			return fmt.Errorf("kafka: write %d bad messages to the dead letter: %w", len(r.bad), err)
		}
	}
	return nil
}

// connErr wraps an error of a request to the brokers with where it went and what to check: a broker that drops
// the connection (EOF) is often one that refused the SASL or TLS handshake.
func (c *Consumer) connErr(what string, err error) error {
	if f := c.classify(err, fmt.Errorf("kafka: %s on %s: %w", what, strings.Join(c.cfg.Brokers, ","), err)); stage.IsFatal(f) {
		return f // says what to check
	}
	hint := ""
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		hint = "; the broker closed the connection: check sasl: (mechanism, user, password) and tls:"
	}
	return fmt.Errorf("kafka: %s on %s: %w%s", what, strings.Join(c.cfg.Brokers, ","), err, hint)
}

// fetchError returns the first error of a poll that is not a retriable hiccup franz-go handles itself.
func fetchError(f kgo.Fetches) error {
	var first error
	f.EachError(func(topic string, partition int32, err error) {
		if first == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			first = fmt.Errorf("%s: %w", lane(topic, partition), err)
		}
	})
	return first
}
