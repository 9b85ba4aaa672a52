package iceberg

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestKeyIndexMatchInts(t *testing.T) {
	t.Parallel()
	var keys []string
	for _, v := range []int64{-5, 3, 7, 100, 1 << 40} {
		keys = append(keys, string(appendKey(nil, ordVal{kind: kInt, i: v})))
	}
	x := newKeyIndex(keys, nil)
	for _, tc := range []struct {
		name string
		vals []int64
		want []int
	}{
		{"ascending", []int64{-6, -5, 0, 3, 4, 7, 7, 99, 100, 1 << 40, 1<<40 + 1}, []int{1, 3, 5, 6, 8, 9}},
		{"out of order", []int64{100, 3, 7, -5, 200, 1 << 40, 6}, []int{0, 1, 2, 3, 5}},
		{"none", []int64{1, 2, 4, 8}, nil},
		{"starts past keys", []int64{7, 100, 101}, []int{0, 1}},
	} {
		// Whole, and in batches of every size: the walk goes on from batch to batch.
		for size := 1; size <= len(tc.vals); size++ {
			var got []int
			m := &intMatcher{x: x}
			for at := 0; at < len(tc.vals); at += size {
				m.match(tc.vals[at:min(at+size, len(tc.vals))], func(r int, ch int32) {
					got = append(got, at+r)
					if keys[ch] != string(appendKey(nil, ordVal{kind: kInt, i: tc.vals[at+r]})) {
						t.Errorf("%s: row %d (%d) matched the change of key %q", tc.name, at+r, tc.vals[at+r], keys[ch])
					}
				})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s, batches of %d: matched rows %v, want %v", tc.name, size, got, tc.want)
			}
		}
		for r, v := range tc.vals {
			if has, want := x.find(appendKey(nil, ordVal{kind: kInt, i: v})) >= 0, slices.Contains(tc.want, r); has != want {
				t.Errorf("%s: find(%d) = %t, want %t", tc.name, v, has, want)
			}
		}
	}
}

// TestIntMatcherRuns: runs of ascending values with gaps (the walk searches past them), values out of order and
// repeated, in batches of every size, match exactly the rows whose values are keys, each with its own change.
func TestIntMatcherRuns(t *testing.T) {
	t.Parallel()
	var keys []string
	isKey := map[int64]bool{}
	for v := int64(0); v < 30000; v += 3 {
		if v%7 != 0 {
			keys = append(keys, string(appendKey(nil, ordVal{kind: kInt, i: v})))
			isKey[v] = true
		}
	}
	x := newKeyIndex(keys, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	var vals []int64
	for v := int64(-50); v < 40000; v += 1 + rng.Int64N(5) {
		if rng.IntN(50) == 0 {
			v += 2000 // a gap
		}
		vals = append(vals, v)
		if rng.IntN(40) == 0 {
			vals = append(vals, rng.Int64N(30000)) // out of order
		}
	}
	var want []int
	for r, v := range vals {
		if isKey[v] {
			want = append(want, r)
		}
	}
	for _, size := range []int{1, 7, 100, 4096, len(vals)} {
		var got []int
		m := &intMatcher{x: x}
		for at := 0; at < len(vals); at += size {
			m.match(vals[at:min(at+size, len(vals))], func(r int, ch int32) {
				got = append(got, at+r)
				if keys[ch] != string(appendKey(nil, ordVal{kind: kInt, i: vals[at+r]})) {
					t.Fatalf("row %d (%d) matched the change of another key", at+r, vals[at+r])
				}
			})
		}
		if !slices.Equal(got, want) {
			t.Errorf("batches of %d: matched %d rows, want %d", size, len(got), len(want))
		}
	}
}

// ordVal keeps a float's bits and a decimal's low bits in its integer: values still order and encode as before.
func TestOrdValPacked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		a, b ordVal
		want int
	}{
		{"floats", floatVal(-1.5), floatVal(2.25), -1},
		{"negative zero", floatVal(0), floatVal(math.Copysign(0, -1)), 0},
		{"equal floats", floatVal(3.5), floatVal(3.5), 0},
		{"decimals", decimalVal(decimal128.FromI64(-7)), decimalVal(decimal128.FromI64(5)), -1},
		{"big decimals", decimalVal(decimal128.New(1, 0)), decimalVal(decimal128.New(0, math.MaxUint64)), 1},
		{"null first", ordVal{}, floatVal(-1e300), -1},
	} {
		if got := cmpOrd(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: cmpOrd = %d, want %d", tc.name, got, tc.want)
		}
	}
	if d := decimal128.New(-3, 12345); decimalVal(d).decimal() != d {
		t.Errorf("decimal %v comes back as %v", d, decimalVal(d).decimal())
	}
	if f := -0.125; floatVal(f).float() != f {
		t.Errorf("float %v comes back as %v", f, floatVal(f).float())
	}
	if got, want := string(appendKey(nil, decimalVal(decimal128.New(-3, 12345)))), "\x04-3:12345;"; got != want {
		t.Errorf("decimal key %q, want %q", got, want)
	}
}

// A position delete file's batch: the data file's path once, as a dictionary, and the positions.
func TestPosDeleteBatch(t *testing.T) {
	t.Parallel()
	for _, pos := range [][]int64{nil, {0}, {3, 9, 1 << 40}} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		rec := posDeleteBatch(mem, "s3://b/t/data/f.parquet", pos)
		if rec.NumRows() != int64(len(pos)) {
			t.Errorf("%v: %d rows", pos, rec.NumRows())
		}
		paths := rec.Column(0).(*array.Dictionary)
		for r := range len(pos) {
			if got := paths.Dictionary().(*array.String).Value(paths.GetValueIndex(r)); got != "s3://b/t/data/f.parquet" {
				t.Errorf("%v: row %d names %q", pos, r, got)
			}
			if got := rec.Column(1).(*array.Int64).Value(r); got != pos[r] {
				t.Errorf("%v: row %d position %d", pos, r, got)
			}
		}
		rec.Release()
		mem.AssertSize(t, 0)
	}
}

// A key index takes over the index changes built of the first keys, and adds the rest (key_scan's deletes).
func TestKeyIndexTakesOver(t *testing.T) {
	t.Parallel()
	vals := []int64{40, -2, 7, 1 << 33, 12}
	keys := make([]string, len(vals))
	for i, v := range vals {
		keys[i] = string(appendKey(nil, ordVal{kind: kInt, i: v}))
	}
	for _, tc := range []struct {
		name string
		have int // keys changes indexed; -1: none
		size int // the index's capacity, in keys
	}{
		{"none", -1, 0}, {"all", 5, 5}, {"some", 3, 8}, {"a smallest index", 2, 2},
	} {
		var have *intIndex
		if tc.have >= 0 {
			have = newIntIndex(tc.size)
			for i, v := range vals[:tc.have] {
				have.insert(v, int32(i))
			}
		}
		x := newKeyIndex(keys, have)
		for i, v := range vals {
			if got := x.findInt(v); got != int32(i) {
				t.Errorf("%s: key %d found as change %d, want %d", tc.name, v, got, i)
			}
		}
		if got := x.findInt(8); got != -1 {
			t.Errorf("%s: key 8 found as change %d", tc.name, got)
		}
	}
}
