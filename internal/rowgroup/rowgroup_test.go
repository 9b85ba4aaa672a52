package rowgroup

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

var schema = arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)

type testFile struct {
	buf bytes.Buffer
	fw  *Writer
}

func newFile(t *testing.T) *testFile {
	t.Helper()
	f := &testFile{}
	// Small pages so that buffered row groups count their bytes as they grow; no dictionary, no compression:
	// the sizes follow the rows written.
	props := parquet.NewWriterProperties(parquet.WithDataPageSize(1<<10), parquet.WithDictionaryDefault(false))
	fw, err := NewWriter(schema, &f.buf, props, pqarrow.DefaultWriterProps(), false)
	if err != nil {
		t.Fatal(err)
	}
	f.fw = fw
	return f
}

func (f *testFile) write(t *testing.T, rows int) {
	t.Helper()
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	for i := range rows {
		b.Append(int64(i * 7919))
	}
	col := b.NewArray()
	defer col.Release()
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(rows))
	defer rec.Release()
	if err := f.fw.WriteBuffered(rec); err != nil {
		t.Fatal(err)
	}
}

func (f *testFile) rowGroups(t *testing.T) int {
	t.Helper()
	if err := f.fw.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := file.NewParquetReader(bytes.NewReader(f.buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return r.NumRowGroups()
}

func TestAfterWrite(t *testing.T) {
	tests := []struct {
		name                      string
		flushed, rowGroup, target int64
		wantFull                  bool
		wantRowGroups             int
	}{
		{"below both sizes", 0, 1 << 30, 1 << 30, false, 1},
		{"row group size reached: cut", 0, 1 << 10, 1 << 30, false, 2},
		{"target reached by the flushed bytes", 1 << 30, 1 << 30, 1 << 30, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFile(t)
			f.write(t, 4000)
			full, err := AfterWrite(f.fw, tc.flushed, tc.rowGroup, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			f.write(t, 10) // lands in a new row group if AfterWrite cut one
			if full != tc.wantFull {
				t.Errorf("full = %v, want %v", full, tc.wantFull)
			}
			if n := f.rowGroups(t); n != tc.wantRowGroups {
				t.Errorf("%d row groups, want %d", n, tc.wantRowGroups)
			}
		})
	}
}

// TestHoldWithin: the open files' buffered row groups stay within the budget after each call, the largest are cut
// first, and one file alone is never cut.
func TestHoldWithin(t *testing.T) {
	for _, staged := range []bool{false, true} {
		t.Run(fmt.Sprintf("staged=%v", staged), func(t *testing.T) { testHoldWithin(t, staged) })
	}
}

// testHoldWithin: HoldWithin keeps the row groups of open files within the budget, encoded as they come or
// staged as Arrow (Writer.StageUpTo) and encoded when cut.
func testHoldWithin(t *testing.T, staged bool) {
	const budget = 40 << 10
	open := map[string]*testFile{}
	for i := range 4 {
		open[fmt.Sprint(i)] = newFile(t)
		if staged {
			open[fmt.Sprint(i)].fw.StageUpTo(budget)
		}
	}
	writer := func(f *testFile) Buffered { return f.fw }
	total := func() (n int64) {
		for _, f := range open {
			n += f.fw.BufferedBytes()
		}
		return n
	}
	cuts := 0
	for round := range 20 {
		for k, f := range open {
			f.write(t, 1000*(1+len(k)+round%3))
		}
		before := total()
		if _, err := HoldWithin(open, writer, budget); err != nil {
			t.Fatal(err)
		}
		if after := total(); after > budget {
			t.Fatalf("round %d: %d bytes buffered after HoldWithin, budget %d", round, after, budget)
		} else if after < before {
			cuts++
		}
	}
	if cuts == 0 {
		t.Fatal("HoldWithin never cut a row group: the test wrote too little")
	}
	for k, f := range open {
		if n := f.rowGroups(t); n < 2 {
			t.Errorf("file %s: %d row groups, want several", k, n)
		}
	}

	alone := map[string]*testFile{"only": newFile(t)}
	alone["only"].write(t, 20000)
	if _, err := HoldWithin(alone, writer, 1); err != nil {
		t.Fatal(err)
	}
	if n := alone["only"].rowGroups(t); n != 1 {
		t.Errorf("a single open file was cut: %d row groups", n)
	}
}

// TestStageLimit: a file's row group is staged up to the budget's share of encodedFiles files, never past
// the row group size, and at least a byte.
func TestStageLimit(t *testing.T) {
	for _, tc := range []struct {
		budget, rowGroup, want int64
	}{
		{16 << 20, 128 << 20, 1 << 20},
		{16 << 20, 64 << 10, 64 << 10},
		{256 << 20, 128 << 20, 16 << 20},
		{8, 1 << 20, 1},
	} {
		h := Hold[string, *testFile]{Budget: tc.budget}
		if got := h.StageLimit(tc.rowGroup); got != tc.want {
			t.Errorf("budget %d, row group size %d: StageLimit %d, want %d", tc.budget, tc.rowGroup, got, tc.want)
		}
	}
}

// TestFooterLimit: the open footers may describe as many column chunks as take half the budget, at least
// minFooterChunks.
func TestFooterLimit(t *testing.T) {
	for _, tc := range []struct {
		budget int64
		want   int
	}{
		{16 << 20, 8 << 10},
		{32 << 20, 16 << 10},
		{1 << 30, 512 << 10},
		{256 << 10, minFooterChunks},
	} {
		h := Hold[string, *testFile]{Budget: tc.budget}
		if got := h.FooterLimit(); got != tc.want {
			t.Errorf("budget %d: FooterLimit %d, want %d", tc.budget, got, tc.want)
		}
	}
}

// TestHoldReached: while a batch is spread over many files, Hold checks the budget every holdEvery files it
// reaches, so a wide batch's parts cannot pile up past it before the batch ends; Batch checks at the end.
func TestHoldReached(t *testing.T) {
	open := map[int]*testFile{}
	h := Hold[int, *testFile]{Open: open, Writer: func(f *testFile) Buffered { return f.fw }, Budget: 40 << 10}
	total := func() (n int64) {
		for _, f := range open {
			n += f.fw.BufferedBytes()
		}
		return n
	}
	const files = 5 * holdEvery
	for round := range 3 {
		for i := range files {
			if open[i] == nil {
				open[i] = newFile(t)
			}
			open[i].write(t, 2000)
			before := total()
			if _, err := h.Reached(); err != nil {
				t.Fatal(err)
			}
			checked := (i+1)%holdEvery == 0
			if after := total(); checked && after > h.Budget {
				t.Fatalf("round %d, file %d: %d bytes held after a check, budget %d", round, i, after, h.Budget)
			} else if !checked && after != before {
				t.Fatalf("round %d, file %d: a row group was cut between two checks", round, i)
			}
		}
		if _, err := h.Batch(); err != nil {
			t.Fatal(err)
		}
		if after := total(); after > h.Budget {
			t.Fatalf("round %d: %d bytes held after the batch, budget %d", round, after, h.Budget)
		}
	}
}

// TestSinks: files written in turn through one shared buffer each get exactly their own bytes, in order, also
// when their writes interleave; a dropped file's buffered bytes reach nobody; a failing sink's error is its own.
func TestSinks(t *testing.T) {
	var s Sinks
	var a, b, c bytes.Buffer
	fa, fb, fc := s.New(&a), s.New(&b), s.New(&c)
	var wantA, wantB bytes.Buffer
	for i := range 500 {
		chunk := bytes.Repeat([]byte{byte(i)}, 1+i*37%3000) // some larger than the buffer
		f, w := fa, &wantA
		if i%3 == 1 {
			f, w = fb, &wantB
		}
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
		w.Write(chunk)
		if i%3 == 2 {
			if _, err := fc.Write(chunk[:min(len(chunk), 100)]); err != nil {
				t.Fatal(err)
			}
			fc.Drop()
		}
	}
	if err := fa.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := fb.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), wantA.Bytes()) || !bytes.Equal(b.Bytes(), wantB.Bytes()) {
		t.Errorf("files got %d and %d bytes, want %d and %d, or the bytes differ", a.Len(), b.Len(), wantA.Len(), wantB.Len())
	}
	if c.Len() != 0 {
		t.Errorf("the dropped file got %d bytes", c.Len())
	}

	bad := s.New(failWriter{})
	good := s.New(&c)
	if _, err := bad.Write([]byte("x")); err != nil {
		t.Fatal(err) // buffered: no failure yet
	}
	c.Reset()
	if _, err := good.Write([]byte("y")); err != nil {
		t.Fatalf("another file's failure reached this one: %v", err)
	}
	if err := good.Flush(); err != nil || c.String() != "y" {
		t.Errorf("good file: %q, %v", c.String(), err)
	}
	if err := bad.Flush(); err == nil {
		t.Error("the failing file's Flush reported no error")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

// TestHoldRollsFooters: row groups cut early by the budget pile up in the open files' footers; after each batch
// the files with the most row groups are rolled until the footers are within the bound again, and with no bound
// reached nothing is rolled.
func TestHoldRollsFooters(t *testing.T) {
	for _, tc := range []struct {
		name      string
		chunks    int
		wantRolls bool
	}{
		{"footers past the bound: the largest rolled", 40, true},
		{"within the bound: nothing rolled", 1 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := map[int]*testFile{}
			rolled := 0
			h := Hold[int, *testFile]{Open: open, Writer: func(f *testFile) Buffered { return f.fw }, Budget: 8 << 10, chunks: tc.chunks,
				Roll: func(f *testFile) error {
					for k, g := range open {
						if g == f {
							delete(open, k)
						}
					}
					if n := f.rowGroups(t); n < 2 {
						t.Errorf("a file of %d row groups was rolled", n)
					}
					rolled++
					return nil
				}}
			footers := func() (n int) {
				for _, f := range open {
					n += f.fw.FooterChunks()
				}
				return n
			}
			for round := range 30 {
				for i := range 8 {
					if open[i] == nil {
						open[i] = newFile(t)
					}
					open[i].write(t, 500+i*100)
				}
				if _, err := h.Batch(); err != nil {
					t.Fatal(err)
				}
				if n := footers(); n > tc.chunks {
					t.Fatalf("round %d: the open files' footers describe %d column chunks, bound %d", round, n, tc.chunks)
				}
			}
			if (rolled > 0) != tc.wantRolls {
				t.Errorf("%d files rolled, want some: %v", rolled, tc.wantRolls)
			}
		})
	}
}

// TestBufferedBytesHeld: a page under construction counts at the buffer arrow-go holds it in (the next power of
// two, 1 KiB at least), and a dictionary column at a 4-byte index a buffered value, not the bits it encodes to.
func TestBufferedBytesHeld(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dict  bool
		rows  int
		least int64
	}{
		{"plain", false, 300, 4 << 10}, // 2,400 bytes of values in a 4 KiB buffer
		{"dictionary", true, 3000, 3000 * 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			props := parquet.NewWriterProperties(parquet.WithDictionaryDefault(tc.dict))
			fw, err := NewWriter(schema, &buf, props, pqarrow.DefaultWriterProps(), false)
			if err != nil {
				t.Fatal(err)
			}
			b := array.NewInt64Builder(memory.DefaultAllocator)
			defer b.Release()
			for i := range tc.rows {
				b.Append(int64(i % 3))
			}
			col := b.NewArray()
			defer col.Release()
			rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(tc.rows))
			defer rec.Release()
			if err := fw.WriteBuffered(rec); err != nil {
				t.Fatal(err)
			}
			if n := fw.BufferedBytes(); n < tc.least {
				t.Errorf("BufferedBytes %d, want at least %d", n, tc.least)
			}
			if grown(2400, 1<<10) != 4<<10 || grown(1, 1<<10) != 1<<10 || grown(0, 1<<10) != 0 || grown(4096, 256) != 4096 {
				t.Error("grown does not round up to the next power of two")
			}
		})
	}
}
