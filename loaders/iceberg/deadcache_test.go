package iceberg

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"

	"github.com/jetflow-dev/jetflow/testkit"
)

// TestDeadCacheMerges: a loader's merges read each delete file once across commits, and the table they leave
// (read by iceberg-go's scanner and by DuckDB applying the delete files) is the one a loader whose cache keeps
// nothing leaves; a compaction of the deletes in between (data and delete files replaced) changes neither.
func TestDeadCacheMerges(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	mk := func(buffer int64) *Loader {
		return newLoader(t, t.TempDir(), func(c *Config) {
			c.Mode, c.Key, c.VersionBy, c.DeleteWhen = "merge", []string{"order_id"}, "updated_at", "deleted_at is not null"
			c.PartitionBy = []string{"bucket(2, order_id)"}
			if buffer > 0 {
				c.BufferSize = 8
			}
		})
	}
	cached, uncached := mk(0), mk(8)
	model := map[string]string{}
	step := 0
	load := func(rows ...string) {
		t.Helper()
		step++
		for _, l := range []*Loader{cached, uncached} {
			b := mergeRows(t, mem, rows...)
			testkit.LoadPartition(ctx, t, l, mergeSchema(), testkit.PartitionFor(fmt.Sprintf("p%d", step)), b)
			b.Release()
		}
		for _, r := range rows {
			id := r[:1]
			if slices.Contains([]byte(r), '!') {
				delete(model, id)
			} else {
				model[id] = r
			}
		}
		want := slices.Sorted(maps.Values(model))
		for name, l := range map[string]*Loader{"cached": cached, "uncached": uncached} {
			if got := mergeState(t, l, mem, true); !slices.Equal(got, want) {
				t.Fatalf("step %d, %s: the table holds %v, want %v", step, name, got, want)
			}
		}
	}
	load("1:new@10:00", "2:new@10:00", "3:new@10:00", "4:new@10:00", "5:new@10:00", "6:new@10:00", "7:new@10:00", "8:new@10:00")
	load("2:paid@11:00", "3:gone!@11:00")
	load("4:paid@12:00", "5:gone!@12:00", "9:new@12:00")
	load("6:paid@13:00", "1:paid@13:00")
	load("7:sent@14:00", "8:gone!@14:00")
	if res, err := cached.CompactDeletes(ctx); err != nil || res.DeleteFiles == 0 {
		t.Fatalf("compact the deletes: %+v, %v", res, err)
	}
	if res, err := uncached.CompactDeletes(ctx); err != nil || res.DeleteFiles == 0 {
		t.Fatalf("compact the deletes: %+v, %v", res, err)
	}
	load("2:sent@15:00", "4:gone!@15:00")
	load("6:sent@16:00", "7:gone!@16:00", "9:paid@16:00")
	load("2:done@17:00", "1:gone!@17:00")

	// Every delete file the cached loader folded in was read once: no more than the files of the table's
	// history. The uncached one holds nothing and so read them again at each merge.
	written := deleteFilesEver(t, cached)
	if f := cached.deadCache().folded; f == 0 || f > written {
		t.Errorf("the cached loader read %d delete files, the table's history holds %d: want each read once", f, written)
	}
	if f := uncached.deadCache().folded; f <= deleteFilesEver(t, uncached) {
		t.Errorf("the loader whose cache holds 8 bytes read %d delete files, no more than the %d written: was it bounded?", f, deleteFilesEver(t, uncached))
	}
	if b := uncached.deadCache().bytes(); b > 8 {
		t.Errorf("the cache bounded to 8 bytes holds %d", b)
	}
}

// deleteFilesEver counts the position delete files any snapshot of the table added.
func deleteFilesEver(t *testing.T, l *Loader) int {
	t.Helper()
	tbl := loadTable(t, l)
	fs, err := tbl.FS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range tbl.Metadata().Snapshots() {
		mfs, err := s.Manifests(fs)
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for e, err := range mf.Entries(fs, false) {
				if err != nil {
					t.Fatal(err)
				}
				if e.DataFile().ContentType() == iceberg.EntryContentPosDeletes {
					seen[e.DataFile().FilePath()] = true
				}
			}
		}
	}
	return len(seen)
}

// TestDeadCacheEntries: an entry grows by the delete files a later head adds, is rebuilt when a head no longer
// holds some of its delete files, and the least recently used entries go past the bound.
func TestDeadCacheEntries(t *testing.T) {
	del := func(name string) iceberg.DataFile { return testDeleteFile(t, name) }
	d1, d2, d3 := del("d1"), del("d2"), del("d3")
	c := newDeadCache(1 << 20)
	if have, read, full := c.plan("f", []iceberg.DataFile{d1}); have != nil || len(read) != 1 || !full {
		t.Fatalf("empty cache: %v %v %v", have, read, full)
	}
	c.put("f", []iceberg.DataFile{d1}, positions{1, 5}, true)
	have, read, full := c.plan("f", []iceberg.DataFile{d1, d2})
	if !slices.Equal(have, positions{1, 5}) || len(read) != 1 || read[0] != d2 || full {
		t.Fatalf("a head with one more delete file: have %v, read %d, full %v; want {1 5}, d2 alone, not full", have, len(read), full)
	}
	c.put("f", read, positions{3}, false)
	if have, read, _ := c.plan("f", []iceberg.DataFile{d2, d1}); !slices.Equal(have, positions{1, 3, 5}) || len(read) != 0 {
		t.Fatalf("after the addition: have %v, read %d; want {1 3 5} and nothing to read", have, len(read))
	}
	if !slices.Equal(have, positions{1, 5}) {
		t.Fatalf("positions handed out earlier changed to %v", have)
	}
	if have, read, full := c.plan("f", []iceberg.DataFile{d1, d3}); have != nil || len(read) != 2 || !full {
		t.Fatalf("a head without d2: have %v, read %d, full %v; want a rebuild from d1 and d3", have, len(read), full)
	}

	small := newDeadCache(600)
	for i := range 4 {
		pos := make(positions, 20)
		for j := range pos {
			pos[j] = int64(j)
		}
		small.put(fmt.Sprint("f", i), []iceberg.DataFile{del(fmt.Sprint("d", i))}, pos, true)
		if b := small.bytes(); b > 600 {
			t.Fatalf("the cache bounded to 600 bytes holds %d", b)
		}
	}
	if _, _, full := small.plan("f3", []iceberg.DataFile{del("d3")}); full {
		t.Error("the newest entry was evicted")
	}
	if _, _, full := small.plan("f0", []iceberg.DataFile{del("d0")}); !full {
		t.Error("the oldest entry survived past the bound")
	}
}

// testDeleteFile is a position delete file entry named name, referencing data file "f".
func testDeleteFile(t *testing.T, name string) iceberg.DataFile {
	t.Helper()
	ref := "f"
	b, err := iceberg.NewDataFileBuilder(*iceberg.UnpartitionedSpec, iceberg.EntryContentPosDeletes, name, iceberg.ParquetFile, nil, nil, nil, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	return b.ReferencedDataFile(ref).Build()
}
