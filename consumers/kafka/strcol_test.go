package kafka

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
)

// TestStrCol builds string and binary columns batch after batch — values, nulls, empty values, batches larger
// than the last one's reserve and smaller — and compares each with what Arrow's builder makes of the same values.
func TestStrCol(t *testing.T) {
	for _, dt := range []arrow.DataType{arrow.BinaryTypes.String, arrow.BinaryTypes.Binary} {
		t.Run(dt.String(), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			c := &strCol{mem: mem, dt: dt}
			defer c.release()
			rng := rand.New(rand.NewPCG(3, 4))
			lastRows, lastSize := 0, 0
			for batch, rows := range []int{0, 1, 70, 3, 500, 500, 2000, 10} {
				want := array.NewBuilder(mem, dt)
				bb, ok := want.(*array.BinaryBuilder)
				if !ok {
					bb = want.(*array.StringBuilder).BinaryBuilder
				}
				for i := range rows {
					switch rng.IntN(5) {
					case 0:
						c.appendNull()
						want.AppendNull()
					default:
						v := []byte(strings.Repeat(fmt.Sprint(i%10), rng.IntN(300)))
						c.append(v)
						bb.Append(v)
					}
				}
				size := c.size
				got := c.finish(lastRows, lastSize)
				lastRows, lastSize = rows, size
				w := want.NewArray()
				if !array.Equal(got, w) {
					t.Errorf("batch %d (%d rows): got %v, want %v", batch, rows, got, w)
				}
				if got.NullN() != w.NullN() {
					t.Errorf("batch %d: %d nulls, want %d", batch, got.NullN(), w.NullN())
				}
				got.Release()
				w.Release()
				want.Release()
			}
		})
	}
}
