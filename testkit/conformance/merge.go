package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// ConformanceMerge declares a loader's mode: merge. A loader that merges sets New; one that cannot sets Refuse.
type ConformanceMerge struct {
	// New returns the loader in merge mode on a fresh destination, with key [KeyColumn], version_by version
	// and delete_when deleted (the columns of MergeSchema). ReadBack reads what it committed.
	New func(t *testing.T) stage.Loader
	// Refuse builds the loader with mode: merge and returns the error its validation gives: the suite checks
	// that it points at the mode field and names a loader that merges.
	Refuse func(t *testing.T) error
}

// MergeSchema is the schema the merge checks write: the key, a status, the version and the soft-delete flag.
var MergeSchema = arrow.NewSchema([]arrow.Field{
	{Name: KeyColumn, Type: arrow.PrimitiveTypes.Int64},
	{Name: "status", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "version", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "deleted", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
}, nil)

// mergeCase is one merge check: partitions committed in order (a partition named like an earlier one is a
// re-commit of it: a retry, a racing worker, --force) and the table they leave. Rows are "id:status@version",
// "!" after the status marks a delete.
type mergeCase struct {
	name  string
	steps []mergeStep
	want  []string
}

type mergeStep struct {
	partition string
	rows      []string
}

var mergeCases = []mergeCase{
	{"insert", []mergeStep{{"p1", []string{"1:new@10", "2:new@10"}}}, []string{"1:new@10", "2:new@10"}},
	{"update", []mergeStep{{"p1", []string{"1:new@10", "2:new@10"}}, {"p2", []string{"1:paid@11"}}}, []string{"1:paid@11", "2:new@10"}},
	{"update with an equal version", []mergeStep{{"p1", []string{"1:new@10"}}, {"p2", []string{"1:paid@10"}}}, []string{"1:paid@10"}},
	{"older version ignored", []mergeStep{{"p1", []string{"1:paid@11"}}, {"p2", []string{"1:new@10"}}}, []string{"1:paid@11"}},
	{"newest version of a partition wins", []mergeStep{{"p1", []string{"1:new@10", "1:paid@12", "1:sent@11"}}}, []string{"1:paid@12"}},
	{"delete", []mergeStep{{"p1", []string{"1:new@10", "2:new@10"}}, {"p2", []string{"1:gone!@11"}}}, []string{"2:new@10"}},
	{"older delete ignored", []mergeStep{{"p1", []string{"1:paid@11"}}, {"p2", []string{"1:gone!@10"}}}, []string{"1:paid@11"}},
	{"delete of a missing key", []mergeStep{{"p1", []string{"2:new@10"}}, {"p2", []string{"1:gone!@11"}}}, []string{"2:new@10"}},
	{"re-run of the same partition", []mergeStep{{"p1", []string{"1:new@10", "2:new@10"}}, {"p2", []string{"1:paid@11", "2:gone!@11", "3:new@11"}}, {"p2", []string{"1:paid@11", "2:gone!@11", "3:new@11"}}},
		[]string{"1:paid@11", "3:new@11"}},
	{"--force of an older instance", []mergeStep{{"p1", []string{"1:new@10", "2:new@10"}}, {"p2", []string{"1:paid@11"}}, {"p1", []string{"1:new@10", "2:new@10", "3:new@10"}}},
		[]string{"1:paid@11", "2:new@10", "3:new@10"}},
	{"delete then older insert", []mergeStep{{"p1", []string{"1:new@10"}}, {"p2", []string{"1:gone!@12"}}, {"p1", []string{"1:new@10"}}, {"p3", []string{"1:paid@11"}}}, nil},
	{"delete of a missing key then older insert", []mergeStep{{"p1", []string{"1:gone!@12"}}, {"p2", []string{"1:new@11"}}}, nil},
	{"delete then newer insert", []mergeStep{{"p1", []string{"1:new@10"}}, {"p2", []string{"1:gone!@12"}}, {"p3", []string{"1:back@13"}}}, []string{"1:back@13"}},
}

// mergeChecks runs the merge cases on a loader that merges, or checks that one that cannot refuses.
func mergeChecks(t *testing.T, cl ConformanceLoader) {
	m := cl.Merge
	switch {
	case m.New == nil && m.Refuse == nil:
		t.Fatal("conformance.Loaders: ConformanceLoader.Merge needs New (the loader merges) or Refuse (it cannot)")
	case m.New == nil:
		t.Run("merge refused", func(t *testing.T) {
			err := m.Refuse(t)
			var fe *stage.FieldError
			if !errors.As(err, &fe) || fe.Path != "mode" || !strings.Contains(err.Error(), "iceberg") {
				t.Fatalf("a loader that cannot merge must refuse mode: merge at the mode field, naming one that can (iceberg); got %v", err)
			}
		})
		return
	}
	for _, c := range mergeCases {
		t.Run("merge/"+c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			l := m.New(t)
			ctx := context.Background()
			for _, s := range c.steps {
				b := mergeRecords(t, mem, s.rows)
				err := load(ctx, l, MergeSchema, testkit.PartitionFor(s.partition), b)
				b.Release()
				if err != nil {
					t.Fatal(err)
				}
			}
			h := &loaderHarness{cl: cl, mem: mem, loader: l}
			var want arrow.RecordBatch
			if len(c.want) > 0 {
				want = mergeRecords(t, mem, c.want)
				defer want.Release()
			}
			h.expect(t, want)
		})
	}
}

// mergeRecords builds MergeSchema rows from "id:status@version" ("!" after the status: deleted).
func mergeRecords(t *testing.T, mem memory.Allocator, rows []string) arrow.RecordBatch {
	t.Helper()
	var b strings.Builder
	b.WriteString("[")
	for i, r := range rows {
		head, ver, _ := strings.Cut(r, "@")
		id, status, _ := strings.Cut(head, ":")
		status, del := strings.CutSuffix(status, "!")
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{%q: %s, "status": %q, "version": %s, "deleted": %v}`, KeyColumn, id, status, ver, del)
	}
	b.WriteString("]")
	return testkit.Records(t, mem, MergeSchema, b.String())
}
