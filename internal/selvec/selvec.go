// Package selvec selects rows of Arrow batches by a boolean mask: the rows a filter keeps, as runs of
// consecutive rows, and a take that copies each run of each column with one copy of its bytes, rather than
// row by row.
package selvec

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Selection is the rows a mask keeps (true and not null), as runs of consecutive rows in order.
type Selection struct {
	runs []Run
	n    int // rows kept
	of   int // rows of the batch it selects from
}

// Run is the rows [Start, End).
type Run struct{ Start, End int }

// Len is the number of rows kept.
func (s Selection) Len() int { return s.n }

// All tells whether every row is kept.
func (s Selection) All() bool { return s.n == s.of }

// Runs returns the runs of kept rows.
func (s Selection) Runs() []Run { return s.runs }

// FromMask reads the rows mask keeps. It reads the mask 64 rows at a time: a run of kept or dropped rows
// costs a few operations per word, not per row.
func FromMask(mask *array.Boolean) Selection {
	n := mask.Len()
	sel := Selection{of: n}
	if n == 0 {
		return sel
	}
	in, start := false, 0
	for k := range (n + 63) / 64 {
		w, base := maskWord(mask, k), k*64
		if rest := n - base; rest < 64 {
			w &= 1<<rest - 1
		}
		if (in && w == ^uint64(0)) || (!in && w == 0) {
			continue // the run, or the gap, goes on
		}
		for pos := 0; pos < 64; {
			if in {
				pos += bits.TrailingZeros64(^(w >> pos))
				if pos < 64 {
					sel.runs = append(sel.runs, Run{start, base + pos})
					sel.n += base + pos - start
					in = false
				}
			} else {
				pos += bits.TrailingZeros64(w >> pos)
				if pos < 64 {
					start, in = base+pos, true
				}
			}
		}
	}
	if in {
		sel.runs = append(sel.runs, Run{start, n})
		sel.n += n - start
	}
	return sel
}

// maskWord returns rows [64k, 64k+64) of what mask keeps: its values and, when it has nulls, its validity.
func maskWord(mask *array.Boolean, k int) uint64 {
	off := mask.Data().Offset()
	w := word(mask.Data().Buffers()[1].Bytes(), off, k)
	if mask.NullN() > 0 {
		w &= word(mask.NullBitmapBytes(), off, k)
	}
	return w
}

// word returns the 64 bits of b from bit off+64k on (zeros past its end).
func word(b []byte, off, k int) uint64 {
	bit := off + 64*k
	i, s := bit/8, bit%8
	w := load64(b, i) >> s
	if s > 0 {
		w |= load64(b, i+8) << (64 - s)
	}
	return w
}

func load64(b []byte, i int) uint64 {
	if i+8 <= len(b) {
		return binary.LittleEndian.Uint64(b[i:])
	}
	var t [8]byte
	if i < len(b) {
		copy(t[:], b[i:])
	}
	return binary.LittleEndian.Uint64(t[:])
}

// copyBits puts n bits of src from bit si into dst from bit di, whose bits from di on are zero: up to 56 bits a
// step, where arrow-go's CopyBitmap allocates a reader and a writer on every call.
func copyBits(dst []byte, di int, src []byte, si, n int) {
	for n > 0 {
		k := min(n, 56)
		w := load64(src, si/8) >> (si % 8) & (1<<k - 1)
		or64(dst, di/8, w<<(di%8))
		si, di, n = si+k, di+k, n-k
	}
}

// or64 ors w into the 8 bytes of b from i on; the bits of w past b's end are zero.
func or64(b []byte, i int, w uint64) {
	if i+8 <= len(b) {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])|w)
		return
	}
	for j := 0; i+j < len(b); j++ {
		b[i+j] |= byte(w >> (8 * j))
	}
}

// Take returns the rows of batch that sel keeps (sel was made from mask, the same rows), column by column:
// fixed-width values, bitmaps and string bytes are copied a run at a time; other layouts (nested, dictionary,
// views) go through arrow-go's filter with mask.
func Take(ctx context.Context, mem memory.Allocator, batch arrow.RecordBatch, mask *array.Boolean, sel Selection) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, batch.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, c := range batch.Columns() {
		out, err := TakeArray(ctx, mem, c, mask, sel)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", batch.ColumnName(i), err)
		}
		cols[i] = out
	}
	return array.NewRecordBatch(batch.Schema(), cols, int64(sel.n)), nil
}

// TakeArray is Take for one array.
func TakeArray(ctx context.Context, mem memory.Allocator, a arrow.Array, mask *array.Boolean, sel Selection) (arrow.Array, error) {
	d := a.Data()
	dt := a.DataType()
	var bufs []*memory.Buffer
	switch {
	case sel.n == 0 || dt.ID() == arrow.NULL: // arrow-go's filter of lists fails on no rows

		return array.MakeArrayOfNull(mem, dt, sel.n), nil
	case dt.ID() == arrow.BOOL:
		bufs = []*memory.Buffer{nil, takeBits(mem, d.Buffers()[1], d.Offset(), sel)}
	case dt.ID() == arrow.STRING || dt.ID() == arrow.BINARY:
		o, v := takeVarWidth[int32](mem, d, sel)
		bufs = []*memory.Buffer{nil, o, v}
	case dt.ID() == arrow.LARGE_STRING || dt.ID() == arrow.LARGE_BINARY:
		o, v := takeVarWidth[int64](mem, d, sel)
		bufs = []*memory.Buffer{nil, o, v}
	case isFixedWidth(dt):
		bufs = []*memory.Buffer{nil, takeFixed(mem, d.Buffers()[1], d.Offset(), dt.(arrow.FixedWidthDataType).BitWidth()/8, sel)}
	default:
		return compute.FilterArray(compute.WithAllocator(ctx, mem), a, mask, *compute.DefaultFilterOptions())
	}
	nulls := 0
	if a.NullN() > 0 {
		bufs[0] = takeBits(mem, d.Buffers()[0], d.Offset(), sel)
		nulls = sel.n - bitutil.CountSetBits(bufs[0].Bytes(), 0, sel.n)
	}
	out := array.NewData(dt, sel.n, bufs, nil, nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	defer out.Release()
	return array.MakeFromData(out), nil
}

// isFixedWidth tells whether values of dt are whole bytes each, in one buffer after the validity bitmap.
func isFixedWidth(dt arrow.DataType) bool {
	fw, ok := dt.(arrow.FixedWidthDataType)
	if !ok || dt.ID() == arrow.DICTIONARY || dt.ID() == arrow.EXTENSION {
		return false
	}
	if _, ok := dt.(arrow.NestedType); ok {
		return false
	}
	return fw.BitWidth() >= 8 && fw.BitWidth()%8 == 0 && len(dt.Layout().Buffers) == 2
}

func newBuffer(mem memory.Allocator, size int) *memory.Buffer {
	b := memory.NewResizableBuffer(mem)
	b.Resize(size)
	return b
}

func takeFixed(mem memory.Allocator, src *memory.Buffer, off, width int, sel Selection) *memory.Buffer {
	out := newBuffer(mem, sel.n*width)
	dst, in := out.Bytes(), src.Bytes()
	pos := 0
	for _, r := range sel.runs {
		pos += copy(dst[pos:], in[(off+r.Start)*width:(off+r.End)*width])
	}
	return out
}

func takeBits(mem memory.Allocator, src *memory.Buffer, off int, sel Selection) *memory.Buffer {
	out := newBuffer(mem, int(bitutil.BytesForBits(int64(sel.n))))
	dst, in := out.Bytes(), src.Bytes()
	clear(dst)
	pos := 0
	for _, r := range sel.runs {
		copyBits(dst, pos, in, off+r.Start, r.End-r.Start)
		pos += r.End - r.Start
	}
	return out
}

// takeVarWidth copies the offsets of each run shifted to their new place, and the run's bytes in one copy.
func takeVarWidth[O int32 | int64](mem memory.Allocator, d arrow.ArrayData, sel Selection) (offsets, values *memory.Buffer) {
	offs := arrow.GetData[O](d.Buffers()[1].Bytes())[d.Offset():]
	var data []byte
	if b := d.Buffers()[2]; b != nil {
		data = b.Bytes()
	}
	size := 0
	for _, r := range sel.runs {
		size += int(offs[r.End] - offs[r.Start])
	}
	offsets = newBuffer(mem, (sel.n+1)*int(unsafe.Sizeof(O(0))))
	values = newBuffer(mem, size)
	outOffs := arrow.GetData[O](offsets.Bytes())
	dst := values.Bytes()
	outOffs[0] = 0
	k, pos := 1, O(0)
	for _, r := range sel.runs {
		shift := pos - offs[r.Start]
		for _, o := range offs[r.Start+1 : r.End+1] {
			outOffs[k] = o + shift
			k++
		}
		pos += O(copy(dst[pos:], data[offs[r.Start]:offs[r.End]]))
	}
	return offsets, values
}
