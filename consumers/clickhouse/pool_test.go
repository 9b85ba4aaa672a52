package clickhouse

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestClassSize(t *testing.T) {
	prev := 0
	for n := 1; n < 1<<22; n += 1 + n/7 {
		c := classSize(n)
		if c < n || c < prev || classSize(c) != c || (n > 64 && float64(c) > 1.25*float64(n)+1) {
			t.Fatalf("classSize(%d) = %d (previous %d)", n, c, prev)
		}
		prev = c
	}
}

// Buffers are reused by class; after close, everything is back with the base allocator, including buffers
// released later.
func TestPool(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	p := newPool(mem)
	a := p.Allocate(1000)
	if len(a) != 1000 || cap(a) != classSize(1000) {
		t.Fatalf("len %d cap %d", len(a), cap(a))
	}
	a[0] = 42
	p.Free(a)
	b := p.Allocate(990) // same class: the same memory
	if &b[0] != &a[0] || b[0] != 42 {
		t.Fatal("a freed buffer of the class was not reused")
	}
	b = p.Reallocate(5000, b)
	if len(b) != 5000 || b[0] != 42 {
		t.Fatalf("reallocate: len %d, first byte %d", len(b), b[0])
	}
	c := p.Allocate(70)
	p.Free(c)
	p.close()
	p.Free(b) // released after the read ended
	if p.cached != 0 || len(p.free) != 0 {
		t.Fatalf("the closed pool keeps %d bytes", p.cached)
	}
}
