package generate

import (
	"encoding/binary"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Every value is a pure function of a node seed and a coordinate: hash(seed, coord). A top-level column's
// coordinate is the global row number (or its bucket when `distinct` is set); a nested child's coordinate is
// derived from its parent's and its position, so the data never depends on how rows are partitioned or batched.

const gamma = 0x9e3779b97f4a7c15 // splitmix64's increment

// mix is splitmix64's finalizer.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// hash is splitmix64's output number x for the stream that starts at seed: counter-based, so any value can be
// computed without the ones before it.
func hash(seed, x uint64) uint64 { return mix(seed + (x+1)*gamma) }

// below maps h uniformly onto [0, n); n = 0 stands for 2^64.
func below(h, n uint64) uint64 {
	if n == 0 {
		return h
	}
	hi, _ := bits.Mul64(h, n)
	return hi
}

// gen builds the values of one Arrow type for a slice of coordinates. validity and nulls are the top-level
// column's null bitmap (nil and 0 inside nested values); build retains what it keeps.
type gen interface {
	build(mem memory.Allocator, coords []uint64, validity *memory.Buffer, nulls int) arrow.ArrayData
}

func newBuf(mem memory.Allocator, size int) *memory.Buffer {
	b := memory.NewResizableBuffer(mem)
	b.Resize(size)
	return b
}

func finish(dt arrow.DataType, n int, validity *memory.Buffer, nulls int, bufs []*memory.Buffer, children []arrow.ArrayData) arrow.ArrayData {
	all := append([]*memory.Buffer{validity}, bufs...)
	d := array.NewData(dt, n, all, children, nulls, 0)
	for _, b := range bufs {
		b.Release()
	}
	for _, c := range children {
		c.Release()
	}
	return d
}

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// intGen draws integers uniformly from [base, base+span) (span 0: the whole 64-bit range), times mul; or, for a
// sequence, base plus the coordinate (the row number). Temporal types are integers of a unit here.
type intGen[T integer] struct {
	dt         arrow.DataType
	seed       uint64
	base, span uint64
	mul        uint64
	sequence   bool
}

func (g *intGen[T]) build(mem memory.Allocator, coords []uint64, validity *memory.Buffer, nulls int) arrow.ArrayData {
	var zero T
	width := int(binary.Size(zero))
	buf := newBuf(mem, len(coords)*width)
	g.fill(arrow.GetData[T](buf.Bytes()), coords)
	return finish(g.dt, len(coords), validity, nulls, []*memory.Buffer{buf}, nil)
}

func (g *intGen[T]) fill(dst []T, coords []uint64) {
	dst = dst[:len(coords)]
	switch {
	case g.sequence:
		for i, c := range coords {
			dst[i] = T(g.base + c)
		}
	case g.mul != 1:
		for i, c := range coords {
			dst[i] = T((g.base + below(hash(g.seed, c), g.span)) * g.mul)
		}
	case g.span == 0:
		for i, c := range coords {
			dst[i] = T(hash(g.seed, c))
		}
	default:
		seed, base, span := g.seed, g.base, g.span
		for i, c := range coords {
			hi, _ := bits.Mul64(mix(seed+(c+1)*gamma), span)
			dst[i] = T(base + hi)
		}
	}
}

// floatGen draws from [lo, hi).
type floatGen struct {
	dt     arrow.DataType
	seed   uint64
	lo, hi float64
}

func (g *floatGen) build(mem memory.Allocator, coords []uint64, validity *memory.Buffer, nulls int) arrow.ArrayData {
	n := len(coords)
	scale := (g.hi - g.lo) * 0x1p-53
	var buf *memory.Buffer
	switch g.dt.ID() {
	case arrow.FLOAT64:
		buf = newBuf(mem, n*8)
		dst := arrow.Float64Traits.CastFromBytes(buf.Bytes())[:n]
		for i, c := range coords {
			dst[i] = g.lo + float64(hash(g.seed, c)>>11)*scale
		}
	case arrow.FLOAT32:
		buf = newBuf(mem, n*4)
		dst := arrow.Float32Traits.CastFromBytes(buf.Bytes())[:n]
		for i, c := range coords {
			dst[i] = float32(g.lo + float64(hash(g.seed, c)>>11)*scale)
		}
	default: // float16
		buf = newBuf(mem, n*2)
		dst := arrow.Uint16Traits.CastFromBytes(buf.Bytes())[:n]
		for i, c := range coords {
			dst[i] = float16.New(float32(g.lo + float64(hash(g.seed, c)>>11)*scale)).Uint16()
		}
	}
	return finish(g.dt, n, validity, nulls, []*memory.Buffer{buf}, nil)
}

type boolGen struct{ seed uint64 }

func (g *boolGen) build(mem memory.Allocator, coords []uint64, validity *memory.Buffer, nulls int) arrow.ArrayData {
	buf := newBuf(mem, int(bitutil.BytesForBits(int64(len(coords)))))
	bm := buf.Bytes()
	for i, c := range coords {
		bitutil.SetBitTo(bm, i, hash(g.seed, c)>>63 == 1)
	}
	return finish(arrow.FixedWidthTypes.Boolean, len(coords), validity, nulls, []*memory.Buffer{buf}, nil)
}

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_" // 64 symbols: 6 bits each

// bytesGen makes strings, binaries, fixed-size binaries and UUIDs: a length in [minLen, maxLen], then bytes (or
// ASCII letters and digits) drawn from the value's own hash stream.
type bytesGen struct {
	dt             arrow.DataType
	lenSeed, seed  uint64
	minLen, maxLen int
	ascii          bool
	large          bool // int64 offsets
	fixed          int  // > 0: fixed_size_binary of this width, no offsets
	uuid           bool // set the version 4 and variant bits
	json           bool // the ASCII text as a JSON object {"v":"text"}; lengths are the text's
}

// jsonOpen and jsonClose wrap the text of a json value.
const jsonOpen, jsonClose = `{"v":"`, `"}`

func (g *bytesGen) length(c uint64) int {
	if g.fixed > 0 {
		return g.fixed
	}
	n := g.minLen + int(below(hash(g.lenSeed, c), uint64(g.maxLen-g.minLen+1)))
	if g.json {
		n += len(jsonOpen) + len(jsonClose)
	}
	return n
}

func (g *bytesGen) build(mem memory.Allocator, coords []uint64, validity *memory.Buffer, nulls int) arrow.ArrayData {
	n := len(coords)
	var offsets *memory.Buffer
	total := 0
	switch {
	case g.fixed > 0:
		total = n * g.fixed
	case g.large:
		offsets = newBuf(mem, (n+1)*8)
		off := arrow.Int64Traits.CastFromBytes(offsets.Bytes())[:n+1]
		off[0] = 0
		for i, c := range coords {
			total += g.length(c)
			off[i+1] = int64(total)
		}
	default:
		offsets = newBuf(mem, (n+1)*4)
		off := arrow.Int32Traits.CastFromBytes(offsets.Bytes())[:n+1]
		off[0] = 0
		for i, c := range coords {
			total += g.length(c)
			off[i+1] = int32(total)
		}
	}
	data := newBuf(mem, total)
	b := data.Bytes()
	pos := 0
	for _, c := range coords {
		l := g.length(c)
		g.fillValue(b[pos:pos+l], c)
		pos += l
	}
	if g.fixed > 0 {
		return finish(g.dt, n, validity, nulls, []*memory.Buffer{data}, nil)
	}
	return finish(g.dt, n, validity, nulls, []*memory.Buffer{offsets, data}, nil)
}

func (g *bytesGen) fillValue(v []byte, c uint64) {
	s := hash(g.seed, c)
	if g.json {
		copy(v, jsonOpen)
		copy(v[len(v)-len(jsonClose):], jsonClose)
		v = v[len(jsonOpen) : len(v)-len(jsonClose)]
	}
	if g.ascii {
		for j := 0; j < len(v); j += 10 {
			h := hash(s, uint64(j))
			for k := j; k < len(v) && k < j+10; k++ {
				v[k] = alphabet[h&63]
				h >>= 6
			}
		}
		return
	}
	var w [8]byte
	for j := 0; j < len(v); j += 8 {
		binary.LittleEndian.PutUint64(w[:], hash(s, uint64(j)))
		copy(v[j:], w[:])
	}
	if g.uuid {
		v[6] = v[6]&0x0f | 0x40
		v[8] = v[8]&0x3f | 0x80
	}
}

// decimalGen makes unscaled decimal values: either within [lo, hi] (from min and max), or with a uniform number
// of the precision's digits and a random sign.
type decimalGen struct {
	dt        arrow.DataType
	seed      uint64
	words     int // 2: decimal128, 4: decimal256
	precision int
	bounded   bool
	lo, span  uint64 // as intGen, when bounded
}

func (g *decimalGen) build(mem memory.Allocator, coords []uint64, validity *memory.Buffer, nulls int) arrow.ArrayData {
	n := len(coords)
	buf := newBuf(mem, n*g.words*8)
	dst := arrow.Uint64Traits.CastFromBytes(buf.Bytes())[:n*g.words]
	for i, c := range coords {
		w := dst[i*g.words : (i+1)*g.words]
		h := hash(g.seed, c)
		if g.bounded {
			v := g.lo + below(h, g.span)
			ext := uint64(int64(v) >> 63) // sign extension
			w[0] = v
			for k := 1; k < g.words; k++ {
				w[k] = ext
			}
			continue
		}
		if g.precision <= 18 { // one draw below 10^precision fits a word
			v := below(hash(h, 1), pow10[g.precision])
			if h>>63 == 1 {
				v = -v
			}
			ext := uint64(int64(v) >> 63)
			w[0] = v
			for k := 1; k < g.words; k++ {
				w[k] = ext
			}
			continue
		}
		for k := range w {
			w[k] = 0
		}
		// Nine digits at a time: acc = acc*10^d + chunk, on little-endian words; no big.Int, no allocation.
		for digits, j := g.precision, uint64(1); digits > 0; j++ {
			d := min(digits, 9)
			digits -= d
			m := pow10[d]
			carry := below(hash(h, j), m)
			for k := range w {
				hi, lo := bits.Mul64(w[k], m)
				var cy uint64
				w[k], cy = bits.Add64(lo, carry, 0)
				carry = hi + cy
			}
		}
		if h>>63 == 1 { // negate: two's complement across the words
			cy := uint64(1)
			for k := range w {
				w[k], cy = bits.Add64(^w[k], cy, 0)
			}
		}
	}
	return finish(g.dt, n, validity, nulls, []*memory.Buffer{buf}, nil)
}

var pow10 = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// listGen makes list, large_list, fixed_size_list and map values: a length per value, then the child values at
// coordinates derived from (parent coordinate, position).
type listGen struct {
	dt             arrow.DataType
	lenSeed        uint64
	minLen, maxLen int
	large          bool
	fixed          int // fixed_size_list size; -1 otherwise
	child          gen // the element, or the map's entries struct
}

func (g *listGen) build(mem memory.Allocator, coords []uint64, validity *memory.Buffer, nulls int) arrow.ArrayData {
	n := len(coords)
	lens := make([]int, n) // per batch, not per row
	total := 0
	for i, c := range coords {
		l := g.fixed
		if l < 0 {
			l = g.minLen + int(below(hash(g.lenSeed, c), uint64(g.maxLen-g.minLen+1)))
			// A null list or map holds no items: Arrow allows items behind a null slot, but Parquet writers
			// (pqarrow) reject them.
			if validity != nil && !bitutil.BitIsSet(validity.Bytes(), i) {
				l = 0
			}
		}
		lens[i] = l
		total += l
	}
	childCoords := make([]uint64, 0, total)
	for i, c := range coords {
		for k := range lens[i] {
			childCoords = append(childCoords, hash(c, uint64(k)))
		}
	}
	child := g.child.build(mem, childCoords, nil, 0)
	if g.fixed >= 0 {
		return finish(g.dt, n, validity, nulls, nil, []arrow.ArrayData{child})
	}
	var offsets *memory.Buffer
	if g.large {
		offsets = newBuf(mem, (n+1)*8)
		off := arrow.Int64Traits.CastFromBytes(offsets.Bytes())[:n+1]
		off[0] = 0
		for i, l := range lens {
			off[i+1] = off[i] + int64(l)
		}
	} else {
		offsets = newBuf(mem, (n+1)*4)
		off := arrow.Int32Traits.CastFromBytes(offsets.Bytes())[:n+1]
		off[0] = 0
		for i, l := range lens {
			off[i+1] = off[i] + int32(l)
		}
	}
	return finish(g.dt, n, validity, nulls, []*memory.Buffer{offsets}, []arrow.ArrayData{child})
}

// structGen generates each field at the struct's own coordinates, with its own seed.
type structGen struct {
	dt       arrow.DataType
	children []gen
}

func (g *structGen) build(mem memory.Allocator, coords []uint64, validity *memory.Buffer, nulls int) arrow.ArrayData {
	children := make([]arrow.ArrayData, len(g.children))
	for i, c := range g.children {
		children[i] = c.build(mem, coords, nil, 0)
	}
	return finish(g.dt, len(coords), validity, nulls, nil, children)
}

// dictGen draws indices into a dictionary of size values, generated at coordinates 0..size-1.
type dictGen struct {
	dt     *arrow.DictionaryType
	values gen
	index  gen
	size   int
}

func (g *dictGen) build(mem memory.Allocator, coords []uint64, validity *memory.Buffer, nulls int) arrow.ArrayData {
	dictCoords := make([]uint64, g.size)
	for i := range dictCoords {
		dictCoords[i] = uint64(i)
	}
	dict := g.values.build(mem, dictCoords, nil, 0)
	defer dict.Release()
	idx := g.index.build(mem, coords, nil, 0)
	defer idx.Release()
	return array.NewDataWithDictionary(g.dt, len(coords), []*memory.Buffer{validity, idx.Buffers()[1]}, nulls, 0, dict.(*array.Data))
}

type nullGen struct{}

func (nullGen) build(_ memory.Allocator, coords []uint64, _ *memory.Buffer, _ int) arrow.ArrayData {
	return array.NewData(arrow.Null, len(coords), []*memory.Buffer{nil}, nil, len(coords), 0)
}

// extGen wraps a storage generator for an extension type (uuid).
type extGen struct {
	dt      arrow.ExtensionType
	storage gen
}

func (g *extGen) build(mem memory.Allocator, coords []uint64, validity *memory.Buffer, nulls int) arrow.ArrayData {
	s := g.storage.build(mem, coords, validity, nulls)
	defer s.Release()
	return array.NewData(g.dt, s.Len(), s.Buffers(), s.Children(), s.NullN(), 0)
}
