package iceberg

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/testkit/conformance"
)

func TestConformance(t *testing.T) {
	var l *Loader
	conformance.Loaders(t, conformance.ConformanceLoader{
		New: func(t *testing.T) stage.Loader {
			l = newLoader(t, t.TempDir(), nil)
			return l
		},
		ReadBack: func(t *testing.T, mem memory.Allocator) arrow.RecordBatch {
			return scan(t, l, mem, nil)
		},
		// Iceberg has no 8- or 16-bit integers: these are stored as int and read back as int32
		// (TestSmallIntegers checks the values); uint32 and uint64 are refused (TestCheckSchema).
		Unsupported: []string{"int8", "int16", "uint8", "uint16", "uint32", "uint64"},
		Merge:       conformanceMerge(&l, nil),
	})
}

// TestConformanceGrouped runs the suite with commit grouping on: several partitions per snapshot.
func TestConformanceGrouped(t *testing.T) {
	var l *Loader
	conformance.Loaders(t, conformance.ConformanceLoader{
		New: func(t *testing.T) stage.Loader {
			l = newLoader(t, t.TempDir(), func(c *Config) {
				c.Commit.MaxPartitions = 3
				c.Commit.MaxInterval = stage.Duration(200 * time.Millisecond)
			})
			return l
		},
		ReadBack: func(t *testing.T, mem memory.Allocator) arrow.RecordBatch {
			return scan(t, l, mem, nil)
		},
		Unsupported: []string{"int8", "int16", "uint8", "uint16", "uint32", "uint64"},
		Merge: conformanceMerge(&l, func(c *Config) {
			c.Commit.MaxPartitions = 3
			c.Commit.MaxInterval = stage.Duration(200 * time.Millisecond)
		}),
	})
}

// TestConformanceHadoop runs the suite on the hadoop catalog: metadata files only, no database.
func TestConformanceHadoop(t *testing.T) {
	var l *Loader
	conformance.Loaders(t, conformance.ConformanceLoader{
		New: func(t *testing.T) stage.Loader {
			l = newLoader(t, t.TempDir(), func(c *Config) { c.Catalog.Type = "hadoop" })
			return l
		},
		ReadBack: func(t *testing.T, mem memory.Allocator) arrow.RecordBatch {
			return scan(t, l, mem, nil)
		},
		Unsupported: []string{"int8", "int16", "uint8", "uint16", "uint32", "uint64"},
		Merge:       conformanceMerge(&l, func(c *Config) { c.Catalog.Type = "hadoop" }),
	})
}

// conformanceMerge declares the loader's merge support to the suite: a fresh table in mode: merge keyed as
// conformance.MergeSchema says, with edit's settings; *l is the loader ReadBack reads.
func conformanceMerge(l **Loader, edit func(*Config)) conformance.ConformanceMerge {
	return conformance.ConformanceMerge{New: func(t *testing.T) stage.Loader {
		*l = newLoader(t, t.TempDir(), func(c *Config) {
			c.Mode, c.Key, c.VersionBy, c.DeleteWhen = "merge", []string{conformance.KeyColumn}, "version", "deleted"
			c.PartitionBy = []string{"bucket(2, " + conformance.KeyColumn + ")"}
			if edit != nil {
				edit(c)
			}
		})
		return *l
	}}
}
