package parquetzstd

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// page is a Parquet-like page: n bytes of plain-encoded int64s and short strings, compressible but not trivial.
func page(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, "%08d|user-%d@example.com|%d;", r.IntN(1_000_000), r.IntN(5000), r.IntN(100))
	}
	return b.Bytes()[:n]
}

func TestRoundTripAndSize(t *testing.T) {
	c, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*codec); !ok {
		t.Fatalf("the registered zstd codec is %T, not this package's", c)
	}
	wide, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(DefaultLevel), zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true), zstd.WithAllLitEntropyCompression(true))
	if err != nil {
		t.Fatal(err)
	}
	defer wide.Close()
	for _, tt := range []struct {
		name  string
		size  int
		level int
	}{
		{"small page", 8 << 10, compress.DefaultCompressionLevel},
		{"1 MiB page", 1 << 20, compress.DefaultCompressionLevel},
		{"1 MiB page, level 3", 1 << 20, 3},
		{"1 MiB page, level 19", 1 << 20, 19},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := page(tt.size)
			var enc []byte
			if tt.level == compress.DefaultCompressionLevel {
				enc = c.Encode(nil, src)
			} else {
				enc = c.EncodeLevel(nil, src, tt.level)
			}
			dec, err := compress.Decode(c, nil, enc)
			if err != nil || !bytes.Equal(dec, src) {
				t.Fatalf("round trip: %v (equal %v)", err, bytes.Equal(dec, src))
			}
			// A zstd reader that knows nothing of this package reads it too.
			std, err := zstd.NewReader(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer std.Close()
			if got, err := std.DecodeAll(enc, nil); err != nil || !bytes.Equal(got, src) {
				t.Fatalf("a plain zstd reader: %v", err)
			}
			if tt.level == compress.DefaultCompressionLevel {
				// Same size as with the 8 MiB window, within 0.5 %: a page never reaches further back than itself.
				ref := wide.EncodeAll(src, nil)
				if d := float64(len(enc)-len(ref)) / float64(len(ref)); d > 0.005 {
					t.Errorf("%d bytes with the 2 MiB window, %d with 8 MiB (+%.2f%%)", len(enc), len(ref), 100*d)
				}
			}
		})
	}
	if _, err := compress.Decode(c, nil, []byte("not zstd")); err == nil {
		t.Error("a corrupt page decodes without error")
	}
}

// TestEncoderMemory: a fresh encoder compressing a 1 MiB page at DefaultLevel allocates a fraction of what one
// with zstd's default window does — the memory this package exists to save.
func TestEncoderMemory(t *testing.T) {
	src := page(1 << 20)
	allocated := func(opts ...zstd.EOption) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		enc, err := zstd.NewWriter(nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		enc.EncodeAll(src, nil)
		runtime.ReadMemStats(&after)
		enc.Close()
		return after.TotalAlloc - before.TotalAlloc
	}
	common := []zstd.EOption{zstd.WithEncoderLevel(DefaultLevel), zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true), zstd.WithAllLitEntropyCompression(true)}
	small := allocated(append(common, zstd.WithWindowSize(Window))...)
	wide := allocated(common...)
	t.Logf("one encoder and a 1 MiB page: %d KiB with a %d MiB window, %d KiB with the default", small>>10, Window>>20, wide>>10)
	if small*2 > wide {
		t.Errorf("the small-window encoder allocates %d KiB, not under half of the default's %d KiB", small>>10, wide>>10)
	}
}

// TestPageWithinABlockNeedsNoHistory: an encoder compresses a page of up to one zstd block (128 KiB) without the
// history buffer of twice the window (4 MiB) that a larger input makes it allocate and keep, at every level the
// loaders use; pooled encoders would each hold one.
func TestPageWithinABlockNeedsNoHistory(t *testing.T) {
	src := page(120 << 10)
	for _, level := range []zstd.EncoderLevel{DefaultLevel, zstd.SpeedFastest} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		enc := newEncoder(level, false)
		enc.EncodeAll(src, make([]byte, 0, len(src)))
		runtime.ReadMemStats(&after)
		enc.Close()
		if got := after.TotalAlloc - before.TotalAlloc; got >= 2*Window {
			t.Errorf("%v: a new encoder compressing a 120 KiB page allocated %d KiB: a history buffer", level, got>>10)
		}
	}
}

// TestLargePageEncoderNotKept: an encoder that compressed a page larger than a block, and so holds a history
// buffer, is not kept idle (the heap after collections holds none of it: its pool keeps it through one
// collection, not two), while one that compressed a smaller page is; the large page's own encoder (lowMem)
// writes the same bytes as one without lowMem, and pages in a row reuse it.
func TestLargePageEncoderNotKept(t *testing.T) {
	reg, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	c := &codec{base: reg.(*codec).base}
	big := page(1 << 20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var out []byte
	for range 4 {
		out = c.Encode(nil, big)
	}
	if n := testing.AllocsPerRun(4, func() { c.Encode(out[:0], big) }); n > 1 {
		t.Errorf("%.0f allocations a 1 MiB page, want its encoder reused", n)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := len(c.idle[DefaultLevel]); n != 0 {
		t.Fatalf("%d idle encoders after 1 MiB pages, want none", n)
	}
	if kept := int64(after.HeapAlloc) - int64(before.HeapAlloc) - int64(len(out)); kept >= Window {
		t.Errorf("the heap holds %d KiB more after four 1 MiB pages: an encoder's history buffer", kept>>10)
	}
	c.Encode(nil, page(64<<10))
	if n := len(c.idle[DefaultLevel]); n != 1 {
		t.Fatalf("%d idle encoders after a 64 KiB page, want 1", n)
	}
	if ref := newEncoder(DefaultLevel, false).EncodeAll(big, nil); !bytes.Equal(out, ref) {
		t.Errorf("a 1 MiB page: %d bytes with lowMem, %d without, or different bytes", len(out), len(ref))
	}
}
