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
)

type ikind uint8

const (
	iNull ikind = iota // only nulls seen so far
	iBool
	iInt
	iFloat
	iString
	iStruct
	iList
)

// itype is the type inferred for a value so far; it only widens.
type itype struct {
	kind   ikind
	fields []ifield
	index  map[string]int
	elem   *itype
}

type ifield struct {
	name string
	t    itype
}

// mergeMessage widens t (the top-level object's type) by one message; a message that is not a JSON object is
// an error, reported with its position by the caller.
func (t *itype) mergeMessage(s *jscan) error {
	c, err := s.peek()
	if err != nil {
		return err
	}
	if c != '{' {
		return fmt.Errorf("the value is %s, want a JSON object", kindAt(c))
	}
	return t.merge(s, 0)
}

func (t *itype) merge(s *jscan, depth int) error {
	if depth > maxDepth {
		return s.errorf("JSON nested more than %d levels deep", maxDepth)
	}
	c, err := s.peek()
	if err != nil {
		return err
	}
	switch {
	case c == 'n':
		_, err := s.literal()
		return err
	case c == 't' || c == 'f':
		if _, err := s.literal(); err != nil {
			return err
		}
		t.widen(iBool)
	case c == '"':
		if _, err := s.str(); err != nil {
			return err
		}
		t.widen(iString)
	case c == '-' || c >= '0' && c <= '9':
		b, err := s.number()
		if err != nil {
			return err
		}
		if _, ok := parseInt(b); ok {
			t.widen(iInt)
		} else {
			t.widen(iFloat)
		}
	case c == '{':
		if t.widen(iStruct); t.kind != iStruct {
			return s.skip(nil, depth)
		}
		s.pos++
		if t.index == nil {
			t.index = map[string]int{}
		}
		first := true
		for {
			more, err := s.more('}', &first)
			if err != nil {
				return err
			}
			if !more {
				return nil
			}
			k, err := s.key()
			if err != nil {
				return err
			}
			i, ok := t.index[string(k)]
			if !ok {
				i = len(t.fields)
				t.index[string(k)] = i
				t.fields = append(t.fields, ifield{name: string(k)})
			}
			if err := t.fields[i].t.merge(s, depth+1); err != nil {
				return err
			}
		}
	case c == '[':
		if t.widen(iList); t.kind != iList {
			return s.skip(nil, depth)
		}
		s.pos++
		if t.elem == nil {
			t.elem = &itype{}
		}
		first := true
		for {
			more, err := s.more(']', &first)
			if err != nil {
				return err
			}
			if !more {
				return nil
			}
			if err := t.elem.merge(s, depth+1); err != nil {
				return err
			}
		}
	default:
		return s.errorf("unexpected %s", quoteChar(c))
	}
	return nil
}

// widen makes t able to hold values of kind k: int widens to float; any other mix becomes string (kept as JSON
// text by the decoder).
func (t *itype) widen(k ikind) {
	switch {
	case t.kind == k:
	case t.kind == iNull:
		t.kind = k
	case t.kind == iInt && k == iFloat, t.kind == iFloat && k == iInt:
		t.kind = iFloat
	default:
		t.kind, t.fields, t.index, t.elem = iString, nil, nil, nil
	}
}

func (t *itype) arrow() arrow.DataType {
	switch t.kind {
	case iBool:
		return arrow.FixedWidthTypes.Boolean
	case iInt:
		return arrow.PrimitiveTypes.Int64
	case iFloat:
		return arrow.PrimitiveTypes.Float64
	case iStruct:
		if len(t.fields) == 0 {
			return arrow.BinaryTypes.String // an always-empty object: no fields to make a struct of, keep its text
		}
		return arrow.StructOf(t.arrowFields()...)
	case iList:
		return arrow.ListOf(t.elem.arrow())
	}
	return arrow.BinaryTypes.String // strings, mixed kinds, and fields only ever null
}

func (t *itype) arrowFields() []arrow.Field {
	out := make([]arrow.Field, len(t.fields))
	for i, f := range t.fields {
		out[i] = arrow.Field{Name: f.name, Type: f.t.arrow(), Nullable: true}
	}
	return out
}

// inferSchema reads up to infer_sample messages, from the start of each topic-partition in turn, and returns the
// widened schema of their values. Messages that are not JSON objects are left out of the sample.
func (c *Consumer) inferSchema(ctx context.Context) ([]arrow.Field, error) {
	adm, err := c.adminClient()
	if err != nil {
		return nil, err
	}
	topics, err := c.topics(ctx, adm)
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
	root := itype{kind: iStruct, index: map[string]int{}}
	var s jscan
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
				s.reset(r.Value)
				if err := root.mergeMessage(&s); err != nil {
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
	c.log.Info("kafka: schema inferred", "messages", n, "not_objects", bad, "columns", len(root.fields))
	return root.arrowFields(), nil
}
