//go:build chserver

package clickhouse

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/chtest"
	"github.com/jetflow-dev/jetflow/testkit/conformance"
)

// TestConformance runs the consumer suite over every kind of partitioning and compression (chserver: see
// server_test.go).
func TestConformance(t *testing.T) {
	srv := chtest.Start(t)
	db := srv.CreateDatabase(t)
	createEvents(t, srv, db)
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"integer count", Config{Table: "events", Partition: PartitionConfig{Column: "id", Count: 4}, BlockRows: 1000}},
		{"integer step", Config{Table: db + ".events", Columns: []string{"id", "name"}, Partition: PartitionConfig{Column: "id", Step: 6000}, BlockRows: 1000}},
		{"time every", Config{Table: "events", Partition: PartitionConfig{Column: "at", Every: stage.Duration(time.Hour)}, BlockRows: 500}},
		{"time count, zstd", Config{Table: "events", Compression: "zstd", Partition: PartitionConfig{Column: "at", Count: 3}, BlockRows: 700}},
		{"no compression", Config{Table: "events", Compression: "none", BlockRows: 3000}},
		{"query by time", Config{Query: "SELECT id, amount FROM events WHERE at >= {{ .Partition.Lo }} AND at < {{ .Partition.Hi }}",
			Partition: PartitionConfig{Column: "at", Count: 4}, BlockRows: 1000}},
		{"date column", Config{Table: "events", Partition: PartitionConfig{Column: "day", Every: stage.Duration(24 * time.Hour)}, BlockRows: 1000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Addr, tc.cfg.Database = srv.Addr(), db
			conformance.Consumers(t, conformance.ConformanceConsumer{
				New:        func(t *testing.T, mem memory.Allocator) stage.Consumer { return newConsumer(t, mem, tc.cfg) },
				KeyColumns: []string{"id"},
			})
		})
	}
}
