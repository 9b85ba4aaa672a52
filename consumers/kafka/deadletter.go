package kafka

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/twmb/franz-go/pkg/kgo"
)

// topicDeadLetter produces bad messages to a Kafka topic, synchronously, so they are stored before the partition
// they were left out of commits.
type topicDeadLetter struct {
	topic string
	opts  []kgo.Opt

	mu sync.Mutex
	cl *kgo.Client
}

func (d *topicDeadLetter) write(ctx context.Context, _ string, msgs []badMessage) error {
	d.mu.Lock()
	if d.cl == nil {
		opts := append(append([]kgo.Opt(nil), d.opts...), kgo.DefaultProduceTopic(d.topic), kgo.AllowAutoTopicCreation(),
			kgo.RequiredAcks(kgo.AllISRAcks()))
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			d.mu.Unlock()
			return err
		}
		d.cl = cl
	}
	cl := d.cl
	d.mu.Unlock()
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		hs := append(append([]kgo.RecordHeader(nil), m.Headers...),
			kgo.RecordHeader{Key: "jetflow-error", Value: []byte(m.Err)},
			kgo.RecordHeader{Key: "jetflow-topic", Value: []byte(m.Topic)},
			kgo.RecordHeader{Key: "jetflow-partition", Value: []byte(strconv.Itoa(int(m.Partition)))},
			kgo.RecordHeader{Key: "jetflow-offset", Value: []byte(strconv.FormatInt(m.Offset, 10))})
		recs[i] = &kgo.Record{Topic: d.topic, Key: m.Key, Value: m.Value, Headers: hs}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce to dead-letter topic %s: %w", d.topic, err)
	}
	return nil
}

func (d *topicDeadLetter) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cl != nil {
		d.cl.Close()
		d.cl = nil
	}
}

// fileDeadLetter writes the bad messages of a partition to one Parquet file named after the partition id (hex,
// safe in a file name, and what the logs and the state store name it by), through a temporary file and a rename,
// so a partition loaded again replaces its file whole.
type fileDeadLetter struct {
	dir   string
	alloc memory.Allocator
}

var deadLetterSchema = arrow.NewSchema([]arrow.Field{
	{Name: "topic", Type: arrow.BinaryTypes.String},
	{Name: "partition", Type: arrow.PrimitiveTypes.Int32},
	{Name: "offset", Type: arrow.PrimitiveTypes.Int64},
	{Name: "timestamp", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	{Name: "key", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "value", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "error", Type: arrow.BinaryTypes.String},
}, nil)

func (d *fileDeadLetter) write(_ context.Context, id string, msgs []badMessage) error {
	rb := array.NewRecordBuilder(d.alloc, deadLetterSchema)
	defer rb.Release()
	for _, m := range msgs {
		rb.Field(0).(*array.StringBuilder).Append(m.Topic)
		rb.Field(1).(*array.Int32Builder).Append(m.Partition)
		rb.Field(2).(*array.Int64Builder).Append(m.Offset)
		rb.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(m.Timestamp))
		for i, b := range [][]byte{m.Key, m.Value} {
			if b == nil {
				rb.Field(4 + i).AppendNull()
			} else {
				rb.Field(4 + i).(*array.BinaryBuilder).Append(b)
			}
		}
		rb.Field(6).(*array.StringBuilder).Append(m.Err)
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	final := filepath.Join(d.dir, id+".parquet")
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.dir, ".tmp-*.parquet")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w, err := pqarrow.NewFileWriter(deadLetterSchema, tmp,
		parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithAllocator(d.alloc)),
		pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(d.alloc), pqarrow.WithStoreSchema()))
	if err != nil {
		tmp.Close()
		return err
	}
	if err := w.Write(rec); err != nil {
		w.Close()
		tmp.Close()
		return err
	}
	if err := w.Close(); err != nil { // closes tmp too
		return err
	}
	return os.Rename(tmp.Name(), final)
}

func (d *fileDeadLetter) close() {}
