package clickhouse

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// boundedAllocator fails (by panicking, which the fuzzer reports) an allocation over max: a block decoder must
// not size memory by a count the stream declares before that many bytes have arrived.
type boundedAllocator struct {
	memory.Allocator
	max int
}

func (a boundedAllocator) Allocate(n int) []byte {
	if n > a.max {
		panic(fmt.Sprintf("allocation of %d bytes, over %d", n, a.max))
	}
	return a.Allocator.Allocate(n)
}

func (a boundedAllocator) Reallocate(n int, b []byte) []byte {
	if n > a.max {
		panic(fmt.Sprintf("reallocation to %d bytes, over %d", n, a.max))
	}
	return a.Allocator.Reallocate(n, b)
}

// FuzzNative decodes Native-format streams (seeded with the fixtures, the output of a real server) without a
// server: no input may panic, leak, or allocate more than the input could fill; what decodes gives batches
// whose columns have the block's rows.
func FuzzNative(f *testing.F) {
	for _, name := range []string{"common.native", "modern.native"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(boundedAllocator{memory.NewGoAllocator(), 4*len(data) + 2*readChunk + 1<<16})
		defer mem.AssertSize(t, 0)
		_, _ = decodeNative(mem, bytes.NewReader(data), func(rec arrow.RecordBatch) error {
			for i, c := range rec.Columns() {
				if int64(c.Len()) != rec.NumRows() {
					t.Fatalf("column %d has %d values in a batch of %d rows", i, c.Len(), rec.NumRows())
				}
			}
			return nil
		})
	})
}
