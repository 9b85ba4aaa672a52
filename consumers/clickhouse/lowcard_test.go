package clickhouse

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// lowCardStream encodes one LowCardinality(String) column "lc", a block per element of blocks.
func lowCardStream(t *testing.T, blocks [][]string) []byte {
	t.Helper()
	var buf proto.Buffer
	lc := new(proto.ColStr).LowCardinality()
	for _, vals := range blocks {
		lc.Reset()
		for _, v := range vals {
			lc.Append(v)
		}
		b := proto.Block{Columns: 1, Rows: len(vals)}
		if err := b.EncodeRawBlock(&buf, 0, []proto.InputColumn{{Name: "lc", Data: lc}}); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Buf
}

// readDictionaries decodes a stream of one dictionary column and returns each batch's values and dictionary.
func readDictionaries(t *testing.T, mem memory.Allocator, data []byte) (values [][]string, dicts []arrow.Array) {
	t.Helper()
	pl := newPool(mem)
	defer pl.close()
	_, err := decodeNative(pl, bytes.NewReader(data), func(r arrow.RecordBatch) error {
		d := r.Column(0).(*array.Dictionary)
		var vs []string
		for i := range d.Len() {
			vs = append(vs, d.Dictionary().(*array.String).Value(d.GetValueIndex(i)))
		}
		values = append(values, vs)
		d.Dictionary().Retain()
		dicts = append(dicts, d.Dictionary())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return values, dicts
}

// The blocks of a read share one dictionary, which grows by the values a block adds, whatever order each
// block's own dictionary has; the values read are the values sent.
func TestLowCardinalityOneDictionaryPerRead(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	blocks := [][]string{
		{"oslo", "rome", "oslo", "lima"},
		{"lima", "lima", "rome", "oslo"}, // the same values, another order
		{"kiev", "rome", "", "oslo"},     // two new values
		{"rome"},
	}
	values, dicts := readDictionaries(t, mem, lowCardStream(t, blocks))
	defer func() {
		for _, d := range dicts {
			d.Release()
		}
	}()
	if fmt.Sprint(values) != fmt.Sprint(blocks) {
		t.Fatalf("read %q, want %q", values, blocks)
	}
	if dicts[0].Data() != dicts[1].Data() {
		t.Errorf("blocks 1 and 2 hold the same values but got two dictionaries: %v, %v", dicts[0], dicts[1])
	}
	if dicts[2].Data() != dicts[3].Data() {
		t.Errorf("block 4 adds no value but got a new dictionary: %v after %v", dicts[3], dicts[2])
	}
	head := array.NewSlice(dicts[2], 0, 3)
	defer head.Release()
	if dicts[2].Len() != 5 || !array.Equal(head, dicts[0]) {
		t.Errorf("dictionary after a block adds values: %v, want the first one's %v and then 2 more", dicts[2], dicts[0])
	}
}

// Past maxUnifiedDictionary entries, each block keeps its own dictionary again.
func TestLowCardinalityGivesUpOnLargeDictionaries(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const per = maxUnifiedDictionary/2 + 1
	var blocks [][]string
	for b := range 3 {
		var vals []string
		for i := range per {
			vals = append(vals, fmt.Sprintf("v%d", b*per+i))
		}
		blocks = append(blocks, vals)
	}
	values, dicts := readDictionaries(t, mem, lowCardStream(t, blocks))
	defer func() {
		for _, d := range dicts {
			d.Release()
		}
	}()
	if fmt.Sprint(values) != fmt.Sprint(blocks) {
		t.Fatal("the values read differ from the values sent")
	}
	if got := []int{dicts[0].Len(), dicts[1].Len(), dicts[2].Len()}; fmt.Sprint(got) != fmt.Sprint([]int{per, 2 * per, per}) {
		t.Errorf("dictionary sizes %v, want %d, %d (unified), then %d (the block's own)", got, per, 2*per, per)
	}
}
