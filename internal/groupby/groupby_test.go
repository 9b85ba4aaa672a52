package groupby

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestGrouper(t *testing.T) {
	tests := []struct {
		name       string
		cols       [][]int64
		nulls      [][]bool // per column, nil: none null
		wantGroups []int32
	}{
		{"no columns: one group", nil, nil, []int32{0, 0, 0}},
		{"one column", [][]int64{{5, 7, 5, 5, 9}}, nil, []int32{0, 1, 0, 0, 2}},
		{"two columns", [][]int64{{1, 1, 2, 2, 1}, {3, 4, 3, 3, 3}}, nil, []int32{0, 1, 2, 2, 0}},
		{"null apart from the key 0", [][]int64{{0, 0, 0}}, [][]bool{{false, true, false}}, []int32{0, 1, 0}},
		{"the same key after another group's row", [][]int64{{1, 2, 1}, {7, 7, 7}}, nil, []int32{0, 1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var g Grouper
			for round := range 2 { // a second batch reuses the Grouper
				n := len(tc.wantGroups)
				g.Start(n)
				for c, keys := range tc.cols {
					var null func(int) bool
					if tc.nulls != nil && tc.nulls[c] != nil {
						null = func(i int) bool { return tc.nulls[c][i] }
					}
					g.Refine(keys, null)
				}
				groups := g.Finish()
				if !slices.Equal(g.Group, tc.wantGroups) {
					t.Fatalf("round %d: groups %v, want %v", round, g.Group, tc.wantGroups)
				}
				if want := int(slices.Max(tc.wantGroups)) + 1; groups != want {
					t.Fatalf("round %d: %d groups, want %d", round, groups, want)
				}
				for grp := range groups {
					want := []int32{}
					for i, wg := range tc.wantGroups {
						if wg == int32(grp) {
							want = append(want, int32(i))
						}
					}
					b := array.NewInt32Builder(memory.DefaultAllocator)
					g.Rows(grp, b)
					rows := b.NewInt32Array()
					got := rows.Int32Values()
					if !slices.Equal(got, want) || g.First[grp] != int(want[0]) || g.Counts[grp] != len(want) {
						t.Errorf("group %d: rows %v first %d count %d, want %v", grp, got, g.First[grp], g.Counts[grp], want)
					}
					rows.Release()
					b.Release()
				}
			}
		})
	}
}

func BenchmarkRefine(b *testing.B) {
	keys := make([]int64, 65536)
	for i := range keys {
		keys[i] = int64(i % 8)
	}
	var g Grouper
	b.ReportAllocs()
	for b.Loop() {
		g.Start(len(keys))
		g.Refine(keys, nil)
		g.Finish()
	}
	_ = fmt.Sprint(g.Counts[0])
}

func TestIntKeys(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	tests := []struct {
		name string
		dt   arrow.DataType
		json string
		want []int64
		ok   bool
	}{
		{"int8", arrow.PrimitiveTypes.Int8, `[-128, 0, 127]`, []int64{-128, 0, 127}, true},
		{"uint64 keeps distinct values distinct", arrow.PrimitiveTypes.Uint64, `[18446744073709551615, 1]`, []int64{-1, 1}, true},
		{"date32 in days", arrow.FixedWidthTypes.Date32, `["1970-01-02", "1969-12-31"]`, []int64{1, -1}, true},
		{"timestamp in its unit", &arrow.TimestampType{Unit: arrow.Microsecond}, `["1970-01-01 00:00:01"]`, []int64{1_000_000}, true},
		{"boolean", arrow.FixedWidthTypes.Boolean, `[true, false]`, []int64{1, 0}, true},
		{"string is not integer-like", arrow.BinaryTypes.String, `["a", "b"]`, []int64{7, 7}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			col, _, err := array.FromJSON(mem, tc.dt, strings.NewReader(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			defer col.Release()
			keys := slices.Repeat([]int64{7}, col.Len())
			if ok := IntKeys(col, keys); ok != tc.ok || !slices.Equal(keys, tc.want) {
				t.Errorf("IntKeys = %v, %v; want %v, %v", keys, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestDictStringKeys(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	var d Dict
	for _, dt := range []arrow.DataType{arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString} {
		col, _, err := array.FromJSON(mem, dt, strings.NewReader(`["b", "a", "b", "", "a"]`))
		if err != nil {
			t.Fatal(err)
		}
		keys := make([]int64, col.Len())
		ok := d.StringKeys(col, keys)
		col.Release() // the dictionary keeps clones, not views into the released column
		if want := []int64{0, 1, 0, 2, 1}; !ok || !slices.Equal(keys, want) {
			t.Errorf("%s: keys %v (%v), want %v", dt, keys, ok, want)
		}
		if id := d.ID("a"); id != 1 {
			t.Errorf("%s: ID(a) after the batch = %d, want 1", dt, id)
		}
	}
	if d.StringKeys(array.NewNull(2), make([]int64, 2)) {
		t.Error("StringKeys took a null column")
	}
}
