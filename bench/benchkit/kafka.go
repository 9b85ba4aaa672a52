package benchkit

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/jetflow-dev/jetflow/consumers/kafka"
)

// StartKfake runs the standalone kfake broker (testkit/kafkatest/cmd/kfake, built to bin) with partitions per
// topic, and returns its seed addresses and a function that stops it.
func StartKfake(bin string, partitions int) (brokers string, stop func(), err error) {
	cmd := exec.Command(bin, "-partitions", strconv.Itoa(partitions))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if addrs, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
			go func() {
				for sc.Scan() { // keep the pipe drained
				}
			}()
			return addrs, stop, nil
		}
	}
	stop()
	return "", nil, errors.New("kfake ended before listening")
}

// Produce writes the values value(id) for ids [from, from+n) round-robin over the topic's partitions and returns
// the value bytes written.
func Produce(ctx context.Context, brokers, topic string, partitions int, from, n int64, value func(id int64) ([]byte, error)) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.AllowAutoTopicCreation(), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var bytes int64
	var first error
	var mu sync.Mutex
	for id := from; id < from+n; id++ {
		v, err := value(id)
		if err != nil {
			return 0, err
		}
		bytes += int64(len(v))
		part := int32((id%int64(partitions) + int64(partitions)) % int64(partitions))
		cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: part, Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, err
	}
	return bytes, first
}

// FranzAlone reads want records of the topic's partitions from the start with franz-go, discarding them: the
// ceiling a Kafka consumer is measured against.
func FranzAlone(ctx context.Context, brokers, topic string, partitions int, want int64) error {
	return franz(ctx, brokers, topic, partitions, want, false)
}

// FranzPooled is FranzAlone with franz-go's record and decompression pools (kgo.WithPools), every record
// recycled as it is discarded: what franz-go alone costs with the memory reuse the kafka consumer does.
func FranzPooled(ctx context.Context, brokers, topic string, partitions int, want int64) error {
	return franz(ctx, brokers, topic, partitions, want, true)
}

func franz(ctx context.Context, brokers, topic string, partitions int, want int64, pooled bool) error {
	offsets := map[int32]kgo.Offset{}
	for p := range partitions {
		offsets[int32(p)] = kgo.NewOffset().AtStart()
	}
	opts := []kgo.Opt{kgo.SeedBrokers(brokers), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxBytes(50 << 20), kgo.FetchMaxPartitionBytes(1 << 20)} // the consumer's defaults (and franz-go's)
	if pooled {
		opts = append(opts, kgo.WithPools(&kafka.RecordPools{})) // the consumer's own
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var n int64
	for n < want {
		f := cl.PollRecords(ctx, 0)
		if err := f.Err(); err != nil {
			return err
		}
		n += int64(f.NumRecords())
		if pooled {
			f.EachRecord(func(r *kgo.Record) { r.Recycle() })
		}
	}
	return nil
}
