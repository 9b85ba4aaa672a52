package postgres

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/conformance"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// TestConformance runs the consumer suite over every read mode and kind of partitioning.
func TestConformance(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	exec(t, dsn,
		`CREATE TABLE public.events (id bigint PRIMARY KEY, at timestamptz NOT NULL, name text, amount numeric(12,2))`,
		`INSERT INTO public.events SELECT g, '2026-01-01'::timestamptz + g * interval '1 second', 'e' || g,
			CASE WHEN g % 7 = 0 THEN NULL ELSE g / 100.0 END FROM generate_series(0, 19999) g`)
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"integer count", Config{Table: "public.events", Partition: PartitionConfig{Column: "id", Count: 4}, BatchRows: 1000}},
		{"time every", Config{Table: "events", Partition: PartitionConfig{Column: "at", Every: stage.Duration(time.Hour)}, BatchRows: 500}},
		{"copy by time", Config{Table: "events", ReadMode: "copy", Partition: PartitionConfig{Column: "at", Count: 3}, BatchRows: 700}},
		{"copy query", Config{Query: `SELECT id, amount FROM events WHERE id >= {{ .Partition.Lo }} AND id < {{ .Partition.Hi }}`, ReadMode: "copy",
			Partition: PartitionConfig{Column: "id", Ranges: [][]string{{"0", "5000"}, {"5000", "20000"}}}, BatchRows: 1000}},
		{"query with snapshot", Config{Query: `SELECT id, name FROM events WHERE id >= {{ .Partition.Lo }} AND id < {{ .Partition.Hi }}`,
			Partition: PartitionConfig{Column: "id", Ranges: [][]string{{"0", "10000"}, {"10000", "20000"}}}, BatchRows: 1000, Snapshot: "export"}},
		{"ctid", Config{Table: "events", Partition: PartitionConfig{By: byCTID, Count: 4}, BatchRows: 1000, Snapshot: "export"}},
		{"copy by ctid", Config{Table: "events", ReadMode: "copy", Partition: PartitionConfig{By: byCTID, Count: 3}, BatchRows: 700, Snapshot: "export"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.DSN = stage.Secret(dsn)
			conformance.Consumers(t, conformance.ConformanceConsumer{
				New:        func(t *testing.T, mem memory.Allocator) stage.Consumer { return newConsumer(t, mem, tc.cfg) },
				KeyColumns: []string{"id"},
			})
		})
	}
}
