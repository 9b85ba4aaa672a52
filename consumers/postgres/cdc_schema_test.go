package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
	"github.com/jetflow-dev/jetflow/testkit/cdctest"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// TestCDCSchemaChange alters the table under a running stream. A dropped column goes on streaming, null in the
// changes that follow, and a restart without it keeps going (the lake keeps the column). An added column stops
// the stream with a fatal error (exit 4); the restart reads the new schema, and the loader's schema_evolution
// (add_columns) adds it to the lake. A TRUNCATE stops the stream (on_truncate: fail). Each time the lake ends holding what the test expects of the table.
func TestCDCSchemaChange(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	tests := []struct {
		name  string
		alter string
		fatal string // what the stopped stream says; "" when it goes on
		cols  string // the lake's columns after, as SQL over items
	}{
		{name: "drop", alter: `ALTER TABLE items DROP COLUMN n`,
			cols: `id::text || '|' || status || '|' || CASE WHEN status = 'after' THEN '' ELSE id::text END || '|' || md5(payload)`},
		{name: "add", alter: `ALTER TABLE items ADD COLUMN note text`, fatal: `column "note" was added`,
			cols: `id::text || '|' || status || '|' || n::text || '|' || md5(payload) || '|' || coalesce(note, '')`},
		// on_truncate: fail (the default) stops the stream for good: the lake still holds the rows.
		{name: "truncate", alter: `TRUNCATE items`, fatal: "was truncated in the transaction committed at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dsn := srv.CreateDatabase(t)
			cdctest.CreateItems(t, dsn, 200)
			wh := t.TempDir()
			extra := "    slot: schema_" + tt.name + "\n"
			text := strings.Replace(cdctest.Pipeline("${WH}", "300ms", "  batch_rows: 100\n"), "    slot: items_lake\n", extra, 1) +
				"    schema_evolution: add_columns\n"
			p := parsePipeline(t, "items.yaml", text, map[string]string{"PG_DSN": dsn, "WH": wh})
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			store := tempStore(t)
			s := startCDC(t, p, mem, store)
			waitEqual(t, dsn, wh, s, "initial load")
			cdctest.Exec(t, dsn, tt.alter, `UPDATE items SET status = 'after' WHERE id <= 10`, `DELETE FROM items WHERE id = 20`)
			if tt.fatal != "" {
				err := <-s.done
				if !stage.IsFatal(err) || !strings.Contains(err.Error(), tt.fatal) {
					t.Fatalf("the stream ended with %v, want a fatal error saying %q", err, tt.fatal)
				}
				if tt.cols == "" {
					return
				}
				cdctest.Exec(t, dsn, `UPDATE items SET note = 'noted' WHERE id = 30`)
			}
			// A restart reads the table's schema as it is now.
			p = parsePipeline(t, "items.yaml", text, map[string]string{"PG_DSN": dsn, "WH": wh})
			if tt.fatal == "" {
				waitRows(t, dsn, wh, tt.cols, s)
				s.stop(t)
				cdctest.Exec(t, dsn, `UPDATE items SET status = 'after' WHERE id = 11`)
			}
			s = startCDC(t, p, mem, store)
			waitRows(t, dsn, wh, tt.cols, s)
			s.stop(t)
		})
	}
}

// waitRows waits until the lake's rows (every column's text, null as "", in the lake's column order) equal
// SELECT cols FROM items, failing with the difference after a minute.
func waitRows(t *testing.T, dsn, wh, cols string, s *streaming) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT `+cols+` FROM items`)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pgx.CollectRows(rows, pgx.RowTo[string])
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	n := strings.Count(want[0], "|") + 1
	var got []string
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case err := <-s.done:
			t.Fatalf("the stream ended: %v", err)
		default:
		}
		got = anyLakeRows(t, wh, n)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lake is not SELECT %s FROM items after a minute:\n%s", cols, cdctest.Diff(want, got))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// anyLakeRows reads lake.items' first n columns as text, the payload by its md5.
func anyLakeRows(t *testing.T, wh string, n int) []string {
	t.Helper()
	tbl := lakeTable(t, wh)
	if tbl == nil {
		return nil
	}
	names := []string{"id", "status", "n", "payload", "note"}[:n]
	for _, name := range names {
		if _, ok := tbl.Schema().FindFieldByName(name); !ok {
			return nil // not evolved yet
		}
	}
	return testkit.IcebergRows(t, tbl, func(col func(string) arrow.Array, i int) string {
		vals := make([]string, n)
		for k, name := range names {
			c := col(name)
			switch {
			case c.IsNull(i):
			case name == "payload":
				vals[k] = cdctest.MD5(c.ValueStr(i))
			default:
				vals[k] = c.ValueStr(i)
			}
		}
		return strings.Join(vals, "|")
	})
}
