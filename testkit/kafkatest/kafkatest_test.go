package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRoundTrip produces to and consumes from both kinds of cluster.
func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) *Cluster
	}{
		{"in-process", func(t *testing.T) *Cluster { return Start(t) }},
		{"process", func(t *testing.T) *Cluster { return StartProcess(t, "-topic", "seeded:3") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.start(t)
			c.CreateTopic(t, "rt", 2)
			c.Produce(t, &kgo.Record{Topic: "rt", Partition: 1, Key: []byte("k"), Value: []byte("v")})
			cl := c.Client(t, kgo.ConsumeTopics("rt"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			var got []*kgo.Record
			for len(got) == 0 && ctx.Err() == nil {
				got = append(got, cl.PollFetches(ctx).Records()...)
			}
			if len(got) != 1 || string(got[0].Value) != "v" || got[0].Partition != 1 {
				t.Fatalf("consumed %v", got)
			}
		})
	}
}
