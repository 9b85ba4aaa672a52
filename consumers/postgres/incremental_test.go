package postgres

import (
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

// TestIncremental runs three "runs" by hand, storing the watermark each returns as the engine would: every row is
// read exactly once, rows on the microsecond of the watermark included, and the lag holds back recent rows.
func TestIncremental(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase(t)
	run := testkit.RunInstance()
	for _, tc := range []struct {
		column string
		lag    time.Duration
	}{{"id", 0}, {"at", time.Hour}} {
		t.Run(tc.column, func(t *testing.T) {
			table := "inc_" + tc.column
			exec(t, dsn, `CREATE TABLE `+table+` (id int8, at timestamptz)`,
				`INSERT INTO `+table+` SELECT g, now() - interval '1 day' + g * interval '1.000001 second' FROM generate_series(1, 1000) g`)
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			c := newConsumer(t, mem, Config{DSN: stage.Secret(dsn), Table: table, Columns: []string{"id"},
				Incremental: IncrementalConfig{Column: tc.column, Lag: stage.Duration(tc.lag)}})
			c.ResumeWatermark("", false) // what the engine does before planning a first run
			if ps, err := c.Partitions(t.Context(), run); err != nil || len(ps) != 1 || !strings.HasPrefix(ps[0].Key, tc.column+"[") {
				t.Errorf("Partitions with incremental on a first run: %v %v", ps, err)
			} else if wm, ok := c.PartitionWatermark(ps[0]); !ok || wm == "" {
				t.Errorf("PartitionWatermark(%s) = %q, %v", ps[0].Key, wm, ok)
			}
			seen := map[int64]int{}
			watermark := ""
			read := func() int {
				ps, next, err := c.PartitionsSince(t.Context(), run, watermark)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, p := range ps {
					if !strings.HasPrefix(p.Key, tc.column+"[") {
						t.Errorf("key %q", p.Key)
					}
					err := c.Read(t.Context(), p, func(b arrow.RecordBatch) error {
						ids := b.Column(0).(*array.Int64)
						for i := 0; i < ids.Len(); i++ {
							seen[ids.Value(i)]++
							n++
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
				}
				watermark = next
				return n
			}
			if n := read(); n != 1000 {
				t.Errorf("first run read %d rows, want 1000", n)
			}
			if n := read(); n != 0 {
				t.Errorf("a run with nothing new read %d rows", n)
			}
			stmts := []string{`INSERT INTO ` + table + ` SELECT g, now() - interval '1 day' + g * interval '1.000001 second' FROM generate_series(1001, 1010) g`}
			want := 10
			if tc.column == "at" {
				// Rows stamped before the watermark (the ten above) are late: a time watermark cannot see them, which
				// is what lag is for. The row on the watermark's microsecond is new; the one inside the lag waits.
				stmts = []string{`INSERT INTO ` + table + ` VALUES (2001, '` + watermark + `'), (2002, now())`}
				want = 1
			} else {
				stmts = append(stmts, `INSERT INTO `+table+` VALUES (2001, now())`)
				want = 11
			}
			exec(t, dsn, stmts...)
			if n := read(); n != want {
				t.Errorf("third run read %d rows, want %d (watermark %s)", n, want, watermark)
			}
			for id, k := range seen {
				if k != 1 {
					t.Errorf("row %d read %d times", id, k)
				}
			}
			if tc.column == "at" && seen[2002] != 0 {
				t.Errorf("a row inside the lag was read")
			}
		})
	}
}
