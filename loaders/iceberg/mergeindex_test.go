package iceberg

import (
	"slices"
	"testing"
)

func TestKeyIndexMatchInts(t *testing.T) {
	t.Parallel()
	var keys []string
	for _, v := range []int64{-5, 3, 7, 100, 1 << 40} {
		keys = append(keys, string(appendKey(nil, ordVal{kind: kInt, i: v})))
	}
	x := newKeyIndex(keys)
	for _, tc := range []struct {
		name string
		vals []int64
		want []int
	}{
		{"ascending", []int64{-6, -5, 0, 3, 4, 7, 7, 99, 100, 1 << 40, 1<<40 + 1}, []int{1, 3, 5, 6, 8, 9}},
		{"out of order", []int64{100, 3, 7, -5, 200, 1 << 40, 6}, []int{0, 1, 2, 3, 5}},
		{"none", []int64{1, 2, 4, 8}, nil},
	} {
		var got []int
		x.matchInts(tc.vals, func(r int) { got = append(got, r) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: matched rows %v, want %v", tc.name, got, tc.want)
		}
		for r, v := range tc.vals {
			if has, want := x.find(appendKey(nil, ordVal{kind: kInt, i: v})) >= 0, slices.Contains(tc.want, r); has != want {
				t.Errorf("%s: find(%d) = %t, want %t", tc.name, v, has, want)
			}
		}
	}
}
