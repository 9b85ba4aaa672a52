package iceberg

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
)

// keyEncoder returns what appends row i of key column a to a row's key text, exactly as appendKey(b,
// valueAt(a, i)) does, with the column's type resolved once instead of per row. Nulls are the caller's to check.
func keyEncoder(a arrow.Array) func(b []byte, i int) []byte {
	ints := func(v func(int) int64) func([]byte, int) []byte {
		return func(b []byte, i int) []byte {
			return binary.BigEndian.AppendUint64(append(b, kInt), uint64(v(i)))
		}
	}
	bytesOf := func(v func(int) []byte) func([]byte, int) []byte {
		return func(b []byte, i int) []byte {
			s := v(i)
			b = strconv.AppendInt(append(b, kString), int64(len(s)), 10)
			return append(append(b, ':'), s...)
		}
	}
	switch a := a.(type) {
	case *array.Int64:
		return ints(func(i int) int64 { return a.Value(i) })
	case *array.Int32:
		return ints(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Int16:
		return ints(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Uint32:
		return ints(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Date32:
		return ints(func(i int) int64 { return int64(a.Value(i)) })
	case *array.Timestamp:
		mul, div := int64(1), int64(1)
		switch a.DataType().(*arrow.TimestampType).Unit {
		case arrow.Second:
			mul = 1_000_000
		case arrow.Millisecond:
			mul = 1_000
		case arrow.Nanosecond:
			div = 1_000
		}
		return ints(func(i int) int64 { return int64(a.Value(i)) * mul / div })
	case *array.String:
		return stringEncoder(a)
	case *array.LargeString:
		return stringEncoder(a)
	case *array.Binary:
		return bytesOf(a.Value)
	case *array.LargeBinary:
		return bytesOf(a.Value)
	case *array.FixedSizeBinary:
		return bytesOf(a.Value)
	case array.ExtensionArray:
		return keyEncoder(a.Storage())
	}
	return func(b []byte, i int) []byte { return appendKey(b, valueAt(a, i)) }
}

func stringEncoder[A interface{ Value(int) string }](a A) func([]byte, int) []byte {
	return func(b []byte, i int) []byte {
		s := a.Value(i)
		b = strconv.AppendInt(append(b, kString), int64(len(s)), 10)
		return append(append(b, ':'), s...)
	}
}

// decodeKey splits a row's key text (appendKey's encoding) back into its column values; ok is false when the
// text is not one (it never is: the caller falls back to no pruning).
func decodeKey(key string) (vals []ordVal, ok bool) {
	for len(key) > 0 {
		kind := key[0]
		key = key[1:]
		var v ordVal
		v.kind = kind
		switch kind {
		case kNull:
		case kInt:
			if len(key) < 8 {
				return nil, false
			}
			v.i = int64(binary.BigEndian.Uint64([]byte(key[:8])))
			key = key[8:]
		case kString:
			i := 0
			for i < len(key) && key[i] != ':' {
				i++
			}
			n, err := strconv.Atoi(key[:i])
			if err != nil || i+1+n > len(key) {
				return nil, false
			}
			v.s, key = key[i+1:i+1+n], key[i+1+n:]
		default: // floats and decimals are text up to ';': not used for pruning
			i := 0
			for i < len(key) && key[i] != ';' {
				i++
			}
			if i == len(key) {
				return nil, false
			}
			v, key = ordVal{kind: kNull}, key[i+1:]
		}
		vals = append(vals, v)
	}
	return vals, true
}

// keyFilter is the scan filter that prunes the table's files to those that may hold one of keys: an IN set per
// key column (of the types a literal can be made for), so that iceberg-go's planning drops files by partition
// (a key's transform) and by every key column's min/max statistics.
func keyFilter(sc *iceberg.Schema, ids []int, keys []string) iceberg.BooleanExpression {
	var filter iceberg.BooleanExpression = iceberg.AlwaysTrue{}
	sets := make([][]iceberg.Literal, len(ids))
	seen := make([]map[ordVal]bool, len(ids))
	usable := make([]bool, len(ids))
	fields := make([]iceberg.NestedField, len(ids))
	for c, id := range ids {
		f, ok := sc.FindFieldByID(id)
		fields[c], usable[c], seen[c] = f, ok, map[ordVal]bool{}
	}
	for _, k := range keys {
		vals, ok := decodeKey(k)
		if !ok || len(vals) != len(ids) {
			return filter
		}
		for c, v := range vals {
			if !usable[c] || seen[c][v] {
				continue
			}
			lit, ok := inLiteral(fields[c].Type, v)
			if !ok {
				usable[c] = false
				continue
			}
			seen[c][v] = true
			sets[c] = append(sets[c], lit)
		}
	}
	for c := range ids {
		if usable[c] && len(sets[c]) > 0 {
			filter = iceberg.NewAnd(filter, iceberg.SetPredicate(iceberg.OpIn, iceberg.Reference(fields[c].Name), sets[c]))
		}
	}
	return filter
}

// versionBound is the upper bound of the version column (field id) in data file df, from its statistics; ok is
// false when the file has none of a type compared here. A change whose version is at least this bound replaces
// every stored row of its key in df, so df's versions need not be read.
func versionBound(df iceberg.DataFile, sc *iceberg.Schema, id int) (ordVal, bool) {
	f, ok := sc.FindFieldByID(id)
	if !ok {
		return ordVal{}, false
	}
	b, ok := df.UpperBoundValues()[id]
	if !ok {
		return ordVal{}, false
	}
	switch f.Type.(type) {
	case iceberg.Int32Type, iceberg.DateType:
		if len(b) == 4 {
			return ordVal{kind: kInt, i: int64(int32(binary.LittleEndian.Uint32(b)))}, true
		}
	case iceberg.Int64Type, iceberg.TimestampType, iceberg.TimestampTzType:
		if len(b) == 8 {
			return ordVal{kind: kInt, i: int64(binary.LittleEndian.Uint64(b))}, true
		}
	case iceberg.Float64Type:
		if len(b) == 8 {
			return ordVal{kind: kFloat, f: math.Float64frombits(binary.LittleEndian.Uint64(b))}, true
		}
	}
	return ordVal{}, false
}

// positions is a sorted set of row positions of one data file.
type positions []int64

// add returns p with q added, sorted and without duplicates.
func (p positions) add(q ...int64) positions {
	p = append(p, q...)
	slices.Sort(p)
	return slices.Compact(p)
}

// cursor walks p alongside ascending positions: has tells whether pos is in p, for pos never smaller than the
// last one asked.
type cursor struct {
	p positions
	i int
}

func (c *cursor) has(pos int64) bool {
	for c.i < len(c.p) && c.p[c.i] < pos {
		c.i++
	}
	return c.i < len(c.p) && c.p[c.i] == pos
}

// keySet is the set of a merge's changed keys, with a bitmap of their hashes in front of the map: most rows of
// a candidate file hold no changed key, and the bitmap turns those away without a map lookup. For a key of one
// integer column the bitmap is of the integers themselves, read straight from the column's values.
type keySet struct {
	seed maphash.Seed
	bits []uint64
	mask uint64
	ints bool // every key is one integer: bits hashes the integer
	keys map[string]bool
}

func newKeySet(keys []string) *keySet {
	n := uint64(1024)
	for n < uint64(len(keys))*16 { // about 6% of the other rows reach the map
		n *= 2
	}
	s := &keySet{seed: maphash.MakeSeed(), bits: make([]uint64, n/64), mask: n - 1, ints: true, keys: make(map[string]bool, len(keys))}
	for _, k := range keys {
		if len(k) != 9 || k[0] != kInt {
			s.ints = false
		}
	}
	for _, k := range keys {
		var h uint64
		if s.ints {
			h = intHash(binary.BigEndian.Uint64([]byte(k[1:])))
		} else {
			h = maphash.String(s.seed, k)
		}
		h &= s.mask
		s.bits[h/64] |= 1 << (h % 64)
		s.keys[k] = true
	}
	return s
}

func intHash(v uint64) uint64 { return (v * 0x9E3779B97F4A7C15) >> 17 }

// has tells whether key, a row's key text, is one of the set's.
func (s *keySet) has(key []byte) bool {
	var h uint64
	if s.ints {
		if len(key) != 9 {
			return false
		}
		h = intHash(binary.BigEndian.Uint64(key[1:]))
	} else {
		h = maphash.Bytes(s.seed, key)
	}
	h &= s.mask
	return s.bits[h/64]&(1<<(h%64)) != 0 && s.keys[string(key)]
}

// mayHaveInt tells whether the one-integer key v may be in the set (false: it is not).
func (s *keySet) mayHaveInt(v int64) bool {
	h := intHash(uint64(v)) & s.mask
	return s.bits[h/64]&(1<<(h%64)) != 0
}
