package iceberg

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/testkit"
)

// TestMergeSemanticsDoc keeps the semantics table of docs/MERGE.md true: every row is run on a fresh table (the
// "table before" rows committed by one partition, then "partition committed" by another, twice when it says so,
// or by several in order when it says "then")
// and the table read back by iceberg-go's scanner must be the "table after" column.
func TestMergeSemanticsDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/MERGE.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "<!-- merge semantics:")
	table, _, ok2 := strings.Cut(table, "<!-- end of merge semantics -->")
	if !ok || !ok2 {
		t.Fatal("docs/MERGE.md has no semantics table between its markers")
	}
	rows := 0
	for line := range strings.Lines(table) {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 4 || strings.HasPrefix(strings.TrimSpace(cells[0]), "---") || strings.TrimSpace(cells[0]) == "event" {
			continue
		}
		rows++
		event := strings.TrimSpace(cells[0])
		committed, twice := strings.CutSuffix(strings.TrimSpace(cells[2]), "(twice)")
		before, after := docRows(cells[1]), docRows(cells[3])
		var nows [][]string // "a then b": two partitions, committed in that order
		for c := range strings.SplitSeq(committed, " then ") {
			nows = append(nows, docRows(c))
		}
		t.Run(event, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			l := newLoader(t, t.TempDir(), func(c *Config) {
				c.Mode, c.Key, c.VersionBy, c.DeleteWhen = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null"
			})
			commit := func(key string, rows []string) {
				if len(rows) == 0 {
					return
				}
				b := mergeRows(t, mem, rows...)
				defer b.Release()
				testkit.LoadPartition(context.Background(), t, l, mergeSchema(), testkit.PartitionFor(key), b)
			}
			commit("before", before)
			for i, now := range nows {
				commit(fmt.Sprint("p", i), now)
				if twice {
					commit(fmt.Sprint("p", i), now)
				}
			}
			if got := mergeState(t, l, mem, false); !slices.Equal(got, after) {
				t.Fatalf("docs/MERGE.md says the table holds %v after this, it holds %v", after, got)
			}
		})
	}
	if rows < 8 {
		t.Fatalf("found %d rows in the semantics table of docs/MERGE.md", rows)
	}
}

// docRows reads a cell of the semantics table: `7:new@10:00, 8:gone!@12:00`, or - for none; sorted.
func docRows(cell string) []string {
	cell = strings.Trim(strings.TrimSpace(cell), "`")
	if cell == "-" || cell == "" {
		return nil
	}
	var out []string
	for r := range strings.SplitSeq(cell, ",") {
		out = append(out, strings.Trim(strings.TrimSpace(r), "`"))
	}
	slices.Sort(out)
	return out
}
