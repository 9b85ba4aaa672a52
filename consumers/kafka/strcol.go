package kafka

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// strCol builds a top-level string or binary column of the JSON path straight into its three buffers (validity,
// int32 offsets, data), allocated from the consumer's allocator. Arrow's BinaryBuilder zeroes every buffer it
// grows and checks capacity three times per value; these are most of a JSON message's bytes, so the consumer
// writes them itself: one capacity check, a copy and an offset per value. The validity bits are written from the
// first null on (the ones before it set then), each bit written, so the buffers need not start zeroed; a column
// without nulls has no validity buffer.
type strCol struct {
	mem   memory.Allocator
	dt    arrow.DataType
	valid *memory.Buffer
	offs  *memory.Buffer
	data  *memory.Buffer
	bits  []byte
	off   []int32 // len: rows the buffers hold + 1
	dat   []byte
	n     int // values
	nulls int
	size  int // data bytes
}

// reserve makes room for rows more values of bytes more data bytes, growing the buffers at least twofold.
func (c *strCol) reserve(rows, bytes int) {
	if c.offs == nil {
		c.valid, c.offs, c.data = memory.NewResizableBuffer(c.mem), memory.NewResizableBuffer(c.mem), memory.NewResizableBuffer(c.mem)
		c.bits, c.off, c.dat = nil, nil, nil
	}
	if need := c.n + rows + 1; need > len(c.off) {
		capRows := max(need, 2*len(c.off), 64)
		c.offs.Reserve(capRows * arrow.Int32SizeBytes)
		c.off = arrow.Int32Traits.CastFromBytes(c.offs.Buf())
		c.off[0] = 0
		c.valid.Reserve(int(bitutil.BytesForBits(int64(capRows))))
		c.bits = c.valid.Buf()
	}
	if need := c.size + bytes; need > len(c.dat) {
		c.data.Reserve(max(need, 2*len(c.dat), 1024))
		c.dat = c.data.Buf()
	}
}

func (c *strCol) append(v []byte) {
	if c.n+2 > len(c.off) || c.size+len(v) > len(c.dat) {
		c.reserve(1, len(v))
	}
	c.size += copy(c.dat[c.size:], v)
	if c.nulls != 0 { // until the first null, the validity bits are not written (finish drops them)
		bitutil.SetBit(c.bits, c.n)
	}
	c.n++
	c.off[c.n] = int32(c.size)
}

func (c *strCol) appendNull() {
	if c.n+2 > len(c.off) {
		c.reserve(1, 0)
	}
	if c.nulls == 0 {
		bitutil.SetBitsTo(c.bits, 0, int64(c.n), true)
	}
	bitutil.ClearBit(c.bits, c.n)
	c.n++
	c.nulls++
	c.off[c.n] = int32(c.size)
}

// finish returns the values as an array and starts a new one with room for rows values of bytes data bytes.
func (c *strCol) finish(rows, bytes int) arrow.Array {
	c.reserve(0, 0)
	c.valid.ResizeNoShrink(int(bitutil.BytesForBits(int64(c.n))))
	c.offs.ResizeNoShrink((c.n + 1) * arrow.Int32SizeBytes)
	c.data.ResizeNoShrink(c.size)
	valid := c.valid
	if c.nulls == 0 {
		valid = nil
	}
	data := array.NewData(c.dt, c.n, []*memory.Buffer{valid, c.offs, c.data}, nil, c.nulls, 0)
	arr := array.MakeFromData(data)
	data.Release()
	c.release()
	c.n, c.nulls, c.size = 0, 0, 0
	if rows > 0 {
		c.reserve(rows, bytes)
	}
	return arr
}

func (c *strCol) release() {
	for _, b := range []*memory.Buffer{c.valid, c.offs, c.data} {
		if b != nil {
			b.Release()
		}
	}
	c.valid, c.offs, c.data = nil, nil, nil
	c.bits, c.off, c.dat = nil, nil, nil
}
