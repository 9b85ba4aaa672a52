//go:build chserver

package clickhouse

import (
	"context"
	"fmt"
	"testing"

	"github.com/ClickHouse/ch-go"
	"github.com/ClickHouse/ch-go/proto"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/chtest"
)

// BenchmarkRead reads 1M rows × 14 columns (the bench table of bench/clickhouse) from the real server on one
// connection, uncompressed: ch-go alone into its inferred proto columns, and the consumer into Arrow batches.
func BenchmarkRead(b *testing.B) {
	const rows = 1_000_000
	srv := chtest.Start(b)
	db := srv.CreateDatabase(b)
	srv.Exec(b, db, `CREATE TABLE bench (id UInt64, n Int32, small Int8, qty UInt16, price Float64, ratio Float32,
	name String, code FixedString(8), day Date, at DateTime, amount Decimal(18, 4), uid UUID,
	city LowCardinality(String), note Nullable(String)) ENGINE = MergeTree ORDER BY id`,
		fmt.Sprintf(`INSERT INTO bench SELECT number, toInt32(number %% 1000000), toInt8(number %% 100), toUInt16(number %% 60000),
	number / 7, toFloat32(number / 3), concat('name-', toString(number)), toFixedString(toString(number %% 100000000), 8),
	toDate('2026-01-01') + number %% 300, toDateTime('2026-11-22 00:00:00', 'UTC') + number, toDecimal64(number / 100, 4),
	generateUUIDv4(), concat('city-', toString(number %% 50)), if(number %% 5 = 0, NULL, concat('note ', toString(number)))
	FROM system.numbers LIMIT %d`, rows))
	b.Run("ch-go proto columns", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			client, err := ch.Dial(context.Background(), ch.Options{Address: srv.Addr(), Database: db})
			if err != nil {
				b.Fatal(err)
			}
			var res proto.Results
			if err := client.Do(context.Background(), ch.Query{Body: "SELECT * FROM bench", Result: res.Auto(),
				OnResult: func(context.Context, proto.Block) error { return nil }}); err != nil {
				b.Fatal(err)
			}
			client.Close()
		}
		b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("consumer Arrow batches", func(b *testing.B) {
		b.ReportAllocs()
		c := newConsumer(b, memory.DefaultAllocator, Config{Addr: srv.Addr(), Database: db, Table: "bench", Compression: "none"})
		if _, err := c.Schema(context.Background()); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := c.Read(context.Background(), stage.Partition{Key: "all"}, func(arrow.RecordBatch) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
