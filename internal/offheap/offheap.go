// Package offheap is an Arrow allocator that maps large buffers outside the Go heap.
//
// Why: a load's memory is mostly Arrow buffers (batches in flight, Parquet pages) that live for one batch. On the
// Go heap each one becomes garbage, and the collector lets the heap grow to twice what is live before it runs
// (GOGC=100), so a load that holds 150 MB reaches 300 MB and more of RSS. Mapped with mmap and unmapped as soon
// as the batch is released, those buffers cost exactly what is in use, and the collector neither scans nor waits
// for them. Small buffers stay on the Go heap, where a system call per allocation would cost more than it saves.
// Released mappings of up to 32 MiB in all are kept for the next buffers of about their size (batches repeat their
// sizes roughly), cleared as new ones are, so a steady load maps nothing after its first batches. They never hold
// more than the peak in use over the last spareTTL or two, and one not reused within spareTTL is unmapped, so that
// what a burst released (a compaction, a large batch) does not stay resident for the rest of a long stream.
package offheap

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// DefaultMinSize is the smallest allocation that is mapped: below it, the Go heap is cheaper than two system
// calls and the page rounding.
const DefaultMinSize = 64 << 10

// maxSpare bounds the released mappings kept for reuse: about the buffers of a few batches.
const maxSpare = 32 << 20

// spareTTL is how long a released mapping is kept for reuse. A load's batches repeat their buffers within
// milliseconds, a stream's commits within its roll; a mapping of a size not asked for again is resident memory
// that serves nothing, and kept up to maxSpare it would make a long stream's memory grow towards maxSpare over
// its first minutes (each compaction, each larger partition leaving mappings of new sizes) instead of following
// what it uses.
const spareTTL = 5 * time.Second

// Allocator hands out buffers of at least minSize bytes from anonymous private mappings and smaller ones from
// the Go allocator. Free of a mapped buffer unmaps it, or keeps it for a next buffer of about its size, so a buffer
// must not be touched after it is released. Arrow's reference counting guarantees that for code that releases
// what it retains; the test suites
// run on a guarded allocator (NewGuarded) so that a stage that keeps a slice past Release fails loudly there
// rather than reading reused memory here.
type Allocator struct {
	small   memory.Allocator
	minSize int
	guarded bool // Free revokes access and keeps the address range, so a late access faults

	mu     sync.Mutex
	mapped map[uintptr][]byte // first byte → the whole mapping
	// dirty maps a mapping taken from spare to grow a buffer to the offset from which it still holds a released
	// buffer's bytes: growing within it clears what it hands out from there (reuse clears a whole mapping, which
	// a buffer given a mapping up to growFactor times its size would mostly never use).
	dirty map[uintptr]int
	// spare holds released mappings, oldest first, up to maxSpare bytes in all, for the next batch's buffers of
	// about their size: a batch of a few hundred KiB per column otherwise costs two system calls and a page fault
	// per 4 KiB each time, which is most of what the Go heap would have cost.
	spare      []spareMapping
	spareBytes int
	now        func() time.Duration // the clock spares age by (tests set it); nil: monotonic time
	// recent and prior are the peaks of the mapped bytes in use in the current window of spareTTL (begun at
	// window) and in the one before: the spares never hold more than that, so they follow what the allocator's
	// users hold, not the sizes they have released since it started.
	recent, prior int64
	window        time.Duration

	inUse atomic.Int64 // mapped bytes
	peak  atomic.Int64
}

// spareMapping is a released mapping kept for reuse, and when it was released.
type spareMapping struct {
	m  []byte
	at time.Duration
}

// epoch starts the allocators' clock.
var epoch = time.Now()

func (a *Allocator) clock() time.Duration {
	if a.now != nil {
		return a.now()
	}
	return time.Since(epoch)
}

// New returns an allocator that maps buffers of minSize bytes and more (DefaultMinSize if minSize ≤ 0).
func New(minSize int) *Allocator {
	if minSize <= 0 {
		minSize = DefaultMinSize
	}
	return &Allocator{small: memory.NewGoAllocator(), minSize: minSize, mapped: map[uintptr][]byte{}, dirty: map[uintptr]int{}}
}

// NewGuarded returns an allocator for tests: every buffer is mapped, and Free makes its pages inaccessible and
// returns them to the kernel without ever reusing the addresses, so a read or write after release faults at
// once (a panic under debug.SetPanicOnFault, a crash otherwise) instead of seeing another batch's data. It
// costs a page and two system calls per buffer; use it where catching a use after free is the point.
func NewGuarded() *Allocator {
	return &Allocator{small: memory.NewGoAllocator(), minSize: 1, guarded: true, mapped: map[uintptr][]byte{}, dirty: map[uintptr]int{}}
}

// Mapped reports the bytes mapped now and the most mapped at once.
func (a *Allocator) Mapped() (now, peak int64) { return a.inUse.Load(), a.peak.Load() }

func (a *Allocator) Allocate(size int) []byte {
	if size < a.minSize || !supported {
		return a.small.Allocate(size)
	}
	n := pageRound(size)
	m := a.reuse(n)
	if m == nil {
		var err error
		if m, err = mapBytes(n); err != nil { // out of mappings or address space: the Go heap still works
			return a.small.Allocate(size)
		}
	}
	a.track(m)
	return m[:size:size] // capacity as asked, as Go's allocator gives: callers free b[:cap(b)] and count it
}

func (a *Allocator) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		return b[:size]
	}
	old, mapped := a.lookup(b)
	if mapped && size <= len(old) { // within the mapping: the page it was rounded up to, or a spare it took
		a.clearDirty(old, cap(b), size)
		return old[:size:size]
	}
	if size >= a.minSize && supported {
		// A growing buffer (a column chunk's pages, a builder's values) takes a released mapping it fits in
		// before new pages: writing into pages already resident costs a copy of what it holds, where fresh
		// pages cost a page fault each as the buffer fills them, the larger cost in a virtual machine.
		if m := a.reuseToGrow(pageRound(size), len(b)); m != nil {
			copy(m, b)
			a.Free(b)
			return m[:size:size]
		}
	}
	if mapped && !a.guarded { // a guarded buffer moves instead, so that the old address faults
		if m, err := remapBytes(old, pageRound(size)); err == nil {
			a.untrack(old)
			a.track(m)
			return m[:size:size]
		}
	}
	nb := a.Allocate(size)
	copy(nb, b)
	a.Free(b)
	return nb
}

// growFactor bounds the released mapping a growing buffer takes: at most this many times its new size, so a
// buffer that stops growing does not hold a much larger mapping another buffer could have used.
const growFactor = 4

// reuseToGrow returns the smallest released mapping of n to growFactor·n bytes, or nil. Its bytes from kept to n
// are cleared (the caller copies the first kept over) and the rest marked dirty.
func (a *Allocator) reuseToGrow(n, kept int) []byte {
	if a.guarded {
		return nil
	}
	a.mu.Lock()
	m := a.takeSpare(n, growFactor*n)
	if m == nil {
		a.mu.Unlock()
		return nil
	}
	a.mapped[start(m)] = m
	if n < len(m) {
		a.dirty[start(m)] = n
	}
	a.countLocked(len(m))
	a.mu.Unlock()
	clear(m[min(kept, n):n])
	return m
}

// takeSpare removes and returns the smallest released mapping of lo to hi bytes, or nil. a.mu is held.
func (a *Allocator) takeSpare(lo, hi int) []byte {
	best := -1
	for i, sp := range a.spare {
		if len(sp.m) >= lo && len(sp.m) <= hi && (best < 0 || len(sp.m) < len(a.spare[best].m)) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	m := a.spare[best].m
	a.spare = append(a.spare[:best], a.spare[best+1:]...)
	a.spareBytes -= len(m)
	return m
}

// clearDirty clears m[from:to] where it may hold a released buffer's bytes, so that a buffer grown within a
// reused mapping reads zeros as in a new one.
func (a *Allocator) clearDirty(m []byte, from, to int) {
	a.mu.Lock()
	d, ok := a.dirty[start(m)]
	if ok && to > d {
		a.dirty[start(m)] = to
		if to >= len(m) {
			delete(a.dirty, start(m))
		}
	}
	a.mu.Unlock()
	if ok && to > d {
		clear(m[max(from, d):to])
	}
}

func (a *Allocator) Free(b []byte) {
	old, ok := a.lookup(b)
	if !ok {
		a.small.Free(b)
		return
	}
	a.untrack(old)
	if a.keep(old) {
		return
	}
	if a.guarded {
		if err := revokeBytes(old); err != nil {
			panic("offheap: revoke: " + err.Error())
		}
		return
	}
	if err := unmapBytes(old); err != nil {
		panic("offheap: munmap: " + err.Error()) // the mapping table and the kernel disagree: nothing is safe now
	}
}

// reuse returns the smallest released mapping of n bytes up to n + n/4, zeroed as a new one is, or nil. Not
// only an exact size: a string column's buffer differs by a few pages from batch to batch, and a mapping kept
// for one size only was reused by almost none.
func (a *Allocator) reuse(n int) []byte {
	if a.guarded {
		return nil
	}
	a.mu.Lock()
	stale := a.expire(0)
	m := a.takeSpare(n, n+n/4)
	a.mu.Unlock()
	unmapAll(stale)
	if m != nil {
		clear(m)
	}
	return m
}

// expire removes from spare, oldest first, the mappings released longer than spareTTL ago, and more while the
// spares and room more bytes would pass their bound (spareBound); it returns them for the caller to unmap outside
// the lock. a.mu is held.
func (a *Allocator) expire(room int) [][]byte {
	var evict [][]byte
	now := a.clock()
	bound := a.spareBound(now)
	for len(a.spare) > 0 && (int64(a.spareBytes+room) > bound || now-a.spare[0].at > spareTTL) {
		evict = append(evict, a.spare[0].m)
		a.spareBytes -= len(a.spare[0].m)
		a.spare[0] = spareMapping{}
		a.spare = a.spare[1:]
	}
	return evict
}

// spareBound is how many bytes the spares may hold at now: the peak of the mapped bytes in use over the last
// spareTTL or two (a batch's buffers, kept for the next batch), and maxSpare at most. Kept beyond what was in use,
// spares of sizes not asked for again would make the allocator's footprint grow to maxSpare over a long run while
// its users hold a few MiB. a.mu is held.
func (a *Allocator) spareBound(now time.Duration) int64 {
	a.roll(now)
	return min(max(a.recent, a.prior), maxSpare)
}

// roll starts a new window of the in-use peak once the current one is spareTTL old. a.mu is held.
func (a *Allocator) roll(now time.Duration) {
	if now-a.window < spareTTL {
		return
	}
	if now-a.window < 2*spareTTL {
		a.prior = a.recent
	} else {
		a.prior = 0 // a window without allocations went by
	}
	a.recent, a.window = a.inUse.Load(), now
}

func unmapAll(ms [][]byte) {
	for _, m := range ms {
		if err := unmapBytes(m); err != nil {
			panic("offheap: munmap: " + err.Error())
		}
	}
}

// keep holds a released mapping for reuse, unmapping the oldest ones kept when they would pass maxSpare (sizes
// that are no longer asked for make way) and those kept longer than spareTTL; a guarded allocator never reuses.
func (a *Allocator) keep(m []byte) bool {
	if a.guarded || len(m) > maxSpare {
		return false
	}
	a.mu.Lock()
	evict := a.expire(len(m))
	kept := int64(a.spareBytes+len(m)) <= a.spareBound(a.clock())
	if kept {
		a.spare = append(a.spare, spareMapping{m: m, at: a.clock()})
		a.spareBytes += len(m)
	}
	a.mu.Unlock()
	unmapAll(evict)
	return kept
}

func (a *Allocator) lookup(b []byte) ([]byte, bool) {
	if cap(b) == 0 {
		return nil, false
	}
	a.mu.Lock()
	m, ok := a.mapped[start(b)]
	a.mu.Unlock()
	return m, ok
}

func (a *Allocator) track(m []byte) {
	a.mu.Lock()
	a.mapped[start(m)] = m
	a.countLocked(len(m))
	a.mu.Unlock()
}

// countLocked adds n mapped bytes to those in use, the recent peak and the peak. a.mu is held.
func (a *Allocator) countLocked(n int) {
	now := a.inUse.Add(int64(n))
	a.roll(a.clock())
	a.recent = max(a.recent, now)
	a.peak.Store(max(a.peak.Load(), now))
}

func (a *Allocator) untrack(m []byte) {
	a.mu.Lock()
	delete(a.mapped, start(m))
	delete(a.dirty, start(m))
	a.mu.Unlock()
	a.inUse.Add(-int64(len(m)))
}

func start(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b[:1]))) }

const pageSize = 4096

func pageRound(n int) int { return (n + pageSize - 1) &^ (pageSize - 1) }

var _ memory.Allocator = (*Allocator)(nil)
