package offheap

import (
	"bytes"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestAllocateReallocateFree(t *testing.T) {
	tests := []struct {
		name          string
		size, grow    int
		mappedAtFirst bool
	}{
		{"small stays on the Go heap", 100, 200, false},
		{"small grows into a mapping", 1000, DefaultMinSize + 1, false},
		{"mapped grows by remapping", DefaultMinSize, 4 * DefaultMinSize, true},
		{"mapped shrinks in place", 2 * DefaultMinSize, DefaultMinSize, true},
		{"mapped grows within its last page", DefaultMinSize + 1, DefaultMinSize + 100, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := New(0)
			b := a.Allocate(tc.size)
			if len(b) != tc.size || cap(b) != tc.size { // callers free b[:cap(b)] and count that many bytes
				t.Fatalf("len %d cap %d, want both %d", len(b), cap(b), tc.size)
			}
			if now, _ := a.Mapped(); (now > 0) != tc.mappedAtFirst {
				t.Fatalf("mapped %d bytes after Allocate(%d)", now, tc.size)
			}
			for i := range b {
				b[i] = byte(i)
			}
			want := bytes.Clone(b[:min(tc.size, tc.grow)])
			b = a.Reallocate(tc.grow, b)
			if len(b) != tc.grow || !bytes.Equal(b[:len(want)], want) {
				t.Fatalf("after Reallocate(%d): len %d, contents kept %v", tc.grow, len(b), bytes.Equal(b[:len(want)], want))
			}
			if tc.grow >= DefaultMinSize {
				if now, _ := a.Mapped(); now < int64(tc.grow) {
					t.Fatalf("mapped %d bytes, want at least %d", now, tc.grow)
				}
			}
			a.Free(b)
			if now, peak := a.Mapped(); now != 0 || (peak == 0) != (max(tc.size, tc.grow) < DefaultMinSize) {
				t.Fatalf("after Free: mapped now %d, peak %d", now, peak)
			}
		})
	}
}

func TestMappedMemoryIsZeroedAndAligned(t *testing.T) {
	a := New(0)
	b := a.Allocate(DefaultMinSize + 3)
	defer a.Free(b)
	if uintptr(start(b))%64 != 0 {
		t.Errorf("buffer at %#x is not 64-byte aligned", start(b))
	}
	for i, v := range b {
		if v != 0 {
			t.Fatalf("byte %d is %d, want a zeroed buffer", i, v)
		}
	}
}

// Builders, records and release through the allocator, under the checked allocator: nothing leaks, and every
// mapping is gone at the end.
func TestArrowRoundTrip(t *testing.T) {
	base := New(4096)
	mem := memory.NewCheckedAllocator(base)
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	for batch := range 3 {
		ids, strs := bld.Field(0).(*array.Int64Builder), bld.Field(1).(*array.StringBuilder)
		for i := range 100_000 {
			ids.Append(int64(batch*100_000 + i))
			if i%7 == 0 {
				strs.AppendNull()
			} else {
				strs.Append("value")
			}
		}
		rec := bld.NewRecordBatch()
		col := rec.Column(0).(*array.Int64)
		if col.Value(99_999) != int64(batch*100_000+99_999) || rec.Column(1).NullN() != 14286 {
			t.Fatalf("batch %d read back wrong: last id %d, nulls %d", batch, col.Value(99_999), rec.Column(1).NullN())
		}
		rec.Release()
	}
	if now, peak := base.Mapped(); now != 0 || peak == 0 {
		t.Errorf("mapped now %d, peak %d: want every mapping released, and some made", now, peak)
	}
}

func TestGuardedFaultsAfterFree(t *testing.T) {
	a := NewGuarded()
	b := a.Allocate(10)
	b[0] = 1
	a.Free(b)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	faulted := func() (f bool) {
		defer func() { f = recover() != nil }()
		read = b[0]
		return false
	}()
	if !faulted {
		t.Fatal("reading a released guarded buffer did not fault")
	}
}

// read keeps the compiler from dropping the read the guarded test expects to fault.
var read byte

// A released mapping serves the next buffer of its size, zeroed like a new one; past maxSpare, the oldest kept are
// unmapped.
func TestReleasedMappingsAreReusedZeroed(t *testing.T) {
	a := New(0)
	b := a.Allocate(DefaultMinSize)
	for i := range b {
		b[i] = 0xff
	}
	first := start(b)
	a.Free(b)
	c := a.Allocate(DefaultMinSize)
	if start(c) != first {
		t.Errorf("a buffer of the released size got a new mapping at %#x, not the released one at %#x", start(c), first)
	}
	for i, v := range c {
		if v != 0 {
			t.Fatalf("reused buffer byte %d is %#x, want zero", i, v)
		}
	}
	a.Free(c)

	var bufs [][]byte
	for range maxSpare/(1<<20) + 4 {
		bufs = append(bufs, a.Allocate(1<<20))
	}
	for _, b := range bufs {
		a.Free(b)
	}
	a.mu.Lock()
	spare := a.spareBytes
	a.mu.Unlock()
	if spare > maxSpare {
		t.Errorf("%d bytes kept for reuse, want at most %d", spare, maxSpare)
	}
	if now, _ := a.Mapped(); now != 0 {
		t.Errorf("%d bytes still counted in use after every buffer was released", now)
	}
}

// A released mapping serves a buffer a little smaller (a batch's column differs by a few pages from the last
// one's), not one under four fifths of it; the smallest that fits is taken; past maxSpare the oldest make way.
func TestReleasedMappingsServeAboutTheirSize(t *testing.T) {
	a := New(0)
	free := func(sizes ...int) []uintptr {
		var starts []uintptr
		var bufs [][]byte
		for _, n := range sizes {
			b := a.Allocate(n)
			starts = append(starts, start(b))
			bufs = append(bufs, b)
		}
		for _, b := range bufs {
			a.Free(b)
		}
		return starts
	}
	tests := []struct {
		name  string
		freed []int
		ask   int
		want  int // index into freed of the mapping that must serve, -1 for a new one
	}{
		{"the same size", []int{1 << 20}, 1 << 20, 0},
		{"a few pages smaller", []int{1 << 20}, 1<<20 - 40<<10, 0},
		{"a fifth smaller", []int{1 << 20}, 1<<20 - 1<<20/5, 0},
		{"half: a new mapping", []int{1 << 20}, 1 << 19, -1},
		{"larger: a new mapping", []int{1 << 20}, 1<<20 + 1, -1},
		{"the smallest that fits", []int{1<<20 + 200<<10, 1<<20 + 8<<10, 1<<20 + 100<<10}, 1 << 20, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			starts := free(tc.freed...)
			b := a.Allocate(tc.ask)
			defer a.Free(b)
			got := slices.Index(starts, start(b))
			if got != tc.want {
				t.Fatalf("served by freed mapping %d, want %d", got, tc.want)
			}
			if len(b) != tc.ask {
				t.Fatalf("len %d, want %d", len(b), tc.ask)
			}
		})
		a.mu.Lock()
		for _, sp := range a.spare { // start each case empty
			_ = unmapBytes(sp.m)
		}
		a.spare, a.spareBytes = nil, 0
		a.mu.Unlock()
	}

	// Past maxSpare, the mappings released first are unmapped: the last one released is still there to reuse.
	var sizes []int
	for i := range maxSpare/(1<<20) + 4 {
		sizes = append(sizes, 1<<20+i*pageSize)
	}
	starts := free(sizes...)
	last := len(sizes) - 1
	b := a.Allocate(sizes[last])
	if start(b) != starts[last] {
		t.Error("the mapping released last was not kept for reuse")
	}
	a.Free(b)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.spareBytes > maxSpare || len(a.spare) == 0 {
		t.Errorf("%d bytes in %d mappings kept, want at most %d", a.spareBytes, len(a.spare), maxSpare)
	}
}

func TestGuardedNeverReuses(t *testing.T) {
	a := NewGuarded()
	b := a.Allocate(100)
	first := start(b)
	a.Free(b)
	if c := a.Allocate(100); start(c) == first {
		t.Error("the guarded allocator reused a released mapping: a late access to it would not fault")
	}
}

// A growing buffer moves into a released mapping of up to growFactor times its new size rather than into new
// pages, keeps its bytes, and reads zeros wherever it grows within that mapping, though the mapping held another
// buffer's bytes.
func TestGrowingBufferTakesAReleasedMapping(t *testing.T) {
	a := New(0)
	spare := a.Allocate(1 << 20)
	for i := range spare {
		spare[i] = 0xff
	}
	spareAt := start(spare)
	a.Free(spare)

	b := a.Allocate(200 << 10)
	for i := range b {
		b[i] = byte(i%251) + 1
	}
	b = a.Reallocate(300<<10, b)
	if start(b) != spareAt {
		t.Fatalf("grown into %#x, want the released mapping at %#x", start(b), spareAt)
	}
	check := func(b []byte, written int) {
		t.Helper()
		for i := range written {
			if b[i] != byte(i%251)+1 {
				t.Fatalf("byte %d is %#x after growing, want %#x", i, b[i], byte(i%251)+1)
			}
		}
		for i := written; i < len(b); i++ {
			if b[i] != 0 {
				t.Fatalf("grown byte %d of %d is %#x, want zero", i, len(b), b[i])
			}
		}
	}
	check(b, 200<<10)
	for _, size := range []int{300<<10 + 1, 700 << 10, 1 << 20} { // within the mapping: cleared as handed out
		b = a.Reallocate(size, b)
		if start(b) != spareAt {
			t.Fatalf("growing to %d within the mapping moved it", size)
		}
		check(b, 200<<10)
	}
	a.Free(b)

	// Past growFactor times the size asked, a released mapping is left for a buffer of about its size.
	big := a.Allocate(8 << 20)
	bigAt := start(big)
	a.Free(big)
	small := a.Allocate(100 << 10)
	small = a.Reallocate(1<<20, small)
	if start(small) == bigAt {
		t.Error("a buffer growing to 1 MiB took a released mapping of 8 MiB")
	}
	a.Free(small)
	if now, _ := a.Mapped(); now != 0 {
		t.Errorf("%d bytes still counted in use after every buffer was released", now)
	}
}

// A released mapping not reused within spareTTL is unmapped at the allocator's next release or allocation, so
// what a burst released does not stay resident; one reused in time is served as before.
func TestReleasedMappingsExpire(t *testing.T) {
	a := New(0)
	var now time.Duration
	a.now = func() time.Duration { return now }
	spare := func() (n, bytes int) {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.spare), a.spareBytes
	}
	burst := [][]byte{a.Allocate(4 << 20), a.Allocate(8 << 20)}
	for _, b := range burst {
		a.Free(b)
	}
	if n, bytes := spare(); n != 2 || bytes != 12<<20 {
		t.Fatalf("after the burst: %d mappings, %d bytes kept, want 2 and %d", n, bytes, 12<<20)
	}
	// Within spareTTL a buffer of a kept size is served by its mapping.
	now += spareTTL / 2
	b := a.Allocate(4 << 20)
	a.Free(b)
	if n, _ := spare(); n != 2 {
		t.Fatalf("%d mappings kept after a reuse, want 2", n)
	}
	// Past spareTTL, the 8 MiB mapping (released at 0) goes with the next release; the 4 MiB one, released again
	// at spareTTL/2, stays until spareTTL after that.
	now = spareTTL + time.Millisecond
	small := a.Allocate(DefaultMinSize)
	a.Free(small)
	if n, bytes := spare(); n != 2 || bytes != 4<<20+DefaultMinSize {
		t.Fatalf("past the TTL: %d mappings, %d bytes kept, want the 4 MiB one and the new one (%d bytes)", n, bytes, 4<<20+DefaultMinSize)
	}
	// An allocation ages them out too, and a size whose mapping went gets a new one.
	now = 3 * spareTTL
	c := a.Allocate(8 << 20)
	defer a.Free(c)
	if n, bytes := spare(); n != 0 || bytes != 0 {
		t.Fatalf("long after: %d mappings, %d bytes kept, want none", n, bytes)
	}
}

// The spares hold at most the peak of the mapped bytes in use over the last spareTTL or two: buffers of growing
// sizes, each released before the next is asked for, leave the largest one kept, not all of them, and a quiet
// while lowers the bound again.
func TestSparesFollowTheBytesInUse(t *testing.T) {
	a := New(0)
	var now time.Duration
	a.now = func() time.Duration { return now }
	kept := func() int {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.spareBytes
	}
	for _, n := range []int{1 << 20, 2 << 20, 4 << 20, 8 << 20} {
		a.Free(a.Allocate(n))
		now += time.Millisecond
	}
	if got := kept(); got > 8<<20 {
		t.Fatalf("%d bytes kept after buffers of at most 8 MiB were in use one at a time, want at most %d", got, 8<<20)
	}
	if b := a.Allocate(8 << 20); kept() != 0 { // the last one serves the same size again
		t.Fatalf("an 8 MiB buffer was not served by the kept mapping: %d bytes still kept", kept())
	} else {
		a.Free(b)
	}
	// Two windows later with 1 MiB in use, an 8 MiB release is past the bound: unmapped, not kept.
	now += 2 * spareTTL
	small := a.Allocate(1 << 20)
	a.Free(small)
	if got := kept(); got != 1<<20 {
		t.Fatalf("%d bytes kept once 1 MiB was the recent peak, want %d", got, 1<<20)
	}
}
