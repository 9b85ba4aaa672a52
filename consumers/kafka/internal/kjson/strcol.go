package kjson

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The JSON path builds its string, binary, list and struct columns itself, at every depth, straight into their
// buffers allocated from the consumer's allocator. Arrow's builders zero every buffer they grow, check capacity
// several times per value and, for lists and structs, go through an interface per child; these columns hold most
// of a JSON message's bytes and values, so the decoder writes them itself: one capacity check, then a copy, an
// offset or a count per value.
//
// Validity bits are written from a column's first null on (the ones before it set then), so the buffers need not
// start zeroed and a column without nulls has no validity buffer.

// validity is the lazily written validity bitmap of a column the decoder builds.
type validity struct {
	valid *memory.Buffer
	bits  []byte
	nulls int
}

// grow makes room for rows bits, keeping the bits written.
func (v *validity) grow(mem memory.Allocator, rows int) {
	if v.valid == nil {
		v.valid = memory.NewResizableBuffer(mem)
	}
	v.valid.Reserve(int(bitutil.BytesForBits(int64(rows))))
	v.bits = v.valid.Buf()
}

// null clears bit i, the first null setting every bit before it.
func (v *validity) null(i int) {
	if v.nulls == 0 {
		bitutil.SetBitsTo(v.bits, 0, int64(i), true)
	}
	bitutil.ClearBit(v.bits, i)
	v.nulls++
}

// set sets bit i once a null has been written (before, no bit is).
func (v *validity) set(i int) {
	if v.nulls != 0 {
		bitutil.SetBit(v.bits, i)
	}
}

// buffer returns the bitmap of n values (nil without nulls) and starts a new one.
func (v *validity) buffer(n int) *memory.Buffer {
	b := v.valid
	b.ResizeNoShrink(int(bitutil.BytesForBits(int64(n))))
	v.valid, v.bits = nil, nil
	if v.nulls == 0 {
		b.Release()
		return nil
	}
	v.nulls = 0
	return b
}

func (v *validity) release() {
	if v.valid != nil {
		v.valid.Release()
	}
	v.valid, v.bits, v.nulls = nil, nil, 0
}

// Bytes builds a string or binary column: validity, int32 offsets, data.
type Bytes struct {
	mem  memory.Allocator
	dt   arrow.DataType
	v    validity
	offs *memory.Buffer
	data *memory.Buffer
	off  []int32 // len: rows the buffers hold + 1
	dat  []byte
	n    int // values
	size int // data bytes
}

// reserve makes room for rows more values of bytes more data bytes, growing the buffers at least twofold.
func (c *Bytes) reserve(rows, bytes int) {
	if c.offs == nil {
		c.offs, c.data = memory.NewResizableBuffer(c.mem), memory.NewResizableBuffer(c.mem)
		c.off, c.dat = nil, nil
		c.v.grow(c.mem, 0)
	}
	if need := c.n + rows + 1; need > len(c.off) {
		capRows := max(need, 2*len(c.off), 64)
		c.offs.Reserve(capRows * arrow.Int32SizeBytes)
		c.off = arrow.Int32Traits.CastFromBytes(c.offs.Buf())
		c.off[0] = 0
		c.v.grow(c.mem, capRows)
	}
	if need := c.size + bytes; need > len(c.dat) {
		c.data.Reserve(max(need, 2*len(c.dat), 1024))
		c.dat = c.data.Buf()
	}
}

// Append appends a value.
func (c *Bytes) Append(v []byte) {
	if c.n+2 > len(c.off) || c.size+len(v) > len(c.dat) {
		c.reserve(1, len(v))
	}
	c.size += copy(c.dat[c.size:], v)
	c.v.set(c.n)
	c.n++
	c.off[c.n] = int32(c.size)
}

// appendJSON appends the JSON string at b[p] ('"'), copying it eight bytes at a time as it looks for the closing
// quote, and returns the position after it. ok is false, nothing appended, for a string with escapes or control
// characters or invalid UTF-8, or when the column's room is short of the rest of the message: str reads those.
// Scanning and copying in one pass reads each byte once and needs no copy call per value, which for the short
// strings of a JSON message cost as much as the scan.
func (c *Bytes) appendJSON(b []byte, p int) (end int, ok bool) {
	src := b[p+1:]
	if c.n+2 > len(c.off) || c.size+len(src)+8 > len(c.dat) {
		return 0, false
	}
	dst := c.dat[c.size : c.size+len(src)+8]
	ascii := true
	i := 0
	for {
		for ; i+8 <= len(src); i += 8 {
			w := binary.LittleEndian.Uint64(src[i:])
			binary.LittleEndian.PutUint64(dst[i:i+8], w)
			if m := stopMask(w); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto stop
			}
		}
		for ; i < len(src) && !strStop[src[i]]; i++ {
			dst[i] = src[i]
		}
	stop:
		if i >= len(src) {
			return 0, false
		}
		switch ch := src[i]; {
		case ch == '"':
			if !ascii && !utf8.Valid(dst[:i]) {
				return 0, false
			}
			c.size += i
			c.v.set(c.n)
			c.n++
			c.off[c.n] = int32(c.size)
			return p + 1 + i + 1, true
		case ch >= 0x80: // a byte of multi-byte UTF-8, checked once the string ends
			dst[i] = ch
			ascii = false
			i++
		default: // an escape or a control character
			return 0, false
		}
	}
}

// AppendNull appends a null.
func (c *Bytes) AppendNull() {
	if c.n+2 > len(c.off) {
		c.reserve(1, 0)
	}
	c.v.null(c.n)
	c.n++
	c.off[c.n] = int32(c.size)
}

// Finish returns the values as array data and starts a new column with room for as many values and bytes.
func (c *Bytes) Finish() arrow.ArrayData {
	c.reserve(0, 0)
	c.offs.ResizeNoShrink((c.n + 1) * arrow.Int32SizeBytes)
	c.data.ResizeNoShrink(c.size)
	nulls := c.v.nulls
	valid := c.v.buffer(c.n)
	data := array.NewData(c.dt, c.n, []*memory.Buffer{valid, c.offs, c.data}, nil, nulls, 0)
	rows, bytes := c.n, c.size
	if valid != nil {
		valid.Release()
	}
	c.offs.Release()
	c.data.Release()
	c.offs, c.data, c.off, c.dat = nil, nil, nil, nil
	c.n, c.size = 0, 0
	if rows > 0 {
		// An eighth more bytes than the last batch's: a batch a little larger than the last would otherwise grow
		// the buffer to twice its size, and a mapping twice the size asked for is not reused for the next one.
		c.reserve(rows, bytes+bytes/8)
	}
	return data
}

func (c *Bytes) release() {
	for _, b := range []*memory.Buffer{c.offs, c.data} {
		if b != nil {
			b.Release()
		}
	}
	c.v.release()
	c.offs, c.data, c.off, c.dat = nil, nil, nil, nil
	c.n, c.size = 0, 0
}

// nestCol builds the slots of a list (validity and int32 offsets into its elements) or a struct (validity); the
// elements and fields are the node's children, each building its own column.
type nestCol struct {
	mem  memory.Allocator
	dt   arrow.DataType
	list bool
	v    validity
	offs *memory.Buffer
	off  []int32 // list: len = rows the buffers hold + 1
	cap  int
	n    int
}

func (c *nestCol) reserve(rows int) {
	if need := c.n + rows + 1; need > c.cap || c.v.valid == nil {
		capRows := max(need, 2*c.cap, 64)
		c.v.grow(c.mem, capRows)
		if c.list {
			if c.offs == nil {
				c.offs = memory.NewResizableBuffer(c.mem)
			}
			c.offs.Reserve(capRows * arrow.Int32SizeBytes)
			c.off = arrow.Int32Traits.CastFromBytes(c.offs.Buf())
		}
		c.cap = capRows
	}
}

// add appends a slot: a list's starting at element start, or a struct's.
func (c *nestCol) add(start int, valid bool) {
	if c.n+2 > c.cap {
		c.reserve(1)
	}
	if c.list {
		c.off[c.n] = int32(start)
	}
	if valid {
		c.v.set(c.n)
	} else {
		c.v.null(c.n)
	}
	c.n++
}

// finish returns the slots as array data over the children's data (end: a list's element count) and starts a
// new column with room for as many slots.
func (c *nestCol) finish(end int, children []arrow.ArrayData) arrow.ArrayData {
	c.reserve(0)
	nulls := c.v.nulls
	valid := c.v.buffer(c.n)
	bufs := []*memory.Buffer{valid}
	if c.list {
		c.off[c.n] = int32(end)
		c.offs.ResizeNoShrink((c.n + 1) * arrow.Int32SizeBytes)
		bufs = append(bufs, c.offs)
	}
	data := array.NewData(c.dt, c.n, bufs, children, nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	for _, ch := range children {
		ch.Release()
	}
	rows := c.n
	c.offs, c.off, c.cap, c.n = nil, nil, 0, 0
	c.reserve(rows)
	return data
}

func (c *nestCol) release() {
	if c.offs != nil {
		c.offs.Release()
	}
	c.v.release()
	c.offs, c.off, c.cap, c.n = nil, nil, 0, 0
}
