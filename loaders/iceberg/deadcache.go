package iceberg

import (
	"cmp"
	"slices"
	"sync"

	"github.com/apache/iceberg-go"
)

// deadCache keeps, for the data files a loader's merges read, the positions their position delete files remove,
// across commits: a stream commits every second and each merge would otherwise read every delete file of every
// candidate data file again. Delete files are immutable, so an entry of data file f built from the delete files S
// stays right for any later head whose delete files of f include S; only the new ones are read. A head whose
// delete files of f do not include S (a compaction or another writer removed some) rebuilds the entry.
//
// It holds at most max bytes (positions at 8 bytes, plus the names of the delete files folded in); past that the
// least recently used entries go, which costs reads, never correctness.
type deadCache struct {
	mu    sync.Mutex
	max   int64
	size  int64
	tick  uint64
	files map[string]*deadEntry

	folded int // delete files read into entries (tests)
}

type deadEntry struct {
	dels map[string]bool // the delete files folded in
	pos  positions       // sorted, never changed in place: callers keep it while the entry moves on
	used uint64
	size int64
}

// deadEntryOverhead approximates the bytes of an entry and of each delete file name beyond their contents.
const deadEntryOverhead = 64

func newDeadCache(max int64) *deadCache {
	return &deadCache{max: max, files: map[string]*deadEntry{}}
}

// plan splits the delete files of data file f that a head applies (dels, all naming f as their referenced data
// file) into the cached positions and the delete files still to read; full says the entry does not hold a subset
// of dels and the positions must be built from all of them.
func (c *deadCache) plan(f string, dels []iceberg.DataFile) (have positions, read []iceberg.DataFile, full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.files[f]
	if e == nil {
		return nil, dels, true
	}
	n := 0
	for _, d := range dels {
		if e.dels[d.FilePath()] {
			n++
		} else {
			read = append(read, d)
		}
	}
	if n != len(e.dels) {
		return nil, dels, true
	}
	c.tick++
	e.used = c.tick
	return e.pos, read, false
}

// put records that the delete files dels of data file f remove pos (sorted, without duplicates), adding to the
// entry when !full, and evicts the least recently used entries when the cache is over its bound.
func (c *deadCache) put(f string, dels []iceberg.DataFile, pos positions, full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.files[f]
	if full || e == nil {
		if e != nil {
			c.size -= e.size
		}
		e = &deadEntry{dels: map[string]bool{}, size: deadEntryOverhead + int64(len(f))}
		c.files[f] = e
		c.size += e.size
	}
	c.folded += len(dels)
	for _, d := range dels {
		if !e.dels[d.FilePath()] {
			e.dels[d.FilePath()] = true
			n := deadEntryOverhead + int64(len(d.FilePath()))
			e.size += n
			c.size += n
		}
	}
	if len(pos) > 0 {
		merged := mergePositions(e.pos, pos)
		n := 8 * int64(len(merged)-len(e.pos))
		e.pos = merged
		e.size += n
		c.size += n
	}
	c.tick++
	e.used = c.tick
	if c.size > c.max {
		c.evict(f)
	}
}

// evict drops the least recently used entries, but keep, until the cache holds three quarters of its bound.
func (c *deadCache) evict(keep string) {
	type aged struct {
		f    string
		used uint64
	}
	all := make([]aged, 0, len(c.files))
	for f, e := range c.files {
		if f != keep {
			all = append(all, aged{f, e.used})
		}
	}
	slices.SortFunc(all, func(a, b aged) int { return cmp.Compare(a.used, b.used) })
	for _, a := range all {
		if c.size <= c.max*3/4 {
			return
		}
		c.size -= c.files[a.f].size
		delete(c.files, a.f)
	}
	if c.size > c.max { // one data file's deletes alone pass the bound: keep nothing
		c.size -= c.files[keep].size
		delete(c.files, keep)
	}
}

// keepOnly drops the entries of the data files live does not keep.
func (c *deadCache) keepOnly(live func(string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for f, e := range c.files {
		if !live(f) {
			c.size -= e.size
			delete(c.files, f)
		}
	}
}

// bytes reports what the cache holds (tests).
func (c *deadCache) bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}

// mergePositions returns the union of sorted position lists a and b as a new list (a is shared with callers).
func mergePositions(a, b positions) positions {
	b = slices.Compact(slices.Sorted(slices.Values(b)))
	out := make(positions, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// deadCache returns the loader's cache of deleted positions, bounded by buffer_size: the memory a partition's
// writes may hold is what its merges may keep of the table's deletes.
func (l *Loader) deadCache() *deadCache {
	l.deadOnce.Do(func() { l.dead = newDeadCache(int64(l.cfg.BufferSize)) })
	return l.dead
}
