// Package parquetzstd replaces arrow-go's zstd codec for Parquet pages with one whose encoders keep a 2 MiB
// window instead of zstd's default 8 MiB. Parquet compresses each page on its own, and jetflow's pages are at
// most about 1 MiB, so a larger window never finds a match the smaller one misses: the output is the same size,
// but every encoder in use holds a quarter of the memory (arrow-go's shared encoder, used from each writer
// goroutine, kept 32 MiB of history at the peak of a single-writer load). Import it for its side effect.
package parquetzstd

import (
	"io"
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

// codec encodes with pooled small-window encoders and leaves decoding and streams to arrow-go's codec.
type codec struct {
	base  compress.Codec
	mu    sync.Mutex
	pools map[zstd.EncoderLevel]*sync.Pool
}

func (c *codec) pool(level zstd.EncoderLevel) *sync.Pool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pools == nil {
		c.pools = map[zstd.EncoderLevel]*sync.Pool{}
	}
	p := c.pools[level]
	if p == nil {
		p = &sync.Pool{New: func() any { return newEncoder(level) }}
		c.pools[level] = p
	}
	return p
}

// newEncoder makes a page encoder: the same frame options as arrow-go's, so files read the same everywhere. The
// window comes first: set after it, a level picks its own block size too (64 KiB for SpeedFastest), and an
// encoder compresses a page larger than one block through a history buffer of twice the window.
func newEncoder(level zstd.EncoderLevel) *zstd.Encoder {
	enc, err := zstd.NewWriter(nil, zstd.WithWindowSize(Window), zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true), zstd.WithAllLitEntropyCompression(true))
	if err != nil {
		panic("parquetzstd: " + err.Error()) // only bad options fail, and these are constant
	}
	return enc
}

func (c *codec) encode(dst, src []byte, level zstd.EncoderLevel) []byte {
	p := c.pool(level)
	enc := p.Get().(*zstd.Encoder)
	defer p.Put(enc)
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
