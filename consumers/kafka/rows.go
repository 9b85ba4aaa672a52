package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/consumers/kafka/internal/kavro"
	"github.com/jetflow-dev/jetflow/consumers/kafka/internal/kjson"
	"github.com/jetflow-dev/jetflow/internal/jsonarrow"
	"github.com/jetflow-dev/jetflow/stage"
)

// The metadata columns a pipeline may ask for, in the order they are written.
var metaColumns = []struct {
	name string
	typ  arrow.DataType
}{
	{"key", arrow.BinaryTypes.Binary},
	{"headers", arrow.ListOf(arrow.StructOf(
		arrow.Field{Name: "key", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "value", Type: arrow.BinaryTypes.Binary, Nullable: true}))},
	{"topic", arrow.BinaryTypes.String},
	{"partition", arrow.PrimitiveTypes.Int32},
	{"offset", arrow.PrimitiveTypes.Int64},
	{"timestamp", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
}

type metaKind int

const (
	mKey metaKind = iota
	mHeaders
	mTopic
	mPartition
	mOffset
	mTimestamp
)

// buildSchema makes the schema of every batch from the config: the value's columns, then the metadata columns.
// Without declared JSON columns, it returns only the metadata fields (as a schema) for inference to complete.
func buildSchema(cfg *Config) (*arrow.Schema, []metaKind, error) {
	var fields []arrow.Field
	switch cfg.Format {
	case "raw":
		if len(cfg.Schema) > 0 {
			return nil, nil, stage.FieldErrorf("schema", "format raw reads the value's bytes into one column named value; remove schema or use format json")
		}
		fields = append(fields, arrow.Field{Name: "value", Type: arrow.BinaryTypes.Binary, Nullable: true})
	case "json":
		if len(cfg.Schema) == 0 {
			if cfg.InferSample < 1 {
				return nil, nil, stage.FieldErrorf("infer_sample", "without schema:, infer_sample must be at least 1")
			}
			fields = nil // inferred from the topic when the engine first asks for the schema
		}
		seen := map[string]bool{}
		for i, c := range cfg.Schema {
			dt, err := arrowtype.Parse(c.Type)
			if err != nil {
				return nil, nil, stage.FieldErrorf(fmt.Sprintf("schema[%d].type", i), "%v", err)
			}
			if err := jsonarrow.CheckType(dt); err != nil {
				return nil, nil, stage.FieldErrorf(fmt.Sprintf("schema[%d].type", i), "%v", err)
			}
			if seen[c.Name] {
				return nil, nil, stage.FieldErrorf(fmt.Sprintf("schema[%d].name", i), "column %q is declared twice", c.Name)
			}
			seen[c.Name] = true
			fields = append(fields, arrow.Field{Name: c.Name, Type: dt, Nullable: true})
		}
	case "avro":
		if len(cfg.Schema) > 0 {
			return nil, nil, stage.FieldErrorf("schema", "format avro takes its columns from avro_schema; remove schema")
		}
		if cfg.AvroSchema == "" {
			if cfg.Registry.URL != "" {
				break // the subject's latest version, fetched when the engine first asks for the schema
			}
			return nil, nil, stage.FieldErrorf("avro_schema", "format avro needs the writer's schema: avro_schema: '{\"type\": \"record\", ...}', or a schema_registry: {url: ...}")
		}
		fs, err := kavro.Columns(cfg.AvroSchema)
		if err != nil {
			return nil, nil, stage.FieldErrorf("avro_schema", "%v", err)
		}
		fields = fs
	default:
		return nil, nil, stage.FieldErrorf("format", "unknown format %q; use json, avro or raw", cfg.Format)
	}
	var metas []metaKind
	seen := map[string]bool{}
	for i, m := range cfg.Metadata {
		k := -1
		for j, mc := range metaColumns {
			if mc.name == m {
				k = j
			}
		}
		if k < 0 {
			return nil, nil, stage.FieldErrorf(fmt.Sprintf("metadata[%d]", i), "unknown metadata %q; use key, headers, topic, partition, offset or timestamp", m)
		}
		if seen[m] {
			return nil, nil, stage.FieldErrorf(fmt.Sprintf("metadata[%d]", i), "metadata %q is listed twice", m)
		}
		seen[m] = true
		metas = append(metas, metaKind(k))
		typ := metaColumns[k].typ
		if metaKind(k) == mKey && cfg.KeyFormat == "string" {
			typ = arrow.BinaryTypes.String
		} // key_format avro: the type comes from the registry when the schema is first asked for
		fields = append(fields, arrow.Field{Name: "kafka_" + m, Type: typ, Nullable: k == int(mKey)})
	}
	return arrow.NewSchema(fields, nil), metas, nil
}

// batcher turns Kafka records into Arrow batches of one schema. One batcher serves one partition read at a time;
// its builders and scratch space are reused from batch to batch.
type batcher struct {
	rb        *array.RecordBuilder
	raw       *kjson.Bytes  // format raw: the value column, built as the JSON path builds its strings
	avro      *kavro.Record // format avro: the decoder of the top-level record's fields
	confluent bool
	obj       *kjson.Object // format json
	max       int
	metas     []metaKind
	key       *kjson.Bytes  // key_format bytes or string: the kafka_key column, built as JSON strings are
	keyUTF8   bool          // key_format string: keys are checked
	keyAt     int           // the kafka_key column's index
	keyAvro   *keyDecoder   // key_format avro
	keyB      array.Builder // key_format avro: the kafka_key column's builder
	hdr       *kjson.Column // the kafka_headers column: list<struct<key: string, value: binary>>
	topic     *kjson.Bytes
	part      *array.Int32Builder
	offset    *array.Int64Builder
	ts        *array.TimestampBuilder
	rows      int // complete rows in the builders (a failed message leaves one more, cut off at the flush)

	// Variable-length builders and the data bytes each held in the last batch: the next batch reserves as much
	// up front, so the builders do not grow (copy) their buffers step by step in every batch.
	varlen   []*array.BinaryBuilder
	lastData []int
	lastRows int

	// The columns built by the batcher itself instead of rb's builders (format json: strings, binaries, lists,
	// structs; format raw: the value; the kafka_key, kafka_headers and kafka_topic columns), nil for the others.
	own  []*kjson.Column
	cols []arrow.Array // take's scratch

	// With a schema registry: the reader's schema (the value's columns), the writer's schemas resolved against
	// it by id (a map of this batcher's own, so a cached id costs one lookup and no lock), the last one used.
	reg      *registry
	ctx      context.Context // of the read, for registry requests
	reader   *kavro.Reader
	resolved map[uint32]*kavro.Resolved
	last     *kavro.Resolved
}

func newBatcher(mem memory.Allocator, schema *arrow.Schema, format string, metas []metaKind, maxBytes int) *batcher {
	rb := array.NewRecordBuilder(mem, schema)
	b := &batcher{rb: rb, max: maxBytes, metas: metas, own: make([]*kjson.Column, schema.NumFields())}
	nval := schema.NumFields() - len(metas)
	switch format {
	case "raw":
		n := kjson.NewColumn(mem, "value", schema.Field(0).Type, nil)
		b.own[0], b.raw = n, n.Bytes()
	case "avro":
		// set by setAvro
	default:
		cols := make([]*kjson.Column, nval)
		for i := range nval {
			f := schema.Field(i)
			cols[i] = kjson.NewColumn(mem, f.Name, f.Type, rb.Field(i))
			if cols[i].Own() {
				b.own[i] = cols[i]
			}
		}
		b.obj = kjson.NewObject(cols, schema.Fields()[:nval])
	}
	for i, m := range metas {
		at := nval + i
		fb := rb.Field(at)
		// The key (bytes or string), the headers and the topic are built as the JSON path builds its columns.
		own := func() *kjson.Column {
			b.own[at] = kjson.NewColumn(mem, schema.Field(at).Name, schema.Field(at).Type, nil)
			return b.own[at]
		}
		switch m {
		case mKey:
			b.keyB, b.keyAt = fb, at
			if id := fb.Type().ID(); id == arrow.BINARY || id == arrow.STRING {
				b.key, b.keyUTF8 = own().Bytes(), id == arrow.STRING
			} // otherwise Avro, set by setKeyRegistry
		case mHeaders:
			b.hdr = own()
		case mTopic:
			b.topic = own().Bytes()
		case mPartition:
			b.part = fb.(*array.Int32Builder)
		case mOffset:
			b.offset = fb.(*array.Int64Builder)
		case mTimestamp:
			b.ts = fb.(*array.TimestampBuilder)
		}
	}
	for i := range schema.NumFields() {
		b.collectVarlen(rb.Field(i))
	}
	b.lastData = make([]int, len(b.varlen))
	return b
}

func (b *batcher) collectVarlen(fb array.Builder) {
	switch t := fb.(type) {
	case *array.StringBuilder:
		b.varlen = append(b.varlen, t.BinaryBuilder)
	case *array.BinaryBuilder:
		b.varlen = append(b.varlen, t)
	case *array.StructBuilder:
		for i := range t.NumField() {
			b.collectVarlen(t.FieldBuilder(i))
		}
	case *array.ListBuilder:
		b.collectVarlen(t.ValueBuilder())
	}
}

// add appends one record as a row. On error the builders hold one more row than b.rows: the bad one.
func (b *batcher) add(r *kgo.Record) error {
	var metaErr error
	for _, m := range b.metas {
		switch m {
		case mKey:
			switch {
			case b.key == nil:
				if r.Key == nil {
					b.keyB.AppendNull()
				} else if err := b.keyAvro.decode(b, r.Key); err != nil {
					metaErr = fmt.Errorf("key: %w", err)
				}
			case r.Key == nil:
				b.key.AppendNull()
			case b.keyUTF8 && !utf8.Valid(r.Key):
				b.key.AppendNull()
				metaErr = errors.New("the key is not valid UTF-8 (key_format: string)")
			default:
				b.key.Append(r.Key)
			}
		case mHeaders:
			b.hdr.OpenList()
			for _, hd := range r.Headers {
				if !utf8.ValidString(hd.Key) {
					metaErr = fmt.Errorf("header key %q is not valid UTF-8", hd.Key)
				}
				b.hdr.AppendPair(sbytes(hd.Key), hd.Value)
			}
		case mTopic:
			b.topic.Append(sbytes(r.Topic))
		case mPartition:
			if b.part.Len() < b.part.Cap() { // reserved for the batch
				b.part.UnsafeAppend(r.Partition)
			} else {
				b.part.Append(r.Partition)
			}
		case mOffset:
			if b.offset.Len() < b.offset.Cap() {
				b.offset.UnsafeAppend(r.Offset)
			} else {
				b.offset.Append(r.Offset)
			}
		case mTimestamp:
			b.ts.Append(arrow.Timestamp(r.Timestamp.UnixMilli()))
		}
	}
	var err error
	switch {
	case b.max > 0 && len(r.Value) > b.max:
		err = fmt.Errorf("the value is %d bytes, over max_message_bytes (%d)", len(r.Value), b.max)
		b.nullValue()
	case b.avro != nil:
		err = b.avroMsg(r.Value)
	case b.raw != nil:
		if r.Value == nil {
			b.raw.AppendNull()
		} else {
			b.raw.Append(r.Value)
		}
	default:
		err = b.obj.Decode(r.Value)
	}
	if err == nil {
		err = metaErr
	}
	if err == nil {
		b.rows++
	}
	return err
}

// nullValue appends a null to every value column, completing a row whose value could not be read.
func (b *batcher) nullValue() {
	if b.raw != nil {
		b.raw.AppendNull()
		return
	}
	if b.avro != nil {
		b.avro.AppendNull()
		return
	}
	b.obj.AppendNull()
}

// setAvro compiles the Avro decoders of the value's columns.
func (b *batcher) setAvro(text, wire string) error {
	d, err := kavro.NewRecord(text, b.valueBuilders())
	if err != nil {
		return err
	}
	b.avro, b.confluent = d, wire == "confluent"
	return nil
}

// valueBuilders are the builders of the value's columns (those before the metadata columns).
func (b *batcher) valueBuilders() []array.Builder {
	cols := make([]array.Builder, b.rb.Schema().NumFields()-len(b.metas))
	for i := range cols {
		cols[i] = b.rb.Field(i)
	}
	return cols
}

// setRegistry makes the batcher resolve each message's writer's schema (by its Confluent id) against the
// reader's schema text, whose fields are the value's columns.
func (b *batcher) setRegistry(ctx context.Context, reg *registry, reader string) error {
	if err := b.setAvro(reader, "confluent"); err != nil {
		return err
	}
	rd, err := kavro.NewReader(reader, b.valueBuilders())
	if err != nil {
		return err
	}
	b.reg, b.ctx, b.reader = reg, ctx, rd
	b.resolved = map[uint32]*kavro.Resolved{}
	return nil
}

// avroMsg decodes one message: the binary encoding of the schema's record.
func (b *batcher) avroMsg(v []byte) error {
	if b.confluent {
		if len(v) < 5 || v[0] != 0 {
			b.nullValue()
			return errors.New("the value does not start with the Confluent header (a zero byte and a 4-byte schema id)")
		}
		if b.reg != nil {
			return b.avroResolved(binary.BigEndian.Uint32(v[1:5]), v[5:])
		}
		v = v[5:]
	}
	return b.avro.Decode(v)
}

// take returns the complete rows as a batch (nil when there are none), leaving the builders empty. A bad row
// at the end is cut off.
func (b *batcher) take() arrow.RecordBatch {
	for i, v := range b.varlen {
		b.lastData[i] = v.DataLen()
	}
	b.lastRows = b.rows
	// What rb.NewRecordBatch does, with the batcher's own columns in their places.
	schema := b.rb.Schema()
	b.cols = b.cols[:0]
	for i := range schema.NumFields() {
		if n := b.own[i]; n != nil {
			d := n.Finish()
			b.cols = append(b.cols, array.MakeFromData(d))
			d.Release()
			continue
		}
		fb := b.rb.Field(i)
		b.cols = append(b.cols, fb.NewArray())
		if b.lastRows > 0 {
			fb.Reserve(b.lastRows)
		}
	}
	var rows int64
	if len(b.cols) > 0 {
		rows = int64(b.cols[0].Len())
	}
	rec := array.NewRecordBatch(schema, b.cols, rows)
	for i, c := range b.cols {
		c.Release()
		b.cols[i] = nil
	}
	if b.lastRows > 0 {
		for i, v := range b.varlen {
			v.ReserveData(b.lastData[i])
		}
	}
	n := b.rows
	b.rows = 0
	if int64(n) == rec.NumRows() {
		if n == 0 {
			rec.Release()
			return nil
		}
		return rec
	}
	defer rec.Release()
	if n == 0 {
		return nil
	}
	return rec.NewSlice(0, int64(n))
}

func (b *batcher) release() {
	b.rb.Release()
	for _, n := range b.own { // the columns under them too
		if n != nil {
			n.Release()
		}
	}
}

// sbytes views s as bytes without copying, for appends that copy them.
func sbytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// badMessage is a message that could not be decoded, kept for the dead letter.
type badMessage struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp int64 // ms
	Key       []byte
	Value     []byte
	Headers   []kgo.RecordHeader
	Err       string
}

// partReader reads the records of one partition into batches for out, applying on_error.
type partReader struct {
	b         *batcher
	out       func(arrow.RecordBatch) error
	batchRows int
	onError   string
	log       *slog.Logger
	bad       []badMessage // dead_letter: written before the partition commits
	badCount  int64
	rows      int64
}

func (r *partReader) record(rec *kgo.Record) error {
	err := r.b.add(rec)
	if err == nil {
		r.rows++
		if r.b.rows >= r.batchRows {
			return r.flush()
		}
		return nil
	}
	err = fmt.Errorf("message %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	var re *registryError
	if errors.As(err, &re) { // not the message's fault: skipping it would drop a good message
		return err
	}
	if r.onError == "fail" {
		return fmt.Errorf("%w (on_error: skip or dead_letter keeps going past bad messages)", err)
	}
	r.badCount++
	r.log.Warn("kafka: bad message left out of the batch", "topic", rec.Topic, "partition", rec.Partition,
		"offset", rec.Offset, "on_error", r.onError, "err", err)
	if r.onError == "dead_letter" {
		hs := make([]kgo.RecordHeader, len(rec.Headers))
		for i, h := range rec.Headers {
			hs[i] = kgo.RecordHeader{Key: h.Key, Value: clone(h.Value)}
		}
		r.bad = append(r.bad, badMessage{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset,
			Timestamp: rec.Timestamp.UnixMilli(), Key: clone(rec.Key), Value: clone(rec.Value), Headers: hs, Err: err.Error()})
	}
	// The bad row sits at the end of the builders: emit the rows before it and drop it.
	return r.flush()
}

// flush emits the complete rows built so far.
func (r *partReader) flush() error {
	rec := r.b.take()
	if rec == nil {
		return nil
	}
	defer rec.Release()
	return r.out(rec)
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// deadLetter writes the bad messages of a partition before it commits.
type deadLetter interface {
	write(ctx context.Context, id string, msgs []badMessage) error // id: the partition id
	close()
}
