// Package groupby assigns the rows of a batch to groups by the values of several key columns, one column at a
// time: each column's values are first made integer keys by the caller (a number itself, a string's id in a
// dictionary of the batch, an Iceberg transform's result), then Refine splits the groups so far by them. Per row
// that is one map lookup per column, none when a row repeats the row before it, and no allocation once the
// Grouper has seen a batch of the size. The Parquet loader's Hive directories and the Iceberg loader's
// partitions are both cut this way.
package groupby

import (
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Grouper holds the groups of the current batch. Reuse one across batches: its maps and slices keep their
// capacity.
type Grouper struct {
	Group  []int32 // each row's group, 0 to Groups()-1, in order of first appearance
	First  []int   // each group's first row, after Finish
	Counts []int   // each group's number of rows, after Finish

	seen map[key]int32
	n    int32
	keys []int64 // the buffer Start hands out
}

// key is a combination of key values: the group of the columns before, this column's key, and whether the
// value is null.
type key struct {
	prev int32
	val  int64
	null bool
}

// Start begins a batch of rows rows, all in one group, and returns a buffer of rows keys for the caller to fill
// before each Refine (reused from batch to batch).
func (g *Grouper) Start(rows int) []int64 {
	if cap(g.Group) < rows {
		g.Group = make([]int32, rows)
		g.keys = make([]int64, rows)
	}
	g.Group = g.Group[:rows]
	clear(g.Group)
	g.n = 1
	if g.seen == nil {
		g.seen = map[key]int32{}
	}
	return g.keys[:rows]
}

// Refine splits the current groups by one column: keys[i] is row i's key, null(i) tells whether row i is null
// (a nil null: no row is).
func (g *Grouper) Refine(keys []int64, null func(int) bool) {
	clear(g.seen)
	g.n = 0
	var last key
	lastGroup := int32(-1)
	for i := range g.Group {
		k := key{prev: g.Group[i], val: keys[i]}
		if null != nil && null(i) {
			k.val, k.null = 0, true
		}
		if lastGroup >= 0 && k == last {
			g.Group[i] = lastGroup
			continue
		}
		grp, ok := g.seen[k]
		if !ok {
			grp = g.n
			g.seen[k] = grp
			g.n++
		}
		g.Group[i] = grp
		last, lastGroup = k, grp
	}
}

// Finish fills First and Counts and returns the number of groups.
func (g *Grouper) Finish() int {
	g.First = g.First[:0]
	g.Counts = g.Counts[:0]
	for range g.n {
		g.First = append(g.First, -1)
		g.Counts = append(g.Counts, 0)
	}
	for i, grp := range g.Group {
		if g.First[grp] < 0 {
			g.First[grp] = i
		}
		g.Counts[grp]++
	}
	return int(g.n)
}

// Rows appends the rows of group grp to b, in order: the indices to take the group's part of the batch with.
func (g *Grouper) Rows(grp int, b *array.Int32Builder) {
	b.Reserve(g.Counts[grp])
	for i, rg := range g.Group {
		if rg == int32(grp) {
			b.UnsafeAppend(int32(i))
		}
	}
}

// IntKeys fills keys with each row's value of an integer-like column as an int64 key: signed and unsigned
// integers (unsigned ones by their bit pattern, so distinct values stay distinct), dates in days, timestamps in
// their unit, booleans as 0 and 1. It reports false, leaving keys alone, for any other type. Null rows get
// whatever their slot holds: pass the column's IsNull to Refine.
func IntKeys(col arrow.Array, keys []int64) bool {
	switch a := col.(type) {
	case *array.Int8:
		for i, v := range a.Int8Values() {
			keys[i] = int64(v)
		}
	case *array.Int16:
		for i, v := range a.Int16Values() {
			keys[i] = int64(v)
		}
	case *array.Int32:
		for i, v := range a.Int32Values() {
			keys[i] = int64(v)
		}
	case *array.Int64:
		copy(keys, a.Int64Values())
	case *array.Uint8:
		for i, v := range a.Uint8Values() {
			keys[i] = int64(v)
		}
	case *array.Uint16:
		for i, v := range a.Uint16Values() {
			keys[i] = int64(v)
		}
	case *array.Uint32:
		for i, v := range a.Uint32Values() {
			keys[i] = int64(v)
		}
	case *array.Uint64:
		for i, v := range a.Uint64Values() {
			keys[i] = int64(v)
		}
	case *array.Date32:
		for i, v := range a.Date32Values() {
			keys[i] = int64(v)
		}
	case *array.Timestamp:
		for i, v := range a.TimestampValues() {
			keys[i] = int64(v)
		}
	case *array.Boolean:
		for i := range a.Len() {
			keys[i] = 0
			if a.Value(i) {
				keys[i] = 1
			}
		}
	default:
		return false
	}
	return true
}

// Dict numbers the distinct strings of a batch, for string columns' keys. Reuse one across batches.
type Dict struct {
	ids map[string]int64
}

// Reset forgets the strings of the previous batch (ids restart at 0, the map keeps its capacity).
func (d *Dict) Reset() {
	if d.ids == nil {
		d.ids = map[string]int64{}
	}
	clear(d.ids)
}

// ID returns v's number within the batch. Looking up a known string does not allocate; a new one is cloned,
// since v usually points into a batch that is released after it is written.
func (d *Dict) ID(v string) int64 {
	id, ok := d.ids[v]
	if !ok {
		id = int64(len(d.ids))
		d.ids[strings.Clone(v)] = id
	}
	return id
}

// StringKeys resets d and fills keys with the number of each row's string, for string and large_string columns;
// it reports false, leaving keys alone, for any other type.
func (d *Dict) StringKeys(col arrow.Array, keys []int64) bool {
	d.Reset()
	switch a := col.(type) {
	case *array.String:
		for i := range a.Len() {
			keys[i] = d.ID(a.Value(i))
		}
	case *array.LargeString:
		for i := range a.Len() {
			keys[i] = d.ID(a.Value(i))
		}
	default:
		return false
	}
	return true
}
