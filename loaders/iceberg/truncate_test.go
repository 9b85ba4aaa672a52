package iceberg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// truncRows is mergeRows where "T@hh:mm" is a truncate marker (status TRUNCATE, a null key) at that version.
func truncRows(t testing.TB, mem memory.Allocator, rows ...string) arrow.RecordBatch {
	var b strings.Builder
	b.WriteString("[")
	for i, r := range rows {
		if i > 0 {
			b.WriteString(",")
		}
		if v, ok := strings.CutPrefix(r, "T@"); ok {
			fmt.Fprintf(&b, `{"order_id": null, "status": "TRUNCATE", "updated_at": "2026-01-01T%s:00Z", "deleted_at": null}`, v)
			continue
		}
		rec := mergeRows(t, mem, r)
		js, err := rec.MarshalJSON()
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		b.Write(js[1 : len(js)-2]) // the one object of [{...}]\n
	}
	b.WriteString("]")
	return testkit.Records(t, mem, mergeSchema(), b.String())
}

// TestMergeTruncate: a partition with a truncate marker clears the rows older than the marker, its own rows
// before the marker included, and merges the rest; re-runs of it and of older partitions change nothing, in
// whichever order they come; a data file holding rows on both sides of the truncate keeps the newer ones.
func TestMergeTruncate(t *testing.T) {
	steps := []struct {
		name, partition string
		rows            []string
		want            []string
	}{
		{"load", "p1", []string{"1:new@10:00", "2:new@10:00", "3:new@10:00"},
			[]string{"1:new@10:00", "2:new@10:00", "3:new@10:00"}},
		{"changes, truncate, changes", "p2", []string{"4:new@10:30", "2:x@10:45", "T@11:00", "5:new@11:00", "1:back@11:00"},
			[]string{"1:back@11:00", "5:new@11:00"}},
		{"after the truncate", "p3", []string{"6:new@12:00", "5:gone!@12:00"},
			[]string{"1:back@11:00", "6:new@12:00"}},
		{"retry of the truncate's partition after later ones", "p2", []string{"4:new@10:30", "2:x@10:45", "T@11:00", "5:new@11:00", "1:back@11:00"},
			[]string{"1:back@11:00", "6:new@12:00"}},
		{"re-run of a partition older than the truncate", "p1", []string{"1:new@10:00", "2:new@10:00", "3:new@10:00"},
			[]string{"1:back@11:00", "6:new@12:00"}},
		{"rows on both sides of the next truncate, one file", "p4", []string{"8:a@13:00", "9:b@15:00"},
			[]string{"1:back@11:00", "6:new@12:00", "8:a@13:00", "9:b@15:00"}},
		{"truncate alone", "p5", []string{"T@14:00"},
			[]string{"9:b@15:00"}},
		{"its retry", "p5", []string{"T@14:00"},
			[]string{"9:b@15:00"}},
		{"two truncates in a partition", "p6", []string{"T@16:00", "10:a@16:00", "T@17:00", "11:b@17:00"},
			[]string{"11:b@17:00"}},
	}
	for _, tc := range []struct {
		strategy string
		part     []string
	}{{"merge_on_read", nil}, {"copy_on_write", []string{"bucket(4, order_id)"}}} {
		t.Run(fmt.Sprintf("%s partition_by=%v", tc.strategy, tc.part), func(t *testing.T) {
			t.Parallel()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			l := newLoader(t, t.TempDir(), func(c *Config) {
				c.Mode, c.Key, c.VersionBy, c.DeleteWhen, c.PartitionBy = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null", tc.part
				c.Merge.Strategy = tc.strategy
			})
			if err := l.ClearOnTruncate(stage.TruncateMarker{Column: "status", Value: "TRUNCATE", Field: "cdc.on_truncate"}); err != nil {
				t.Fatal(err)
			}
			for i, st := range steps {
				batch := truncRows(t, mem, st.rows...)
				testkit.LoadPartition(context.Background(), t, l, mergeSchema(), testkit.PartitionFor(st.partition), batch)
				batch.Release()
				if got := mergeState(t, l, mem, i == len(steps)-1); !slices.Equal(got, st.want) {
					t.Fatalf("after %s: table holds\n%v\nwant\n%v", st.name, got, st.want)
				}
				if st.name == "truncate alone" {
					snap := loadTable(t, l).CurrentSnapshot()
					if id := snap.Summary.Properties[PropPartitionIDs]; id != testkit.PartitionFor("p5").ID {
						t.Fatalf("the clearing snapshot names partition %q, want p5's", id)
					}
				}
			}
			if v := loadTable(t, l).Properties()[truncateProp]; v == "" {
				t.Fatalf("no %s property after the truncates", truncateProp)
			}
		})
	}
}

// TestClearOnTruncateRefused: only a versioned merge clears, and the refusal names the loader's key.
func TestClearOnTruncateRefused(t *testing.T) {
	m := stage.TruncateMarker{Column: "_op", Value: "t", Field: "cdc.on_truncate"}
	for _, tc := range []struct {
		edit func(*Config)
		path string
	}{
		{func(c *Config) {}, "mode"},
		{func(c *Config) { c.Mode, c.Key = "merge", []string{"order_id"} }, "version_by"},
	} {
		err := newLoader(t, t.TempDir(), tc.edit).ClearOnTruncate(m)
		var fe *stage.FieldError
		if !errors.As(err, &fe) || fe.Path != tc.path {
			t.Errorf("ClearOnTruncate: %v, want an error at %s", err, tc.path)
		}
	}
}
