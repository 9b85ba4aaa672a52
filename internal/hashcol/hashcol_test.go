package hashcol

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The golden values come from tools independent of this code: sha256sum, and xxhsum -H1 (XXH64) and -H3 (XXH3)
// of xxHash 0.8.1, over the same bytes ("pepper" in front for the salted ones; -7 as its 8 little-endian bytes).
var long = strings.Repeat("x", 100) // longer than sha256's memo keeps

func u64(s string) int64 {
	var v uint64
	if _, err := fmt.Sscanf(s, "%x", &v); err != nil {
		panic(err)
	}
	return int64(v)
}

func TestGolden(t *testing.T) {
	t.Parallel()
	strs := func(mem memory.Allocator) arrow.Array {
		b := array.NewStringBuilder(mem)
		defer b.Release()
		b.AppendValues([]string{"abc", "", "", "abc", long}, []bool{true, true, false, true, true})
		return b.NewArray()
	}
	ints := func(mem memory.Allocator) arrow.Array {
		b := array.NewInt8Builder(mem)
		defer b.Release()
		b.AppendValues([]int8{-7, 0, -7}, []bool{true, false, true})
		return b.NewArray()
	}
	cases := []struct {
		algo, salt string
		in         func(memory.Allocator) arrow.Array
		want       []any // nil: null
	}{
		{SHA256, "", strs, []any{
			"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", nil,
			"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
			"09ecb6ebc8bcefc733f6f2ec44f791abeed6a99edf0cc31519637898aebd52d8"}},
		{XXHash64, "", strs, []any{u64("44bc2cf5ad770999"), u64("ef46db3751d8e999"), nil, u64("44bc2cf5ad770999"), u64("92f0de5a88a3c094")}},
		{XXH3, "", strs, []any{u64("78af5f94892f3950"), u64("2d06800538d394c2"), nil, u64("78af5f94892f3950"), u64("c90984ffdf50ce42")}},
		{XXH3, "pepper", strs, []any{u64("ceec81971881c148"), u64("be194a9a411d6085"), nil, u64("ceec81971881c148"), u64("c59984d1834cb231")}},
		{SHA256, "", ints, []any{"a770d3270c9dcdedf12ed9fd70444f7c8a95c26cae3cae9bd867499090a2f14b", nil,
			"a770d3270c9dcdedf12ed9fd70444f7c8a95c26cae3cae9bd867499090a2f14b"}},
		{XXHash64, "", ints, []any{u64("a8d154f80f8cba5a"), nil, u64("a8d154f80f8cba5a")}},
		{XXH3, "", ints, []any{u64("cdeddd5c08597fb4"), nil, u64("cdeddd5c08597fb4")}},
		{XXH3, "pepper", ints, []any{u64("3ab18ab721f956a1"), nil, u64("3ab18ab721f956a1")}},
	}
	for _, tc := range cases {
		t.Run(tc.algo+"/"+tc.salt, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			h, err := New(tc.algo, []byte(tc.salt))
			if err != nil {
				t.Fatal(err)
			}
			in := tc.in(mem)
			defer in.Release()
			// Twice: the second pass reads sha256's memo of the first.
			for range 2 {
				out, err := h.Array(mem, in)
				if err != nil {
					t.Fatal(err)
				}
				if !arrow.TypeEqual(out.DataType(), h.OutputType()) {
					t.Errorf("type %s, want %s", out.DataType(), h.OutputType())
				}
				for i, w := range tc.want {
					var got any
					switch o := out.(type) {
					case *array.String:
						got = o.Value(i)
					case *array.Int64:
						got = o.Value(i)
					}
					if w == nil {
						if out.IsValid(i) {
							t.Errorf("row %d: %v, want null", i, got)
						}
					} else if out.IsNull(i) || got != w {
						t.Errorf("row %d: %v, want %v", i, got, w)
					}
				}
				out.Release()
			}
		})
	}
}

// TestAgainstStdlib hashes many distinct and repeated values, sliced at an odd offset, so that memo collisions and
// bitmap offsets are exercised, and compares each hash with crypto/sha256's.
func TestAgainstStdlib(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.LargeString)
	defer b.Release()
	var vals []string
	for i := range 5000 {
		v := fmt.Sprintf("v%d", i%700)
		if i%3 == 0 {
			v = fmt.Sprintf("user%d@example.com", i)
		}
		if i%11 == 0 {
			b.AppendNull()
			vals = append(vals, "")
			continue
		}
		b.AppendString(v)
		vals = append(vals, v)
	}
	full := b.NewArray()
	defer full.Release()
	in := array.NewSlice(full, 3, 4001)
	defer in.Release()
	h, _ := New(SHA256, []byte("salt"))
	for range 2 {
		out, err := h.Array(mem, in)
		if err != nil {
			t.Fatal(err)
		}
		s := out.(*array.String)
		for i := range s.Len() {
			if s.IsNull(i) != in.IsNull(i) {
				t.Fatalf("row %d: null %v, want %v", i, s.IsNull(i), in.IsNull(i))
			}
			if in.IsNull(i) {
				continue
			}
			sum := sha256.Sum256([]byte("salt" + vals[i+3]))
			if want := hex.EncodeToString(sum[:]); s.Value(i) != want {
				t.Fatalf("row %d (%q): %s, want %s", i, vals[i+3], s.Value(i), want)
			}
		}
		out.Release()
	}
}

func TestEmptyAndErrors(t *testing.T) {
	t.Parallel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, algo := range []string{SHA256, XXHash64, XXH3} {
		h, _ := New(algo, nil)
		in := array.MakeArrayOfNull(mem, arrow.PrimitiveTypes.Uint16, 0)
		out, err := h.Array(mem, in)
		if err != nil || out.Len() != 0 || !arrow.TypeEqual(out.DataType(), h.OutputType()) {
			t.Errorf("%s of an empty array: %v, %v", algo, out, err)
		}
		out.Release()
		in.Release()
		f := array.MakeArrayOfNull(mem, arrow.PrimitiveTypes.Float64, 2)
		if _, err := h.Array(mem, f); err == nil || !strings.Contains(err.Error(), "float64") {
			t.Errorf("%s of float64: %v", algo, err)
		}
		f.Release()
	}
	if _, err := New("md5", nil); err == nil || !strings.Contains(err.Error(), "xxh3") {
		t.Errorf("md5: %v", err)
	}
}

// TestAllocations: hashing a column allocates per batch, never per row.
func TestAllocations(t *testing.T) {
	mem := memory.NewGoAllocator()
	b := array.NewStringBuilder(mem)
	for i := range 1 << 14 {
		b.Append(fmt.Sprintf("status-%d", i%5))
	}
	in := b.NewArray()
	b.Release()
	defer in.Release()
	for _, algo := range []string{SHA256, XXHash64, XXH3} {
		h, _ := New(algo, []byte("s"))
		allocs := testing.AllocsPerRun(10, func() {
			out, err := h.Array(mem, in)
			if err != nil {
				t.Fatal(err)
			}
			out.Release()
		})
		if allocs > 20 {
			t.Errorf("%s: %.0f allocations for %d rows", algo, allocs, in.Len())
		}
	}
}

// BenchmarkArray hashes 64k values: few distinct ones (sha256's memo hits) and all distinct.
func BenchmarkArray(b *testing.B) {
	mem := memory.NewGoAllocator()
	for _, distinct := range []int{5, 1 << 16} {
		sb := array.NewStringBuilder(mem)
		for i := range 1 << 16 {
			sb.Append(fmt.Sprintf("status-%d", i%distinct))
		}
		in := sb.NewArray()
		sb.Release()
		for _, algo := range []string{SHA256, XXHash64, XXH3} {
			h, _ := New(algo, nil)
			b.Run(fmt.Sprintf("%s/%d distinct", algo, distinct), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					out, err := h.Array(mem, in)
					if err != nil {
						b.Fatal(err)
					}
					out.Release()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*in.Len()), "ns/row")
			})
		}
		in.Release()
	}
}
