//go:build chserver

package clickhouse

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/chtest"
)

// The tests in the files tagged chserver run against a real clickhouse-server (Debian's 18.16, started by
// chtest) and need the patched ch-go: run them with testkit/chtest/gotest-patched.sh ./consumers/clickhouse/...

func TestMain(m *testing.M) { chtest.Main(m) }

// defaults is the config the pipeline loader would give for absent keys.
func defaults(cfg Config) Config {
	if cfg.BlockRows == 0 {
		cfg.BlockRows = 65536
	}
	if cfg.Compression == "" {
		cfg.Compression = "lz4"
	}
	if cfg.Database == "" {
		cfg.Database = "default"
	}
	if cfg.User == "" {
		cfg.User = "default"
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = stage.Duration(10e9)
	}
	return cfg
}

func newConsumer(t testing.TB, mem memory.Allocator, cfg Config) *Consumer {
	t.Helper()
	cfg = defaults(cfg)
	src, err := build(stage.BuildContext{Pipeline: "test", Alloc: mem}, &cfg)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return src.(*Consumer)
}

// readAll reads every partition of the test run instance and returns the rows as cell text, one line per row.
func readAll(t *testing.T, c *Consumer) ([]string, *arrow.Schema) {
	t.Helper()
	ctx := t.Context()
	ps, err := c.Partitions(ctx, testkit.RunInstance())
	if err != nil {
		t.Fatalf("Partitions: %v", err)
	}
	var rows []string
	for _, p := range ps {
		batches := testkit.ReadPartition(ctx, t, c, p)
		for _, b := range batches {
			for r := 0; r < int(b.NumRows()); r++ {
				cells := make([]string, b.NumCols())
				for i, col := range b.Columns() {
					cells[i] = testkit.CellText(col, r)
				}
				rows = append(rows, strings.Join(cells, " | "))
			}
		}
		testkit.ReleaseAll(batches)
	}
	schema, err := c.Schema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rows, schema
}

