package transformers

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit"
)

// splitRun runs tr over in cut into parts batches, one partition, and returns the output as one batch.
func splitRun(t *testing.T, mem memory.Allocator, tr stage.Transformer, in arrow.RecordBatch, parts int) arrow.RecordBatch {
	t.Helper()
	n := in.NumRows()
	var batches []arrow.RecordBatch
	for k := range parts {
		lo, hi := n*int64(k)/int64(parts), n*int64(k+1)/int64(parts)
		batches = append(batches, in.NewSlice(lo, hi))
	}
	defer testkit.ReleaseAll(batches)
	return run(t, mem, tr, batches...)
}

func TestDedupe(t *testing.T) {
	const inSchema = "tenant: string, id: int64, v: int64, at: timestamp[ms, UTC]"
	const inRows = `
- {tenant: a, id: 1, v: 10, at: "2026-01-01T00:00:03Z"}
- {tenant: a, id: 2, v: 20, at: "2026-01-01T00:00:01Z"}
- {tenant: a, id: 1, v: 11, at: "2026-01-01T00:00:01Z"}
- {tenant: b, id: 1, v: 30, at: null}
- {tenant: null, id: null, v: 40, at: "2026-01-01T00:00:05Z"}
- {tenant: null, id: null, v: 41, at: "2026-01-01T00:00:04Z"}
- {tenant: a, id: 1, v: 12, at: "2026-01-01T00:00:02Z"}
- {tenant: b, id: 1, v: 31, at: "2026-01-01T00:00:00Z"}
`
	cases := []struct {
		name, cfg, want string
		wantErr         []string
	}{
		{name: "first to arrive", cfg: "{type: dedupe, keys: [tenant, id]}", want: "10, 20, 30, 40"},
		{name: "last to arrive", cfg: "{type: dedupe, keys: [tenant, id], keep: last}", want: "20, 41, 12, 31"},
		{name: "first by order column", cfg: "{type: dedupe, keys: [tenant, id], order_by: at}", want: "20, 11, 41, 31"},
		{name: "last by order column, null order loses", cfg: "{type: dedupe, keys: [tenant, id], order_by: at, keep: last}", want: "10, 20, 40, 31"},
		{name: "one key", cfg: "{type: dedupe, keys: [id], order_by: v, keep: last}", want: "20, 41, 31"},
		{name: "unknown key", cfg: "{type: dedupe, keys: [tenat]}", wantErr: []string{"keys[0]", `did you mean "tenant"?`}},
		{name: "unknown order", cfg: "{type: dedupe, keys: [id], order_by: vv}", wantErr: []string{"order_by", `no column "vv"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := checkedMem(t)
			in := testkit.RecordsYAML(t, mem, schemaOf(t, inSchema), inRows)
			defer in.Release()
			tr := mustBuild(t, mem, tc.cfg)
			if tc.wantErr != nil {
				_, err := tryRun(t, mem, tr, in)
				errContains(t, err, tc.wantErr...)
				return
			}
			check := func(variant string, got arrow.RecordBatch) {
				t.Helper()
				defer got.Release()
				if !got.Schema().Equal(in.Schema()) {
					t.Errorf("%s: schema %s, want the input's", variant, got.Schema())
				}
				var vs []string
				col := got.Column(2)
				for i := range col.Len() {
					vs = append(vs, col.ValueStr(i))
				}
				if s := strings.Join(vs, ", "); s != tc.want {
					t.Errorf("%s: kept v = %s, want %s", variant, s, tc.want)
				}
			}
			check("one batch", run(t, mem, tr, in))
			check("three batches", splitRun(t, mem, tr, in, 3))
			check("one row per batch", splitRun(t, mem, tr, in, int(in.NumRows())))
			compacting := mustBuild(t, mem, tc.cfg).(*dedupe)
			compacting.compactAt = 1 // compact after every batch that leaves duplicates behind
			check("compacting after each row", splitRun(t, mem, compacting, in, int(in.NumRows())))
			s := sliced(t, mem, in)
			check("sliced", splitRun(t, mem, tr, s, 2))
			s.Release()
			d := dictEncode(t, mem, in)
			got := splitRun(t, mem, tr, d, 2)
			check("dictionary-encoded", decodeDicts(t, mem, got))
			got.Release()
			d.Release()

			empty := in.NewSlice(0, 0)
			defer empty.Release()
			if got := run(t, mem, tr, empty); got != nil && got.NumRows() != 0 {
				t.Errorf("empty batch: got %d rows", got.NumRows())
				got.Release()
			} else if got != nil {
				got.Release()
			}
		})
	}
}

func TestDedupeNeedsPartition(t *testing.T) {
	mem := checkedMem(t)
	in := testkit.RecordsYAML(t, mem, schemaOf(t, "id: int64"), "[{id: 1}]")
	defer in.Release()
	_, err := mustBuild(t, mem, "{type: dedupe, keys: [id]}").Transform(t.Context(), in)
	errContains(t, err, "ForPartition")
	got := run(t, mem, mustBuild(t, mem, "{type: dedupe, keys: [id], order_by: id}"), in)
	got.Release()
	lst := testkit.RecordsYAML(t, mem, schemaOf(t, "xs: list<int64>"), "[{xs: [1]}]")
	defer lst.Release()
	_, err = tryRun(t, mem, mustBuild(t, mem, "{type: dedupe, keys: [xs]}"), lst)
	errContains(t, err, "keys[0]", "keys must be")
}

func TestDedupeLarge(t *testing.T) {
	mem := checkedMem(t)
	var sb strings.Builder
	sb.WriteString("[")
	for i := range 20000 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"k": "key%d", "v": %d}`, i%250, i)
	}
	sb.WriteString("]")
	in := testkit.Records(t, mem, schemaOf(t, "k: string, v: int64"), sb.String())
	defer in.Release()
	for _, tc := range []struct {
		keep      string
		compactAt int64
	}{{"first", 1 << 16}, {"last", 1 << 16}, {"first", 1}, {"last", 1}} {
		keep := tc.keep
		tr := mustBuild(t, mem, "{type: dedupe, keys: [k], order_by: v, keep: "+keep+"}").(*dedupe)
		tr.compactAt = tc.compactAt
		got := splitRun(t, mem, tr, in, 7)
		if got.NumRows() != 250 {
			t.Fatalf("keep %s: %d rows, want 250", keep, got.NumRows())
		}
		for i := range 250 {
			want := int64(i)
			if keep == "last" {
				want = int64(20000 - 250 + i)
			}
			if v := got.Column(1).ValueStr(i); v != fmt.Sprint(want) {
				t.Errorf("keep %s: row %d: v = %s, want %d", keep, i, v, want)
				break
			}
		}
		got.Release()
	}
}

// TestDedupeCompacts checks that held rows stay proportional to the distinct keys, not to the input.
func TestDedupeCompacts(t *testing.T) {
	mem := checkedMem(t)
	var sb strings.Builder
	sb.WriteString("[")
	for i := range 10000 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"k": %d, "v": %d}`, i%10, i)
	}
	sb.WriteString("]")
	in := testkit.Records(t, mem, schemaOf(t, "k: int64, v: int64"), sb.String())
	defer in.Release()
	tr := mustBuild(t, mem, "{type: dedupe, keys: [k], keep: last}").(*dedupe)
	tr.compactAt = 100
	pt, _ := tr.ForPartition(testkit.PartitionFor("p"))
	inst := pt.(*dedupeInstance)
	for lo := int64(0); lo < in.NumRows(); lo += 500 {
		s := in.NewSlice(lo, lo+500)
		if out, err := inst.Transform(t.Context(), s); err != nil || out != nil {
			t.Fatalf("Transform: %v, %v", out, err)
		}
		s.Release()
		if inst.heldRows > 600 {
			t.Fatalf("after row %d: %d rows held for %d keys", lo+500, inst.heldRows, len(inst.winners))
		}
	}
	got, err := inst.Flush(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if got.NumRows() != 10 || got.Column(1).ValueStr(0) != "9990" {
		t.Errorf("kept %d rows, first v = %s", got.NumRows(), got.Column(1).ValueStr(0))
	}
}
