package kjson

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/internal/offheap"
)

// TestStrCol builds string and binary columns batch after batch — values, nulls (none, from the first value, or
// only late in a batch, when the validity bits start), empty values, batches larger than the last one's reserve
// and smaller — and compares each with what Arrow's builder makes of the same values.
func TestStrCol(t *testing.T) {
	for _, dt := range []arrow.DataType{arrow.BinaryTypes.String, arrow.BinaryTypes.Binary} {
		t.Run(dt.String(), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(offheap.NewGuarded())
			defer mem.AssertSize(t, 0)
			c := &Bytes{mem: mem, dt: dt}
			defer c.release()
			rng := rand.New(rand.NewPCG(3, 4))
			for batch, rows := range []int{0, 1, 70, 3, 500, 500, 2000, 10, 300, 300} {
				firstNull := []int{0, rows / 2, rows}[batch%3] // rows: a batch without nulls
				want := array.NewBuilder(mem, dt)
				bb, ok := want.(*array.BinaryBuilder)
				if !ok {
					bb = want.(*array.StringBuilder).BinaryBuilder
				}
				for i := range rows {
					switch {
					case i >= firstNull && (i == firstNull || rng.IntN(5) == 0):
						c.AppendNull()
						want.AppendNull()
					default:
						v := []byte(strings.Repeat(fmt.Sprint(i%10), rng.IntN(300)))
						c.Append(v)
						bb.Append(v)
					}
				}
				d := c.Finish()
				got := array.MakeFromData(d)
				d.Release()
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

// TestAppendJSONReadsAsStr checks the one-pass scan and copy against str on strings of every length up to past
// three words, with a quote, a backslash, a control character, multi-byte or invalid UTF-8 at every position, and
// the message ending right after the string or inside it: appendJSON appends what str returns, or declines
// (appending nothing) where str reports an error or must unescape.
func TestAppendJSONReadsAsStr(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	c := &Bytes{mem: mem, dt: arrow.BinaryTypes.String}
	defer c.release()
	specials := []string{"", `\"`, `\\`, `\n`, `\u00e9`, "\x01", "é", "😀", "\xff", "\xc3", `"`}
	var want [][]byte
	declined := 0
	for n := range 28 {
		for _, sp := range specials {
			for at := 0; at <= n; at += max(1, n/5) {
				body := strings.Repeat("a", at) + sp + strings.Repeat("b", n-at)
				for _, after := range []string{"", `, "next": 1}`, "}"} {
					msg := []byte(`"` + body + `"` + after)
					if after == "" && sp == `"` {
						msg = msg[:len(msg)-1] // unterminated
					}
					var s jscan
					s.reset(msg)
					v, err := s.str()
					c.reserve(1, len(msg)+16)
					before := c.n
					end, ok := c.appendJSON(msg, 0)
					switch {
					case ok && (err != nil || end != s.pos):
						t.Fatalf("%q: appendJSON took it (end %d), str: %q %v (end %d)", msg, end, v, err, s.pos)
					case ok:
						want = append(want, bytes.Clone(v))
					case c.n != before:
						t.Fatalf("%q: declined but appended", msg)
					case err == nil && !bytes.Contains(msg[:s.pos], []byte(`\`)):
						t.Fatalf("%q: declined a plain string str reads as %q", msg, v)
					default:
						declined++
					}
				}
			}
		}
	}
	d := c.Finish()
	got := array.MakeFromData(d)
	d.Release()
	defer got.Release()
	if got.Len() != len(want) || declined == 0 {
		t.Fatalf("%d values appended, want %d; %d declined", got.Len(), len(want), declined)
	}
	for i, w := range want {
		if v := got.(*array.String).Value(i); v != string(w) {
			t.Fatalf("value %d: %q, want %q", i, v, w)
		}
	}
}

// TestStopMask checks the eight-bytes-at-a-time string scan against the byte table, for every byte at every
// position of a word and for random words.
func TestStopMask(t *testing.T) {
	first := func(w [8]byte) int {
		for i, c := range w {
			if strStop[c] {
				return i
			}
		}
		return 8
	}
	got := func(w [8]byte) int {
		m := stopMask(binary.LittleEndian.Uint64(w[:]))
		if m == 0 {
			return 8
		}
		return bits.TrailingZeros64(m) >> 3
	}
	check := func(w [8]byte) {
		if g, want := got(w), first(w); g != want {
			t.Fatalf("word % x: stopMask finds byte %d, the table %d", w, g, want)
		}
	}
	for pos := range 8 {
		for c := range 256 {
			w := [8]byte{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}
			w[pos] = byte(c)
			check(w)
			for j := pos + 1; j < 8; j++ { // a borrow from a stop byte must not hide it or mark an earlier one
				w[j] = 0
			}
			check(w)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		check(w)
	}
}
