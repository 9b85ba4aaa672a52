// Package hashcol hashes whole Arrow columns: the kernels of the hash transformer and of the expression
// functions sha256() and xxhash64(). Each writes its output buffers directly, one typed loop per input layout,
// reading values in place from the input's buffers; nothing is allocated or called through an interface per
// value.
package hashcol

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"
)

// The algorithms, as the hash transformer's config names them.
const (
	SHA256   = "sha256"
	XXHash64 = "xxhash64"
	XXH3     = "xxh3"
)

// HexLen is the length of a SHA-256 hash as hex text.
const HexLen = 2 * sha256.Size

// Hasher hashes columns with one algorithm and salt. It is safe for concurrent use.
type Hasher struct {
	algo string
	salt []byte
	sum  func([]byte) uint64 // the 64-bit algorithms
	// memos recycles sha256's caches of recent values between batches; an entry stays valid across batches
	// since it depends on the value and this Hasher's salt alone.
	memos sync.Pool
}

// New returns a Hasher for algo (SHA256, XXHash64 or XXH3); salt is put before each value before hashing.
func New(algo string, salt []byte) (*Hasher, error) {
	h := &Hasher{algo: algo, salt: salt}
	switch algo {
	case SHA256:
		h.memos.New = func() any { return new(memo) }
	case XXHash64:
		h.sum = xxhash.Sum64
	case XXH3:
		h.sum = xxh3.Hash
	default:
		return nil, fmt.Errorf("hash algorithm %q: want %s, %s or %s", algo, SHA256, XXHash64, XXH3)
	}
	return h, nil
}

// OutputType is the type of the hashes: hex text for sha256, int64 for the 64-bit algorithms.
func (h *Hasher) OutputType() arrow.DataType {
	if h.algo == SHA256 {
		return arrow.BinaryTypes.String
	}
	return arrow.PrimitiveTypes.Int64
}

// Hashable tells whether Array takes columns of type dt.
func Hashable(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY,
		arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

// Array returns the hash of each value of a (nulls stay null), as OutputType. Strings and binaries hash their
// bytes; integers hash their decimal text with sha256 (42 as "42") and their 8 bytes, little-endian, widened to
// 64 bits, with the 64-bit algorithms.
func (h *Hasher) Array(mem memory.Allocator, a arrow.Array) (arrow.Array, error) {
	w, err := h.newWriter(mem, a)
	if err != nil {
		return nil, err
	}
	switch a := a.(type) {
	case *array.String:
		hashOffsets(w, a, a.ValueOffsets(), a.ValueBytes())
	case *array.LargeString:
		hashOffsets(w, a, a.ValueOffsets(), a.ValueBytes())
	case *array.Binary:
		hashOffsets(w, a, a.ValueOffsets(), a.ValueBytes())
	case *array.LargeBinary:
		hashOffsets(w, a, a.ValueOffsets(), a.ValueBytes())
	case *array.Int8:
		hashInts(w, a, a.Int8Values())
	case *array.Int16:
		hashInts(w, a, a.Int16Values())
	case *array.Int32:
		hashInts(w, a, a.Int32Values())
	case *array.Int64:
		hashInts(w, a, a.Int64Values())
	case *array.Uint8:
		hashUints(w, a, a.Uint8Values())
	case *array.Uint16:
		hashUints(w, a, a.Uint16Values())
	case *array.Uint32:
		hashUints(w, a, a.Uint32Values())
	case *array.Uint64:
		hashUints(w, a, a.Uint64Values())
	default:
		w.release()
		return nil, fmt.Errorf("hash: cannot hash values of type %s", a.DataType())
	}
	return w.finish(), nil
}

// writer fills one output array's buffers.
type writer struct {
	h       *Hasher
	n       int
	nulls   int
	valid   *memory.Buffer // nil without nulls
	bits    []byte         // the input's validity bitmap, and its offset
	bitsOff int
	scratch []byte // the salt followed by the current value
	// int64 output (when ints is set)
	ints    *memory.Buffer
	intVals []int64
	// sha256 output: offsets are known before hashing, every hash being HexLen bytes
	offs, data *memory.Buffer
	offVals    []int32
	text       []byte
	pos        int
	memo       *memo
}

func (h *Hasher) newWriter(mem memory.Allocator, a arrow.Array) (*writer, error) {
	n := a.Len()
	w := &writer{h: h, n: n, nulls: a.NullN()}
	if len(h.salt) > 0 {
		w.scratch = append(make([]byte, 0, len(h.salt)+64), h.salt...)
	}
	if h.algo == SHA256 && (n-w.nulls)*HexLen > math.MaxInt32 {
		return nil, fmt.Errorf("hash: %d values are too many for one string array of sha256 hashes; use smaller batches", n-w.nulls)
	}
	if w.nulls > 0 && a.NullBitmapBytes() != nil {
		w.bits, w.bitsOff = a.NullBitmapBytes(), a.Data().Offset()
		w.valid = memory.NewResizableBuffer(mem)
		w.valid.Resize(int(bitutil.BytesForBits(int64(n))))
		bitutil.CopyBitmap(w.bits, w.bitsOff, n, w.valid.Bytes(), 0)
	}
	if h.algo != SHA256 {
		w.ints = memory.NewResizableBuffer(mem)
		w.ints.Resize(n * arrow.Int64SizeBytes)
		w.intVals = arrow.Int64Traits.CastFromBytes(w.ints.Bytes())
		return w, nil
	}
	w.offs = memory.NewResizableBuffer(mem)
	w.offs.Resize((n + 1) * arrow.Int32SizeBytes)
	w.offVals = arrow.Int32Traits.CastFromBytes(w.offs.Bytes())
	w.offVals[0] = 0
	w.data = memory.NewResizableBuffer(mem)
	w.data.Resize((n - w.nulls) * HexLen)
	w.text = w.data.Bytes()
	w.memo = h.memos.Get().(*memo)
	return w, nil
}

func (w *writer) null(i int) bool {
	return w.bits != nil && !bitutil.BitIsSet(w.bits, w.bitsOff+i)
}

// add writes the hash of value i, v.
func (w *writer) add(i int, v []byte) {
	if w.ints != nil {
		w.intVals[i] = int64(w.h.sum(w.salted(v)))
		return
	}
	w.memo.sha256Hex(w, v, w.text[w.pos:w.pos+HexLen])
	w.pos += HexLen
	w.offVals[i+1] = int32(w.pos)
}

// skip writes the null at i.
func (w *writer) skip(i int) {
	if w.ints != nil {
		w.intVals[i] = 0
		return
	}
	w.offVals[i+1] = int32(w.pos)
}

// salted returns v with the salt in front: v itself without a salt.
func (w *writer) salted(v []byte) []byte {
	if w.scratch == nil {
		return v
	}
	w.scratch = append(w.scratch[:len(w.h.salt)], v...)
	return w.scratch
}

func (w *writer) finish() arrow.Array {
	defer w.release()
	var data *array.Data
	if w.ints != nil {
		data = array.NewData(arrow.PrimitiveTypes.Int64, w.n, []*memory.Buffer{w.valid, w.ints}, nil, w.nulls, 0)
	} else {
		data = array.NewData(arrow.BinaryTypes.String, w.n, []*memory.Buffer{w.valid, w.offs, w.data}, nil, w.nulls, 0)
	}
	defer data.Release()
	return array.MakeFromData(data)
}

// release drops the writer's references to its buffers (the array made from them holds its own) and returns the
// memo for the next batch.
func (w *writer) release() {
	for _, b := range []*memory.Buffer{w.valid, w.ints, w.offs, w.data} {
		if b != nil {
			b.Release()
		}
	}
	if w.memo != nil {
		w.h.memos.Put(w.memo)
		w.memo = nil
	}
}

// hashOffsets hashes the values of a string or binary array in place in its data buffer, given its offsets
// (already adjusted to the array's slice: offs[i] and offs[i+1] bound value i).
func hashOffsets[O int32 | int64](w *writer, a arrow.Array, offs []O, data []byte) {
	// ValueBytes starts at the first value's offset; offsets are absolute.
	base := O(0)
	if len(offs) > 0 {
		base = offs[0]
	}
	for i := range a.Len() {
		if w.null(i) {
			w.skip(i)
			continue
		}
		w.add(i, data[offs[i]-base:offs[i+1]-base])
	}
}

func hashInts[T int8 | int16 | int32 | int64](w *writer, a arrow.Array, vs []T) {
	var buf [24]byte
	for i, v := range vs {
		if w.null(i) {
			w.skip(i)
		} else if w.ints != nil {
			binary.LittleEndian.PutUint64(buf[:8], uint64(int64(v)))
			w.add(i, buf[:8])
		} else {
			w.add(i, strconv.AppendInt(buf[:0], int64(v), 10))
		}
	}
}

func hashUints[T uint8 | uint16 | uint32 | uint64](w *writer, a arrow.Array, vs []T) {
	var buf [24]byte
	for i, v := range vs {
		if w.null(i) {
			w.skip(i)
		} else if w.ints != nil {
			binary.LittleEndian.PutUint64(buf[:8], uint64(v))
			w.add(i, buf[:8])
		} else {
			w.add(i, strconv.AppendUint(buf[:0], uint64(v), 10))
		}
	}
}

// memo remembers the sha256 of recent values, so that a column of few distinct values (a status, a country, a
// tenant) costs a lookup per row rather than a SHA-256: a direct-mapped cache indexed by the value's XXH3, which
// costs little next to the SHA-256 it saves on a hit and to the one it adds to on a miss.
type memo struct {
	slots [memoSlots]memoSlot
}

const (
	memoSlots  = 256
	memoMaxKey = 64 // longer values are hashed every time
)

type memoSlot struct {
	n   int // the key's length + 1; 0: empty
	key [memoMaxKey]byte
	hex [HexLen]byte
}

// sha256Hex writes the hex sha256 of the salt and v into out.
func (m *memo) sha256Hex(w *writer, v []byte, out []byte) {
	if len(v) > memoMaxKey {
		sum := sha256.Sum256(w.salted(v))
		hex.Encode(out, sum[:])
		return
	}
	s := &m.slots[xxh3.Hash(v)%memoSlots]
	if s.n == len(v)+1 && string(s.key[:len(v)]) == string(v) {
		copy(out, s.hex[:])
		return
	}
	sum := sha256.Sum256(w.salted(v))
	hex.Encode(s.hex[:], sum[:])
	copy(out, s.hex[:])
	s.n = len(v) + 1
	copy(s.key[:], v)
}
