package postgres

import (
	"context"
	"slices"
	"strconv"
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
	want := tableRows(t, dsn, cols)
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

// TestCDCSchemaChangeInFlight changes the table's schema while transactions before the change are read but not
// yet committed to the lake (a roll interval of an hour keeps them in the partition in flight). The stream
// commits them, with their checkpoint, and only then stops (exit 4); the lake then holds the table as it was just
// before the transaction carrying the new schema. The restart goes on from that checkpoint without a new initial
// load, reads the new schema's changes with the new schema's decoders, and the lake ends equal to the table, read
// by iceberg-go's scanner and by DuckDB. "retype" widens a column in a transaction of its own (read again with the
// old schema, the transactions before it would stop the restart too). The others change the schema between
// changes of one transaction, whose changes before it are dropped from the partition and read again after the
// restart, with the old schema: the widened column's in its old type, widened; the added column's as null.
func TestCDCSchemaChangeInFlight(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	tests := []struct {
		name, evolve string
		change       []string // the transaction carrying the new schema, and what precedes it
		fatal        string
		cols, duck   string // the lake's columns after, as SQL over items and as DuckDB SQL over the data files
	}{
		{name: "retype", evolve: "widen",
			change: []string{`ALTER TABLE items ALTER n TYPE int8`, `UPDATE items SET n = n + 1000000000000 WHERE id <= 5`},
			fatal:  `changed type`,
			cols:   `id::text || '|' || status || '|' || coalesce(n::text, '') || '|' || coalesce(md5(payload), '')`,
			duck:   `id || '|' || status || '|' || coalesce(n::VARCHAR, '') || '|' || coalesce(md5(payload), '')`},
		{name: "widen in a transaction", evolve: "widen",
			change: []string{`BEGIN`, `UPDATE items SET n = n + 1, status = 'before' WHERE id <= 3`, `ALTER TABLE items ALTER n TYPE int8`,
				`UPDATE items SET n = n + 1000000000000 WHERE id <= 5`, `COMMIT`},
			fatal: `changed type`,
			cols:  `id::text || '|' || status || '|' || coalesce(n::text, '') || '|' || coalesce(md5(payload), '')`,
			duck:  `id || '|' || status || '|' || coalesce(n::VARCHAR, '') || '|' || coalesce(md5(payload), '')`},
		{name: "add in a transaction", evolve: "add_columns",
			change: []string{`BEGIN`, `UPDATE items SET status = 'before' WHERE id <= 3`, `ALTER TABLE items ADD COLUMN note text`,
				`UPDATE items SET note = 'noted' WHERE id <= 5`, `COMMIT`},
			fatal: `column "note" was added`,
			cols:  `id::text || '|' || status || '|' || coalesce(n::text, '') || '|' || coalesce(md5(payload), '') || '|' || coalesce(note, '')`,
			duck:  `id || '|' || status || '|' || coalesce(n::VARCHAR, '') || '|' || coalesce(md5(payload), '') || '|' || coalesce(note, '')`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dsn := srv.CreateDatabase(t)
			cdctest.CreateItems(t, dsn, 200)
			wh := t.TempDir()
			text := func(interval string) string {
				return strings.Replace(cdctest.Pipeline("${WH}", interval, "  batch_rows: 100\n"), "    slot: items_lake\n",
					"    slot: inflight_"+strconv.Itoa(i)+"\n", 1) + "    schema_evolution: " + tt.evolve + "\n"
			}
			env := map[string]string{"PG_DSN": dsn, "WH": wh}
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			store := tempStore(t)
			s := startCDC(t, parsePipeline(t, "items.yaml", text("1h"), env), mem, store)
			waitEqual(t, dsn, wh, s, "initial load")
			loaded := loadLSNs(t, wh)
			// Transactions of the old schema, more rows than a batch: they stay in the partition in flight.
			cdctest.Exec(t, dsn, `UPDATE items SET status = 'old', n = n + 1 WHERE id <= 150`, `DELETE FROM items WHERE id = 20`,
				`INSERT INTO items VALUES (201, 'old', 1, 'x')`)
			before := cdctest.TableRows(t, dsn)
			cdctest.Exec(t, dsn, tt.change...)
			err := <-s.done
			if !stage.IsFatal(err) || !strings.Contains(err.Error(), tt.fatal) {
				t.Fatalf("the stream ended with %v, want a fatal error saying %q", err, tt.fatal)
			}
			if got := anyLakeRows(t, wh, 4); !slices.Equal(got, before) {
				t.Fatalf("the stopped stream did not commit the transactions before the new schema:\n%s", cdctest.Diff(before, got))
			}
			cdctest.Exec(t, dsn, `UPDATE items SET n = n + 1 WHERE id BETWEEN 100 AND 110`)
			s = startCDC(t, parsePipeline(t, "items.yaml", text("300ms"), env), mem, store)
			waitRows(t, dsn, wh, tt.cols, s)
			s.stop(t)
			if got := loadLSNs(t, wh); !slices.Equal(got, loaded) {
				t.Errorf("the initial load's rows carry _lsn %v after the restart, want %v: the table was loaded again", got, loaded)
			}
			want := tableRows(t, dsn, tt.cols)
			if duck := testkit.IcebergDuckDBRows(t, lakeTable(t, wh), tt.duck); !slices.Equal(duck, want) {
				t.Errorf("DuckDB reads the lake unlike SELECT %s FROM items:\n%s", tt.cols, cdctest.Diff(want, duck))
			}
		})
	}
}

// loadLSNs are the distinct _lsn of the lake's rows from an initial load (_op = 'r').
func loadLSNs(t *testing.T, wh string) []string {
	t.Helper()
	rows := testkit.IcebergRows(t, lakeTable(t, wh), func(col func(string) arrow.Array, i int) string {
		if col("_op").ValueStr(i) != "r" {
			return ""
		}
		return col("_lsn").ValueStr(i)
	})
	return slices.DeleteFunc(slices.Compact(rows), func(s string) bool { return s == "" })
}

// tableRows is SELECT cols FROM items, sorted.
func tableRows(t *testing.T, dsn, cols string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT `+cols+` FROM items`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
