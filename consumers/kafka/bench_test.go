package kafka

import (
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/jetflow-dev/jetflow/internal/offheap"
)

// BenchmarkDecode decodes ~200-byte JSON messages into Arrow batches, as a stream or batch read does after the
// fetch: the consumer's own cost per message.
func BenchmarkDecode(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"json", Config{Schema: benchColumns}},
		{"json+metadata", Config{Schema: benchColumns, Metadata: []string{"key", "headers", "topic", "partition", "offset", "timestamp"}}},
		{"raw", Config{Format: "raw"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			// As jetflow run allocates, with its default batch size: the Go allocator would add the zeroing and the
			// collection of every batch's buffers, which the consumer does not pay in a run.
			mem := offheap.New(0)
			tc.cfg.BatchRows = 16384
			c := newTestConsumer(b, mem, tc.cfg)
			recs := make([]*kgo.Record, 1024)
			var size int
			for i := range recs {
				recs[i] = &kgo.Record{Topic: "t", Offset: int64(i), Key: []byte(strconv.Itoa(i)), Value: orderJSON(i), Timestamp: time.Now()}
				size += len(recs[i].Value)
			}
			r := c.newPartReader(b.Context(), c.schema, func(arrow.RecordBatch) error { return nil })
			defer r.b.release()
			b.SetBytes(int64(size / len(recs)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := r.record(recs[i%len(recs)]); err != nil {
					b.Fatal(err)
				}
			}
			if err := r.flush(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

var benchColumns = []Column{
	{Name: "id", Type: "int64"}, {Name: "customer", Type: "string"}, {Name: "total", Type: "decimal(10,2)"},
	{Name: "status", Type: "string"}, {Name: "tags", Type: "list<string>"}, {Name: "address", Type: "struct<city: string, zip: string>"},
	{Name: "note", Type: "string"},
}
