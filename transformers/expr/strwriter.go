package expr

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// stringWriter builds a string array of a known length straight into its three buffers: the string kernels'
// inner loop is then a copy and two stores, without the checks a general builder makes per value.
type stringWriter struct {
	n, i                    int
	nulls                   int
	offBuf, dataBuf, valBuf *memory.Buffer
	offs                    []int32
	data                    []byte // used part of dataBuf; its capacity is the buffer's
	valid                   []byte
}

func newStringWriter(mem memory.Allocator, n, dataHint int) *stringWriter {
	w := &stringWriter{n: n}
	w.offBuf = memory.NewResizableBuffer(mem)
	w.offBuf.Resize((n + 1) * arrow.Int32SizeBytes)
	w.offs = arrow.Int32Traits.CastFromBytes(w.offBuf.Bytes())
	w.offs[0] = 0
	w.valBuf = memory.NewResizableBuffer(mem)
	w.valBuf.Resize(int(bitutil.BytesForBits(int64(n))))
	w.valid = w.valBuf.Bytes()
	clear(w.valid)
	w.dataBuf = memory.NewResizableBuffer(mem)
	w.dataBuf.Reserve(max(dataHint, 64))
	w.data = w.dataBuf.Buf()[:0]
	return w
}

func (w *stringWriter) grow(need int) {
	used := len(w.data)
	w.dataBuf.Reserve(max(2*cap(w.data), used+need)) // reallocation copies the whole old buffer
	w.data = w.dataBuf.Buf()[:used]
}

func (w *stringWriter) append(b []byte) {
	if len(w.data)+len(b) > cap(w.data) {
		w.grow(len(b))
	}
	w.data = append(w.data, b...)
	bitutil.SetBit(w.valid, w.i)
	w.i++
	w.offs[w.i] = int32(len(w.data))
}

func (w *stringWriter) appendString(s string) {
	if len(w.data)+len(s) > cap(w.data) {
		w.grow(len(s))
	}
	w.data = append(w.data, s...)
	bitutil.SetBit(w.valid, w.i)
	w.i++
	w.offs[w.i] = int32(len(w.data))
}

func (w *stringWriter) null() {
	w.nulls++
	w.i++
	w.offs[w.i] = int32(len(w.data))
}

// finish returns the array; the writer must not be used after.
func (w *stringWriter) finish() arrow.Array {
	w.dataBuf.ResizeNoShrink(len(w.data))
	valid := w.valBuf
	if w.nulls == 0 {
		valid = nil
	}
	data := array.NewData(arrow.BinaryTypes.String, w.n, []*memory.Buffer{valid, w.offBuf, w.dataBuf}, nil, w.nulls, 0)
	w.offBuf.Release()
	w.dataBuf.Release()
	w.valBuf.Release()
	defer data.Release()
	return array.MakeFromData(data)
}

// release frees the buffers of a writer abandoned on an error.
func (w *stringWriter) release() {
	w.offBuf.Release()
	w.dataBuf.Release()
	w.valBuf.Release()
}
