// Command kfake runs franz-go's kfake Kafka broker as a process, for tests that kill the jetflow processes
// reading from it and for independent clients such as kcat. It prints "listening host:port,..." once ready and
// runs until SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 0, "port of the broker (0: any free port)")
	partitions := flag.Int("partitions", 1, "partitions of automatically created topics")
	var topics []string
	flag.Func("topic", "topic to create, name:partitions (repeatable)", func(s string) error {
		topics = append(topics, s)
		return nil
	})
	flag.Parse()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(*partitions),
		kfake.Ports(*port)}
	for _, t := range topics {
		name, n, ok := strings.Cut(t, ":")
		var parts int32 = 1
		if ok {
			if _, err := fmt.Sscan(n, &parts); err != nil {
				fmt.Fprintf(os.Stderr, "kfake: -topic %s: partitions: %v\n", t, err)
				os.Exit(2)
			}
		}
		opts = append(opts, kfake.SeedTopics(parts, name))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	fmt.Println("listening " + strings.Join(c.ListenAddrs(), ","))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	c.Close()
}
