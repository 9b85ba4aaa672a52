// Package parquetzstd replaces arrow-go's zstd codec for Parquet pages with one whose encoders keep a 2 MiB
// window instead of zstd's default 8 MiB. Parquet compresses each page on its own, and jetflow's pages are at
// most about 1 MiB, so a larger window never finds a match the smaller one misses: the output is the same size,
// but every encoder in use holds a quarter of the memory (arrow-go's shared encoder, used from each writer
// goroutine, kept 32 MiB of history at the peak of a single-writer load). Import it for its side effect.
package parquetzstd

import (
	"io"
	"runtime"
	"sync"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// Window is the encoders' window: a power of two at least as large as a Parquet page.
const Window = 2 << 20

// DefaultLevel is the level of pages written without compression_level: zstd's default, level 3. Level 1 (Arrow
// C++'s and pyarrow's default) saves about a tenth of a Parquet load's CPU and wrote files of the same size from
// some tables but 60% larger ones from others (bench/RESULTS.md), so it is a choice per pipeline, not the default.
const DefaultLevel = zstd.SpeedDefault

func init() {
	base, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		panic("parquetzstd: arrow-go registers no zstd codec: " + err.Error())
	}
	compress.RegisterCodec(compress.Codecs.Zstd, &codec{base: base})
}

// codec encodes with small-window encoders kept for reuse and leaves decoding and streams to arrow-go's codec.
//
// The idle encoders of each level are kept in a list of at most GOMAXPROCS (as many as can encode at once), not
// in a sync.Pool: a pool drops what it holds at every other collection, and a write that keeps the collector
// busy (a copy_on_write rewrite, reading and writing a file a batch at a time) then made a new encoder (about
// 1.3 MiB at level 3) on each P after each collection, holding three or four at once and feeding the collector
// their allocations. Encoders past the bound are left to the collector. Pages larger than a block have encoders
// of their own, pooled apart (encode).
type codec struct {
	base  compress.Codec
	mu    sync.Mutex
	idle  map[zstd.EncoderLevel][]*zstd.Encoder
	large map[zstd.EncoderLevel]*sync.Pool
}

func (c *codec) get(level zstd.EncoderLevel) *zstd.Encoder {
	c.mu.Lock()
	if l := c.idle[level]; len(l) > 0 {
		enc := l[len(l)-1]
		l[len(l)-1] = nil
		c.idle[level] = l[:len(l)-1]
		c.mu.Unlock()
		return enc
	}
	c.mu.Unlock()
	return newEncoder(level, false)
}

func (c *codec) put(level zstd.EncoderLevel, enc *zstd.Encoder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle == nil {
		c.idle = map[zstd.EncoderLevel][]*zstd.Encoder{}
	}
	if len(c.idle[level]) < runtime.GOMAXPROCS(0) {
		c.idle[level] = append(c.idle[level], enc)
	}
}

// newEncoder makes a page encoder: the same frame options as arrow-go's, so files read the same everywhere. The
// window comes first: set after it, a level picks its own block size too (64 KiB for SpeedFastest), and an
// encoder compresses a page larger than one block through a history buffer of twice the window, or of the
// window and a block with lowMem (which changes buffer sizes only, not the output).
func newEncoder(level zstd.EncoderLevel, lowMem bool) *zstd.Encoder {
	enc, err := zstd.NewWriter(nil, zstd.WithWindowSize(Window), zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true), zstd.WithAllLitEntropyCompression(true),
		zstd.WithLowerEncoderMem(lowMem))
	if err != nil {
		panic("parquetzstd: " + err.Error()) // only bad options fail, and these are constant
	}
	return enc
}

// block is zstd's largest block: an encoder compresses an input of up to one block without a history buffer.
const block = 128 << 10

// largePool is the pool of level's encoders for pages larger than a block.
func (c *codec) largePool(level zstd.EncoderLevel) *sync.Pool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.large == nil {
		c.large = map[zstd.EncoderLevel]*sync.Pool{}
	}
	p := c.large[level]
	if p == nil {
		p = &sync.Pool{New: func() any { return newEncoder(level, true) }}
		c.large[level] = p
	}
	return p
}

func (c *codec) encode(dst, src []byte, level zstd.EncoderLevel) []byte {
	if len(src) > block {
		// A larger page (a dictionary page, or a data page of a narrow table's Parquet file) makes its encoder
		// allocate a history buffer that it keeps for good: kept idle in the list, the encoders that once met
		// one held megabytes each for the rest of the process (a stream's, between its compactions). Such pages
		// have encoders of their own in a sync.Pool: a write of many reuses them, and the collector takes them
		// once the process stops writing such pages. An encoder made for each page instead cost several times
		// the compression itself.
		p := c.largePool(level)
		enc := p.Get().(*zstd.Encoder)
		defer p.Put(enc)
		return enc.EncodeAll(src, dst[:0])
	}
	enc := c.get(level)
	defer c.put(level, enc)
	return enc.EncodeAll(src, dst[:0])
}

// Encode compresses one page at DefaultLevel.
func (c *codec) Encode(dst, src []byte) []byte { return c.encode(dst, src, DefaultLevel) }

// EncodeLevel compresses one page at a zstd level (compress.DefaultCompressionLevel: DefaultLevel).
func (c *codec) EncodeLevel(dst, src []byte, level int) []byte {
	if level == compress.DefaultCompressionLevel {
		return c.encode(dst, src, DefaultLevel)
	}
	return c.encode(dst, src, zstd.EncoderLevelFromZstd(level))
}

func (c *codec) CompressBound(n int64) int64 { return c.base.CompressBound(n) }

func (c *codec) Decode(dst, src []byte) []byte { return c.base.Decode(dst, src) }

// DecodeWithError keeps arrow-go's error reporting for corrupt pages.
func (c *codec) DecodeWithError(dst, src []byte) ([]byte, error) {
	return compress.Decode(c.base, dst, src)
}

func (c *codec) NewReader(r io.Reader) io.ReadCloser {
	return c.base.(compress.StreamingCodec).NewReader(r)
}

func (c *codec) NewWriter(w io.Writer) io.WriteCloser {
	return c.base.(compress.StreamingCodec).NewWriter(w)
}

func (c *codec) NewWriterLevel(w io.Writer, level int) (io.WriteCloser, error) {
	return c.base.(compress.StreamingCodec).NewWriterLevel(w, level)
}
