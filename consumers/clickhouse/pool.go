package clickhouse

import (
	"math/bits"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// pool recycles the buffers of one Read's batches: once a receiver releases a batch, its buffers serve the
// next blocks, which are about the same size, instead of new allocations (which the Go allocator zeroes and the
// garbage collector then scans for: a quarter of the CPU of a read before). Buffers are handed out by size class
// (from 64 bytes, four per power of two) and are not zeroed: every node writes each byte of
// a buffer it reads into, and clears the bitmaps it fills bit by bit.
//
// close returns the cached buffers to the base allocator; buffers released after close go straight back to it,
// so nothing is kept once a Read's batches are all released.
type pool struct {
	base   memory.Allocator
	mu     sync.Mutex
	free   map[int][][]byte // class size → buffers
	cached int              // bytes in free
	closed bool
}

// poolMaxCached bounds what a pool keeps between blocks.
const poolMaxCached = 256 << 20

func newPool(base memory.Allocator) *pool { return &pool{base: base, free: map[int][][]byte{}} }

// classSize rounds n up to its size class: 64 bytes at least, then 4 classes per power of two (≤ 25% waste).
func classSize(n int) int {
	if n <= 64 {
		return 64
	}
	step := 1 << (bits.Len(uint(n-1)) - 3) // a quarter of the power of two below n
	return (n + step - 1) / step * step
}

func (p *pool) Allocate(size int) []byte {
	c := classSize(size)
	p.mu.Lock()
	if l := p.free[c]; len(l) > 0 {
		b := l[len(l)-1]
		p.free[c] = l[:len(l)-1]
		p.cached -= c
		p.mu.Unlock()
		return b[:size]
	}
	p.mu.Unlock()
	return p.base.Allocate(c)[:size]
}

func (p *pool) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		return b[:size]
	}
	nb := p.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

func (p *pool) Free(b []byte) {
	b = b[:cap(b)]
	c := len(b)
	p.mu.Lock()
	if p.closed || p.cached+c > poolMaxCached || classSize(c) != c {
		p.mu.Unlock()
		p.base.Free(b)
		return
	}
	p.free[c] = append(p.free[c], b)
	p.cached += c
	p.mu.Unlock()
}

// close hands the cached buffers back to the base allocator.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for c, l := range p.free {
		for _, b := range l {
			p.base.Free(b)
		}
		delete(p.free, c)
	}
	p.cached = 0
}
