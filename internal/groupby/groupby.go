// Package groupby assigns the rows of a batch to groups by the values of several key columns, one column at a
// time: each column's values are first made integer keys by the caller (a number itself, a string's id in a
// dictionary of the batch, an Iceberg transform's result), then Refine splits the groups so far by them. Per row
// that is one map lookup per column, none when a row repeats the row before it, and no allocation once the
// Grouper has seen a batch of the size. The Parquet loader's Hive directories and the Iceberg loader's
// partitions are both cut this way.
package groupby

import "github.com/apache/arrow-go/v18/arrow/array"

// Grouper holds the groups of the current batch. Reuse one across batches: its maps and slices keep their
// capacity.
type Grouper struct {
	Group  []int32 // each row's group, 0 to Groups()-1, in order of first appearance
	First  []int   // each group's first row, after Finish
	Counts []int   // each group's number of rows, after Finish

	seen map[key]int32
	n    int32
}

// key is a combination of key values: the group of the columns before, this column's key, and whether the
// value is null.
type key struct {
	prev int32
	val  int64
	null bool
}

// Start begins a batch of rows rows, all in one group.
func (g *Grouper) Start(rows int) {
	if cap(g.Group) < rows {
		g.Group = make([]int32, rows)
	}
	g.Group = g.Group[:rows]
	clear(g.Group)
	g.n = 1
	if g.seen == nil {
		g.seen = map[key]int32{}
	}
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
