// Package kafkatest starts Kafka clusters for tests: franz-go's kfake, a wire-protocol Kafka broker, either
// in-process (Start) or as a standalone process (StartProcess) that jetflow children and kcat reach over TCP.
package kafkatest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster is a running Kafka cluster.
type Cluster struct {
	Addrs []string // host:port of each broker
}

// Brokers is the brokers' addresses joined by commas, as kcat's -b and jetflow's environment take them.
func (c *Cluster) Brokers() string { return strings.Join(c.Addrs, ",") }

// Start runs an in-process kfake cluster of one broker until the test ends. Topics are created with
// CreateTopic; producers get AllowAutoTopicCreation from Client.
func Start(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(1)}, opts...)
	kc, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kafkatest: start kfake: %v", err)
	}
	t.Cleanup(kc.Close)
	return &Cluster{Addrs: kc.ListenAddrs()}
}

// Client returns a franz-go client of the cluster, closed when the test ends.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(c.Addrs...), kgo.AllowAutoTopicCreation(),
		kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kafkatest: client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// CreateTopic creates a topic with the given number of partitions.
func (c *Cluster) CreateTopic(t testing.TB, topic string, partitions int32) {
	t.Helper()
	cl := c.Client(t)
	resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("kafkatest: create topic %s: %v", topic, err)
	}
}

// Produce writes records synchronously; each record names its topic and partition (the partitioner is manual).
func (c *Cluster) Produce(t testing.TB, recs ...*kgo.Record) {
	t.Helper()
	cl := c.Client(t)
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("kafkatest: produce: %v", err)
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds the standalone kfake command once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		dir, err := os.MkdirTemp("", "kafkatest-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "kfake")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/kfake")
		cmd.Dir = filepath.Dir(file)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build kfake: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("kafkatest: %v", buildErr)
	}
	return binPath
}

// StartProcess runs the standalone kfake binary as a child process until the test ends: a broker that outlives
// the jetflow processes a test kills. args are passed to the binary (see cmd/kfake).
func StartProcess(t testing.TB, args ...string) *Cluster {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("kafkatest: start kfake: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addrs, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				ready <- addrs
			}
		}
	}()
	select {
	case addrs := <-ready:
		return &Cluster{Addrs: strings.Split(addrs, ",")}
	case <-time.After(30 * time.Second):
		t.Fatal("kafkatest: kfake did not report its address within 30s")
	}
	return nil
}
