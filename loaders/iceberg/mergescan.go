package iceberg

import (
	"encoding/binary"
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

// decodeKey splits a row's key text (appendKey's encoding) back into its column values, appended to vals; ok is
// false when the text is not one (it never is: the caller falls back to no pruning).
func decodeKey(vals []ordVal, key string) (_ []ordVal, ok bool) {
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

// inLimit is the most values iceberg-go's planning compares an IN set with: past it, the set prunes nothing.
const inLimit = 200

// keyPruner keeps the data files that may hold one of a merge's changed keys. iceberg-go's planning gets an IN
// set per key column (or, past inLimit values, which it would not evaluate, the column's range); then every
// planned file is checked against the sorted values of each key column (its min/max statistics) and against the
// buckets of the changed keys (a bucket partition of a key column), however many keys change.
type keyPruner struct {
	filter  iceberg.BooleanExpression
	cols    []prunedCol
	buckets map[[2]int]map[int32]bool // by key field id and bucket count: the changed keys' buckets
}

type prunedCol struct {
	id   int
	typ  iceberg.Type
	ints []int64  // sorted distinct values, for integer, date and timestamp columns
	strs []string // sorted distinct values, for string columns
}

func newKeyPruner(sc *iceberg.Schema, ids []int, keys []string) *keyPruner {
	kp := &keyPruner{filter: iceberg.AlwaysTrue{}}
	cols := make([]prunedCol, len(ids))
	usable := make([]bool, len(ids))
	for c, id := range ids {
		f, ok := sc.FindFieldByID(id)
		cols[c], usable[c] = prunedCol{id: id, typ: f.Type}, ok
	}
	// Whether a column's type takes a value of each kind as a literal: the same for every key, asked once
	// (inLiteral makes a literal, an allocation, each time).
	takes := make([][kDecimal + 1]int8, len(ids)) // 0: not asked yet; 1: yes; -1: no
	var vals []ordVal
	for _, k := range keys {
		var ok bool
		if vals, ok = decodeKey(vals[:0], k); !ok || len(vals) != len(ids) {
			return kp
		}
		for c, v := range vals {
			if takes[c][v.kind] == 0 {
				takes[c][v.kind] = -1
				if _, ok := inLiteral(cols[c].typ, v); ok {
					takes[c][v.kind] = 1
				}
			}
			if !usable[c] || takes[c][v.kind] < 0 {
				usable[c] = false
				continue
			}
			if v.kind == kInt {
				if cols[c].ints == nil {
					cols[c].ints = make([]int64, 0, len(keys))
				}
				cols[c].ints = append(cols[c].ints, v.i)
			} else {
				cols[c].strs = append(cols[c].strs, v.s)
			}
		}
	}
	for c := range cols {
		if !usable[c] {
			continue
		}
		col := &cols[c]
		slices.Sort(col.ints)
		col.ints = slices.Compact(col.ints)
		slices.Sort(col.strs)
		col.strs = slices.Compact(col.strs)
		n := len(col.ints) + len(col.strs)
		if n == 0 {
			continue
		}
		lit := func(i int) iceberg.Literal {
			v := ordVal{kind: kString}
			if i < len(col.ints) {
				v = ordVal{kind: kInt, i: col.ints[i]}
			} else {
				v.s = col.strs[i-len(col.ints)]
			}
			l, _ := inLiteral(col.typ, v)
			return l
		}
		f, _ := sc.FindFieldByID(col.id)
		ref := iceberg.Reference(f.Name)
		if n <= inLimit {
			lits := make([]iceberg.Literal, n)
			for i := range lits {
				lits[i] = lit(i)
			}
			kp.filter = iceberg.NewAnd(kp.filter, iceberg.SetPredicate(iceberg.OpIn, ref, lits))
		} else {
			kp.filter = iceberg.NewAnd(kp.filter, iceberg.NewAnd(
				iceberg.LiteralPredicate(iceberg.OpGTEQ, ref, lit(0)), iceberg.LiteralPredicate(iceberg.OpLTEQ, ref, lit(n-1))))
		}
		kp.cols = append(kp.cols, *col)
	}
	return kp
}

// mayHold tells whether data file df (of partition spec spec) may hold a changed key.
func (kp *keyPruner) mayHold(df iceberg.DataFile, spec *iceberg.PartitionSpec) bool {
	lower, upper := df.LowerBoundValues(), df.UpperBoundValues()
	for _, col := range kp.cols {
		lo, okl := lower[col.id]
		hi, oku := upper[col.id]
		if col.ints != nil && okl && oku {
			l, ok1 := boundInt(col.typ, lo)
			h, ok2 := boundInt(col.typ, hi)
			if ok1 && ok2 {
				i, _ := slices.BinarySearch(col.ints, l)
				if i == len(col.ints) || col.ints[i] > h {
					return false
				}
			}
		}
		// A string bound of 16 bytes may be truncated: then it bounds nothing exactly, and is not used.
		if col.strs != nil && okl && oku && len(hi) < 16 {
			i, _ := slices.BinarySearch(col.strs, string(lo))
			if i == len(col.strs) || col.strs[i] > string(hi) {
				return false
			}
		}
		if spec != nil && !kp.bucketMayHold(df, spec, col) {
			return false
		}
	}
	return true
}

// bucketMayHold tells whether df's partition value of a bucket of col is a bucket of one of col's values.
func (kp *keyPruner) bucketMayHold(df iceberg.DataFile, spec *iceberg.PartitionSpec, col prunedCol) bool {
	for _, pf := range spec.Fields() {
		bt, ok := pf.Transform.(iceberg.BucketTransform)
		if !ok || len(pf.SourceIDs) != 1 || pf.SourceIDs[0] != col.id {
			continue
		}
		got, ok := df.Partition()[pf.FieldID].(int32)
		if !ok {
			continue
		}
		if !kp.bucketsOf(col, bt)[got] {
			return false
		}
	}
	return true
}

// bucketsOf is the set of the buckets of col's changed values.
func (kp *keyPruner) bucketsOf(col prunedCol, bt iceberg.BucketTransform) map[int32]bool {
	k := [2]int{col.id, bt.NumBuckets}
	if set, ok := kp.buckets[k]; ok {
		return set
	}
	set := map[int32]bool{}
	apply := bt.Transformer(col.typ)
	add := func(raw any) {
		if b := apply(raw); b.Valid {
			set[b.Val] = true
		}
	}
	for _, v := range col.ints {
		switch col.typ.(type) {
		case iceberg.Int32Type:
			add(int32(v))
		case iceberg.DateType:
			add(iceberg.Date(v))
		case iceberg.TimestampType, iceberg.TimestampTzType:
			add(iceberg.Timestamp(v))
		default:
			add(v)
		}
	}
	for _, v := range col.strs {
		add(v)
	}
	if kp.buckets == nil {
		kp.buckets = map[[2]int]map[int32]bool{}
	}
	kp.buckets[k] = set
	return set
}

func boundInt(t iceberg.Type, b []byte) (int64, bool) {
	switch t.(type) {
	case iceberg.Int32Type, iceberg.DateType:
		if len(b) == 4 {
			return int64(int32(binary.LittleEndian.Uint32(b))), true
		}
	case iceberg.Int64Type, iceberg.TimestampType, iceberg.TimestampTzType:
		if len(b) == 8 {
			return int64(binary.LittleEndian.Uint64(b)), true
		}
	}
	return 0, false
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
			return floatVal(math.Float64frombits(binary.LittleEndian.Uint64(b))), true
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
