package postgres

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
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
	err := c.ScanKeys(t.Context(), p, []string{"b", "a"}, func(b arrow.RecordBatch) error {
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

	err = c.ScanKeys(t.Context(), p, []string{"id"}, func(arrow.RecordBatch) error { return nil })
	if err == nil || !stage.IsPermanent(err) || !strings.Contains(err.Error(), `has no column "id"`) {
		t.Fatalf("a key scan of a missing column: %v", err)
	}
	q := newConsumer(t, mem, Config{DSN: stage.Secret(dsn), Query: "SELECT a, b FROM t"})
	err = q.ScanKeys(t.Context(), p, []string{"a"}, func(arrow.RecordBatch) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "set table: instead of query:") {
		t.Fatalf("a key scan of a query consumer: %v", err)
	}
}
