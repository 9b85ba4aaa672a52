package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/internal/records"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/pgtest"
)

// TestCDCTypes decodes every kind of column through both of change capture's paths and compares them: rows read
// by the initial load (a SELECT in the slot's snapshot, binary results) and the same values inserted and deleted
// afterwards (pgoutput's binary tuples, a delete's old row under REPLICA IDENTITY FULL) read the same cell for
// cell, and the change columns say what each row is.
func TestCDCTypes(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	exec(t, dsn,
		`CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`,
		`CREATE DOMAIN positive AS numeric(8,3) CHECK (VALUE > 0)`,
		`CREATE TYPE addr AS (city text, zip int4, tags text[])`,
		`CREATE TABLE ty (id int8 PRIMARY KEY, b bool, i2 int2, i4 int4, f4 float4, f8 float8, n numeric(18,4),
			nfree numeric, t text, c char(4), by bytea, u uuid, ua uuid[], d date, tm time, ts timestamp, tz timestamptz,
			iv interval, j json, jb jsonb, jba jsonb[], m mood, p positive, a addr, big text)`,
		`ALTER TABLE ty REPLICA IDENTITY FULL`,
		`INSERT INTO ty VALUES (1, true, -32768, 2147483647, 'NaN', 1e308, -12345678901234.5678, 'Infinity', 'héllo ✓',
			'ab', '\x00ff', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}',
			'1969-12-31', '23:59:59.999999', '2026-11-22 13:14:15.123456', '2026-11-22 13:14:15.000001+02',
			'1 year 2 months 3 days 04:05:06.000007', '{"a": [1, 2]}', '{"b": 1, "a": [true]}', '{"{\"k\": 1}",NULL}',
			'happy', 1.5, ROW('Paris', 75001, '{x,y}'), repeat('z', 10000))`,
		`INSERT INTO ty (id) VALUES (2)`)
	mem := memory.NewCheckedAllocator(offheap.NewGuarded())
	defer mem.AssertSize(t, 0)
	src, err := stage.Build(stage.BuildContext{Pipeline: "ty", Alloc: mem}, &Config{DSN: stage.Secret(dsn), Table: "ty",
		CDC: &CDCConfig{Slot: "ty_slot"}}, build)
	if err != nil {
		t.Fatal(err)
	}
	c := src.(*CDC)
	defer c.Close()

	var mu sync.Mutex
	seen := map[string]string{} // "op id" → the row's cells but id and the change columns
	handle := func(ctx context.Context, p stage.Partition, read stage.StreamRead) error {
		_, err := read(ctx, func(rec arrow.RecordBatch) error {
			mu.Lock()
			defer mu.Unlock()
			n := int(rec.NumCols())
			for r := range int(rec.NumRows()) {
				var cells []string
				for k := 1; k < n-3; k++ {
					cells = append(cells, rec.ColumnName(k)+"="+records.CellText(rec.Column(k), r))
				}
				op := rec.Column(n - 3).(*array.String).Value(r)
				if rec.Column(n-2).(*array.Int64).Value(r) <= 0 || (op != "r") != rec.Column(n-1).IsValid(r) {
					return fmt.Errorf("row %d of %s: _lsn %s, _commit_time %s", r, op, records.CellText(rec.Column(n-2), r), records.CellText(rec.Column(n-1), r))
				}
				seen[fmt.Sprintf("%s %d", op, rec.Column(0).(*array.Int64).Value(r))] = strings.Join(cells, " ")
			}
			return nil
		})
		return err
	}
	resume := func(context.Context, string) (string, bool, error) { return "", false, nil }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Stream(ctx, stage.RunInstance{Label: "stream"}, resume, handle) }()
	wait := func(keys ...string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := 0
			for _, k := range keys {
				if _, ok := seen[k]; ok {
					n++
				}
			}
			mu.Unlock()
			if n == len(keys) {
				return
			}
			select {
			case err := <-done:
				t.Fatalf("stream ended: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("no rows %v after 30s; seen %d", keys, len(seen))
			}
		}
	}
	wait("r 1", "r 2")
	exec(t, dsn, `INSERT INTO ty SELECT id + 100, b, i2, i4, f4, f8, n, nfree, t, c, by, u, ua, d, tm, ts, tz, iv, j, jb, jba, m, p, a, big FROM ty`,
		`UPDATE ty SET i4 = 7 WHERE id = 101`, // the TOASTed big is unchanged: filled from the old row
		`DELETE FROM ty WHERE id IN (1, 2)`)
	wait("i 101", "i 102", "u 101", "d 1", "d 2")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{"r 1", "i 101"}, {"r 1", "d 1"}, {"r 2", "i 102"}, {"r 2", "d 2"}} {
		if seen[pair[0]] != seen[pair[1]] {
			t.Errorf("%s and %s differ:\n%s\n%s", pair[0], pair[1], seen[pair[0]], seen[pair[1]])
		}
	}
	if want := strings.Replace(seen["r 1"], "i4=2147483647", "i4=7", 1); seen["u 101"] != want {
		t.Errorf("the update of 101 reads\n%s\nwant\n%s", seen["u 101"], want)
	}
	if !strings.Contains(seen["r 1"], "big=\"zzz") || !strings.Contains(seen["r 1"], "a={") {
		t.Errorf("row 1 reads %s", seen["r 1"])
	}
}
