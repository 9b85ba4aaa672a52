package iceberg

import (
	"cmp"
	"encoding/binary"
	"hash/maphash"
	"slices"
	"sort"

	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/iceberg-go"
)

// keyIndex numbers a merge's changed keys by their change, for the scan of the candidate files' key columns,
// which looks up every live row. Most rows hold no changed key: a bitmap of the keys' hashes turns those away
// first. A key of one integer column is then looked up as the integer in a flat open-addressing table (no key
// text, no map, no allocation); other keys by their text in a map.
type keyIndex struct {
	seed  maphash.Seed
	bits  []uint64
	bmask uint64
	ints  *intIndex // every key is one integer; nil otherwise
	asc   []int64   // with ints: the keys in ascending order, for files whose keys ascend
	ascCh []int32   // the change of each key of asc
	strs  map[string]int32
}

// newKeyIndex indexes keys, the changes' keys in order. have, when not nil, already maps the first have.n of
// them (one integer each) to their index, as changes left it: it is taken over, not built again.
func newKeyIndex(keys []string, have *intIndex) *keyIndex {
	n := uint64(1024)
	for n < uint64(len(keys))*16 { // about 6% of the other rows get past the bitmap
		n *= 2
	}
	x := &keyIndex{seed: maphash.MakeSeed(), bits: make([]uint64, n/64), bmask: n - 1}
	for _, k := range keys {
		if len(k) != 9 || k[0] != kInt {
			x.strs = make(map[string]int32, len(keys))
			break
		}
	}
	from := 0 // the keys not in the index yet
	if x.strs == nil {
		if have != nil && have.n <= len(keys) && uint64(len(keys))*2 <= have.mask+1 {
			x.ints, from = have, have.n
		} else {
			x.ints = newIntIndex(len(keys))
		}
	}
	for i, k := range keys {
		var h uint64
		if x.ints != nil {
			v := int64(binary.BigEndian.Uint64([]byte(k[1:])))
			h = intHash(uint64(v))
			if i >= from {
				x.ints.insert(v, int32(i))
			}
		} else {
			h = maphash.String(x.seed, k)
			x.strs[k] = int32(i)
		}
		h &= x.bmask
		x.bits[h/64] |= 1 << (h % 64)
	}
	if x.ints != nil {
		x.ascCh = make([]int32, len(keys))
		for i := range x.ascCh {
			x.ascCh[i] = int32(i)
		}
		x.asc = make([]int64, len(keys))
		for i, k := range keys {
			x.asc[i] = int64(binary.BigEndian.Uint64([]byte(k[1:])))
		}
		slices.SortFunc(x.ascCh, func(a, b int32) int { return cmp.Compare(x.asc[a], x.asc[b]) })
		for i, ch := range x.ascCh {
			x.asc[i] = int64(binary.BigEndian.Uint64([]byte(keys[ch][1:])))
		}
	}
	return x
}

// intMatcher matches the integer key values of one data file, batch after batch, against a keyIndex of one
// integer column (x.ints not nil). Keys that ascend (an id column, mostly) are matched by walking the sorted keys
// alongside, a comparison a row, the walk continuing from batch to batch; a value out of order is looked up.
type intMatcher struct {
	x    *keyIndex
	j    int   // the walk's place in x.asc: every key before it is below prev
	prev int64 // the last value of the ascending run
	run  bool  // a value was walked to
}

// match calls fn with the index in vals and the change of every value of vals that is a changed key.
func (m *intMatcher) match(vals []int64, fn func(r int, ch int32)) {
	asc := m.x.asc
	for r := 0; r < len(vals); r++ {
		v := vals[r]
		if m.run && v < m.prev {
			if ch := m.x.findInt(v); ch >= 0 {
				fn(r, ch)
			}
			continue
		}
		if m.j < len(asc) && asc[m.j] < v && (m.j+64 >= len(asc) || asc[m.j+64] < v) {
			// A jump (a file's first value, a gap in the ids): search instead of walking past many keys.
			m.j += sort.Search(len(asc)-m.j, func(i int) bool { return asc[m.j+i] >= v })
		}
		m.prev, m.run = v, true
		for m.j < len(asc) && asc[m.j] < v {
			m.j++
		}
		if m.j == len(asc) {
			continue // past every key: only values out of order can match
		}
		if asc[m.j] == v {
			fn(r, m.x.ascCh[m.j])
		}
		// Most rows hold no changed key: pass the ascending values below the next key in a tight loop.
		next := asc[m.j]
		for r+1 < len(vals) && vals[r+1] < next && vals[r+1] >= m.prev {
			r++
			m.prev = vals[r]
		}
	}
}

func intHash(v uint64) uint64 { return (v * 0x9E3779B97F4A7C15) >> 17 }

func (x *keyIndex) maybe(h uint64) bool {
	h &= x.bmask
	return x.bits[h/64]&(1<<(h%64)) != 0
}

// find returns the index of the change of key, a row's key text; -1 when no change has that key.
func (x *keyIndex) find(key []byte) int32 {
	if x.ints != nil {
		if len(key) != 9 || key[0] != kInt {
			return -1
		}
		return x.findInt(int64(binary.BigEndian.Uint64(key[1:])))
	}
	if !x.maybe(maphash.Bytes(x.seed, key)) {
		return -1
	}
	if i, ok := x.strs[string(key)]; ok {
		return i
	}
	return -1
}

// findInt is find of the one-integer key v; x.ints must not be nil.
func (x *keyIndex) findInt(v int64) int32 {
	if !x.maybe(intHash(uint64(v))) {
		return -1
	}
	return x.ints.find(v)
}

// intIndex maps int64 keys to int32 values: open addressing with linear probing, at most half full.
type intIndex struct {
	keys []int64
	at   []int32 // the value + 1; 0: the slot is empty
	mask uint64
	n    int // keys held
}

func newIntIndex(n int) *intIndex {
	size := uint64(16)
	for size < uint64(n)*2 {
		size *= 2
	}
	return &intIndex{keys: make([]int64, size), at: make([]int32, size), mask: size - 1}
}

func (x *intIndex) slot(v int64) uint64 {
	s := intHash(uint64(v)) & x.mask
	for x.at[s] != 0 && x.keys[s] != v {
		s = (s + 1) & x.mask
	}
	return s
}

// find returns v's value; -1 when v is not held.
func (x *intIndex) find(v int64) int32 { return x.at[x.slot(v)] - 1 }

// insert sets v's value to i, unless v is held already; it returns the value v had (-1 when none).
func (x *intIndex) insert(v int64, i int32) int32 {
	s := x.slot(v)
	if x.at[s] != 0 {
		return x.at[s] - 1
	}
	x.keys[s], x.at[s] = v, i+1
	x.n++
	return -1
}

// storedByChange holds the stored rows of a merge's changed keys, grouped by change (after group).
type storedByChange struct {
	rows  []storedRow
	start []int32 // by change: where its rows start; the next one's start is where they end
}

// group sets the rows, found by file, grouped by change (a counting sort: each change's rows stay in file order)
// for n changes.
func (s *storedByChange) group(found [][]storedRow, n int) {
	s.start = make([]int32, n+1)
	total := 0
	for _, rows := range found {
		for _, r := range rows {
			s.start[r.ch+1]++
		}
		total += len(rows)
	}
	for i := range n {
		s.start[i+1] += s.start[i]
	}
	s.rows = make([]storedRow, total)
	next := slices.Clone(s.start[:n])
	for _, rows := range found {
		for _, r := range rows {
			s.rows[next[r.ch]] = r
			next[r.ch]++
		}
	}
}

// of returns the stored rows of change i.
func (s *storedByChange) of(i int) []storedRow {
	if s.start == nil {
		return nil
	}
	return s.rows[s.start[i]:s.start[i+1]]
}

// posDeleteEncoding writes a position delete file's positions, ascending and distinct, as deltas: a dictionary of
// them never pays.
var posDeleteEncoding = []pq.WriterProperty{
	pq.WithDictionaryFor("pos", false),
	pq.WithEncodingFor("pos", pq.Encodings.DeltaBinaryPacked),
}

// keyEncoding writes the integer identifier fields (a merge's key) of table schema sc as deltas, without a
// dictionary: a merge reads the key column of every candidate file whole, and an id column, mostly ascending,
// packs to a few bits a value, which decode at a fraction of the cost of decompressing plain or dictionary
// pages. Random integers cost what plain ones do. columns are the keys so written.
func keyEncoding(sc *iceberg.Schema) (opts []pq.WriterProperty, columns []string) {
	for _, id := range sc.IdentifierFieldIDs {
		f, ok := sc.FindFieldByID(id)
		if name, found := sc.FindColumnName(id); !ok || !found || name != f.Name { // a top-level column only
			continue
		}
		switch f.Type.(type) {
		case iceberg.Int32Type, iceberg.Int64Type, iceberg.DateType, iceberg.TimeType, iceberg.TimestampType, iceberg.TimestampTzType:
			opts = append(opts, pq.WithDictionaryFor(f.Name, false), pq.WithEncodingFor(f.Name, pq.Encodings.DeltaBinaryPacked))
			columns = append(columns, f.Name)
		}
	}
	return opts, columns
}
