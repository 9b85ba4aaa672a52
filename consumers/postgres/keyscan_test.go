package postgres

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// TestScanKeys: a key scan reads the key columns alone, of every row of the table, a batch at a time: the
// rows' 4 KiB payloads never reach Arrow memory (the checked allocator's peak stays far below one batch of
// them), and the keys keep the types Schema gives them.
func TestScanKeys(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	exec(t, dsn, `CREATE TABLE t (a int8 NOT NULL, payload text, b text NOT NULL, PRIMARY KEY (a, b))`,
		`INSERT INTO t SELECT g, repeat('x', 4096), 'k' || g FROM generate_series(1, 3000) g`)
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	c := newConsumer(t, mem, Config{DSN: stage.Secret(dsn), Table: "public.t", BatchRows: 500})
	p := testkit.PartitionFor("all")
	var rows int64
	var peak int
	seen := map[string]bool{}
	err := c.ScanKeys(t.Context(), p, c.KeyScope(p), []string{"b", "a"}, func(b arrow.RecordBatch) error {
		peak = max(peak, mem.CurrentAlloc())
		if b.NumCols() != 2 || b.Schema().Field(0).Name != "b" || b.Schema().Field(1).Name != "a" || b.Column(1).DataType().ID() != arrow.INT64 {
			return fmt.Errorf("a key scan batch has the schema %s, want b (string), a (int64) alone", b.Schema())
		}
		for r := range int(b.NumRows()) {
			seen[testkit.CellText(b.Column(0), r)+"/"+testkit.CellText(b.Column(1), r)] = true
		}
		rows += b.NumRows()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows != 3000 || len(seen) != 3000 || !seen[`"k7"/7`] {
		t.Fatalf("scanned %d rows, %d distinct keys, want 3000", rows, len(seen))
	}
	if peak > 1<<20 { // one batch of 500 payloads alone would be 2 MiB
		t.Fatalf("the key scan held %d bytes of Arrow memory at once: it read more than the keys", peak)
	}

	err = c.ScanKeys(t.Context(), p, stage.KeyScope{}, []string{"id"}, func(arrow.RecordBatch) error { return nil })
	if err == nil || !stage.IsPermanent(err) || !strings.Contains(err.Error(), `has no column "id"`) {
		t.Fatalf("a key scan of a missing column: %v", err)
	}
	q := newConsumer(t, mem, Config{DSN: stage.Secret(dsn), Query: "SELECT a, b FROM t"})
	err = q.ScanKeys(t.Context(), p, stage.KeyScope{}, []string{"a"}, func(arrow.RecordBatch) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "set table: instead of query:") {
		t.Fatalf("a key scan of a query consumer: %v", err)
	}
}

// TestScanKeysScope: a partition of partition.column scans the keys of its own range alone (WHERE col >= lo AND
// col < hi, as its Read), counted here row by row; an incremental partition, a window of updated_at, and the one
// partition of a table read whole scan every key.
func TestScanKeysScope(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	exec(t, dsn, `CREATE TABLE t (a int8 PRIMARY KEY, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)`,
		`INSERT INTO t SELECT g, timestamptz '2026-11-01 00:00Z' + g * interval '1 hour', now() FROM generate_series(0, 999) g`)
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name  string
		cfg   Config
		run   stage.RunInstance
		scope stage.KeyScope // of the plan's first partition
		keys  []int64        // the first partition's keys: lowest, highest, count
	}{
		{"integer ranges", Config{Partition: PartitionConfig{Column: "a", Step: 300}}, stage.RunInstance{},
			stage.KeyScope{Column: "a", Lo: int64(0), Hi: int64(300)}, []int64{0, 299, 300}},
		{"time windows", Config{Partition: PartitionConfig{Column: "created_at", Every: stage.Duration(24 * time.Hour)}},
			stage.RunInstance{Start: day(2), End: day(4), Label: "2026-11-02"},
			stage.KeyScope{Column: "created_at", Lo: day(2), Hi: day(3)}, []int64{24, 47, 24}},
		{"incremental", Config{Incremental: IncrementalConfig{Column: "updated_at"}}, stage.RunInstance{}, stage.KeyScope{}, []int64{0, 999, 1000}},
		{"whole table", Config{}, stage.RunInstance{}, stage.KeyScope{}, []int64{0, 999, 1000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.DSN, tc.cfg.Table = stage.Secret(dsn), "public.t"
			c := newConsumer(t, mem, tc.cfg)
			parts, err := c.Partitions(t.Context(), tc.run)
			if err != nil || len(parts) == 0 {
				t.Fatalf("partitions: %v, %v", parts, err)
			}
			scope := c.KeyScope(parts[0])
			if fmt.Sprint(scope) != fmt.Sprint(tc.scope) {
				t.Fatalf("KeyScope(%s) = %+v, want %+v", parts[0].Key, scope, tc.scope)
			}
			lo, hi, n := int64(-1), int64(-1), int64(0)
			err = c.ScanKeys(t.Context(), parts[0], scope, []string{"a"}, func(b arrow.RecordBatch) error {
				for _, v := range b.Column(0).(*array.Int64).Int64Values() {
					if lo < 0 || v < lo {
						lo = v
					}
					hi = max(hi, v)
					n++
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := []int64{lo, hi, n}; !slices.Equal(got, tc.keys) {
				t.Fatalf("the key scan of %s read keys %d..%d, %d of them; want %v", parts[0].Key, lo, hi, n, tc.keys)
			}
		})
	}
}
