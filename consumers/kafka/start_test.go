package kafka

import (
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/kafkatest"
)

// TestStartPosition plans a new pipeline's first batch run at each start: earliest, latest (nothing yet, but the
// offsets are stored so the next run reads what comes after), and a time (messages at or after it).
func TestStartPosition(t *testing.T) {
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "st", 1)
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for k := range 10 {
		recs = append(recs, &kgo.Record{Topic: "st", Value: orderJSON(k), Timestamp: base.Add(time.Duration(k) * time.Minute)})
	}
	kc.Produce(t, recs...)
	for _, tc := range []struct {
		start string
		want  []int64 // ids of the first run
	}{
		{"earliest", []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"latest", nil},
		{"2026-11-22T10:07:00Z", []int64{7, 8, 9}},
		{"2026-11-22T10:06:30Z", []int64{7, 8, 9}},
		{"2030-01-01T00:00:00Z", nil},
	} {
		t.Run(tc.start, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			c := newTestConsumer(t, mem, Config{Brokers: kc.Addrs, Topics: []string{"st"}, Start: tc.start,
				Schema: []Column{{Name: "id", Type: "int64"}}})
			defer c.Close()
			c.ResumeWatermark("", false)
			parts, err := c.Partitions(t.Context(), stage.RunInstance{Label: "r"})
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != 1 {
				t.Fatalf("partitions %v, want one (a new topic-partition gets one even when empty)", parts)
			}
			var got []int64
			if err := c.Read(t.Context(), parts[0], func(rec arrow.RecordBatch) error {
				got = append(got, rec.Column(0).(*array.Int64).Int64Values()...)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) || (len(got) > 0 && (got[0] != tc.want[0] || got[len(got)-1] != tc.want[len(tc.want)-1])) {
				t.Errorf("read %v, want %v", got, tc.want)
			}
			wm, ok := c.PartitionWatermark(parts[0])
			if !ok || !strings.Contains(wm, `"st/0":10`) {
				t.Errorf("watermark %q, want every topic-partition's next offset", wm)
			}
		})
	}
}
