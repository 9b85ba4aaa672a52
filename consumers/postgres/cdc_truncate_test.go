package postgres

import (
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/cdctest"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// TestCDCTruncateClear streams with on_truncate: clear while a writer inserts, updates and deletes: a TRUNCATE
// racing the writer, a transaction that changes rows, truncates and inserts again, and another that truncates
// and inserts, each followed by more of the writer. The stream goes on, and each time the lake ends equal to
// SELECT * FROM items. (on_truncate: fail is TestCDCSchemaChange's truncate case.)
func TestCDCTruncateClear(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Start(t).CreateDatabase(t)
	cdctest.CreateItems(t, dsn, 300)
	wh := t.TempDir()
	// Slots are the server's, shared by parallel tests: each test names its own.
	text := cdctest.PipelineWithSlot("truncate_clear", "${WH}", "300ms", "    on_truncate: clear\n  batch_rows: 100\n")
	p := parsePipeline(t, "items.yaml", text, map[string]string{"PG_DSN": dsn, "WH": wh})
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	s := startCDC(t, p, mem, tempStore(t))
	waitEqual(t, dsn, wh, s, "initial load")

	w := cdctest.StartWriter(dsn, 21, 300)
	time.Sleep(500 * time.Millisecond)
	cdctest.Exec(t, dsn, `TRUNCATE items`)
	time.Sleep(500 * time.Millisecond)
	w.Finish(t)
	waitEqual(t, dsn, wh, s, "a truncate racing the writer")

	cdctest.Exec(t, dsn, `INSERT INTO items SELECT g, 'before', g, 'x' FROM generate_series(10000, 10050) g`)
	w = cdctest.StartWriter(dsn, 22, 10050)
	time.Sleep(300 * time.Millisecond)
	w.Finish(t)
	// Changes, then the truncate, then inserts, in one transaction: only the inserts after it stay.
	cdctest.Exec(t, dsn, `BEGIN; UPDATE items SET status = 'gone' WHERE id % 2 = 0; DELETE FROM items WHERE id % 3 = 0;
		INSERT INTO items VALUES (20000, 'also gone', 1, 'x'); TRUNCATE items;
		INSERT INTO items SELECT g, 'after', g, repeat('y', 3000) FROM generate_series(20001, 20020) g;
		UPDATE items SET status = 'updated after' WHERE id = 20001; DELETE FROM items WHERE id = 20002; COMMIT`)
	w = cdctest.StartWriter(dsn, 23, 20020)
	time.Sleep(300 * time.Millisecond)
	w.Finish(t)
	waitEqual(t, dsn, wh, s, "changes, truncate and inserts in one transaction")

	cdctest.Exec(t, dsn, `BEGIN; TRUNCATE items; INSERT INTO items VALUES (30000, 'alone', 1, 'z'); COMMIT`)
	waitEqual(t, dsn, wh, s, "truncate then insert")
	s.stop(t)
}

// TestCDCTruncateFailThenClear: a stream with on_truncate: fail stops at a TRUNCATE; restarted with
// on_truncate: clear, as the error says, it reads the truncate again and the lake ends equal to the table.
func TestCDCTruncateFailThenClear(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Start(t).CreateDatabase(t)
	cdctest.CreateItems(t, dsn, 100)
	wh := t.TempDir()
	vars := map[string]string{"PG_DSN": dsn, "WH": wh}
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	store := tempStore(t)
	s := startCDC(t, parsePipeline(t, "items.yaml", cdctest.PipelineWithSlot("truncate_fail", "${WH}", "300ms", ""), vars), mem, store)
	waitEqual(t, dsn, wh, s, "initial load")
	cdctest.Exec(t, dsn, `UPDATE items SET status = 'before' WHERE id <= 10`, `TRUNCATE items`, `INSERT INTO items VALUES (500, 'after', 1, 'x')`)
	if err := <-s.done; !stage.IsFatal(err) || !strings.Contains(err.Error(), "on_truncate: clear") {
		t.Fatalf("the stream ended with %v, want a fatal error naming on_truncate: clear", err)
	}
	s = startCDC(t, parsePipeline(t, "items.yaml", cdctest.PipelineWithSlot("truncate_fail", "${WH}", "300ms", "    on_truncate: clear\n"), vars), mem, store)
	waitEqual(t, dsn, wh, s, "restarted with on_truncate: clear")
	s.stop(t)
}
