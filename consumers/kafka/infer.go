package kafka

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/jetflow-dev/jetflow/consumers/kafka/internal/kjson"
	"github.com/jetflow-dev/jetflow/internal/jsonarrow"
)

// inferSchema reads up to infer_sample messages, from the start of each topic-partition in turn, and returns the
// widened schema of their values. Messages that are not JSON objects are left out of the sample.
func (c *Consumer) inferSchema(ctx context.Context) ([]arrow.Field, error) {
	adm, topics, err := c.topics(ctx)
	if err != nil {
		return nil, err
	}
	if len(topics) == 0 {
		return nil, fmt.Errorf("kafka: no topic matches topic_regex %q to infer the schema from; declare schema:", c.cfg.TopicRegex)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: end offsets of %s: %w", strings.Join(topics, ","), err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: start offsets of %s: %w", strings.Join(topics, ","), err)
	}
	// Topic-partitions are sampled one after another in sorted order, so the same topic infers the same schema
	// (fields in the order first seen) however the broker interleaves fetches.
	type span struct {
		topic     string
		partition int32
		from, end int64
	}
	var spans []span
	ends.Each(func(o kadm.ListedOffset) {
		if st, _ := starts.Lookup(o.Topic, o.Partition); st.Offset < o.Offset {
			spans = append(spans, span{o.Topic, o.Partition, st.Offset, o.Offset})
		}
	})
	if len(spans) == 0 {
		return nil, fmt.Errorf("kafka: %s hold no message to infer the schema from; declare schema:", strings.Join(topics, ","))
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].topic != spans[j].topic {
			return spans[i].topic < spans[j].topic
		}
		return spans[i].partition < spans[j].partition
	})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	root := jsonarrow.NewObject()
	n, bad := 0, 0
	for _, sp := range spans {
		if n >= c.cfg.InferSample {
			break
		}
		cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), c.base...), kgo.ConsumePartitions(
			map[string]map[int32]kgo.Offset{sp.topic: {sp.partition: kgo.NewOffset().At(sp.from)}}))...)
		if err != nil {
			return nil, fmt.Errorf("kafka: connect to %s: %w", strings.Join(c.cfg.Brokers, ","), err)
		}
		next := sp.from
		for next < sp.end && n < c.cfg.InferSample {
			fetches := cl.PollRecords(ctx, c.cfg.InferSample-n)
			if err := ctx.Err(); err != nil {
				cl.Close()
				return nil, fmt.Errorf("kafka: sampling %s to infer the schema: %w", lane(sp.topic, sp.partition), err)
			}
			if err := fetchError(fetches); err != nil {
				cl.Close()
				return nil, fmt.Errorf("kafka: sampling messages to infer the schema: %w", err)
			}
			fetches.EachRecord(func(r *kgo.Record) {
				if r.Offset < next || r.Offset >= sp.end || n >= c.cfg.InferSample {
					return
				}
				next = r.Offset + 1
				if r.Attrs.IsControl() {
					return
				}
				if err := kjson.Merge(root, r.Value); err != nil {
					bad++
					return
				}
				n++
			})
		}
		cl.Close()
	}
	if n == 0 {
		return nil, fmt.Errorf("kafka: none of the %d sampled messages is a JSON object; declare schema: or use format raw", bad)
	}
	c.log.Info("kafka: schema inferred", "messages", n, "not_objects", bad, "columns", root.NumFields())
	return root.ArrowFields(), nil
}
